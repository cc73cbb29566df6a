//! Writing a run's groups with their member rows (only a changed group's
//! difference), their fingerprints, and removing the groups that are gone.

use super::Writer;
use crate::store::rows::{MemberKeys, PreparedGroup};
use crate::store::StoreError;
use app::model::GroupCounts;
use rusqlite::{params, Connection, DatabaseName, OptionalExtension};

impl Writer {
    /// Marks group UUIDs as seen (`gone = false`) or reported deleted.
    pub fn mark_groups(&mut self, uuids: &[String], gone: bool) -> Result<(), StoreError> {
        self.mark(if gone { "group_gone" } else { "group_seen" }, uuids)
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
/// apart (see [`Writer::write_groups`]).
pub(super) const MERGED_MEMBERS_MAX: usize = 10_000;

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
