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

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Bytes of the store's files (database, write-ahead log, shared memory).
    pub fn file_bytes(&self) -> u64 {
        let Some(path) = &self.path else { return 0 };
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
            .map(|m| m.len())
            .sum()
    }

    pub async fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM tenants WHERE slug = ?").bind(tenant).fetch_optional(&self.pool).await?.is_some())
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

pub(super) fn unique_to_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Db(e),
    }
}
pub mod admins;
pub mod audit;
pub mod groups;
pub mod keys;
pub mod known;
pub mod links;
pub mod repositories;
pub mod rows;
pub mod sync;
pub mod tenants;
pub mod tokens;
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
