//! Admin accounts (argon2 hashes, per-tenant permissions as JSON) and their
//! sessions (only a hash of each session token is stored).

use super::{unique_to_conflict, Store, StoreError};
use app::model::Grants;
use sqlx::Row;

/// An admin as stored.
#[derive(Clone, Debug)]
pub struct AdminRow {
    pub username: String,
    pub password_hash: String,
    pub enabled: bool,
    pub super_admin: bool,
    pub permissions: Grants,
    pub created: String,
}

/// A live session: whose, and its expiries (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub username: String,
    pub expires_at: i64,
    pub last_seen: i64,
}

const ADMIN_COLUMNS: &str = "username, password_hash, enabled, super_admin, permissions, created";

fn admin_of(r: &sqlx::sqlite::SqliteRow) -> Result<AdminRow, StoreError> {
    let permissions: String = r.get(4);
    Ok(AdminRow {
        username: r.get(0),
        password_hash: r.get(1),
        enabled: r.get::<i64, _>(2) != 0,
        super_admin: r.get::<i64, _>(3) != 0,
        permissions: serde_json::from_str(&permissions).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created: r.get(5),
    })
}

fn grants_json(g: &Grants) -> Result<String, StoreError> {
    serde_json::to_string(g).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    pub async fn admin_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM admins").fetch_one(&self.pool).await?.get(0))
    }

    pub async fn insert_admin(&self, admin: &AdminRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admins (username, password_hash, enabled, super_admin, permissions, created) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&admin.username)
        .bind(&admin.password_hash)
        .bind(admin.enabled)
        .bind(admin.super_admin)
        .bind(grants_json(&admin.permissions)?)
        .bind(&admin.created)
        .execute(&self.pool)
        .await
        .map_err(unique_to_conflict)?;
        Ok(())
    }

    pub async fn admin(&self, username: &str) -> Result<Option<AdminRow>, StoreError> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE username = ?");
        sqlx::query(&sql).bind(username).fetch_optional(&self.pool).await?.as_ref().map(admin_of).transpose()
    }

    pub async fn admins(&self) -> Result<Vec<AdminRow>, StoreError> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins ORDER BY username");
        sqlx::query(&sql).fetch_all(&self.pool).await?.iter().map(admin_of).collect()
    }

    /// Replaces what an admin may do (and its password hash, when given).
    pub async fn update_admin(&self, admin: &AdminRow) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE admins SET password_hash = ?, enabled = ?, super_admin = ?, permissions = ? WHERE username = ?",
        )
        .bind(&admin.password_hash)
        .bind(admin.enabled)
        .bind(admin.super_admin)
        .bind(grants_json(&admin.permissions)?)
        .bind(&admin.username)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes an admin with its sessions and tokens.
    pub async fn delete_admin(&self, username: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE username = ?").bind(username).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM api_tokens WHERE owner = ?").bind(username).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM admins WHERE username = ?").bind(username).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        username: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (token_hash, username, expires_at, last_seen) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(username)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A session not past its absolute expiry.
    pub async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query("SELECT username, expires_at, last_seen FROM sessions WHERE token_hash = ? AND expires_at > ?")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| SessionRow { username: r.get(0), expires_at: r.get(1), last_seen: r.get(2) }))
    }

    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen = ? WHERE token_hash = ?")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    /// Ends an admin's sessions (all but `keep`) and revokes its tokens.
    pub async fn end_admin_credentials(&self, username: &str, keep: Option<&str>, now: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE username = ? AND token_hash != ?")
            .bind(username)
            .bind(keep.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE owner = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes sessions past their absolute or idle expiry.
    pub async fn delete_expired_sessions(&self, now: i64, idle_seconds: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?")
            .bind(now)
            .bind(now - idle_seconds)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
