//! The sync writer: its own connection to the store: rusqlite with prepared
//! statements, on the same SQLite library and database file as the pool.
//!
//! Why not the sqlx pool: a sync writes hundreds of thousands of rows, and
//! sqlx hands every statement and row to its worker thread and back (two
//! context switches each); in-process prepared statements write the same
//! rows several times faster. The connection also keeps the run's TEMP
//! tables: the UUIDs a run has seen (deletion detection without holding the
//! directory in memory) and those the directory reported deleted.
//!
//! Its calls are synchronous and short (one batch); the engine runs them
//! through [`blocking`] so they do not stall other tasks.

//!
//! Split by table and lifecycle: the connection, its PRAGMAs and the commit
//! policy here; `checkpoint` (the WAL and the page cache, behind the hooks
//! a run calls before it reads and between its phases), `users`, `removal`,
//! `groups` and `runs`.

mod checkpoint;
mod groups;
mod removal;
mod runs;
#[cfg(test)]
mod tests;
mod users;

use super::StoreError;
use checkpoint::spawn_checkpointer;
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use std::path::Path;
use users::NamesWritten;

/// Runs a short synchronous store call without stalling the runtime's other
/// tasks (on a current-thread runtime, as in tests, it simply runs).
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

pub struct Writer {
    conn: Connection,
    /// When the open write transaction began (None: none is open).
    open_since: Option<std::time::Instant>,
    /// When the last transaction was committed (or the connection opened).
    last_commit: std::time::Instant,
    rows_since_commit: usize,
    /// The first batch of a run is committed at once, so its progress shows.
    committed_progress: bool,
    /// (tenant, repository, its scope if it has one) of the repository
    /// whose users were last looked up (see `store::keys`).
    scope: Option<(String, String, Option<i64>)>,
    /// (scope, next seq) of the repository being written.
    seq: Option<(i64, i64)>,
    /// Usernames an import has written (see [`NamesWritten`]).
    import_names: Option<NamesWritten>,
    /// Whether entries not stored yet become users (a repository's
    /// `sync.importEnabled`); updates and removals happen either way.
    adds_new_users: bool,
    /// Dropping it stops the background checkpointer, if there is one.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// A run commits at least this often, so other writers (sign-ins, edits)
/// never wait long for the store and progress becomes visible.
const COMMIT_EVERY: std::time::Duration = std::time::Duration::from_millis(1000);

/// The first progress is committed this soon, not with the first batch: a
/// changed sync of 1,000 users is over in ~50 ms, and committing its first
/// batch apart wrote the pages it shares with the rest twice (1.5-5 ms).
const FIRST_PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_millis(100);

/// ... and after this many rows. Entry UUIDs and usernames arrive in random
/// order, so each commit writes pages from all over the indexes into the WAL,
/// nearly all of them once there are more rows than index pages: at 100,000
/// users, committing every 400 ms or 20,000 rows instead cost a third more
/// store time.
const COMMIT_ROWS: usize = 100_000;

/// How long a run's writes wait for another writer.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

const TEMP_TABLES: [&str; 5] = ["sync_seen", "sync_unseen", "sync_gone", "group_seen", "group_gone"];

impl Writer {
    /// Opens a connection for one run, with empty seen-sets, and with
    /// `background_checkpoints` a checkpointer beside it.
    pub fn open(path: &Path, background_checkpoints: bool) -> Result<Writer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL is a property of the file (set by the pool); NORMAL is safe
        // with WAL. A bigger page cache keeps index pages of a large users
        // table in memory between batches.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 8192; PRAGMA journal_size_limit = 67108864;",
        )?;
        let checkpointer = background_checkpoints.then(|| spawn_checkpointer(path)).flatten();
        if checkpointer.is_some() {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        }
        for table in TEMP_TABLES {
            conn.execute_batch(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {table} (uuid PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.{table};"
            ))?;
        }
        Ok(Writer {
            conn,
            open_since: None,
            last_commit: std::time::Instant::now(),
            rows_since_commit: 0,
            committed_progress: false,
            scope: None,
            seq: None,
            import_names: None,
            adds_new_users: true,
            _checkpointer: checkpointer,
        })
    }

    pub(super) fn begin(&mut self) -> Result<(), StoreError> {
        if self.open_since.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.open_since = Some(std::time::Instant::now());
            self.rows_since_commit = 0;
        }
        Ok(())
    }

    /// Commits what the run wrote so far. A run that fails before its next
    /// commit loses at most that much (it is rolled back, never half-written).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.open_since.take().is_some() {
            self.conn.execute_batch("COMMIT")?;
            self.last_commit = std::time::Instant::now();
        }
        Ok(())
    }

    /// Commits when the transaction is old or large enough, first recording
    /// the run's progress in it (in a transaction of its own when the run
    /// has written nothing since the last commit, as while a re-sync finds
    /// everybody unchanged). True when it committed.
    pub fn commit_if_due(&mut self, run_id: i64, counts_json: &str, done: u64) -> Result<bool, StoreError> {
        let since = self.open_since.unwrap_or(self.last_commit);
        let every = if self.committed_progress { COMMIT_EVERY } else { FIRST_PROGRESS_AFTER };
        if since.elapsed() < every && self.rows_since_commit < COMMIT_ROWS {
            return Ok(false);
        }
        self.begin()?;
        self.committed_progress = true;
        self.conn
            .prepare_cached("UPDATE sync_runs SET counts = ?1, progress_done = ?2 WHERE id = ?3")?
            .execute(params![counts_json, done as i64, run_id])?;
        self.commit()?;
        Ok(true)
    }

    /// Commits what the run left uncommitted, also after a failure: it is
    /// correct data, and nobody is removed by it. (Copying the run's writes
    /// into the database file is left to the checkpointer, which does a last
    /// checkpoint when the writer is dropped, off the run's time.)
    pub fn finish(&mut self) -> Result<(), StoreError> {
        self.commit()
    }

    /// The scope of a repository's users; None when it never had any.
    pub(super) fn scope(&mut self, tenant: &str, repo: &str) -> Result<Option<i64>, StoreError> {
        if let Some((t, r, scope)) = &self.scope {
            if t == tenant && r == repo {
                return Ok(*scope);
            }
        }
        let scope = self
            .conn
            .prepare_cached("SELECT id FROM user_scopes WHERE tenant = ?1 AND repository_id = ?2")?
            .query_row(params![tenant, repo], |r| r.get(0))
            .optional()?;
        self.scope = Some((tenant.to_string(), repo.to_string(), scope));
        Ok(scope)
    }

    /// The scope of a repository's users, created with the first of them
    /// (in the open transaction).
    pub(super) fn scope_to_write(&mut self, tenant: &str, repo: &str) -> Result<i64, StoreError> {
        if let Some(scope) = self.scope(tenant, repo)? {
            return Ok(scope);
        }
        self.conn
            .prepare_cached("INSERT INTO user_scopes (tenant, repository_id) VALUES (?1, ?2)")?
            .execute(params![tenant, repo])?;
        let scope = self.conn.last_insert_rowid();
        self.scope = Some((tenant.to_string(), repo.to_string(), Some(scope)));
        Ok(scope)
    }

    pub(super) fn mark(&mut self, table: &str, uuids: impl IntoIterator<Item = impl ToSql>) -> Result<(), StoreError> {
        self.begin()?;
        let mut insert = self.conn.prepare_cached(&format!("INSERT OR IGNORE INTO temp.{table} (uuid) VALUES (?1)"))?;
        for uuid in uuids {
            insert.execute([uuid])?;
        }
        Ok(())
    }
}
