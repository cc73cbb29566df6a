//! A run's own rows, written on the writer's connection: where the next
//! changed sync continues from, and how the run ended.

use super::Writer;
use crate::store::rows::{RunEnd, SyncState, FINISH_RUN};
use crate::store::StoreError;
use rusqlite::params;

impl Writer {
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

    /// Records how the run ended (see [`Writer::save_sync_state`] for why here).
    pub fn finish_run(&mut self, end: &RunEnd) -> Result<(), StoreError> {
        self.commit()?;
        self.conn.prepare_cached(FINISH_RUN)?.execute(params![
            end.state.as_str(),
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
}
