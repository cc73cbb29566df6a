//! The engine: starts runs (one per repository at a time, the running set),
//! runs each on a thread of its own as writer, records and announces its
//! end, and logs where its time went.

use crate::clock::now_rfc3339;
use crate::ldap::Secrets;
use crate::memory;
use crate::store::rows::{RunEnd, SyncState};
use crate::store::writer::blocking;
use crate::store::Store;
use crate::sync::outcome::{store_error, StartError};
use crate::sync::plan;
use crate::sync::reader::on_own_thread;
use crate::sync::reader::Reader;
use crate::sync::run::{joint_search, replay_limit, users_filter, users_search, ReaderAhead, Run};
use app::model::{Repository, SyncCounts, SyncMode, SyncRequest};
use app::model::{RunMethod, RunState};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub struct SyncEngine {
    store: Store,
    running: Mutex<HashSet<(String, String)>>,
    /// How many runs have ended, bumped once each run's end is stored.
    ended: tokio::sync::watch::Sender<u64>,
}

/// Removes the repository from the running set however the run ends.
pub(crate) struct RunningGuard {
    pub(crate) engine: Arc<SyncEngine>,
    pub(crate) key: (String, String),
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut running) = self.engine.running.lock() {
            running.remove(&self.key);
        }
    }
}

impl SyncEngine {
    pub fn new(store: Store) -> Arc<SyncEngine> {
        Arc::new(SyncEngine { store, running: Mutex::new(HashSet::new()), ended: tokio::sync::watch::channel(0).0 })
    }

    /// Changes whenever a run has ended and its end can be read from the
    /// store: watchers of a run (its event stream) see the end at once
    /// instead of at their next poll.
    pub fn run_ends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    pub fn is_running(&self, tenant: &str, repo: &str) -> bool {
        self.running.lock().map(|r| r.contains(&(tenant.to_string(), repo.to_string()))).unwrap_or(false)
    }

    /// Starts a run in the background and returns its id; 409 while one runs.
    pub async fn start(
        self: &Arc<Self>,
        tenant: &str,
        repo: Repository,
        secrets: Secrets,
        request: SyncRequest,
    ) -> Result<i64, StartError> {
        let key = (tenant.to_string(), repo.id.clone());
        {
            let mut running = self.running.lock().map_err(|_| StartError::Poisoned)?;
            if !running.insert(key.clone()) {
                return Err(StartError::AlreadyRunning(repo.id.clone()));
            }
        }
        let guard = RunningGuard { engine: self.clone(), key };
        // A full sync shows its progress against the users stored; a changed
        // one only needs to know whether there are any, and roughly how many
        // (see `replay_limit`), and is short enough that counting shows.
        let stored = match request.mode {
            SyncMode::Full => self.store.count_users(tenant, &repo.id).await,
            SyncMode::Changed => self.store.estimate_users(tenant, &repo.id).await,
        };
        let recorded = match stored {
            Ok(stored) => self
                .store
                .insert_run(tenant, &repo.id, request.mode, RunMethod::Pending, &now_rfc3339(), stored)
                .await
                .map(|id| (id, stored)),
            Err(e) => Err(e),
        };
        let (run_id, stored_users) = match recorded {
            Ok(recorded) => recorded,
            Err(e) => {
                tracing::error!(error = %e, "sync run could not be recorded");
                return Err(StartError::Store(e));
            }
        };
        let engine = self.clone();
        let tenant = tenant.to_string();
        let work = async move {
            engine.run(&tenant, &repo, &secrets, (run_id, stored_users), request, guard).await;
        };
        // The writer on a thread of its own, like each reader: its store
        // calls block that thread only (no block_in_place hand-offs of a
        // shared worker), and what it allocated goes back to the system when
        // the run ends instead of staying with an idle runtime worker.
        if let Err(e) = on_own_thread("dirbridge-sync", work) {
            tracing::error!(error = %e, run = run_id, "the sync thread could not start");
            return Err(StartError::Thread(e));
        }
        Ok(run_id)
    }

    pub(crate) async fn run(
        &self,
        tenant: &str,
        repo: &Repository,
        secrets: &Secrets,
        (run_id, stored_users): (i64, u64),
        request: SyncRequest,
        guard: RunningGuard,
    ) {
        tracing::info!(tenant, repository = repo.id, run = run_id, mode = ?request.mode, "sync started");
        let timer = std::time::Instant::now();
        // The run's writer thread is this one: its CPU time and page faults,
        // logged at the end, tell a writer-bound run from one that waits on
        // the directory, and how much of the writer's time went to memory.
        let usage_before = crate::allocator::ThreadUsage::now();
        let state = self.store.sync_state(tenant, &repo.id).await.map_err(store_error);
        // A changed sync that continues from a cookie reads those changes
        // whatever else it finds (the method is confirmed below): its reader
        // starts now, and its connection, bind and the server's search
        // (~10-20 ms before the first entry) overlap the run's own set-up.
        let users_ahead = match (&state, request.mode) {
            (Ok(Some(state @ SyncState { users_cookie: Some(cookie), .. })), SyncMode::Changed)
                if plan::may_use_content_sync(&repo.connection.referrals) =>
            {
                let limit = replay_limit(stored_users);
                let (joint, rx) = match joint_search(repo, Some(state)) {
                    Some((search, split)) => (true, Reader::joint(repo, secrets, search, split, limit)),
                    None => {
                        let search = users_search(repo, &users_filter(repo), Some(Some(cookie.clone())));
                        (false, Reader::users(repo, secrets, search, None, Some(limit)))
                    }
                };
                Some(ReaderAhead { from: cookie.clone(), joint, rx })
            }
            _ => None,
        };
        let opened = state.and_then(|state| {
            Run::open(&self.store, tenant, repo, secrets, (run_id, stored_users), request.force, (state, users_ahead))
        });
        let mut run = match opened {
            Ok(r) => r,
            Err(m) => {
                drop(guard);
                let end = RunEnd::new(
                    run_id,
                    RunState::Failed,
                    now_rfc3339(),
                    &SyncCounts::default(),
                    Some(m),
                    &[],
                    &[],
                    None,
                );
                let _ = self.store.finish_run(&end).await;
                self.announce_end();
                return;
            }
        };
        run.timer = timer;
        let request_mode = request.mode;
        let outcome = run.execute(secrets, request).await;
        let finish_started = std::time::Instant::now();
        if let Err(e) = blocking(|| run.db.finish()) {
            tracing::warn!(error = %e, run = run_id, "the run's last writes could not be committed");
        }
        // The repository is free again before the run reads as finished: a
        // client that starts the next run as soon as it sees the end gets it.
        drop(guard);
        let end = RunEnd::new(
            run_id,
            outcome.state,
            now_rfc3339(),
            &run.counts,
            outcome.message.clone(),
            &run.errors,
            &run.changes,
            run.group_counts.as_ref(),
        );
        if let Err(e) = blocking(|| run.db.finish_run(&end)) {
            tracing::error!(error = %e, run = run_id, "sync run could not be finished in the store");
        }
        self.announce_end();
        let method = run.method.map_or("none", |m| m.as_str());
        let mode = if request_mode == SyncMode::Full { "full" } else { "changed" };
        crate::metrics::global().sync_run(mode, method, outcome.state.as_str(), run.timer.elapsed(), &run.counts);
        run.timings.finish += finish_started.elapsed();
        let c = &run.counts;
        let used = crate::allocator::ThreadUsage::now().since(usage_before);
        tracing::info!(
            tenant,
            repository = repo.id,
            run = run_id,
            state = outcome.state.as_str(),
            seen = c.seen,
            added = c.added,
            updated = c.updated,
            unchanged = c.unchanged,
            disabled = c.disabled,
            deleted = c.deleted,
            failed = c.failed,
            message = outcome.message.as_deref().unwrap_or(""),
            read_ms = run.timings.read.as_millis() as u64,
            collect_ms = run.timings.collect.as_millis() as u64,
            store_ms = run.timings.store.as_millis() as u64,
            removal_ms = run.timings.removal.as_millis() as u64,
            groups_ms = run.timings.groups.as_millis() as u64,
            groups_read_ms = run.timings.groups_read.as_millis() as u64,
            setup_ms = run.timings.setup.as_millis() as u64,
            finish_ms = run.timings.finish.as_millis() as u64,
            total_ms = run.timer.elapsed().as_millis() as u64,
            writer_cpu_us = used.cpu.as_micros() as u64,
            writer_faults = used.minor_faults,
            "sync finished"
        );
        // The writer's connection (and its page cache) closes here.
        let seen = run.counts.seen;
        drop(run);
        memory::after_run(seen);
    }

    /// Tells the watchers of [`SyncEngine::run_ends`] that a run's end is
    /// stored.
    pub(crate) fn announce_end(&self) {
        self.ended.send_modify(|n| *n += 1);
    }
}
