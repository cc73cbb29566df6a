//! The sync writer's own connection to the store: rusqlite with prepared
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

use super::keys::UuidKey;
use super::rows::{
    changed_fields, BatchOutcome, MemberKeys, Missing, PreparedGroup, PreparedUser, Removal, RunEnd, SeenPlaces,
    SyncState, DISABLE_USERS, FINISH_RUN,
};
use super::StoreError;
use app::model::{GroupCounts, SyncChange, SyncError};
use rusqlite::{params, Connection, DatabaseName, OptionalExtension, ToSql};
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;

/// Runs a short synchronous store call without stalling the runtime's other
/// tasks (on a current-thread runtime, as in tests, it simply runs).
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

pub struct Bulk {
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
    /// Dropping it stops the background checkpointer, if there is one.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
}

/// The usernames an import (a run into a repository that had no users) has
/// written, as a fixed-size Bloom filter: a name it has never seen cannot
/// belong to another user of the repository, so the import skips that
/// username-index lookup (about a fifth of its store time); a name it may
/// have seen is looked up as in any run. 1 MiB however large the directory;
/// at a million users about 5% of the names are looked up for nothing.
/// (A single-user re-sync cannot rename a user behind its back: the service
/// refuses one while a run of the repository goes on.)
struct NamesWritten {
    bits: Vec<u64>,
    /// The lower-cased name being hashed (reused).
    folded: Vec<u8>,
}

impl NamesWritten {
    const WORDS: usize = (1 << 23) / 64;

    fn new() -> NamesWritten {
        NamesWritten { bits: vec![0; Self::WORDS], folded: Vec::new() }
    }

    /// The two bit positions of a name, folded as SQLite's lower() folds it.
    fn positions(&mut self, name: &str) -> [usize; 2] {
        self.folded.clear();
        self.folded.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
        let h = xxhash_rust::xxh3::xxh3_64(&self.folded);
        let bits = Self::WORDS * 64;
        [(h as usize) % bits, ((h >> 32) as usize ^ (h as usize).rotate_left(17)) % bits]
    }

    /// Records `name`; true when it may have been recorded before.
    fn insert(&mut self, name: &str) -> bool {
        let mut seen = true;
        for p in self.positions(name) {
            let (word, bit) = (p / 64, 1u64 << (p % 64));
            seen &= self.bits[word] & bit != 0;
            self.bits[word] |= bit;
        }
        seen
    }
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
/// How often a run's checkpointer copies committed pages from the WAL into
/// the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Checkpoints the store in the background while a run writes: otherwise a
/// commit that finds the WAL over its limit copies it on the writer's time
/// (a full sync of 100,000 users spent ~0.4 s there). A PASSIVE checkpoint
/// never blocks the writer, and once it has caught up the next transaction
/// starts the WAL from the beginning again, so the file stays small.
/// Returns the sender whose drop stops it.
fn spawn_checkpointer(path: &Path) -> Option<std::sync::mpsc::Sender<()>> {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "no background checkpointer: the run's commits checkpoint");
            return None;
        }
    };
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new().name("dirbridge-checkpoint".into()).spawn(move || {
        // Times out while the run goes on; disconnected once it is over,
        // and then the last of its writes are copied too.
        loop {
            let over = stopped.recv_timeout(CHECKPOINT_EVERY).is_err_and(|e| e != RecvTimeoutError::Timeout);
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::debug!(error = %e, "background checkpoint");
            }
            if over {
                break;
            }
        }
    });
    match thread {
        Ok(_) => Some(stop),
        Err(e) => {
            tracing::warn!(error = %e, "no background checkpointer: the run's commits checkpoint");
            None
        }
    }
}

/// How long a run's writes wait for another writer.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a run waits for the WAL to be restarted before it reads (see
/// [`Bulk::restart_wal`]): a 1,000,000-user import leaves ~0.3 s of copying.
const RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

const TEMP_TABLES: [&str; 5] = ["sync_seen", "sync_unseen", "sync_gone", "group_seen", "group_gone"];

impl Bulk {
    /// Opens a connection for one run, with empty seen-sets, and with
    /// `background_checkpoints` a checkpointer beside it.
    pub fn open(path: &Path, background_checkpoints: bool) -> Result<Bulk, StoreError> {
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
        Ok(Bulk {
            conn,
            open_since: None,
            last_commit: std::time::Instant::now(),
            rows_since_commit: 0,
            committed_progress: false,
            scope: None,
            seq: None,
            import_names: None,
            _checkpointer: checkpointer,
        })
    }

    /// Copies what earlier writes left in the WAL into the database file and
    /// restarts the WAL, before a run reads: the previous run's last pages
    /// are copied by its checkpointer after it ends (off its time), and a
    /// run that started on a WAL still holding them would look every page
    /// it reads up in a long WAL index (a re-sync right after a 1,000,000-
    /// user import read 15-20% slower). Waits up to `RESTART_WAIT` for a
    /// checkpoint still running; false when the WAL could not be restarted.
    pub fn restart_wal(&mut self) -> Result<bool, StoreError> {
        self.conn.busy_timeout(std::time::Duration::from_millis(100))?;
        let deadline = std::time::Instant::now() + RESTART_WAIT;
        let restarted = loop {
            let busy = self.conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
            match busy {
                Ok(0) => break Ok(true),
                Ok(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Ok(_) => break Ok(false),
                Err(e) => break Err(e),
            }
        };
        // The run's own writes wait as long as ever, whatever happened here.
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(restarted?)
    }

    /// Gives back most of the page cache (kept for the users' indexes) once
    /// the users are written: the groups that follow can be huge, and by
    /// then the cache is full (the removal check alone reads the whole
    /// primary-key index). Their member rows are written in key order and
    /// need few pages at a time.
    pub fn shrink_cache(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("PRAGMA cache_size = -4096;")?;
        Ok(())
    }

    fn begin(&mut self) -> Result<(), StoreError> {
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

    /// Saves where the next changed sync continues from. On this connection
    /// (with `finish_run`) rather than the pool's: the pool's would copy the
    /// WAL the run left into the database file first (its autocheckpoint), on
    /// the run's time (~50 ms after a 100,000-user import); the background
    /// checkpointer does that once the run is over.
    pub fn save_sync_state(&mut self, tenant: &str, repo: &str, state: &SyncState) -> Result<(), StoreError> {
        self.commit()?;
        self.conn
            .prepare_cached(
                "INSERT INTO sync_state (tenant, repository_id, users_cookie, groups_cookie, since) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant, repository_id) DO UPDATE SET users_cookie = excluded.users_cookie, groups_cookie = excluded.groups_cookie, since = excluded.since",
            )?
            .execute(params![tenant, repo, state.users_cookie, state.groups_cookie, state.since])?;
        Ok(())
    }

    /// Records how the run ended (see [`Bulk::save_sync_state`] for why here).
    pub fn finish_run(&mut self, end: &RunEnd) -> Result<(), StoreError> {
        self.commit()?;
        self.conn.prepare_cached(FINISH_RUN)?.execute(params![
            end.state,
            end.finished_at,
            end.counts,
            end.seen,
            end.message,
            end.errors,
            end.changes,
            end.group_counts,
            end.id
        ])?;
        Ok(())
    }

    /// Commits what the run left uncommitted, also after a failure: it is
    /// correct data, and nobody is removed by it. (Copying the run's writes
    /// into the database file is left to the checkpointer, which does a last
    /// checkpoint when the writer is dropped, off the run's time.)
    pub fn finish(&mut self) -> Result<(), StoreError> {
        self.commit()
    }

    /// The scope of a repository's users; None when it never had any.
    fn scope(&mut self, tenant: &str, repo: &str) -> Result<Option<i64>, StoreError> {
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
    fn scope_to_write(&mut self, tenant: &str, repo: &str) -> Result<i64, StoreError> {
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

    fn mark(&mut self, table: &str, uuids: impl IntoIterator<Item = impl ToSql>) -> Result<(), StoreError> {
        self.begin()?;
        let mut insert = self.conn.prepare_cached(&format!("INSERT OR IGNORE INTO temp.{table} (uuid) VALUES (?1)"))?;
        for uuid in uuids {
            insert.execute([uuid])?;
        }
        Ok(())
    }

    /// Marks user UUIDs as seen by the run (entries that could not be mapped
    /// too, so a mapping problem never turns into a deletion).
    pub fn mark_seen(&mut self, uuids: &[String]) -> Result<(), StoreError> {
        self.mark("sync_seen", uuids.iter().map(|u| UuidKey::of(u)))
    }

    /// Records user UUIDs the directory reported deleted (or moved out of scope).
    pub fn mark_gone(&mut self, uuids: &[String]) -> Result<(), StoreError> {
        self.mark("sync_gone", uuids.iter().map(|u| UuidKey::of(u)))
    }

    /// Marks group UUIDs as seen (`gone = false`) or reported deleted.
    pub fn mark_groups(&mut self, uuids: &[String], gone: bool) -> Result<(), StoreError> {
        self.mark(if gone { "group_gone" } else { "group_seen" }, uuids)
    }

    /// Writes one batch in the run's open transaction (see [`Bulk::commit_if_due`]):
    /// new users inserted, changed ones updated, unchanged ones (same content
    /// hash) left untouched. The first `want_changes` changes are described.
    /// With `import` (the repository had no users when the run began) every
    /// user is new: no lookups by UUID.
    ///
    /// A username belongs to one enabled user of a repository: a user that
    /// would take one another enabled user has (a new entry, a rename, a
    /// re-enabled entry) is refused with its DN, in whatever batch or run it
    /// comes, and the holder keeps it. A disabled holder does not count, so
    /// an account deleted and created again in the directory is imported
    /// once the old one is removed.
    pub fn write_batch(
        &mut self,
        tenant: &str,
        repo: &str,
        batch: &[PreparedUser],
        now: &str,
        want_changes: usize,
        import: bool,
    ) -> Result<BatchOutcome, StoreError> {
        let mut out = BatchOutcome::default();
        self.begin()?;
        self.rows_since_commit += batch.len();
        let scope = self.scope_to_write(tenant, repo)?;
        let mut next_seq = self.next_seq(scope)?;
        let mut import_names = match (import, self.import_names.take()) {
            (true, names) => Some(names.unwrap_or_else(NamesWritten::new)),
            (false, _) => None,
        };
        let tx = &self.conn;
        {
            let mut stored_of = tx.prepare_cached(
                "SELECT rowid, content_hash, source_hash IS ?3 AND seq IS NOT NULL, username, ldap_dn, enabled FROM users WHERE scope = ?1 AND ldap_uuid = ?2",
            )?;
            // The same expression as users_by_repository_username: one seek.
            let mut holder_of = tx.prepare_cached(
                "SELECT ldap_dn FROM users WHERE scope = ?1 AND lower(username) = lower(?2) AND ldap_uuid <> ?3 AND enabled = 1 LIMIT 1",
            )?;
            let mut body_of = tx.prepare_cached("SELECT body FROM users WHERE rowid = ?1")?;
            // A new user takes the next place in read order; a known one keeps its own.
            let mut insert = tx.prepare_cached(
                "INSERT INTO users (scope, ldap_uuid, username, ldap_dn, enabled, body, content_hash, synced_at, source_hash, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (scope, ldap_uuid) DO UPDATE SET username = excluded.username, ldap_dn = excluded.ldap_dn, enabled = excluded.enabled, body = excluded.body, content_hash = excluded.content_hash, synced_at = excluded.synced_at, source_hash = excluded.source_hash",
            )?;
            // Two updates: the username indexes are only rewritten when the
            // name or DN changed (most changes are to other attributes).
            let mut update = tx.prepare_cached(
                "UPDATE users SET enabled = ?2, body = ?3, content_hash = ?4, synced_at = ?5, source_hash = ?6, seq = coalesce(seq, ?7) WHERE rowid = ?1",
            )?;
            let mut update_names = tx.prepare_cached(
                "UPDATE users SET enabled = ?2, body = ?3, content_hash = ?4, synced_at = ?5, source_hash = ?6, seq = coalesce(seq, ?7), username = ?8, ldap_dn = ?9 WHERE rowid = ?1",
            )?;
            // Same user, but the entry's fingerprint is new to the store (an
            // attribute the mapping ignores changed, or a store from before
            // fingerprints): record it so the next run can skip the entry.
            let mut refingerprint =
                tx.prepare_cached("UPDATE users SET source_hash = ?2, seq = coalesce(seq, ?3) WHERE rowid = ?1")?;
            // Why `p` may not have its username, if another user has it.
            let mut refusal = |p: &PreparedUser, key: UuidKey| -> Result<Option<SyncError>, StoreError> {
                let holder: Option<String> =
                    holder_of.query_row(params![scope, p.username, key], |r| r.get(0)).optional()?;
                Ok(holder.map(|holder| SyncError {
                    dn: p.ldap_dn.clone(),
                    message: format!("duplicate username '{}': {holder} has it already", p.username),
                }))
            };
            for p in batch {
                let key = UuidKey::of(&p.ldap_uuid);
                let source_hash = p.source_hash.as_ref().map(|h| h.as_slice());
                type Stored = (i64, Vec<u8>, bool, String, String, bool);
                let stored: Option<Stored> = if import {
                    None
                } else {
                    stored_of
                        .query_row(params![scope, key, source_hash], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                        })
                        .optional()?
                };
                let Some((rowid, hash, same_source, username, ldap_dn, was_enabled)) = stored else {
                    let maybe_taken = import_names.as_mut().is_none_or(|names| names.insert(&p.username));
                    if maybe_taken {
                        if let Some(refused) = refusal(p, key)? {
                            out.refused.push(refused);
                            continue;
                        }
                    }
                    out.added += 1;
                    if out.changes.len() < want_changes {
                        out.changes.push(SyncChange {
                            username: p.username.clone(),
                            ldap_dn: p.ldap_dn.clone(),
                            kind: "added".into(),
                            attributes: Vec::new(),
                        });
                    }
                    insert.execute(params![
                        scope,
                        key,
                        p.username,
                        p.ldap_dn,
                        p.enabled,
                        p.body,
                        p.hash,
                        now,
                        source_hash,
                        next_seq
                    ])?;
                    next_seq += 1;
                    continue;
                };
                if hash == p.hash[..] {
                    out.unchanged += 1;
                    if !same_source && source_hash.is_some() {
                        refingerprint.execute(params![rowid, source_hash, next_seq])?;
                        next_seq += 1;
                    }
                    continue;
                }
                let claims_name = !username.eq_ignore_ascii_case(&p.username) || (p.enabled && !was_enabled);
                if claims_name {
                    if let Some(refused) = refusal(p, key)? {
                        out.refused.push(refused);
                        continue;
                    }
                }
                out.updated += 1;
                if out.changes.len() < want_changes {
                    let old: Option<String> = body_of.query_row([rowid], |r| r.get(0)).optional()?;
                    let columns = [
                        ("username", username != p.username),
                        ("ldapDn", ldap_dn != p.ldap_dn),
                        ("enabled", was_enabled != p.enabled),
                    ];
                    let mut attributes: Vec<String> =
                        columns.iter().filter(|(_, changed)| *changed).map(|(name, _)| name.to_string()).collect();
                    attributes.extend(old.map(|o| changed_fields(&o, &p.body)).unwrap_or_default());
                    out.changes.push(SyncChange {
                        username: p.username.clone(),
                        ldap_dn: p.ldap_dn.clone(),
                        kind: "updated".into(),
                        attributes,
                    });
                }
                if username == p.username && ldap_dn == p.ldap_dn {
                    update.execute(params![rowid, p.enabled, p.body, p.hash, now, source_hash, next_seq])?;
                } else {
                    update_names.execute(params![
                        rowid,
                        p.enabled,
                        p.body,
                        p.hash,
                        now,
                        source_hash,
                        next_seq,
                        p.username,
                        p.ldap_dn
                    ])?;
                }
                next_seq += 1;
            }
        }
        self.seq = Some((scope, next_seq));
        self.import_names = import_names;
        Ok(out)
    }

    /// The next free place in the repository's read order.
    fn next_seq(&mut self, scope: i64) -> Result<i64, StoreError> {
        if let Some((s, next)) = self.seq {
            if s == scope {
                return Ok(next);
            }
        }
        let last: Option<i64> =
            self.conn.query_row("SELECT max(seq) FROM users WHERE scope = ?1", [scope], |r| r.get(0))?;
        Ok(last.unwrap_or(0) + 1)
    }

    /// The users a run would remove (see [`Removal`]); only enabled ones
    /// count when the policy disables. For [`Removal::Unseen`], `seen` holds
    /// the places in read order the run saw (besides its seen-set).
    pub fn find_removable(
        &mut self,
        tenant: &str,
        repo: &str,
        which: Removal,
        only_enabled: bool,
        seen: &SeenPlaces,
    ) -> Result<Missing, StoreError> {
        let Some(scope) = self.scope(tenant, repo)? else { return Ok(Missing { stored: 0, to_remove: 0 }) };
        let cond = which.condition();
        let (stored, candidates) = match which {
            Removal::Unseen => self.collect_unseen(scope, seen)?,
            Removal::Gone => {
                let gone: i64 = self.conn.query_row(
                    &format!("SELECT COUNT(*) FROM users WHERE scope = ?1 AND {cond}"),
                    [scope],
                    |r| r.get(0),
                )?;
                // The total is for the max-delete guard, which nobody to
                // remove passes: a changed group (reported "not a user")
                // must not cost a count of a million users.
                let stored = if gone == 0 {
                    0
                } else {
                    self.conn.query_row("SELECT COUNT(*) FROM users WHERE scope = ?1", [scope], |r| r.get(0))?
                };
                (stored, gone)
            }
        };
        let to_remove: i64 = if candidates == 0 || !only_enabled {
            candidates
        } else {
            self.conn.query_row(
                &format!("SELECT COUNT(*) FROM users WHERE scope = ?1 AND enabled = 1 AND {cond}"),
                [scope],
                |r| r.get(0),
            )?
        };
        Ok(Missing { stored: stored as u64, to_remove: to_remove as u64 })
    }

    /// Fills `temp.sync_unseen` with the repository's users a complete read
    /// did not return: neither at a place in `seen` nor in the seen-set.
    /// One pass over the read-order index (no table rows read; in the usual
    /// run nobody is missing and this is all it costs). Returns how many
    /// users are stored and how many were not seen.
    fn collect_unseen(&mut self, scope: i64, seen: &SeenPlaces) -> Result<(i64, i64), StoreError> {
        self.begin()?;
        self.conn.execute_batch("DELETE FROM temp.sync_unseen")?;
        let mut rows = self.conn.prepare_cached("SELECT seq, ldap_uuid FROM users WHERE scope = ?1 ORDER BY seq")?;
        let mut in_seen_set = self.conn.prepare_cached("SELECT 1 FROM temp.sync_seen WHERE uuid = ?1")?;
        let mut add = self.conn.prepare_cached("INSERT INTO temp.sync_unseen (uuid) VALUES (?1)")?;
        let (mut stored, mut unseen) = (0, 0);
        let mut rows = rows.query([scope])?;
        while let Some(row) = rows.next()? {
            stored += 1;
            let seq: Option<i64> = row.get(0)?;
            if seq.is_some_and(|seq| seen.contains(seq)) {
                continue;
            }
            let key = rusqlite::types::ToSqlOutput::Borrowed(row.get_ref(1)?);
            if !in_seen_set.exists([&key])? {
                add.execute([&key])?;
                unseen += 1;
            }
        }
        Ok((stored, unseen))
    }

    /// Disables or deletes the selected users; the count and the first changes.
    pub fn remove_users(
        &mut self,
        tenant: &str,
        repo: &str,
        which: Removal,
        delete: bool,
        now: &str,
        want_changes: usize,
    ) -> Result<(u64, Vec<SyncChange>), StoreError> {
        let Some(scope) = self.scope(tenant, repo)? else { return Ok((0, Vec::new())) };
        let cond = which.condition();
        let kind = if delete { "deleted" } else { "disabled" };
        self.begin()?;
        let tx = &self.conn;
        let changes = {
            let mut sample = tx.prepare(&format!(
                "SELECT username, ldap_dn FROM users WHERE scope = ?1 AND (enabled = 1 OR ?2) AND {cond} LIMIT ?3"
            ))?;
            let rows = sample.query_map(params![scope, delete, want_changes as i64], |r| {
                Ok(SyncChange {
                    username: r.get(0)?,
                    ldap_dn: r.get(1)?,
                    kind: kind.into(),
                    attributes: vec!["enabled".into()],
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let n = if delete {
            tx.execute(&format!("DELETE FROM users WHERE scope = ?1 AND {cond}"), [scope])?
        } else {
            tx.execute(&format!("{DISABLE_USERS} WHERE scope = ?2 AND enabled = 1 AND {cond}"), params![now, scope])?
        };
        self.commit()?;
        Ok((n as u64, changes))
    }

    /// Writes a batch of groups: unchanged ones (same hash) are left alone,
    /// new ones get their member rows, changed ones only the difference
    /// from their stored member list (a 200,000-member group that gains one
    /// member writes one row).
    pub fn write_groups(
        &mut self,
        tenant: &str,
        repo: &str,
        groups: &[PreparedGroup],
        now: &str,
        counts: &mut GroupCounts,
    ) -> Result<(), StoreError> {
        self.mark("group_seen", groups.iter().map(|g| &g.uuid))?;
        self.rows_since_commit += groups.iter().map(|g| 1 + g.members.len()).sum::<usize>();
        let tx = &self.conn;
        let mut stored_of = tx.prepare_cached(
            "SELECT id, content_hash, source_hash IS ?4 FROM groups WHERE tenant = ?1 AND repository_id = ?2 AND ldap_uuid = ?3",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO groups (tenant, repository_id, ldap_uuid, name, ldap_dn, dn_key, content_hash, synced_at, source_hash, member_count, members) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, zeroblob(?11))",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE groups SET name = ?2, ldap_dn = ?3, dn_key = ?4, content_hash = ?5, synced_at = ?6, source_hash = ?7, member_count = ?8, members = zeroblob(?9) WHERE id = ?1",
        )?;
        let mut refingerprint = tx.prepare_cached("UPDATE groups SET source_hash = ?2 WHERE id = ?1")?;
        let mut rehash = tx.prepare_cached("UPDATE groups SET content_hash = ?2, source_hash = ?3 WHERE id = ?1")?;
        let mut add =
            tx.prepare_cached("INSERT OR IGNORE INTO group_members (member_key, group_id) VALUES (?1, ?2)")?;
        // New groups' members, many rows per statement: per row, running
        // a statement costs about as much as the b-tree insert.
        let mut add_many = tx.prepare_cached(&add_many_sql())?;
        let mut remove = tx.prepare_cached("DELETE FROM group_members WHERE member_key = ?1 AND group_id = ?2")?;
        let mut new_groups: Vec<(i64, &MemberKeys)> = Vec::new();
        for g in groups {
            counts.seen += 1;
            let source_hash = g.source_hash.as_ref().map(|h| h.as_slice());
            let stored: Option<(i64, Vec<u8>, bool)> = stored_of
                .query_row(params![tenant, repo, g.uuid, source_hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let member_count = g.members.len() as i64;
            match stored {
                Some((id, h, same_source)) if h == g.hash => {
                    counts.unchanged += 1;
                    if !same_source && source_hash.is_some() {
                        refingerprint.execute(params![id, source_hash])?;
                    }
                }
                Some((id, h, _)) => {
                    let old = stored_members(tx, id)?;
                    // Hashed by an older release (SHA-256, 32 bytes): the
                    // same group unless its content differs; hashed anew once.
                    if h.len() != g.hash.len() && old == g.members && stored_as(tx, id, g)? {
                        counts.unchanged += 1;
                        rehash.execute(params![id, g.hash, source_hash])?;
                        continue;
                    }
                    counts.updated += 1;
                    let (gone, added) = old.difference(&g.members);
                    for key in gone {
                        remove.execute(params![key, id])?;
                    }
                    for key in added {
                        add.execute(params![key, id])?;
                    }
                    update.execute(params![
                        id,
                        g.name,
                        g.dn,
                        g.dn_key,
                        g.hash,
                        now,
                        source_hash,
                        member_count,
                        g.members.as_bytes().len()
                    ])?;
                    write_members(tx, id, &g.members)?;
                }
                None => {
                    counts.added += 1;
                    insert.execute(params![
                        tenant,
                        repo,
                        g.uuid,
                        g.name,
                        g.dn,
                        g.dn_key,
                        g.hash,
                        now,
                        source_hash,
                        member_count,
                        g.members.as_bytes().len()
                    ])?;
                    let id = tx.last_insert_rowid();
                    write_members(tx, id, &g.members)?;
                    new_groups.push((id, &g.members));
                }
            }
        }
        // The new groups' member rows of the whole batch in key order: each
        // insert lands beside the last one instead of anywhere in the b-tree
        // (every group's members span all of it). A big group's keys are in
        // key order already and written as they are: no second copy of a
        // huge group's keys.
        let (alone, merged): (Vec<_>, Vec<_>) =
            new_groups.into_iter().partition(|(_, members)| members.len() > MERGED_MEMBERS_MAX);
        for (id, members) in alone {
            insert_members(&mut add_many, &mut add, members.iter().map(|key| (key, id)))?;
        }
        let mut rows: Vec<(&str, i64)> = Vec::with_capacity(merged.iter().map(|(_, members)| members.len()).sum());
        rows.extend(merged.iter().flat_map(|(id, members)| members.iter().map(|key| (key, *id))));
        rows.sort_unstable();
        insert_members(&mut add_many, &mut add, rows.into_iter())?;
        Ok(())
    }

    /// The source hashes of the repository's stored groups, by UUID.
    pub fn group_source_hashes(
        &mut self,
        tenant: &str,
        repo: &str,
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, StoreError> {
        let mut query = self.conn.prepare_cached(
            "SELECT ldap_uuid, source_hash FROM groups WHERE tenant = ?1 AND repository_id = ?2 AND source_hash IS NOT NULL",
        )?;
        let rows = query.query_map(params![tenant, repo], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes the groups a complete read did not return (`gone = false`) or
    /// the directory reported deleted (`gone = true`), with their memberships.
    pub fn remove_groups(&mut self, tenant: &str, repo: &str, gone: bool) -> Result<u64, StoreError> {
        let cond = if gone {
            "ldap_uuid IN (SELECT uuid FROM temp.group_gone)"
        } else {
            "ldap_uuid NOT IN (SELECT uuid FROM temp.group_seen)"
        };
        self.begin()?;
        let tx = &self.conn;
        // The groups first (a few thousand rows), then their members by
        // primary key from each group's member list: a delete driven from
        // group_members would scan every membership on every run.
        let removed: Vec<i64> = {
            let mut select =
                tx.prepare(&format!("SELECT id FROM groups WHERE tenant = ?1 AND repository_id = ?2 AND {cond}"))?;
            let rows = select.query_map(params![tenant, repo], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut member = tx.prepare_cached("DELETE FROM group_members WHERE member_key = ?1 AND group_id = ?2")?;
        let mut group = tx.prepare_cached("DELETE FROM groups WHERE id = ?1")?;
        let mut n = 0;
        for &id in &removed {
            for key in stored_members(tx, id)?.iter() {
                member.execute(params![key, id])?;
            }
            n += group.execute([id])?;
        }
        drop((member, group));
        self.commit()?;
        Ok(n as u64)
    }
}

/// Member rows per statement when a new group's members are written.
const MEMBERS_PER_INSERT: usize = 64;

/// New groups with more members than this have their member rows written
/// apart (see [`Bulk::write_groups`]).
const MERGED_MEMBERS_MAX: usize = 10_000;

/// Inserts member rows (key, group id), [`MEMBERS_PER_INSERT`] per statement
/// (`add_many`), the rest one by one (`add`).
fn insert_members<'k>(
    add_many: &mut rusqlite::Statement<'_>,
    add: &mut rusqlite::Statement<'_>,
    mut rows: impl Iterator<Item = (&'k str, i64)>,
) -> Result<(), StoreError> {
    loop {
        let chunk: Vec<(&str, i64)> = rows.by_ref().take(MEMBERS_PER_INSERT).collect();
        if chunk.len() < MEMBERS_PER_INSERT {
            for (key, id) in chunk {
                add.execute(params![key, id])?;
            }
            return Ok(());
        }
        for (i, (key, id)) in chunk.into_iter().enumerate() {
            add_many.raw_bind_parameter(2 * i + 1, key)?;
            add_many.raw_bind_parameter(2 * i + 2, id)?;
        }
        add_many.raw_execute()?;
    }
}

/// `INSERT` of [`MEMBERS_PER_INSERT`] member rows (key, group id).
fn add_many_sql() -> String {
    let rows: Vec<String> = (0..MEMBERS_PER_INSERT).map(|i| format!("(?{}, ?{})", 2 * i + 1, 2 * i + 2)).collect();
    format!("INSERT OR IGNORE INTO group_members (member_key, group_id) VALUES {}", rows.join(", "))
}

/// Fills group `id`'s member list (written as a zeroblob of its length)
/// in place: a list of megabytes is neither bound nor built into a record,
/// two copies of it the writer would otherwise hold.
fn write_members(conn: &Connection, id: i64, members: &MemberKeys) -> Result<(), StoreError> {
    if !members.is_empty() {
        conn.blob_open(DatabaseName::Main, "groups", "members", id, false)?.write_at(members.as_bytes(), 0)?;
    }
    Ok(())
}

/// True when group `id` is stored with `group`'s name and DN.
fn stored_as(conn: &Connection, id: i64, group: &PreparedGroup) -> Result<bool, StoreError> {
    let (name, dn, dn_key): (String, String, String) = conn
        .prepare_cached("SELECT name, ldap_dn, dn_key FROM groups WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(name == group.name && dn == group.dn && dn_key == group.dn_key)
}

/// The member list stored with group `id` (read in place, one copy).
fn stored_members(conn: &Connection, id: i64) -> Result<MemberKeys, StoreError> {
    let count: i64 =
        conn.prepare_cached("SELECT member_count FROM groups WHERE id = ?1")?.query_row([id], |r| r.get(0))?;
    let blob = conn.blob_open(DatabaseName::Main, "groups", "members", id, true)?;
    let mut packed = vec![0; blob.len()];
    blob.read_at_exact(&mut packed, 0)?;
    drop(blob);
    MemberKeys::from_stored(packed, count).map_err(|reason| {
        tracing::error!(group = id, reason, "stored member list unreadable");
        StoreError::Corrupt(reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys::StoredKey;
    use crate::store::rows::SeenPlaces;

    /// A store in a file of a temp dir (kept while the dir is).
    async fn store() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open_file(&dir.path().join("s.db")).await.expect("store");
        (dir, store)
    }

    /// Rows of `t` in the database file alone, as if the WAL were lost:
    /// what has been checkpointed.
    fn rows_in_file(path: &Path, dir: &Path) -> i64 {
        let copy = dir.join("copy.db");
        std::fs::copy(path, &copy).expect("copy");
        let conn = Connection::open(&copy).expect("open copy");
        let rows = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        drop(conn);
        let _ = std::fs::remove_file(&copy);
        let _ = std::fs::remove_file(dir.join("copy.db-wal"));
        rows
    }

    fn write_rows(path: &Path, background_checkpoints: bool) -> Bulk {
        let mut bulk = Bulk::open(path, background_checkpoints).expect("bulk");
        bulk.begin().expect("begin");
        for i in 0..1000 {
            bulk.conn.execute("INSERT INTO t (x) VALUES (?1)", [i]).expect("insert");
        }
        bulk.commit().expect("commit");
        bulk
    }

    #[test]
    fn a_run_writer_checkpoints_in_the_background() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        // Another connection stays open, as the server's pool does: the last
        // connection to close would checkpoint by itself.
        let pool = Connection::open(&path).expect("open");
        pool.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);").expect("schema");
        pool.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint the schema");

        // Without a checkpointer a small run stays in the WAL.
        let plain = write_rows(&path, false);
        assert_eq!(rows_in_file(&path, dir.path()), 0);
        drop(plain);

        // With one, the rows reach the database file while the writer is
        // still open (waits for the checkpointer's next rounds).
        let run = write_rows(&path, true);
        let mut rows = 0;
        for _ in 0..100 {
            rows = rows_in_file(&path, dir.path());
            if rows == 2000 {
                break;
            }
            std::thread::sleep(CHECKPOINT_EVERY / 5);
        }
        assert_eq!(rows, 2000);
        drop(run);
        assert_eq!(pool.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).expect("count"), 2000);
    }

    /// Frames in the WAL since it was last restarted.
    fn wal_frames(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)).expect("checkpoint")
    }

    /// A run starts on a restarted WAL: the next write starts it from the
    /// beginning instead of appending to what earlier writes left.
    #[test]
    fn a_run_starts_on_a_restarted_wal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let pool = Connection::open(&path).expect("open");
        pool.execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x INTEGER);")
            .expect("schema");
        let write_one = |conn: &Connection| conn.execute("INSERT INTO t (x) VALUES (1)", []).expect("insert");
        for restart in [false, true] {
            let mut earlier = Bulk::open(&path, false).expect("bulk");
            earlier.conn.execute_batch("PRAGMA wal_autocheckpoint = 0;").expect("no autocheckpoint");
            earlier.begin().expect("begin");
            for i in 0..3000 {
                earlier.conn.execute("INSERT INTO t (x) VALUES (?1)", [i]).expect("insert");
            }
            earlier.commit().expect("commit");
            drop(earlier);
            let mut next = Bulk::open(&path, false).expect("bulk");
            if restart {
                assert!(next.restart_wal().expect("restart"));
            }
            write_one(&next.conn);
            // (Counting the frames checkpoints them: only once per round.)
            let frames = wal_frames(&pool);
            if restart {
                assert!(frames <= 2, "restarted: {frames} frames");
            } else {
                assert!(frames > 5, "appended: {frames} frames");
            }
            // Start the next round from an empty WAL.
            pool.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("truncate");
        }
    }

    #[tokio::test]
    async fn group_members_are_written_exactly_whatever_their_characters() {
        let (_dir, store) = store().await;
        let mut bulk = store.run_writer().expect("writer");
        let keys = ["cn=o\"brien,dc=x", "cn=back\\slash\\2c,dc=x", "uid=zoë,dc=x", "uid=a\nb", "uid=tab\t"];
        let group = PreparedGroup {
            uuid: "g1".into(),
            name: "g".into(),
            dn: "cn=g,dc=x".into(),
            dn_key: "cn=g,dc=x".into(),
            members: MemberKeys::new(keys.iter().chain(&keys[..2]).map(|k| k.to_string()).collect()),
            hash: vec![1],
            source_hash: None,
        };
        let mut counts = GroupCounts::default();
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", std::slice::from_ref(&group), "now", &mut counts).expect("write");
        bulk.commit().expect("commit");
        let mut stored: Vec<String> = bulk
            .conn
            .prepare(
                "SELECT member_key FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant = 't' AND g.repository_id = 'r' AND g.ldap_uuid = 'g1'",
            )
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("keys");
        stored.sort();
        let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(stored, want);
        assert_eq!((counts.seen, counts.added), (1, 1));
    }

    /// The member keys stored for group `uuid` of repository `r`, and its count.
    fn members_of(bulk: &Bulk, uuid: &str) -> (Vec<String>, i64) {
        let keys = bulk
            .conn
            .prepare(
                "SELECT member_key FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant = 't' AND g.repository_id = 'r' AND g.ldap_uuid = ?1 ORDER BY 1",
            )
            .expect("query")
            .query_map([uuid], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("keys");
        let count = bulk
            .conn
            .query_row("SELECT member_count FROM groups WHERE ldap_uuid = ?1", [uuid], |r| r.get(0))
            .optional()
            .expect("count")
            .unwrap_or(-1);
        (keys, count)
    }

    /// A group that changes writes the difference from its stored member
    /// list, not all its members again; a group that goes takes exactly its
    /// member rows with it.
    #[tokio::test]
    async fn a_changed_group_writes_only_its_difference() {
        let (_dir, store) = store().await;
        let group = |uuid: &str, hash: u8, keys: &mut dyn Iterator<Item = String>| PreparedGroup {
            uuid: uuid.into(),
            name: uuid.into(),
            dn: format!("cn={uuid},dc=x"),
            dn_key: format!("cn={uuid},dc=x"),
            members: MemberKeys::new(keys.collect()),
            hash: vec![hash],
            source_hash: None,
        };
        let big = group("big", 1, &mut (0..1000).map(|i| format!("uid=u{i:04}")));
        let other = group("other", 1, &mut ["uid=u0001".to_string(), "uid=x".to_string()].into_iter());
        let mut bulk = store.run_writer().expect("writer");
        let mut counts = GroupCounts::default();
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", &[big, other.clone()], "now", &mut counts).expect("write");
        bulk.commit().expect("commit");

        // One member leaves, one joins.
        let changed = group("big", 2, &mut (1..1000).map(|i| format!("uid=u{i:04}")).chain(["uid=new".to_string()]));
        let before = bulk.conn.total_changes();
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", std::slice::from_ref(&changed), "now", &mut counts).expect("rewrite");
        bulk.commit().expect("commit");
        // The group's row, one delete, one insert (this writer has marked it
        // seen already).
        assert_eq!(bulk.conn.total_changes() - before, 3);
        let (keys, count) = members_of(&bulk, "big");
        assert_eq!(keys, changed.members.iter().map(String::from).collect::<Vec<_>>());
        assert_eq!((keys.len(), count), (1000, 1000));
        assert_eq!(members_of(&bulk, "other"), (vec!["uid=u0001".to_string(), "uid=x".to_string()], 2));
        drop(bulk);

        // A complete read that sees only "other": "big" goes, with its rows only.
        let mut bulk = store.run_writer().expect("writer");
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", std::slice::from_ref(&other), "now", &mut counts).expect("write");
        assert_eq!(bulk.remove_groups("t", "r", false).expect("remove"), 1);
        assert_eq!(members_of(&bulk, "big"), (vec![], -1));
        assert_eq!(members_of(&bulk, "other"), (vec!["uid=u0001".to_string(), "uid=x".to_string()], 2));
        let rows: i64 = bulk.conn.query_row("SELECT count(*) FROM group_members", [], |r| r.get(0)).expect("rows");
        assert_eq!(rows, 2);
    }

    /// New groups' member rows are all written whichever way they go: a
    /// big group's from its own keys, the others' merged in key order.
    #[tokio::test]
    async fn new_groups_big_and_small_get_every_member_row() {
        let (_dir, store) = store().await;
        let group = |uuid: &str, keys: Vec<String>| PreparedGroup {
            uuid: uuid.into(),
            name: uuid.into(),
            dn: format!("cn={uuid},dc=x"),
            dn_key: format!("cn={uuid},dc=x"),
            members: MemberKeys::new(keys),
            hash: vec![1],
            source_hash: None,
        };
        let big: Vec<String> = (0..=MERGED_MEMBERS_MAX).map(|i| format!("uid=u{i:06}")).collect();
        let small = |from: usize| (from..from + 70).map(|i| format!("uid=u{i:06}")).collect::<Vec<_>>();
        let groups = [group("a", small(5)), group("big", big.clone()), group("b", small(0)), group("c", small(100))];
        let mut bulk = store.run_writer().expect("writer");
        let mut counts = GroupCounts::default();
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", &groups, "now", &mut counts).expect("write");
        bulk.commit().expect("commit");
        assert_eq!(members_of(&bulk, "big"), (big, (MERGED_MEMBERS_MAX + 1) as i64));
        for (uuid, from) in [("a", 5), ("b", 0), ("c", 100)] {
            assert_eq!(members_of(&bulk, uuid), (small(from), 70), "{uuid}");
        }
        let rows: i64 = bulk.conn.query_row("SELECT count(*) FROM group_members", [], |r| r.get(0)).expect("rows");
        assert_eq!(rows, (MERGED_MEMBERS_MAX + 1 + 3 * 70) as i64);
    }

    /// Groups an older release stored with a SHA-256 hash (32 bytes) are
    /// not all counted as updated by the first run after an upgrade: one
    /// with the same content is unchanged and hashed anew, one whose content
    /// changed is updated.
    #[tokio::test]
    async fn groups_hashed_by_an_older_release_are_compared_by_content() {
        let (_dir, store) = store().await;
        let group = |uuid: &str, hash: Vec<u8>, keys: &[&str]| PreparedGroup {
            uuid: uuid.into(),
            name: uuid.into(),
            dn: format!("cn={uuid},dc=x"),
            dn_key: format!("cn={uuid},dc=x"),
            members: MemberKeys::new(keys.iter().map(|k| k.to_string()).collect()),
            hash,
            source_hash: None,
        };
        let mut bulk = store.run_writer().expect("writer");
        let mut counts = GroupCounts::default();
        let old = [group("same", vec![7; 32], &["uid=a", "uid=b"]), group("changed", vec![7; 32], &["uid=a"])];
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", &old, "then", &mut counts).expect("write");
        bulk.commit().expect("commit");

        let mut counts = GroupCounts::default();
        let new = [group("same", vec![9; 16], &["uid=b", "uid=a"]), group("changed", vec![9; 16], &["uid=a", "uid=c"])];
        bulk.begin().expect("begin");
        bulk.write_groups("t", "r", &new, "now", &mut counts).expect("rewrite");
        bulk.commit().expect("commit");
        assert_eq!((counts.seen, counts.unchanged, counts.updated, counts.added), (2, 1, 1, 0));
        let hash_of = |uuid: &str| -> Vec<u8> {
            bulk.conn
                .query_row("SELECT content_hash FROM groups WHERE ldap_uuid = ?1", [uuid], |r| r.get(0))
                .expect("hash")
        };
        assert_eq!((hash_of("same"), hash_of("changed")), (vec![9; 16], vec![9; 16]));
        assert_eq!(members_of(&bulk, "changed"), (vec!["uid=a".to_string(), "uid=c".to_string()], 2));
        assert_eq!(members_of(&bulk, "same"), (vec!["uid=a".to_string(), "uid=b".to_string()], 2));
    }

    fn user(uuid: &str, username: &str, enabled: bool) -> PreparedUser {
        crate::store::rows::PreparedUser::of(app::model::User {
            ldap_uuid: uuid.into(),
            username: username.into(),
            ldap_dn: format!("uid={uuid},dc=x"),
            enabled,
            ..Default::default()
        })
    }

    /// A complete read's removal takes exactly the users seen neither at a
    /// place in read order nor in the seen-set, places or not (users stored
    /// before read order was kept have none), canonical UUIDs or not.
    #[tokio::test]
    async fn unseen_users_are_those_seen_neither_by_place_nor_by_uuid() {
        let (_dir, store) = store().await;
        let uuid =
            |i: usize| if i.is_multiple_of(2) { format!("00000000-0000-4000-8000-{i:012}") } else { format!("u{i}") };
        let users: Vec<PreparedUser> = (1..=7).map(|i| user(&uuid(i), &format!("user{i}"), true)).collect();
        let mut bulk = store.run_writer().expect("writer");
        bulk.write_batch("t", "r", &users, "now", 0, true).expect("import");
        bulk.commit().expect("commit");
        let place = |bulk: &Bulk, i: usize| -> Option<i64> {
            bulk.conn
                .query_row("SELECT seq FROM users WHERE ldap_uuid = ?1", [UuidKey::of(&uuid(i))], |r| r.get(0))
                .expect("seq")
        };
        bulk.conn.execute("UPDATE users SET seq = NULL WHERE seq >= ?1", [place(&bulk, 6)]).expect("no places");
        drop(bulk);
        // The next run saw 1 and 3 by place, 2 and 6 by UUID; 4, 5 and 7 are gone.
        let mut run = store.run_writer().expect("writer");
        let mut seen = SeenPlaces::default();
        for i in [1, 3] {
            seen.insert(place(&run, i).expect("a place"));
        }
        run.mark_seen(&[uuid(2), uuid(6)]).expect("seen");
        let missing = run.find_removable("t", "r", Removal::Unseen, false, &seen).expect("find");
        assert_eq!((missing.stored, missing.to_remove), (7, 3));
        let (n, changes) = run.remove_users("t", "r", Removal::Unseen, true, "now", 10).expect("remove");
        assert_eq!(n, 3);
        let mut removed: Vec<String> = changes.into_iter().map(|c| c.username).collect();
        removed.sort();
        assert_eq!(removed, ["user4", "user5", "user7"]);
        let left: i64 = run.conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).expect("count");
        assert_eq!(left, 4);
        assert!(!SeenPlaces::fits(0) && !SeenPlaces::fits(SeenPlaces::LIMIT) && SeenPlaces::fits(1));
        assert!(!seen.contains(2) && !seen.contains(-1) && !seen.contains(SeenPlaces::LIMIT + 1));
    }

    #[tokio::test]
    async fn a_username_stays_with_the_enabled_user_that_has_it() {
        let (_dir, store) = store().await;
        let mut bulk = store.run_writer().expect("writer");
        let mut write = |users: Vec<PreparedUser>| {
            let out = bulk.write_batch("t", "r", &users, "now", 10, false).expect("write");
            bulk.commit().expect("commit");
            (out.added, out.updated, out.refused.iter().map(|e| e.dn.clone()).collect::<Vec<_>>())
        };
        // Within a batch and across batches, in any case: the first keeps it.
        assert_eq!(write(vec![user("a", "bob", true), user("b", "BOB", true)]), (1, 0, vec!["uid=b,dc=x".into()]));
        assert_eq!(write(vec![user("b", "Bob", true)]), (0, 0, vec!["uid=b,dc=x".into()]));
        // A rename onto a taken name is refused and changes nothing; renaming
        // in case only is not a conflict with oneself.
        assert_eq!(write(vec![user("c", "carol", true)]), (1, 0, vec![]));
        assert_eq!(write(vec![user("c", "bob", true)]), (0, 0, vec!["uid=c,dc=x".into()]));
        assert_eq!(write(vec![user("a", "BoB", true)]), (0, 1, vec![]));
        // A disabled holder does not keep it; re-enabled, it cannot take it back.
        assert_eq!(write(vec![user("a", "BoB", false)]), (0, 1, vec![]));
        assert_eq!(write(vec![user("b", "bob", true)]), (1, 0, vec![]));
        assert_eq!(write(vec![user("a", "BoB", true)]), (0, 0, vec!["uid=a,dc=x".into()]));
        let names: Vec<(String, String, bool)> = bulk
            .conn
            .prepare("SELECT ldap_uuid, username, enabled FROM users ORDER BY ldap_uuid")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("users");
        let want = [("a", "BoB", false), ("b", "bob", true), ("c", "carol", true)];
        assert_eq!(names, want.map(|(u, n, e)| (u.to_string(), n.to_string(), e)));
    }

    /// An import looks a username up only when its filter may have seen it:
    /// the duplicates are still refused, in a batch and across batches.
    #[tokio::test]
    async fn an_import_refuses_duplicate_usernames_too() {
        let (_dir, store) = store().await;
        let mut bulk = store.run_writer().expect("writer");
        let mut write = |users: Vec<PreparedUser>| {
            let out = bulk.write_batch("t", "r", &users, "now", 0, true).expect("write");
            (out.added, out.refused.iter().map(|e| e.dn.clone()).collect::<Vec<_>>())
        };
        let many: Vec<PreparedUser> = (0..2000).map(|i| user(&format!("u{i}"), &format!("user{i}"), true)).collect();
        assert_eq!(write(many), (2000, vec![]));
        assert_eq!(write(vec![user("a", "alice", true), user("b", "ALICE", true)]), (1, vec!["uid=b,dc=x".into()]));
        assert_eq!(write(vec![user("c", "User7", true), user("d", "dora", true)]), (1, vec!["uid=c,dc=x".into()]));
        bulk.commit().expect("commit");
    }

    /// An import (no lookups by UUID, names checked through the filter)
    /// writes every user whole and in read order, and refuses a duplicate
    /// name within its batch.
    #[tokio::test]
    async fn an_import_writes_every_user_whole_and_in_read_order() {
        let (_dir, store) = store().await;
        let mut bulk = store.run_writer().expect("writer");
        let mut users: Vec<PreparedUser> =
            (0..100).map(|i| user(&format!("u{i:03}"), &format!("user{i}"), i % 7 != 0)).collect();
        users[70] = user("u070", "USER66", true);
        users[20].source_hash = Some([7; 16]);
        let out = bulk.write_batch("t", "r", &users, "now", 0, true).expect("write");
        assert_eq!((out.added, out.refused.len()), (99, 1));
        assert_eq!(out.refused[0].dn, "uid=u070,dc=x");
        bulk.commit().expect("commit");
        type Row = (String, String, String, bool, String, Vec<u8>, Option<Vec<u8>>, i64);
        let stored: Vec<Row> = bulk
            .conn
            .prepare("SELECT ldap_uuid, username, ldap_dn, enabled, body, content_hash, source_hash, seq FROM users WHERE scope = (SELECT id FROM user_scopes WHERE tenant = 't' AND repository_id = 'r') ORDER BY seq")
            .expect("query")
            .query_map([], |r| Ok((r.get::<_, StoredKey>(0)?.into_text(), r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("users");
        let want: Vec<Row> = users
            .iter()
            .filter(|p| p.ldap_uuid != "u070")
            .map(|p| {
                let source = p.source_hash.map(|h| h.to_vec());
                (
                    p.ldap_uuid.clone(),
                    p.username.clone(),
                    p.ldap_dn.clone(),
                    p.enabled,
                    p.body.clone(),
                    p.hash.to_vec(),
                    source,
                    0,
                )
            })
            .collect();
        let first_seq = stored.first().map(|r| r.7).unwrap_or_default();
        let unseq = |rows: Vec<Row>| rows.into_iter().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5, r.6)).collect::<Vec<_>>();
        let seqs: Vec<i64> = stored.iter().map(|r| r.7 - first_seq).collect();
        assert_eq!(unseq(stored), unseq(want));
        assert_eq!(seqs, (0..99).collect::<Vec<i64>>());
    }

    /// A user read twice in one import (an entry moved while the directory
    /// was read) is one row with the values read last, and every other user
    /// is written.
    #[tokio::test]
    async fn an_import_that_reads_a_user_twice_keeps_the_later_values() {
        let (_dir, store) = store().await;
        let mut bulk = store.run_writer().expect("writer");
        let mut users: Vec<PreparedUser> =
            (0..96).map(|i| user(&format!("u{i:03}"), &format!("user{i}"), true)).collect();
        users[40] = user("u005", "renamed5", true);
        users[45] = user("u041", "moved", true);
        let out = bulk.write_batch("t", "r", &users, "now", 0, true).expect("write");
        assert!(out.refused.is_empty(), "{:?}", out.refused);
        bulk.commit().expect("commit");
        let stored: Vec<(String, String)> = bulk
            .conn
            .prepare("SELECT ldap_uuid, username FROM users ORDER BY seq")
            .expect("query")
            .query_map([], |r| Ok((r.get::<_, StoredKey>(0)?.into_text(), r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("users");
        let mut want: Vec<(String, String)> =
            (0..96).filter(|&i| i != 40 && i != 45).map(|i| (format!("u{i:03}"), format!("user{i}"))).collect();
        want[5].1 = "renamed5".into();
        want[40].1 = "moved".into();
        assert_eq!(stored, want);
    }

    #[test]
    fn the_import_filter_knows_every_name_it_recorded_in_any_case() {
        let mut names = NamesWritten::new();
        assert!(!names.insert("Anna"));
        assert!(names.insert("anna"));
        assert!(names.insert("ANNA"));
        let fresh = (0..10_000).filter(|i| !names.insert(&format!("name{i}"))).count();
        // Nearly every new name is new to the filter (no lookup for it).
        assert!(fresh > 9_990, "{fresh}");
        assert!((0..10_000).all(|i| names.insert(&format!("NAME{i}"))));
    }
}
