//! The embedded SQLite store (sqlx, WAL). One error enum for the layer.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error("version conflict")]
    StaleVersion,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Writer(#[from] rusqlite::Error),
    #[error("the sync writer needs a database file, not an in-memory store")]
    NoFile,
    /// A stored value that does not read back (never taken as empty).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The database file (the sync writer opens its own connection to it).
    path: Option<std::path::PathBuf>,
    /// Counts changes to repository rows made through this store, so that
    /// what is read from them (a login's candidates) is cached until one.
    repositories_changed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A repository row as stored: JSON body without secrets, sealed secrets.
#[derive(Clone, Debug)]
pub struct RepositoryRow {
    pub id: String,
    pub body: String,
    pub secrets: Option<Vec<u8>>,
    pub version: i64,
    pub created: String,
    pub changed: String,
    pub state: String,
}

/// Process-wide SQLite settings, applied before SQLite's first use (the
/// first call wins; later ones do nothing). Without `memory_statistics`
/// SQLite keeps no allocation counters: with them every sqlite3_malloc and
/// free takes a global mutex, 5-9% of a sync writer's time. The sync
/// benchmark turns them on to report SQLite's peak heap.
pub fn configure_sqlite(memory_statistics: bool) {
    static CONFIGURED: std::sync::Once = std::sync::Once::new();
    CONFIGURED.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int; SQLite rejects the
        // call (SQLITE_MISUSE, nothing changed) once it is initialised.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, i32::from(memory_statistics))
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(rc, "SQLite was initialised already; memory statistics left as they were");
        }
    });
}

impl Store {
    pub async fn open_file(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let mut store = Store::open(options).await?;
        store.path = Some(path.to_path_buf());
        Ok(store)
    }

    /// `sqlite::memory:` or any sqlx SQLite URL; used by tests.
    pub async fn open_url(url: &str) -> Result<Store, StoreError> {
        Store::open(SqliteConnectOptions::from_str(url)?).await
    }

    async fn open(options: SqliteConnectOptions) -> Result<Store, StoreError> {
        configure_sqlite(false);
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Checkpoint less often (the sync writer's connection does the same):
            // big imports rewrite hot index pages far less.
            .pragma("wal_autocheckpoint", "8192")
            .pragma("journal_size_limit", "67108864")
            .busy_timeout(std::time::Duration::from_secs(10));
        // An in-memory database exists per connection: keep exactly one.
        let max = if options.get_filename() == Path::new(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new().max_connections(max).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool, path: None, repositories_changed: Default::default() })
    }

    /// A connection of its own for a few writes (see [`writer::Writer`]).
    pub fn bulk(&self) -> Result<writer::Writer, StoreError> {
        writer::Writer::open(self.path.as_deref().ok_or(StoreError::NoFile)?, false)
    }

    /// The writer of one sync run: [`Store::bulk`] with a background
    /// checkpointer for the run's many writes.
    pub fn run_writer(&self) -> Result<writer::Writer, StoreError> {
        writer::Writer::open(self.path.as_deref().ok_or(StoreError::NoFile)?, true)
    }

    /// The stored source hashes of a repository's users, for a run's reader.
    pub fn known_users(&self, tenant: &str, repo: &str, in_order: bool) -> Result<known::KnownUsers, StoreError> {
        known::KnownUsers::open(self.path.as_deref().ok_or(StoreError::NoFile)?, tenant, repo, in_order)
    }

    /// The connection pool (benchmarks and tests reach below the store API).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// How many changes to repository rows this store has made (see the field).
    pub fn repositories_generation(&self) -> u64 {
        self.repositories_changed.load(std::sync::atomic::Ordering::Acquire)
    }

    fn repositories_changed(&self) {
        self.repositories_changed.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM tenants WHERE slug = ?").bind(tenant).fetch_optional(&self.pool).await?.is_some())
    }

    // --- repositories ----------------------------------------------------------------

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
            sync::SCOPE
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

/// Which rows a listing shows: a tenant's, optionally one repository's, and
/// optionally those whose name starts with `search` (case-insensitively).
pub struct ListFilter<'a> {
    pub tenant: &'a str,
    pub repository_id: Option<&'a str>,
    pub search: Option<&'a str>,
}

/// Most repositories a listing merges range by range; a tenant with more is
/// listed in one sorted pass (SQLite allows 500 arms in a compound select).
const MAX_MERGED_REPOSITORIES: usize = 400;

impl Store {
    /// One page of a listing and the total: `listed` filtered, ordered by its
    /// name, with a prefix search as a range on it. With `repositories`, a
    /// tenant-wide listing is one range per repository, merged in name order
    /// (see [`push_listing`]).
    async fn list_page(
        &self,
        listed: &Listed,
        filter: ListFilter<'_>,
        repositories: Option<&[String]>,
        offset: i64,
        limit: i64,
    ) -> Result<(u64, Vec<sqlx::sqlite::SqliteRow>), StoreError> {
        let mut count = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
        push_listing(&mut count, Listing::Count, listed, &filter, repositories);
        let total: i64 = count.build().fetch_one(&self.pool).await?.get(0);
        let mut page = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
        push_listing(&mut page, Listing::Page { offset, limit }, listed, &filter, repositories);
        Ok((total as u64, page.build().fetch_all(&self.pool).await?))
    }

    /// The ids of a tenant's repositories, when a listing can merge them.
    async fn repositories_to_merge(&self, filter: &ListFilter<'_>) -> Result<Option<Vec<String>>, StoreError> {
        if filter.repository_id.is_some() {
            return Ok(None);
        }
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM repositories WHERE tenant = ? ORDER BY id")
            .bind(filter.tenant)
            .fetch_all(&self.pool)
            .await?;
        Ok((ids.len() <= MAX_MERGED_REPOSITORIES).then_some(ids))
    }
}

enum Listing {
    Count,
    Page { offset: i64, limit: i64 },
}

/// What a listing lists.
pub(super) struct Listed {
    /// A query over a table aliased `t`.
    pub select: &'static str,
    pub owner: Owner,
    /// The indexed expression it is ordered by, such as `lower(t.username)`.
    pub name: &'static str,
}

/// How a listed table names its rows' tenant and repository.
#[derive(Clone, Copy)]
pub(super) enum Owner {
    /// `tenant` and `repository_id` columns.
    Columns,
    /// A `scope` column (users; see [`keys`]).
    UserScope,
}

/// Pushes a listing's count or page. Each arm is one index range
/// (tenant, [repository,] name prefix); with `repositories` there is one arm
/// per repository and SQLite merges them in name order (a compound select
/// ordered by a column its arms deliver in order: no sort), so a users table
/// needs no tenant-wide username index: one index fewer to update for every
/// user a sync writes.
fn push_listing(
    q: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>,
    listing: Listing,
    listed: &Listed,
    filter: &ListFilter<'_>,
    repositories: Option<&[String]>,
) {
    let name = listed.name;
    let arms: Vec<Option<&str>> = match repositories {
        Some(ids) => ids.iter().map(|id| Some(id.as_str())).collect(),
        None => vec![filter.repository_id],
    };
    let (columns, from) = listed.select.rsplit_once(" FROM ").unwrap_or((listed.select, ""));
    if arms.is_empty() {
        // A tenant without repositories: an arm that matches nothing.
        q.push(match listing {
            Listing::Count => "SELECT 0",
            Listing::Page { .. } => "SELECT 1 WHERE 0",
        });
        return;
    }
    if matches!(listing, Listing::Count) {
        q.push("SELECT 0");
    }
    for (i, repository) in arms.into_iter().enumerate() {
        match listing {
            Listing::Count => q.push(format!(" + (SELECT COUNT(*) FROM {from}")),
            Listing::Page { .. } if i == 0 => q.push(format!("{columns}, {name} AS sort_key FROM {from}")),
            Listing::Page { .. } => q.push(format!(" UNION ALL {columns}, {name} FROM {from}")),
        };
        match (listed.owner, repository) {
            (Owner::Columns, repository) => {
                q.push(" WHERE t.tenant = ").push_bind(filter.tenant.to_string());
                if let Some(r) = repository {
                    q.push(" AND t.repository_id = ").push_bind(r.to_string());
                }
            }
            (Owner::UserScope, Some(r)) => {
                q.push(" WHERE t.scope = (SELECT id FROM user_scopes WHERE tenant = ")
                    .push_bind(filter.tenant.to_string());
                q.push(" AND repository_id = ").push_bind(r.to_string()).push(")");
            }
            (Owner::UserScope, None) => {
                q.push(" WHERE t.scope IN (SELECT id FROM user_scopes WHERE tenant = ")
                    .push_bind(filter.tenant.to_string());
                q.push(")");
            }
        }
        if let Some(s) = filter.search.filter(|s| !s.is_empty()) {
            // SQLite's lower() folds ASCII only: fold the prefix the same way.
            let prefix = s.to_ascii_lowercase();
            let end = format!("{prefix}\u{10FFFF}");
            q.push(format!(" AND {name} >= ")).push_bind(prefix).push(format!(" AND {name} < ")).push_bind(end);
        }
        if matches!(listing, Listing::Count) {
            q.push(")");
        }
    }
    if let Listing::Page { offset, limit } = listing {
        q.push(" ORDER BY sort_key LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
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

fn unique_to_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Db(e),
    }
}
pub mod admins;
pub mod groups;
pub mod keys;
pub mod known;
pub mod links;
pub mod rows;
pub mod sync;
pub mod writer;

/// What the store's tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use sqlx::sqlite::{SqliteArguments, SqliteRow};
    use sqlx::{Row, Sqlite, SqlitePool};

    /// SQLite's plan of `query` (written with `EXPLAIN QUERY PLAN ` in
    /// front), its steps joined by ` | `.
    pub async fn plan_of<'q>(pool: &SqlitePool, query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>) -> String {
        let rows: Vec<SqliteRow> = query.fetch_all(pool).await.expect("query plan");
        rows.iter().map(|r| r.get::<String, _>(3)).collect::<Vec<_>>().join(" | ")
    }

    /// SQLite's plan of `sql` (see [`plan_of`]).
    pub async fn query_plan(pool: &SqlitePool, sql: &str) -> String {
        plan_of(pool, sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))).await
    }

    /// Stores an enabled user named `username` (its body a minimal one) in
    /// the repository's scope, created if need be.
    pub async fn insert_user(
        pool: &SqlitePool,
        tenant: &str,
        repo: &str,
        uuid: &str,
        username: &str,
        seq: Option<i64>,
    ) {
        sqlx::query("INSERT OR IGNORE INTO user_scopes (tenant, repository_id) VALUES (?, ?)")
            .bind(tenant)
            .bind(repo)
            .execute(pool)
            .await
            .expect("scope");
        sqlx::query("INSERT INTO users (scope, ldap_uuid, username, ldap_dn, enabled, body, content_hash, synced_at, seq) VALUES ((SELECT id FROM user_scopes WHERE tenant = ? AND repository_id = ?), ?, ?, '', 1, '{}', x'00', 'now', ?)")
            .bind(tenant)
            .bind(repo)
            .bind(super::keys::UuidKey::of(uuid))
            .bind(username)
            .bind(seq)
            .execute(pool)
            .await
            .expect("user");
    }

    /// The store's migrations, in order.
    pub const MIGRATIONS: [&str; 10] = [
        include_str!("../../migrations/0001_init.sql"),
        include_str!("../../migrations/0002_sync.sql"),
        include_str!("../../migrations/0003_changed_sync_groups.sql"),
        include_str!("../../migrations/0004_username_search.sql"),
        include_str!("../../migrations/0005_source_hash.sql"),
        include_str!("../../migrations/0006_one_username_index.sql"),
        include_str!("../../migrations/0007_integer_group_keys.sql"),
        include_str!("../../migrations/0008_one_membership_btree.sql"),
        include_str!("../../migrations/0009_compact_user_keys.sql"),
        include_str!("../../migrations/0010_user_links.sql"),
    ];

    /// An in-memory store built with the first `n` migrations.
    pub async fn migrated_up_to(n: usize) -> SqlitePool {
        let pool =
            sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.expect("pool");
        for sql in &MIGRATIONS[..n] {
            sqlx::raw_sql(sql).execute(&pool).await.expect("earlier migration");
        }
        pool
    }
}
