//! The source hashes of a repository's stored users, read by the sync reader
//! alongside the directory.
//!
//! Directories return a full read in a stable order (OpenLDAP and 389-DS in
//! entry-ID order, AD in its index order), and users are numbered in the
//! order they were first read (`seq`). So the stored hashes are read as a
//! sequential range of one covering index, a window at a time, while the
//! directory streams its entries: a re-sync of a million unchanged users
//! costs an index scan, not a million random lookups. An entry that is not
//! where the window expects it (new, moved in the order, stored before
//! fingerprints) is looked up by its UUID, and the window follows it.

use super::keys::{StoredKey, UuidKey};
use super::StoreError;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::VecDeque;
use std::path::Path;

/// Rows read per window refill.
const WINDOW: i64 = 512;
/// How far ahead in the window an entry is looked for (entries skipped over
/// were deleted from the directory, or come later and are looked up then).
const LOOKAHEAD: usize = 64;

struct Known {
    seq: i64,
    uuid: StoredKey,
    source_hash: Option<Vec<u8>>,
}

/// A stored user's place in read order (None for users stored before it
/// was kept) and source hash.
pub type StoredAt = (Option<i64>, Option<Vec<u8>>);

pub struct KnownUsers {
    conn: Connection,
    /// The repository's users (see `store::keys`); None: it has none.
    scope: Option<i64>,
    window: VecDeque<Known>,
    /// The window continues after this seq.
    after: i64,
    /// Whether the read follows the stored order (a complete read).
    in_order: bool,
    exhausted: bool,
    /// Entries found in the window and not: when the directory's order has
    /// little to do with the stored one, the window is given up.
    hits: u64,
    misses: u64,
}

impl KnownUsers {
    /// A read-only connection of its own (WAL: it reads while the run writes).
    /// With `in_order` false (a read of changed entries only, which are
    /// sparse in the stored order) every entry is looked up by its UUID.
    pub fn open(path: &Path, tenant: &str, repo: &str, in_order: bool) -> Result<KnownUsers, StoreError> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        // The window is read sequentially: a small cache does.
        conn.execute_batch("PRAGMA cache_size = -2048;")?;
        let scope = conn
            .query_row(
                "SELECT id FROM user_scopes WHERE tenant = ?1 AND repository_id = ?2",
                params![tenant, repo],
                |r| r.get(0),
            )
            .optional()?;
        Ok(KnownUsers {
            conn,
            scope,
            window: VecDeque::new(),
            after: i64::MIN,
            in_order,
            exhausted: !in_order || scope.is_none(),
            hits: 0,
            misses: 0,
        })
    }

    fn window_given_up(&self) -> bool {
        self.misses > 1_000 && self.misses > self.hits
    }

    fn refill(&mut self) -> Result<(), StoreError> {
        if self.exhausted || self.window.len() >= LOOKAHEAD || self.window_given_up() {
            return Ok(());
        }
        let mut next = self.conn.prepare_cached(
            "SELECT seq, ldap_uuid, source_hash FROM users WHERE scope = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = next.query_map(params![self.scope, self.after, WINDOW], |r| {
            Ok(Known { seq: r.get(0)?, uuid: r.get(1)?, source_hash: r.get(2)? })
        })?;
        let mut read = 0;
        for row in rows {
            let row = row?;
            self.after = row.seq;
            self.window.push_back(row);
            read += 1;
        }
        self.exhausted = read < WINDOW;
        Ok(())
    }

    /// The stored place in read order and source hash of the user with this
    /// UUID; None when it is not stored.
    pub fn lookup(&mut self, uuid: &str) -> Result<Option<StoredAt>, StoreError> {
        self.refill()?;
        let key = UuidKey::of(uuid);
        if let Some(at) = self.window.iter().take(LOOKAHEAD).position(|k| k.uuid.is(&key)) {
            self.hits += 1;
            return Ok(self.window.drain(..=at).next_back().map(|k| (Some(k.seq), k.source_hash)));
        }
        self.misses += 1;
        let Some(scope) = self.scope else { return Ok(None) };
        let stored: Option<StoredAt> = self
            .conn
            .prepare_cached("SELECT seq, source_hash FROM users WHERE scope = ?1 AND ldap_uuid = ?2")?
            .query_row(params![scope, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((seq, source_hash)) = stored else { return Ok(None) };
        // The directory skipped ahead of the window (entries deleted, or a
        // long run of them out of order): the window follows.
        if let Some(seq) = seq.filter(|_| self.in_order) {
            if self.window.back().is_some_and(|k| k.seq < seq) {
                self.window.clear();
                self.after = seq;
                self.exhausted = false;
            } else {
                while self.window.front().is_some_and(|k| k.seq <= seq) {
                    self.window.pop_front();
                }
            }
        }
        Ok(Some((seq, source_hash)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store holding users u1..=n of repository r in read order, with
    /// hash [i] each, minus the `missing` ones.
    fn store(n: i64, missing: std::ops::Range<i64>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("s.db")).expect("open");
        conn.execute_batch(
            "CREATE TABLE user_scopes (id INTEGER PRIMARY KEY, tenant TEXT, repository_id TEXT, UNIQUE (tenant, repository_id));
             INSERT INTO user_scopes VALUES (5, 't', 'r');
             CREATE TABLE users (scope INTEGER, ldap_uuid, source_hash BLOB, seq INTEGER, PRIMARY KEY (scope, ldap_uuid));
             CREATE INDEX users_in_read_order ON users (scope, seq, ldap_uuid, source_hash);",
        )
        .expect("schema");
        let tx = conn.transaction().expect("tx");
        for i in (1..=n).filter(|i| !missing.contains(i)) {
            tx.execute(
                "INSERT INTO users VALUES (5, ?1, ?2, ?3)",
                params![UuidKey::of(&uuid(i)), (i as u32).to_le_bytes().to_vec(), i],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
        dir
    }

    /// Every other user has a canonical UUID (stored as bytes), the others not.
    fn uuid(i: i64) -> String {
        if i % 2 == 0 {
            format!("00000000-0000-4000-8000-{i:012x}")
        } else {
            format!("u{i}")
        }
    }

    fn expect_all(known: &mut KnownUsers, order: impl Iterator<Item = i64>, stored: impl Fn(i64) -> bool) {
        for i in order {
            let want = stored(i).then(|| (i as u32).to_le_bytes().to_vec());
            let found = known.lookup(&uuid(i)).expect("lookup");
            assert_eq!(found, want.map(|hash| (Some(i), Some(hash))), "{}", uuid(i));
        }
    }

    #[test]
    fn the_stored_order_is_read_as_a_window_with_few_lookups() {
        let gap = 700..900;
        let dir = store(3000, gap.clone());
        let mut known = KnownUsers::open(&dir.path().join("s.db"), "t", "r", true).expect("open");
        // Entries deleted in the store (a gap longer than the window) and new
        // ones in the directory (3001..3100): the window follows.
        expect_all(&mut known, 1..3100, |i| i <= 3000 && !gap.contains(&i));
        assert!(known.misses <= 100 + 200 + 2, "{} misses", known.misses);
        assert!(known.hits >= 2799, "{} hits", known.hits);
    }

    #[test]
    fn any_other_order_still_finds_every_hash() {
        let dir = store(2500, 0..0);
        let mut known = KnownUsers::open(&dir.path().join("s.db"), "t", "r", true).expect("open");
        expect_all(&mut known, (1..=2500).rev(), |_| true);
        assert!(known.window_given_up());
        let mut sparse = KnownUsers::open(&dir.path().join("s.db"), "t", "r", false).expect("open");
        expect_all(&mut sparse, (1..=2500).step_by(97), |_| true);
        assert_eq!(sparse.lookup("nobody").expect("lookup"), None);
        assert!(sparse.window.is_empty(), "a read of changes only never fills the window");
        let mut elsewhere = KnownUsers::open(&dir.path().join("s.db"), "t", "other", true).expect("open");
        assert_eq!(elsewhere.lookup(&uuid(2)).expect("lookup"), None, "another repository's users");
    }
}
