//! The writer's WAL and page cache: a checkpointer thread beside a run, the
//! WAL restarted before a run reads, the cache given back between phases.
//! The engine knows these only as [`Writer::before_run`] and
//! [`Writer::between_phases`].

use super::{Writer, BUSY_TIMEOUT};
use crate::store::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;

/// How often a run's checkpointer copies committed pages from the WAL into
/// the database file.
pub(super) const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Checkpoints the store in the background while a run writes: otherwise a
/// commit that finds the WAL over its limit copies it on the writer's time
/// (a full sync of 100,000 users spent ~0.4 s there). A PASSIVE checkpoint
/// never blocks the writer, and once it has caught up the next transaction
/// starts the WAL from the beginning again, so the file stays small.
/// Returns the sender whose drop stops it.
pub(super) fn spawn_checkpointer(path: &Path) -> Option<std::sync::mpsc::Sender<()>> {
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

/// How long a run waits for the WAL to be restarted before it reads (see
/// [`Writer::restart_wal`]): a 1,000,000-user import leaves ~0.3 s of copying.
pub(super) const RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl Writer {
    /// The hook a run calls before it reads: the store as the previous run
    /// left it, settled (see [`Writer::restart_wal`]). A failure only costs
    /// speed, so it is logged, not returned.
    pub fn before_run(&mut self, run_id: i64) {
        match self.restart_wal() {
            Ok(true) => {}
            Ok(false) => tracing::info!(run = run_id, "the WAL could not be restarted before the run"),
            Err(e) => tracing::warn!(error = %e, run = run_id, "the WAL could not be checkpointed before the run"),
        }
    }

    /// The hook a run calls between its users and its groups: what the
    /// users needed is given back (see [`Writer::shrink_cache`]).
    pub fn between_phases(&mut self) {
        if let Err(e) = self.shrink_cache() {
            tracing::debug!(error = %e, "page cache kept");
        }
    }

    /// Copies what earlier writes left in the WAL into the database file and
    /// restarts the WAL, before a run reads: the previous run's last pages
    /// are copied by its checkpointer after it ends (off its time), and a
    /// run that started on a WAL still holding them would look every page
    /// it reads up in a long WAL index (a re-sync right after a 1,000,000-
    /// user import read 15-20% slower). Waits up to `RESTART_WAIT` for a
    /// checkpoint still running; false when the WAL could not be restarted.
    pub(super) fn restart_wal(&mut self) -> Result<bool, StoreError> {
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
    fn shrink_cache(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("PRAGMA cache_size = -4096;")?;
        Ok(())
    }
}
