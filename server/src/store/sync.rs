//! Sync runs and the users a sync writes. The writer works on one dedicated
//! connection per run so it can keep a TEMP table of the UUIDs the run has
//! seen (deletion detection without holding the directory in memory).

use super::keys::{StoredKey, UuidKey};
use super::rows::{PreparedUser, RunEnd, SyncState, UserBody, DISABLE_USERS, FINISH_RUN};
use super::{ListFilter, Listed, Owner, Store, StoreError};
use app::model::{RunMethod, RunState, SyncCounts, SyncError, SyncMode, SyncProgress, SyncRun, User};
use sqlx::Row;

/// Errors and changes kept per run (the first ones).
pub const MAX_SAMPLES: usize = 100;

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
        method: RunMethod,
        now: &str,
        stored_users: u64,
    ) -> Result<i64, StoreError> {
        let counts = serde_json::to_string(&SyncCounts::default()).unwrap_or_default();
        let row = sqlx::query(
            "INSERT INTO sync_runs (tenant, repository_id, mode, method, state, started_at, counts, progress_total) VALUES (?, ?, ?, ?, 'running', ?, ?, ?) RETURNING id",
        )
        .bind(tenant)
        .bind(repo)
        .bind(mode_str(mode))
        .bind(method.as_str())
        .bind(now)
        .bind(counts)
        .bind((stored_users > 0).then_some(stored_users as i64))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    #[allow(clippy::too_many_arguments)]
    /// Records how a run ended (see [`RunEnd`]; a run's writer records it on
    /// its own connection, [`super::writer::Writer::finish_run`]).
    pub async fn finish_run(&self, end: &RunEnd) -> Result<(), StoreError> {
        sqlx::query(FINISH_RUN)
            .bind(end.state.as_str())
            .bind(&end.finished_at)
            .bind(&end.counts)
            .bind(end.seen)
            .bind(&end.message)
            .bind(&end.errors)
            .bind(&end.changes)
            .bind(&end.group_counts)
            .bind(end.id)
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

    /// About how many users a repository has, without counting them (a
    /// COUNT walks the repository's whole index range: ~10 ms at 100,000
    /// users, a seventh of a changed sync): how many places in read order
    /// were ever taken (users removed since still count). 0 exactly when it
    /// has none.
    pub async fn estimate_users(&self, tenant: &str, repo: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(ESTIMATE_USERS).bind(tenant).bind(repo).fetch_one(&self.pool).await?.get(0);
        Ok(n.max(0) as u64)
    }

    pub async fn count_users(&self, tenant: &str, repo: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM users WHERE scope = {SCOPE}"))
            .bind(tenant)
            .bind(repo)
            .fetch_one(&self.pool)
            .await?
            .get(0);
        Ok(n as u64)
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

    pub async fn set_run_method(&self, id: i64, method: RunMethod) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET method = ? WHERE id = ?")
            .bind(method.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Users of a tenant from the store, optionally filtered.
    pub async fn list_users(
        &self,
        filter: ListFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(u64, Vec<User>), StoreError> {
        let repositories = self.repositories_to_merge(&filter).await?;
        let (total, rows) = self.list_page(&USER_LISTING, filter, repositories.as_deref(), offset, limit).await?;
        let users = rows.iter().filter_map(user_of).collect();
        Ok((total, users))
    }

    /// Writes one user outside a run (single-user re-sync). Returns why it
    /// was refused, if it was (see [`writer::Writer::write_batch`]).
    pub async fn upsert_user(
        &self,
        tenant: &str,
        repo: &str,
        user: &PreparedUser,
        now: &str,
    ) -> Result<Option<SyncError>, StoreError> {
        let mut bulk = self.bulk()?;
        let outcome = super::writer::blocking(|| {
            let outcome = bulk.write_batch(tenant, repo, std::slice::from_ref(user), now, 0, false)?;
            bulk.commit()?;
            Ok::<_, StoreError>(outcome)
        })?;
        Ok(outcome.refused.into_iter().next())
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
        let scope = "scope = (SELECT id FROM user_scopes WHERE tenant = ?2 AND repository_id = ?3) AND ldap_uuid = ?4";
        let sql =
            if delete { format!("DELETE FROM users WHERE {scope}") } else { format!("{DISABLE_USERS} WHERE {scope}") };
        sqlx::query(&sql).bind(now).bind(tenant).bind(repo).bind(UuidKey::of(ldap_uuid)).execute(&self.pool).await?;
        Ok(())
    }

    /// A stored user's content hash and sync time, when the store has them:
    /// a login writes the user only when the entry changed.
    pub async fn stored_content(
        &self,
        tenant: &str,
        repository_id: &str,
        ldap_uuid: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT content_hash, synced_at FROM users t WHERE t.scope = {SCOPE} AND t.ldap_uuid = ?"
        ))
        .bind(tenant)
        .bind(repository_id)
        .bind(UuidKey::of(ldap_uuid))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The tenant's stored users with this username (in any case), in any
    /// repository: a login tries their own repository first.
    pub async fn users_named(&self, tenant: &str, username: &str) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "{USER_COLUMNS} WHERE t.scope IN (SELECT id FROM user_scopes WHERE tenant = ?) AND lower(t.username) = lower(?) LIMIT 16"
        );
        let rows = sqlx::query(&sql).bind(tenant).bind(username).fetch_all(&self.pool).await?;
        Ok(rows.iter().filter_map(user_of).collect())
    }

    pub async fn get_user(&self, tenant: &str, repository_id: &str, ldap_uuid: &str) -> Result<User, StoreError> {
        sqlx::query(&format!("{USER_COLUMNS} WHERE t.scope = {SCOPE} AND t.ldap_uuid = ?"))
            .bind(tenant)
            .bind(repository_id)
            .bind(UuidKey::of(ldap_uuid))
            .fetch_optional(&self.pool)
            .await?
            .and_then(|r| user_of(&r))
            .ok_or(StoreError::NotFound)
    }
}

const ESTIMATE_USERS: &str = "SELECT coalesce((SELECT max(seq) FROM users WHERE scope = (SELECT id FROM user_scopes WHERE tenant = ?1 AND repository_id = ?2)), EXISTS (SELECT 1 FROM users WHERE scope = (SELECT id FROM user_scopes WHERE tenant = ?1 AND repository_id = ?2)))";

/// The scope of the users of (tenant `?`, repository `?`): see `store::keys`.
pub(super) const SCOPE: &str = "(SELECT id FROM user_scopes WHERE tenant = ? AND repository_id = ?)";

/// The repository is looked up per row returned, not joined: a COUNT over
/// the same FROM then reads one index alone.
pub(super) const USER_COLUMNS: &str = "SELECT t.body, t.synced_at, (SELECT repository_id FROM user_scopes WHERE id = t.scope), t.ldap_uuid, t.username, t.ldap_dn, t.enabled FROM users t";

const USER_LISTING: Listed = Listed { select: USER_COLUMNS, owner: Owner::UserScope, name: "lower(t.username)" };

/// A stored user (a row of [`USER_COLUMNS`]).
pub(super) fn user_of(r: &sqlx::sqlite::SqliteRow) -> Option<User> {
    let body: UserBody = serde_json::from_str(r.get::<&str, _>(0)).ok()?;
    let repository_id: String = r.get(2);
    let ldap_uuid = r.get::<StoredKey, _>(3).into_text();
    Some(body.into_user(User {
        id: format!("{repository_id}:{ldap_uuid}"),
        repository_id,
        ldap_uuid,
        username: r.get(4),
        ldap_dn: r.get(5),
        enabled: r.get(6),
        synced_at: Some(r.get(1)),
        ..User::default()
    }))
}

const RUN_COLUMNS_BY_REPO: &str = "SELECT id, repository_id, mode, method, state, started_at, finished_at, counts, progress_done, progress_total, message, errors, changes, group_counts FROM sync_runs WHERE tenant = ? AND repository_id = ? ORDER BY id DESC LIMIT ?";
const RUN_COLUMNS_BY_ID: &str = "SELECT id, repository_id, mode, method, state, started_at, finished_at, counts, progress_done, progress_total, message, errors, changes, group_counts FROM sync_runs WHERE tenant = ? AND repository_id = ? AND id = ?";

fn run_of(r: &sqlx::sqlite::SqliteRow) -> SyncRun {
    SyncRun {
        id: r.get::<i64, _>(0).to_string(),
        repository_id: r.get(1),
        mode: if r.get::<&str, _>(2) == "changed" { SyncMode::Changed } else { SyncMode::Full },
        // Rows hold what this code wrote; anything else reads as the default
        // (pending / running) rather than failing the listing.
        method: RunMethod::parse(r.get(3)).unwrap_or_default(),
        state: RunState::parse(r.get(4)).unwrap_or_default(),
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
    use crate::store::test_support::{insert_user, plan_of, query_plan};
    use crate::store::{push_listing, Listing};

    /// The users list must stay index ranges on a million users: no scan of
    /// the users table and no sort, with or without a search and a
    /// repository filter, for one repository or merged over several.
    #[tokio::test]
    async fn user_listing_and_search_use_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_file(&dir.path().join("t.db")).await.expect("store");
        let repositories = ["a".to_string(), "b".to_string(), "c".to_string()];
        for (repository_id, search, merged) in [
            (None, None, &repositories[..1]),
            (None, Some("Ab"), &repositories[..]),
            (None, None, &repositories[..]),
            (Some("r"), Some("ab"), &[][..]),
            (Some("r"), None, &[][..]),
        ] {
            let filter = ListFilter { tenant: "d", repository_id, search };
            let merge = repository_id.is_none().then_some(merged);
            for (listing, index) in [
                // A count may take whichever index is smallest.
                (Listing::Count, if search.is_some() { "users_by_repository_username" } else { "users_" }),
                (Listing::Page { offset: 25, limit: 25 }, "users_by_repository_username"),
            ] {
                let mut q = sqlx::QueryBuilder::new("EXPLAIN QUERY PLAN ");
                push_listing(&mut q, listing, &USER_LISTING, &filter, merge);
                let sql = q.sql().to_string();
                let text = plan_of(store.pool(), q.build()).await;
                let ranges = text.split(" | ").filter(|p| p.starts_with("SEARCH t USING") && p.contains(index)).count();
                assert_eq!(ranges, merge.map_or(1, <[String]>::len), "{sql}: {text}");
                assert!(!text.contains("TEMP B-TREE") && !text.contains("SCAN t"), "{sql}: {text}");
            }
        }
    }

    /// A listing merged over repositories reads like one sorted listing.
    #[tokio::test]
    async fn a_tenant_listing_merges_its_repositories_in_name_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_file(&dir.path().join("t.db")).await.expect("store");
        for (repo, name) in [("a", "Carol"), ("b", "alice"), ("a", "bob"), ("c", "Alan"), ("b", "dave"), ("c", "bea")] {
            insert_user(store.pool(), "default", repo, name, name, None).await;
        }
        for repo in ["a", "b", "c"] {
            sqlx::query("INSERT INTO repositories (tenant, id, body, version, created, changed) VALUES ('default', ?, '{}', 1, 'now', 'now')")
                .bind(repo)
                .execute(store.pool())
                .await
                .expect("repository");
        }
        let list = |search: Option<&'static str>, offset: i64, limit: i64| {
            let store = store.clone();
            async move {
                let filter = ListFilter { tenant: "default", repository_id: None, search };
                let (total, users) = store.list_users(filter, offset, limit).await.expect("list");
                (total, users.into_iter().map(|u| u.username).collect::<Vec<_>>())
            }
        };
        assert_eq!(
            list(None, 0, 10).await,
            (6, vec!["Alan", "alice", "bea", "bob", "Carol", "dave"].into_iter().map(String::from).collect())
        );
        assert_eq!(list(None, 2, 3).await, (6, vec!["bea".to_string(), "bob".into(), "Carol".into()]));
        assert_eq!(list(Some("B"), 0, 10).await, (2, vec!["bea".to_string(), "bob".into()]));
        assert_eq!(list(Some("al"), 1, 10).await, (2, vec!["alice".to_string()]));
        assert_eq!(list(Some("z"), 0, 10).await, (0, vec![]));
    }

    /// The estimate a changed sync starts from: 0 exactly for a repository
    /// without users, the places taken otherwise (1 for users stored before
    /// read order was kept), and two index seeks however many users there are.
    #[tokio::test]
    async fn a_repository_s_users_are_estimated_without_counting_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_file(&dir.path().join("t.db")).await.expect("store");
        let add = |repo: &'static str, uuid: &'static str, seq: Option<i64>| {
            insert_user(store.pool(), "t", repo, uuid, uuid, seq)
        };
        assert_eq!(store.estimate_users("t", "a").await.expect("empty"), 0);
        add("a", "u1", None).await;
        assert_eq!(store.estimate_users("t", "a").await.expect("old users"), 1);
        for (uuid, seq) in [("u2", 1), ("u3", 2), ("u4", 3)] {
            add("a", uuid, Some(seq)).await;
        }
        add("b", "u9", Some(50)).await;
        assert_eq!(store.estimate_users("t", "a").await.expect("estimate"), 3);
        assert_eq!(store.estimate_users("t", "c").await.expect("other"), 0);
        let plan =
            plan_of(store.pool(), sqlx::query(&format!("EXPLAIN QUERY PLAN {ESTIMATE_USERS}")).bind("t").bind("a"))
                .await;
        assert!(plan.split(" | ").all(|p| !p.starts_with("SCAN users")), "{plan}");
    }

    /// A sync's per-entry queries: a UUID lookup is one primary-key probe
    /// (never a scan of the read-order index, which also starts with the
    /// repository), and the read-order window is a covering index range.
    #[tokio::test]
    async fn sync_lookups_use_the_primary_key_and_the_window_a_covering_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_file(&dir.path().join("t.db")).await.expect("store");
        let plan = |q: &'static str| query_plan(store.pool(), q);
        for q in [
            "SELECT seq, source_hash FROM users WHERE scope = 1 AND ldap_uuid = x'00'",
            "SELECT rowid, content_hash, username FROM users WHERE scope = 1 AND ldap_uuid = 'u'",
        ] {
            let text = plan(q).await;
            assert!(text.contains("USING INDEX sqlite_autoindex_users_1"), "{q}: {text}");
        }
        let window =
            plan("SELECT seq, ldap_uuid, source_hash FROM users WHERE scope = 1 AND seq > 5 ORDER BY seq LIMIT 512")
                .await;
        assert!(window.contains("USING COVERING INDEX users_in_read_order"), "{window}");
        assert!(!window.contains("TEMP B-TREE"), "{window}");
        // The removal check of a complete read (`Writer::collect_unseen`).
        let unseen = plan("SELECT seq, ldap_uuid FROM users WHERE scope = 1 ORDER BY seq").await;
        assert!(unseen.contains("USING COVERING INDEX users_in_read_order"), "{unseen}");
        assert!(!unseen.contains("TEMP B-TREE"), "{unseen}");
    }
}
