//! Removing a run's missing users: which ones (unseen by a complete read,
//! or reported gone), how many, and disabling or deleting them.

use super::Writer;
use crate::store::rows::{Missing, Removal, SeenPlaces, DISABLE_USERS};
use crate::store::StoreError;
use app::model::{ChangeKind, SyncChange};
use rusqlite::params;

impl Writer {
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
        let kind = if delete { ChangeKind::Deleted } else { ChangeKind::Disabled };
        self.begin()?;
        let tx = &self.conn;
        let changes = {
            let mut sample = tx.prepare(&format!(
                "SELECT username, ldap_dn FROM users WHERE scope = ?1 AND (enabled = 1 OR ?2) AND {cond} LIMIT ?3"
            ))?;
            let rows = sample.query_map(params![scope, delete, want_changes as i64], |r| {
                Ok(SyncChange { username: r.get(0)?, ldap_dn: r.get(1)?, kind, attributes: vec!["enabled".into()] })
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
}
