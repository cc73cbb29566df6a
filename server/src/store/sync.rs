//! Sync runs and the users a sync writes. The writer works on one dedicated
//! connection per run so it can keep a TEMP table of the UUIDs the run has
//! seen (deletion detection without holding the directory in memory).

use super::{Store, StoreError};
use app::model::{GroupCounts, SyncChange, SyncCounts, SyncError, SyncMode, SyncProgress, SyncRun, User};
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Row, Sqlite};

/// Disables users (`?1` = now). The hash is reset with the body, so a user that
/// comes back in a later read is rewritten.
const DISABLE_USERS: &str =
    "UPDATE users SET enabled = 0, body = json_set(body, '$.enabled', json('false')), content_hash = x'00', synced_at = ?1";

/// Errors and changes kept per run (the first ones).
pub const MAX_SAMPLES: usize = 100;

/// A user prepared for writing: its JSON and a hash of it.
pub struct PreparedUser {
    pub user: User,
    pub body: String,
    pub hash: Vec<u8>,
}

/// How a batch changed the store.
#[derive(Default, Debug)]
pub struct BatchOutcome {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub changes: Vec<SyncChange>,
}

/// Which users a removal selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Not returned by a complete read (`temp.sync_seen`).
    Unseen,
    /// Reported deleted by content synchronisation (`temp.sync_gone`).
    Gone,
}

impl Removal {
    fn condition(self) -> &'static str {
        match self {
            Removal::Unseen => "ldap_uuid NOT IN (SELECT uuid FROM temp.sync_seen)",
            Removal::Gone => "ldap_uuid IN (SELECT uuid FROM temp.sync_gone)",
        }
    }
}

/// Where the next changed sync of a repository continues from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    pub users_cookie: Option<Vec<u8>>,
    pub groups_cookie: Option<Vec<u8>>,
    /// Start of the last successful run (RFC 3339).
    pub since: String,
}

/// What deletion detection found after a complete enumeration.
#[derive(Debug)]
pub struct Missing {
    pub stored: u64,
    pub to_remove: u64,
}

fn mode_str(m: SyncMode) -> &'static str {
    match m {
        SyncMode::Full => "full",
        SyncMode::Changed => "changed",
    }
}

impl Store {
    pub async fn insert_run(
        &self,
        tenant: &str,
        repo: &str,
        mode: SyncMode,
        method: &str,
        now: &str,
    ) -> Result<i64, StoreError> {
        let counts = serde_json::to_string(&SyncCounts::default()).unwrap_or_default();
        let total = self.count_users(tenant, repo).await?;
        let row = sqlx::query(
            "INSERT INTO sync_runs (tenant, repository_id, mode, method, state, started_at, counts, progress_total) VALUES (?, ?, ?, ?, 'running', ?, ?, ?) RETURNING id",
        )
        .bind(tenant)
        .bind(repo)
        .bind(mode_str(mode))
        .bind(method)
        .bind(now)
        .bind(counts)
        .bind((total > 0).then_some(total as i64))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    pub async fn update_run_progress(&self, id: i64, counts: &SyncCounts, done: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET counts = ?, progress_done = ? WHERE id = ?")
            .bind(serde_json::to_string(counts).unwrap_or_default())
            .bind(done as i64)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn finish_run(
        &self,
        id: i64,
        state: &str,
        now: &str,
        counts: &SyncCounts,
        message: Option<&str>,
        errors: &[SyncError],
        changes: &[SyncChange],
        group_counts: Option<&GroupCounts>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sync_runs SET state = ?, finished_at = ?, counts = ?, progress_done = ?, progress_total = CASE WHEN ? = 'succeeded' THEN ? ELSE progress_total END, message = ?, errors = ?, changes = ?, group_counts = ? WHERE id = ?",
        )
        .bind(state)
        .bind(now)
        .bind(serde_json::to_string(counts).unwrap_or_default())
        .bind(counts.seen as i64)
        .bind(state)
        .bind(counts.seen as i64)
        .bind(message)
        .bind(serde_json::to_string(errors).unwrap_or_default())
        .bind(serde_json::to_string(changes).unwrap_or_default())
        .bind(group_counts.and_then(|g| serde_json::to_string(g).ok()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs a previous process left `running` are marked failed (interrupted).
    pub async fn fail_interrupted_runs(&self, now: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE sync_runs SET state = 'failed', finished_at = ?, message = 'interrupted: dirbridge stopped during the run; nothing was removed' WHERE state = 'running'",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    pub async fn list_runs(&self, tenant: &str, repo: &str, limit: i64) -> Result<Vec<SyncRun>, StoreError> {
        let rows = sqlx::query(RUN_COLUMNS_BY_REPO).bind(tenant).bind(repo).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(run_of).collect())
    }

    pub async fn get_run(&self, tenant: &str, repo: &str, id: i64) -> Result<SyncRun, StoreError> {
        sqlx::query(RUN_COLUMNS_BY_ID)
            .bind(tenant)
            .bind(repo)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| run_of(&r))
            .ok_or(StoreError::NotFound)
    }

    pub async fn count_users(&self, tenant: &str, repo: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE tenant = ? AND repository_id = ?")
            .bind(tenant)
            .bind(repo)
            .fetch_one(&self.pool)
            .await?
            .get(0);
        Ok(n as u64)
    }

    /// A connection of its own for one sync run, with an empty seen-set.
    pub async fn sync_connection(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        for table in ["sync_seen", "sync_gone"] {
            sqlx::query(&format!("CREATE TEMP TABLE IF NOT EXISTS {table} (uuid TEXT PRIMARY KEY) WITHOUT ROWID"))
                .execute(&mut *conn)
                .await?;
            sqlx::query(&format!("DELETE FROM temp.{table}")).execute(&mut *conn).await?;
        }
        Ok(conn)
    }

    /// Marks UUIDs as seen by the current run (entries that could not be mapped too,
    /// so a mapping problem never turns into a deletion).
    pub async fn mark_seen(conn: &mut PoolConnection<Sqlite>, uuids: &[String]) -> Result<(), StoreError> {
        for chunk in uuids.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO temp.sync_seen (uuid) ");
            q.push_values(chunk, |mut b, u| {
                b.push_bind(u);
            });
            q.build().execute(&mut **conn).await?;
        }
        Ok(())
    }

    /// Writes one batch in one transaction: new users inserted, changed ones
    /// updated, unchanged ones left untouched.
    pub async fn write_batch(
        conn: &mut PoolConnection<Sqlite>,
        tenant: &str,
        repo: &str,
        batch: &[PreparedUser],
        now: &str,
        want_changes: usize,
    ) -> Result<BatchOutcome, StoreError> {
        let mut out = BatchOutcome::default();
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        // Hashes only: bodies are read back just for the few changes a run reports.
        let mut existing: std::collections::HashMap<String, Vec<u8>> = std::collections::HashMap::new();
        for chunk in batch.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT ldap_uuid, content_hash FROM users WHERE tenant = ");
            q.push_bind(tenant).push(" AND repository_id = ").push_bind(repo).push(" AND ldap_uuid IN (");
            let mut sep = q.separated(", ");
            for p in chunk {
                sep.push_bind(&p.user.ldap_uuid);
            }
            q.push(")");
            for row in q.build().fetch_all(&mut *tx).await? {
                existing.insert(row.get(0), row.get(1));
            }
        }
        let mut to_write: Vec<&PreparedUser> = Vec::new();
        for p in batch {
            match existing.get(&p.user.ldap_uuid) {
                Some(hash) if *hash == p.hash => out.unchanged += 1,
                Some(_) => {
                    out.updated += 1;
                    if out.changes.len() < want_changes {
                        let old: Option<String> = sqlx::query(
                            "SELECT body FROM users WHERE tenant = ? AND repository_id = ? AND ldap_uuid = ?",
                        )
                        .bind(tenant)
                        .bind(repo)
                        .bind(&p.user.ldap_uuid)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.get(0));
                        out.changes.push(SyncChange {
                            username: p.user.username.clone(),
                            ldap_dn: p.user.ldap_dn.clone(),
                            kind: "updated".into(),
                            attributes: old.map(|o| changed_fields(&o, &p.body)).unwrap_or_default(),
                        });
                    }
                    to_write.push(p);
                }
                None => {
                    out.added += 1;
                    if out.changes.len() < want_changes {
                        out.changes.push(SyncChange {
                            username: p.user.username.clone(),
                            ldap_dn: p.user.ldap_dn.clone(),
                            kind: "added".into(),
                            attributes: Vec::new(),
                        });
                    }
                    to_write.push(p);
                }
            }
        }
        // Multi-row upserts: one statement per 100 users, not one per user.
        for chunk in to_write.chunks(100) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO users (tenant, repository_id, ldap_uuid, username, ldap_dn, enabled, body, content_hash, synced_at) ",
            );
            q.push_values(chunk, |mut b, p| {
                b.push_bind(tenant)
                    .push_bind(repo)
                    .push_bind(&p.user.ldap_uuid)
                    .push_bind(&p.user.username)
                    .push_bind(&p.user.ldap_dn)
                    .push_bind(p.user.enabled)
                    .push_bind(&p.body)
                    .push_bind(&p.hash)
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (tenant, repository_id, ldap_uuid) DO UPDATE SET username = excluded.username, ldap_dn = excluded.ldap_dn, enabled = excluded.enabled, body = excluded.body, content_hash = excluded.content_hash, synced_at = excluded.synced_at",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The users a run would remove: with `Unseen`, those a complete read did
    /// not return; with `Gone`, those the directory reported deleted. Only
    /// enabled ones count when the policy disables.
    pub async fn find_removable(
        conn: &mut PoolConnection<Sqlite>,
        tenant: &str,
        repo: &str,
        which: Removal,
        only_enabled: bool,
    ) -> Result<Missing, StoreError> {
        let stored: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE tenant = ? AND repository_id = ?")
            .bind(tenant)
            .bind(repo)
            .fetch_one(&mut **conn)
            .await?
            .get(0);
        let sql = format!(
            "SELECT COUNT(*) FROM users WHERE tenant = ? AND repository_id = ? AND (enabled = 1 OR ? = 0) AND {}",
            which.condition()
        );
        let to_remove: i64 =
            sqlx::query(&sql).bind(tenant).bind(repo).bind(only_enabled).fetch_one(&mut **conn).await?.get(0);
        Ok(Missing { stored: stored as u64, to_remove: to_remove as u64 })
    }

    /// Records UUIDs the directory reported deleted (or moved out of scope).
    pub async fn mark_gone(conn: &mut PoolConnection<Sqlite>, uuids: &[String]) -> Result<(), StoreError> {
        for chunk in uuids.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO temp.sync_gone (uuid) ");
            q.push_values(chunk, |mut b, u| {
                b.push_bind(u);
            });
            q.build().execute(&mut **conn).await?;
        }
        Ok(())
    }

    /// Disables or deletes the selected users; returns the count and the first changes.
    pub async fn remove_users(
        conn: &mut PoolConnection<Sqlite>,
        tenant: &str,
        repo: &str,
        which: Removal,
        delete: bool,
        now: &str,
        want_changes: usize,
    ) -> Result<(u64, Vec<SyncChange>), StoreError> {
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        let cond = which.condition();
        let sample = sqlx::query(&format!(
            "SELECT username, ldap_dn FROM users WHERE tenant = ? AND repository_id = ? AND (enabled = 1 OR ? = 1) AND {cond} LIMIT ?"
        ))
        .bind(tenant)
        .bind(repo)
        .bind(delete)
        .bind(want_changes as i64)
        .fetch_all(&mut *tx)
        .await?;
        let kind = if delete { "deleted" } else { "disabled" };
        let changes = sample
            .iter()
            .map(|r| SyncChange {
                username: r.get(0),
                ldap_dn: r.get(1),
                kind: kind.into(),
                attributes: vec!["enabled".into()],
            })
            .collect();
        let sql = if delete {
            format!("DELETE FROM users WHERE tenant = ?2 AND repository_id = ?3 AND {cond}")
        } else {
            format!("{DISABLE_USERS} WHERE tenant = ?2 AND repository_id = ?3 AND enabled = 1 AND {cond}")
        };
        let n = sqlx::query(&sql).bind(now).bind(tenant).bind(repo).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok((n, changes))
    }

    pub async fn sync_state(&self, tenant: &str, repo: &str) -> Result<Option<SyncState>, StoreError> {
        Ok(sqlx::query(
            "SELECT users_cookie, groups_cookie, since FROM sync_state WHERE tenant = ? AND repository_id = ?",
        )
        .bind(tenant)
        .bind(repo)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| SyncState { users_cookie: r.get(0), groups_cookie: r.get(1), since: r.get(2) }))
    }

    pub async fn save_sync_state(&self, tenant: &str, repo: &str, state: &SyncState) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sync_state (tenant, repository_id, users_cookie, groups_cookie, since) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, repository_id) DO UPDATE SET users_cookie = excluded.users_cookie, groups_cookie = excluded.groups_cookie, since = excluded.since",
        )
        .bind(tenant)
        .bind(repo)
        .bind(&state.users_cookie)
        .bind(&state.groups_cookie)
        .bind(&state.since)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_run_method(&self, id: i64, method: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET method = ? WHERE id = ?").bind(method).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Users of a tenant from the store, optionally filtered.
    pub async fn list_users(
        &self,
        tenant: &str,
        repository_id: Option<&str>,
        search: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(u64, Vec<User>), StoreError> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM users WHERE tenant = ");
        let mut page = QueryBuilder::<Sqlite>::new("SELECT body FROM users WHERE tenant = ");
        for q in [&mut count, &mut page] {
            q.push_bind(tenant.to_string());
            if let Some(r) = repository_id {
                q.push(" AND repository_id = ").push_bind(r.to_string());
            }
            if let Some(s) = search.filter(|s| !s.is_empty()) {
                q.push(" AND username LIKE ").push_bind(like_prefix(s)).push(" ESCAPE '\\'");
            }
        }
        let total: i64 = count.build().fetch_one(&self.pool).await?.get(0);
        page.push(" ORDER BY username LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        let users = page
            .build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .filter_map(|r| serde_json::from_str::<User>(r.get::<&str, _>(0)).ok())
            .collect();
        Ok((total as u64, users))
    }

    /// Writes one user outside a run (single-user re-sync).
    pub async fn upsert_user(
        &self,
        tenant: &str,
        repo: &str,
        user: &PreparedUser,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        Store::write_batch(&mut conn, tenant, repo, std::slice::from_ref(user), now, 0).await?;
        Ok(())
    }

    /// Disables (or deletes) one user whose entry is gone from the directory.
    pub async fn remove_user(
        &self,
        tenant: &str,
        repo: &str,
        ldap_uuid: &str,
        delete: bool,
        now: &str,
    ) -> Result<(), StoreError> {
        let sql = if delete {
            "DELETE FROM users WHERE tenant = ?2 AND repository_id = ?3 AND ldap_uuid = ?4".to_string()
        } else {
            format!("{DISABLE_USERS} WHERE tenant = ?2 AND repository_id = ?3 AND ldap_uuid = ?4")
        };
        sqlx::query(&sql).bind(now).bind(tenant).bind(repo).bind(ldap_uuid).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn get_user(&self, tenant: &str, repository_id: &str, ldap_uuid: &str) -> Result<User, StoreError> {
        sqlx::query("SELECT body FROM users WHERE tenant = ? AND repository_id = ? AND ldap_uuid = ?")
            .bind(tenant)
            .bind(repository_id)
            .bind(ldap_uuid)
            .fetch_optional(&self.pool)
            .await?
            .and_then(|r| serde_json::from_str(r.get::<&str, _>(0)).ok())
            .ok_or(StoreError::NotFound)
    }
}

/// A LIKE pattern (with `ESCAPE '\\'`) matching values that start with `s`.
pub fn like_prefix(s: &str) -> String {
    format!("{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// Top-level fields (and attribute names) whose values differ between two user bodies.
fn changed_fields(old: &str, new: &str) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::from_str::<serde_json::Value>(old), serde_json::from_str::<serde_json::Value>(new))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in &b {
        if k == "syncedAt" {
            continue;
        }
        if k == "attributes" {
            let empty = serde_json::Map::new();
            let old_attrs = a.get(k).and_then(|x| x.as_object()).unwrap_or(&empty);
            let new_attrs = v.as_object().unwrap_or(&empty);
            for name in old_attrs.keys().chain(new_attrs.keys()) {
                if old_attrs.get(name) != new_attrs.get(name) && !out.contains(&format!("attributes.{name}")) {
                    out.push(format!("attributes.{name}"));
                }
            }
        } else if a.get(k) != Some(v) {
            out.push(k.clone());
        }
    }
    out
}

const RUN_COLUMNS_BY_REPO: &str = "SELECT id, repository_id, mode, method, state, started_at, finished_at, counts, progress_done, progress_total, message, errors, changes, group_counts FROM sync_runs WHERE tenant = ? AND repository_id = ? ORDER BY id DESC LIMIT ?";
const RUN_COLUMNS_BY_ID: &str = "SELECT id, repository_id, mode, method, state, started_at, finished_at, counts, progress_done, progress_total, message, errors, changes, group_counts FROM sync_runs WHERE tenant = ? AND repository_id = ? AND id = ?";

fn run_of(r: &sqlx::sqlite::SqliteRow) -> SyncRun {
    SyncRun {
        id: r.get::<i64, _>(0).to_string(),
        repository_id: r.get(1),
        mode: if r.get::<&str, _>(2) == "changed" { SyncMode::Changed } else { SyncMode::Full },
        method: r.get(3),
        state: r.get(4),
        started_at: r.get(5),
        finished_at: r.get(6),
        counts: serde_json::from_str(r.get::<&str, _>(7)).unwrap_or_default(),
        progress: SyncProgress { done: r.get::<i64, _>(8) as u64, total: r.get::<Option<i64>, _>(9).map(|t| t as u64) },
        message: r.get(10),
        errors: serde_json::from_str(r.get::<&str, _>(11)).unwrap_or_default(),
        changes: serde_json::from_str(r.get::<&str, _>(12)).unwrap_or_default(),
        group_counts: r.get::<Option<&str>, _>(13).and_then(|g| serde_json::from_str(g).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_changed_fields_and_attributes() {
        let old = r#"{"email":"a@x","enabled":true,"attributes":{"phone":["1"],"title":["x"]},"syncedAt":"1"}"#;
        let new = r#"{"email":"b@x","enabled":true,"attributes":{"phone":["2"],"title":["x"]},"syncedAt":"2"}"#;
        assert_eq!(changed_fields(old, new), vec!["attributes.phone", "email"]);
    }
}
