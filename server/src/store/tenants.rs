//! Tenants: a fixed slug and a display name.

use super::{unique_to_conflict, Store, StoreError};
use app::model::Tenant;
use sqlx::Row;

fn tenant_of(r: &sqlx::sqlite::SqliteRow) -> Tenant {
    Tenant { slug: r.get(0), name: r.get(1), created_at: r.get(2) }
}

impl Store {
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        Ok(sqlx::query("SELECT slug, name, created FROM tenants ORDER BY slug")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(tenant_of)
            .collect())
    }

    pub async fn tenant(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        Ok(sqlx::query("SELECT slug, name, created FROM tenants WHERE slug = ?")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(tenant_of))
    }

    pub async fn insert_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tenants (slug, name, created) VALUES (?, ?, ?)")
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(&tenant.created_at)
            .execute(&self.pool)
            .await
            .map_err(unique_to_conflict)?;
        Ok(())
    }

    pub async fn rename_tenant(&self, slug: &str, name: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE tenants SET name = ? WHERE slug = ?").bind(name).bind(slug).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes a tenant without repositories (Conflict while it has any);
    /// the check and the delete are one statement.
    pub async fn delete_tenant(&self, slug: &str) -> Result<(), StoreError> {
        if self.tenant(slug).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let done = sqlx::query(
            "DELETE FROM tenants WHERE slug = ? AND NOT EXISTS (SELECT 1 FROM repositories WHERE tenant = ?)",
        )
        .bind(slug)
        .bind(slug)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }
}
