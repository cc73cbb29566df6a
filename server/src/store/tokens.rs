//! API tokens: only a SHA-256 of each secret is stored; revoked ones stay
//! listed with their revocation time until they expire.

use super::{Store, StoreError};
use app::model::Permission;
use sqlx::Row;
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub tenant: String,
    pub permissions: BTreeSet<Permission>,
    /// Unix seconds.
    pub expires_at: i64,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

const COLUMNS: &str = "id, name, owner, tenant, permissions, expires_at, created_at, revoked_at";

fn token_of(r: &sqlx::sqlite::SqliteRow) -> Result<TokenRow, StoreError> {
    let permissions: String = r.get(4);
    Ok(TokenRow {
        id: r.get(0),
        name: r.get(1),
        owner: r.get(2),
        tenant: r.get(3),
        permissions: serde_json::from_str(&permissions).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        expires_at: r.get(5),
        created_at: r.get(6),
        revoked_at: r.get(7),
    })
}

impl Store {
    pub async fn insert_token(&self, token: &TokenRow, secret_hash: &str) -> Result<(), StoreError> {
        let permissions = serde_json::to_string(&token.permissions).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO api_tokens (id, secret_hash, name, owner, tenant, permissions, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(secret_hash)
        .bind(&token.name)
        .bind(&token.owner)
        .bind(&token.tenant)
        .bind(permissions)
        .bind(token.expires_at)
        .bind(&token.created_at)
        .execute(&self.pool)
        .await
        .map_err(super::unique_to_conflict)?;
        Ok(())
    }

    /// The live token with this secret: not revoked, not expired.
    pub async fn live_token(&self, secret_hash: &str, now: i64) -> Result<Option<TokenRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM api_tokens WHERE secret_hash = ? AND revoked_at IS NULL AND expires_at > ?");
        sqlx::query(&sql)
            .bind(secret_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_of)
            .transpose()
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?");
        sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?.as_ref().map(token_of).transpose()
    }

    /// Tokens not yet expired, newest first.
    pub async fn tokens(&self, now: i64) -> Result<Vec<TokenRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE expires_at > ? ORDER BY created_at DESC, id");
        sqlx::query(&sql).bind(now).fetch_all(&self.pool).await?.iter().map(token_of).collect()
    }

    pub async fn revoke_token(&self, id: &str, now: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
