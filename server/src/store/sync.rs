//! Sync runs and the users a sync writes. The writer works on one dedicated
//! connection per run so it can keep a TEMP table of the UUIDs the run has
//! seen (deletion detection without holding the directory in memory).

use super::keys::{StoredKey, UuidKey};
use super::{ListFilter, Listed, Owner, Store, StoreError};
use app::model::{GroupCounts, SyncChange, SyncCounts, SyncError, SyncMode, SyncProgress, SyncRun, User};
use sqlx::Row;

/// Disables users (`?1` = now). The hashes are reset with the body, so a user
/// that comes back in a later read is mapped and rewritten.
pub(super) const DISABLE_USERS: &str =
    "UPDATE users SET enabled = 0, content_hash = x'00', source_hash = NULL, synced_at = ?1";

/// Errors and changes kept per run (the first ones).
pub const MAX_SAMPLES: usize = 100;

/// What a user row's `body` holds: the mapped fields the row has no column
/// for, empty ones left out (a third of the whole user's JSON: less to
/// serialize and hash on the reader, fewer pages for the writer). Bodies
/// written before this form hold the whole user and read the same: the
/// fields that are columns now are ignored, the columns win.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub email_verified: bool,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_actions: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_groups: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The body fields that are row columns (in bodies of the whole user).
const COLUMN_FIELDS: [&str; 7] = ["id", "repositoryId", "username", "ldapDn", "ldapUuid", "enabled", "syncedAt"];

impl UserBody {
    /// Moves the body's fields out of `user`, leaving its column fields.
    pub fn take(user: &mut User) -> UserBody {
        use std::mem::take;
        // Every field of `User` is named (no `..`): a field added there does
        // not compile here until it is a column (and in COLUMN_FIELDS) or
        // part of the body, so no mapped value is silently left unstored.
        let User {
            id: _,
            repository_id: _,
            username: _,
            ldap_dn: _,
            ldap_uuid: _,
            enabled: _,
            synced_at: _,
            email,
            first_name,
            last_name,
            display_name,
            email_verified,
            attributes,
            required_actions,
            admin,
            roles,
            user_types,
            user_groups,
            groups,
        } = user;
        UserBody {
            email: take(email),
            first_name: take(first_name),
            last_name: take(last_name),
            display_name: take(display_name),
            email_verified: take(email_verified),
            attributes: take(attributes),
            required_actions: take(required_actions),
            admin: take(admin),
            roles: take(roles),
            user_types: take(user_types),
            user_groups: take(user_groups),
            groups: take(groups),
        }
    }

    /// The user of a row: `columns` with the body's fields.
    pub fn into_user(self, columns: User) -> User {
        User {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            display_name: self.display_name,
            email_verified: self.email_verified,
            attributes: self.attributes,
            required_actions: self.required_actions,
            admin: self.admin,
            roles: self.roles,
            user_types: self.user_types,
            user_groups: self.user_groups,
            groups: self.groups,
            ..columns
        }
    }
}

/// A user prepared for writing: the columns of its row, its JSON and a hash
/// of it. Only these reach the writer thread; the mapped `User` is dropped
/// where it was built (a block freed on another thread costs mimalloc an
/// atomic hand-back, and a user is dozens of blocks).
pub struct PreparedUser {
    pub ldap_uuid: String,
    pub username: String,
    pub ldap_dn: String,
    pub enabled: bool,
    pub body: String,
    /// XXH3-128 of the body and columns (see `sync::plan::prepare`).
    pub hash: [u8; 16],
    /// The fingerprint of the entry it was mapped from, when read by a run
    /// (see `sync::fingerprint`); None makes the next run map it again.
    pub source_hash: Option<[u8; 16]>,
}

/// How a batch changed the store.
#[derive(Default, Debug)]
pub struct BatchOutcome {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub changes: Vec<SyncChange>,
    /// Users not written, with their DN and why (a username another user
    /// of the repository has).
    pub refused: Vec<SyncError>,
}

/// Which users a removal selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Not returned by a complete read: neither at a place in read order
    /// the run saw ([`SeenPlaces`]) nor in its seen-set (`temp.sync_seen`);
    /// collected into `temp.sync_unseen` by `Bulk::find_removable`.
    Unseen,
    /// Reported deleted by content synchronisation (`temp.sync_gone`).
    Gone,
}

impl Removal {
    pub(super) fn condition(self) -> &'static str {
        match self {
            Removal::Unseen => "ldap_uuid IN (SELECT uuid FROM temp.sync_unseen)",
            Removal::Gone => "ldap_uuid IN (SELECT uuid FROM temp.sync_gone)",
        }
    }
}

/// The places in read order (`users.seq`) of the users a complete read found
/// stored unchanged: the reader takes them from the stored order it reads
/// alongside the directory, so such a user costs the writer a bit instead of
/// a row in the seen-set (and the removal check a bit test instead of a
/// lookup in it).
#[derive(Default, Debug)]
pub struct SeenPlaces {
    bits: Vec<u64>,
}

impl SeenPlaces {
    /// Places from 1 up to this are recorded here (8 MiB at most); users
    /// at other places go to the seen-set by UUID.
    pub const LIMIT: i64 = 1 << 26;

    pub fn fits(seq: i64) -> bool {
        (1..Self::LIMIT).contains(&seq)
    }

    /// Records `seq` (one that [`SeenPlaces::fits`]).
    pub fn insert(&mut self, seq: i64) {
        if Self::fits(seq) {
            let (word, bit) = ((seq / 64) as usize, seq % 64);
            if word >= self.bits.len() {
                self.bits.resize(word + 1, 0);
            }
            self.bits[word] |= 1 << bit;
        }
    }

    pub fn contains(&self, seq: i64) -> bool {
        Self::fits(seq) && self.bits.get((seq / 64) as usize).is_some_and(|w| w & (1 << (seq % 64)) != 0)
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

/// How a run ended, as its row stores it.
pub struct RunEnd {
    pub id: i64,
    pub state: &'static str,
    pub finished_at: String,
    /// JSON of the counts, errors, changes and group counts.
    pub counts: String,
    pub errors: String,
    pub changes: String,
    pub group_counts: Option<String>,
    pub seen: i64,
    pub message: Option<String>,
}

impl RunEnd {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: i64,
        state: &'static str,
        finished_at: String,
        counts: &SyncCounts,
        message: Option<String>,
        errors: &[SyncError],
        changes: &[SyncChange],
        group_counts: Option<&GroupCounts>,
    ) -> RunEnd {
        RunEnd {
            id,
            state,
            finished_at,
            counts: serde_json::to_string(counts).unwrap_or_default(),
            errors: serde_json::to_string(errors).unwrap_or_default(),
            changes: serde_json::to_string(changes).unwrap_or_default(),
            group_counts: group_counts.and_then(|g| serde_json::to_string(g).ok()),
            seen: counts.seen as i64,
            message,
        }
    }
}

/// Parameters: state, finished_at, counts, seen, message, errors, changes,
/// group_counts, id (see [`RunEnd`]).
pub(super) const FINISH_RUN: &str = "UPDATE sync_runs SET state = ?1, finished_at = ?2, counts = ?3, progress_done = ?4, progress_total = CASE WHEN ?1 = 'succeeded' THEN ?4 ELSE progress_total END, message = ?5, errors = ?6, changes = ?7, group_counts = ?8 WHERE id = ?9";

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
        stored_users: u64,
    ) -> Result<i64, StoreError> {
        let counts = serde_json::to_string(&SyncCounts::default()).unwrap_or_default();
        let row = sqlx::query(
            "INSERT INTO sync_runs (tenant, repository_id, mode, method, state, started_at, counts, progress_total) VALUES (?, ?, ?, ?, 'running', ?, ?, ?) RETURNING id",
        )
        .bind(tenant)
        .bind(repo)
        .bind(mode_str(mode))
        .bind(method)
        .bind(now)
        .bind(counts)
        .bind((stored_users > 0).then_some(stored_users as i64))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    #[allow(clippy::too_many_arguments)]
    /// Records how a run ended (see [`RunEnd`]; a run's writer records it on
    /// its own connection, [`super::bulk::Bulk::finish_run`]).
    pub async fn finish_run(&self, end: &RunEnd) -> Result<(), StoreError> {
        sqlx::query(FINISH_RUN)
            .bind(end.state)
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

    pub async fn set_run_method(&self, id: i64, method: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET method = ? WHERE id = ?").bind(method).bind(id).execute(&self.pool).await?;
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
    /// was refused, if it was (see [`bulk::Bulk::write_batch`]).
    pub async fn upsert_user(
        &self,
        tenant: &str,
        repo: &str,
        user: &PreparedUser,
        now: &str,
    ) -> Result<Option<SyncError>, StoreError> {
        let mut bulk = self.bulk()?;
        let outcome = super::bulk::blocking(|| {
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
const USER_COLUMNS: &str = "SELECT t.body, t.synced_at, (SELECT repository_id FROM user_scopes WHERE id = t.scope), t.ldap_uuid, t.username, t.ldap_dn, t.enabled FROM users t";

const USER_LISTING: Listed = Listed { select: USER_COLUMNS, owner: Owner::UserScope, name: "lower(t.username)" };

/// A stored user (a row of [`USER_COLUMNS`]).
fn user_of(r: &sqlx::sqlite::SqliteRow) -> Option<User> {
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

/// Body fields (and attribute names) whose values differ between two user
/// bodies. A field left out counts as empty, and the fields that are columns
/// (in bodies of the whole user) are not compared: the writer compares the
/// columns themselves.
pub(super) fn changed_fields(old: &str, new: &str) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::from_str::<serde_json::Value>(old), serde_json::from_str::<serde_json::Value>(new))
    else {
        return Vec::new();
    };
    let empty = serde_json::Value::Null;
    let is_empty = |v: &serde_json::Value| match v {
        serde_json::Value::Null | serde_json::Value::Bool(false) => true,
        serde_json::Value::Array(items) => items.is_empty(),
        serde_json::Value::Object(fields) => fields.is_empty(),
        _ => false,
    };
    let same = |x: Option<&serde_json::Value>, y: Option<&serde_json::Value>| {
        let (x, y) = (x.unwrap_or(&empty), y.unwrap_or(&empty));
        x == y || (is_empty(x) && is_empty(y))
    };
    let mut names: Vec<&String> = b.keys().chain(a.keys()).filter(|k| !COLUMN_FIELDS.contains(&k.as_str())).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for k in names {
        if k == "attributes" {
            let no_attributes = serde_json::Map::new();
            let old_attrs = a.get(k).and_then(|x| x.as_object()).unwrap_or(&no_attributes);
            let new_attrs = b.get(k).and_then(|x| x.as_object()).unwrap_or(&no_attributes);
            let mut attrs: Vec<&String> = old_attrs.keys().chain(new_attrs.keys()).collect();
            attrs.sort();
            attrs.dedup();
            for name in attrs {
                if !same(old_attrs.get(name), new_attrs.get(name)) {
                    out.push(format!("attributes.{name}"));
                }
            }
        } else if !same(a.get(k), b.get(k)) {
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
        // The removal check of a complete read (`Bulk::collect_unseen`).
        let unseen = plan("SELECT seq, ldap_uuid FROM users WHERE scope = 1 ORDER BY seq").await;
        assert!(unseen.contains("USING COVERING INDEX users_in_read_order"), "{unseen}");
        assert!(!unseen.contains("TEMP B-TREE"), "{unseen}");
    }

    #[test]
    fn names_changed_fields_and_attributes() {
        let old = r#"{"email":"a@x","attributes":{"phone":["1"],"title":["x"]}}"#;
        let new = r#"{"email":"b@x","attributes":{"phone":["2"],"title":["x"]}}"#;
        assert_eq!(changed_fields(old, new), vec!["attributes.phone", "email"]);
        // A field or attribute that went is a change too.
        let gone = r#"{"attributes":{"title":["x"]}}"#;
        assert_eq!(changed_fields(old, gone), vec!["attributes.phone", "email"]);
        // A body of the whole user (as stored before) against the same user
        // in the body form: the column fields and empty ones are no change.
        let whole = r#"{"id":"r:u","repositoryId":"r","username":"a","enabled":true,"ldapDn":"uid=a","ldapUuid":"u","syncedAt":null,"email":"a@x","emailVerified":false,"admin":false,"roles":[],"groups":[],"attributes":{"phone":["1"],"title":["x"]}}"#;
        assert_eq!(changed_fields(whole, old), Vec::<String>::new());
        assert_eq!(changed_fields(whole, new), vec!["attributes.phone", "email"]);
    }

    /// A body holds what the columns do not, reads back into the same user,
    /// and a body of the whole user (stored before) reads the same.
    #[test]
    fn a_user_goes_through_its_body_and_columns_unchanged() {
        let user = User {
            id: "r:u".into(),
            repository_id: "r".into(),
            ldap_uuid: "u".into(),
            username: "anna".into(),
            ldap_dn: "uid=anna,dc=x".into(),
            enabled: true,
            email: Some("anna@x".into()),
            last_name: Some("Smith".into()),
            attributes: [("phone".to_string(), vec!["1".to_string(), "2".into()])].into(),
            admin: true,
            groups: vec!["cn=ops,dc=x".into()],
            synced_at: Some("now".into()),
            ..User::default()
        };
        let mut columns = user.clone();
        let body = serde_json::to_string(&UserBody::take(&mut columns)).expect("body");
        for field in ["anna\"", "uid=anna", "\"r:u\"", "enabled", "synced", "firstName", "roles", "emailVerified"] {
            assert!(!body.contains(field), "{field} in {body}");
        }
        let back = serde_json::from_str::<UserBody>(&body).expect("read").into_user(columns.clone());
        assert_eq!(back, user);
        let whole = serde_json::to_string(&User { synced_at: None, ..user.clone() }).expect("whole");
        let back = serde_json::from_str::<UserBody>(&whole).expect("read whole").into_user(columns);
        assert_eq!(back, user);
    }
}
