//! Writing a run's users: the batch upsert (with the username checks an
//! import can skip), their places in read order, and the seen- and
//! gone-sets removal reads.

use super::Writer;
use crate::store::keys::UuidKey;
use crate::store::rows::{changed_fields, BatchOutcome, PreparedUser};
use crate::store::StoreError;
use app::model::{ChangeKind, SyncChange, SyncError};
use rusqlite::{params, OptionalExtension};

/// The usernames an import (a run into a repository that had no users) has
/// written, as a fixed-size Bloom filter: a name it has never seen cannot
/// belong to another user of the repository, so the import skips that
/// username-index lookup (about a fifth of its store time); a name it may
/// have seen is looked up as in any run. 1 MiB however large the directory;
/// at a million users about 5% of the names are looked up for nothing.
/// (A single-user re-sync cannot rename a user behind its back: the service
/// refuses one while a run of the repository goes on.)
pub(super) struct NamesWritten {
    bits: Vec<u64>,
    /// The lower-cased name being hashed (reused).
    folded: Vec<u8>,
}

impl NamesWritten {
    const WORDS: usize = (1 << 23) / 64;

    pub(super) fn new() -> NamesWritten {
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
    pub(super) fn insert(&mut self, name: &str) -> bool {
        let mut seen = true;
        for p in self.positions(name) {
            let (word, bit) = (p / 64, 1u64 << (p % 64));
            seen &= self.bits[word] & bit != 0;
            self.bits[word] |= bit;
        }
        seen
    }
}

impl Writer {
    /// Marks user UUIDs as seen by the run (entries that could not be mapped
    /// too, so a mapping problem never turns into a deletion).
    pub fn mark_seen(&mut self, uuids: &[String]) -> Result<(), StoreError> {
        self.mark("sync_seen", uuids.iter().map(|u| UuidKey::of(u)))
    }

    /// Records user UUIDs the directory reported deleted (or moved out of scope).
    pub fn mark_gone(&mut self, uuids: &[String]) -> Result<(), StoreError> {
        self.mark("sync_gone", uuids.iter().map(|u| UuidKey::of(u)))
    }

    /// Writes one batch in the run's open transaction (see [`Writer::commit_if_due`]):
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
    /// From now on entries not stored yet are counted, not added.
    pub fn add_no_new_users(&mut self) {
        self.adds_new_users = false;
    }

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
        let adds_new_users = self.adds_new_users;
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
                    if !adds_new_users {
                        out.not_imported += 1;
                        continue;
                    }
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
                            kind: ChangeKind::Added,
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
                        kind: ChangeKind::Updated,
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
}
