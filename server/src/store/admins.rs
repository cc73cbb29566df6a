//! Admin accounts and their sessions (only a hash of each session token is
//! stored).

use super::{unique_to_conflict, Store, StoreError};
use sqlx::Row;

impl Store {
    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM admins").fetch_one(&self.pool).await?.get(0))
    }

    pub async fn create_admin(&self, username: &str, password_hash: &str, now: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO admins (username, password_hash, created) VALUES (?, ?, ?)")
            .bind(username)
            .bind(password_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unique_to_conflict)?;
        Ok(())
    }

    pub async fn admin_password_hash(&self, username: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT password_hash FROM admins WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    pub async fn insert_session(&self, token_hash: &str, username: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, username, expires_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(username)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The admin of a live session, and when it expires.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<(String, i64)>, StoreError> {
        Ok(sqlx::query("SELECT username, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| (r.get(0), r.get(1))))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
