//! Links made at login: an entry of one repository answering as a user of
//! the tenant stored from another repository (migration 0010).

use super::{Store, StoreError};
use app::model::User;
use sqlx::Row;

impl Store {
    /// The user an entry was linked to, if it was.
    pub async fn linked_user(
        &self,
        tenant: &str,
        repository_id: &str,
        ldap_uuid: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query(
            "SELECT linked_user_id FROM user_links WHERE tenant = ? AND repository_id = ? AND ldap_uuid = ?",
        )
        .bind(tenant)
        .bind(repository_id)
        .bind(ldap_uuid)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.get(0)))
    }

    pub async fn link_user(
        &self,
        tenant: &str,
        repository_id: &str,
        ldap_uuid: &str,
        linked_user_id: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO user_links (tenant, repository_id, ldap_uuid, linked_user_id, linked_at) VALUES (?, ?, ?, ?, ?)")
            .bind(tenant)
            .bind(repository_id)
            .bind(ldap_uuid)
            .bind(linked_user_id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The tenant's stored users with this e-mail address (any case). The
    /// address is in the row's body, not indexed: only a first login that
    /// links by e-mail asks.
    pub async fn users_with_email(&self, tenant: &str, email: &str) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "{} WHERE t.scope IN (SELECT id FROM user_scopes WHERE tenant = ?) AND lower(json_extract(t.body, '$.email')) = lower(?) LIMIT 16",
            super::sync::USER_COLUMNS
        );
        let rows = sqlx::query(&sql).bind(tenant).bind(email).fetch_all(&self.pool).await?;
        Ok(rows.iter().filter_map(super::sync::user_of).collect())
    }
}
