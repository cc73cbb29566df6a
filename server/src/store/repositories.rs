//! Repository rows: reading, writing and deleting them, their state and
//! schedules, and the count of changes to them that caches key on.

use super::{unique_to_conflict, RepositoryRow, Store, StoreError};
use sqlx::Row;

impl Store {
    /// Every repository's sealed secrets: (tenant, id, sealed).
    pub async fn sealed_secrets(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query("SELECT tenant, id, secrets FROM repositories WHERE secrets IS NOT NULL ORDER BY tenant, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Replaces sealed secrets, all or none (a key rotation).
    pub async fn reseal(&self, sealed: &[(String, String, Vec<u8>)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (tenant, id, secrets) in sealed {
            sqlx::query("UPDATE repositories SET secrets = ? WHERE tenant = ? AND id = ?")
                .bind(secrets)
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many changes to repository rows this store has made (see the field).
    pub fn repositories_generation(&self) -> u64 {
        self.repositories_changed.load(std::sync::atomic::Ordering::Acquire)
    }

    fn repositories_changed(&self) {
        self.repositories_changed.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub async fn list_repositories(&self, tenant: &str) -> Result<Vec<RepositoryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, body, secrets, version, created, changed, state FROM repositories WHERE tenant = ? ORDER BY id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(repo_row).collect())
    }

    pub async fn get_repository(&self, tenant: &str, id: &str) -> Result<RepositoryRow, StoreError> {
        sqlx::query(
            "SELECT id, body, secrets, version, created, changed, state FROM repositories WHERE tenant = ? AND id = ?",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| repo_row(&r))
        .ok_or(StoreError::NotFound)
    }

    pub async fn insert_repository(&self, tenant: &str, row: &RepositoryRow) -> Result<(), StoreError> {
        let result = self.insert_repository_row(tenant, row).await;
        self.repositories_changed();
        result
    }

    async fn insert_repository_row(&self, tenant: &str, row: &RepositoryRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO repositories (tenant, id, body, secrets, version, created, changed, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(&row.id)
        .bind(&row.body)
        .bind(&row.secrets)
        .bind(row.version)
        .bind(&row.created)
        .bind(&row.changed)
        .bind(&row.state)
        .execute(&self.pool)
        .await
        .map_err(unique_to_conflict)?;
        Ok(())
    }

    /// Replaces body and secrets if the stored version is still
    /// `expected_version`. The sync state (its cookies) goes when
    /// `reads_changed`: the next changed sync must then start from a complete
    /// read.
    pub async fn update_repository(
        &self,
        tenant: &str,
        row: &RepositoryRow,
        expected_version: i64,
        reads_changed: bool,
    ) -> Result<(), StoreError> {
        let result = self.update_repository_row(tenant, row, expected_version, reads_changed).await;
        self.repositories_changed();
        result
    }

    async fn update_repository_row(
        &self,
        tenant: &str,
        row: &RepositoryRow,
        expected_version: i64,
        reads_changed: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE repositories SET body = ?, secrets = ?, version = ?, changed = ? WHERE tenant = ? AND id = ? AND version = ? AND state = 'active'",
        )
        .bind(&row.body)
        .bind(&row.secrets)
        .bind(row.version)
        .bind(&row.changed)
        .bind(tenant)
        .bind(&row.id)
        .bind(expected_version)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            // Schedules count from now.
            let tables: &[&str] = if reads_changed { &["sync_state", "schedule_state"] } else { &["schedule_state"] };
            for table in tables {
                sqlx::query(&format!("DELETE FROM {table} WHERE tenant = ? AND repository_id = ?"))
                    .bind(tenant)
                    .bind(&row.id)
                    .execute(&self.pool)
                    .await?;
            }
            Ok(())
        } else {
            Err(StoreError::StaleVersion)
        }
    }

    pub async fn set_repository_state(&self, tenant: &str, id: &str, state: &str) -> Result<(), StoreError> {
        let result = self.set_repository_state_row(tenant, id, state).await;
        self.repositories_changed();
        result
    }

    async fn set_repository_state_row(&self, tenant: &str, id: &str, state: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE repositories SET state = ? WHERE tenant = ? AND id = ?")
            .bind(state)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    /// Deletes up to `batch` users of a repository; returns how many went.
    pub async fn delete_users_batch(&self, tenant: &str, repository_id: &str, batch: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(&format!(
            "DELETE FROM users WHERE rowid IN (SELECT rowid FROM users WHERE scope = {} LIMIT ?)",
            super::sync::SCOPE
        ))
        .bind(tenant)
        .bind(repository_id)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn delete_repository_row(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let result = self.delete_repository_row_only(tenant, id).await;
        self.repositories_changed();
        result
    }

    async fn delete_repository_row_only(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // One pass over all memberships (keyed by member first): cheaper
        // here than a delete per member row from the groups' member lists.
        sqlx::query(
            "DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE tenant = ? AND repository_id = ?)",
        )
        .bind(tenant)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for table in ["groups", "sync_state", "schedule_state"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant = ? AND repository_id = ?"))
                .bind(tenant)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM repositories WHERE tenant = ? AND id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every active repository of every tenant (the scheduler's worklist).
    pub async fn active_repositories(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT tenant, id FROM repositories WHERE state = 'active' ORDER BY tenant, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn schedule_last_fired(&self, tenant: &str, id: &str, mode: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT last_fired FROM schedule_state WHERE tenant = ? AND repository_id = ? AND mode = ?")
            .bind(tenant)
            .bind(id)
            .bind(mode)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    pub async fn set_schedule_fired(&self, tenant: &str, id: &str, mode: &str, at: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO schedule_state (tenant, repository_id, mode, last_fired) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, repository_id, mode) DO UPDATE SET last_fired = excluded.last_fired",
        )
        .bind(tenant)
        .bind(id)
        .bind(mode)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Repositories left in `deleting` by a previous process (resumed at start).
    pub async fn repositories_being_deleted(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT tenant, id FROM repositories WHERE state = 'deleting'").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

fn repo_row(r: &sqlx::sqlite::SqliteRow) -> RepositoryRow {
    RepositoryRow {
        id: r.get(0),
        body: r.get(1),
        secrets: r.get(2),
        version: r.get(3),
        created: r.get(4),
        changed: r.get(5),
        state: r.get(6),
    }
}
