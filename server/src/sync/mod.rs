//! The sync engine: full synchronisation of a repository's users into the
//! store. One run per repository at a time; a run that does not enumerate the
//! directory completely never removes anyone.

pub mod plan;

use crate::ldap::{self, Secrets};
use crate::mapping::{self, Entry};
use crate::service::now_rfc3339;
use crate::store::sync::{PreparedUser, MAX_SAMPLES};
use crate::store::Store;
use app::error::AppError;
use app::model::{DeletionPolicyKind, Repository, SyncChange, SyncCounts, SyncError, SyncMode, SyncRequest};
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::SearchEntry;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub struct SyncEngine {
    store: Store,
    running: Mutex<HashSet<(String, String)>>,
}

/// Removes the repository from the running set however the run ends.
struct RunningGuard {
    engine: Arc<SyncEngine>,
    key: (String, String),
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut running) = self.engine.running.lock() {
            running.remove(&self.key);
        }
    }
}

/// The state a run ends in, with its reason.
struct Outcome {
    state: &'static str,
    message: Option<String>,
}

impl SyncEngine {
    pub fn new(store: Store) -> Arc<SyncEngine> {
        Arc::new(SyncEngine { store, running: Mutex::new(HashSet::new()) })
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
    ) -> Result<i64, AppError> {
        if request.mode == SyncMode::Changed {
            return Err(AppError::bad_request(
                "changed (incremental) sync is not available yet; run a full sync (mode \"full\")",
            ));
        }
        let key = (tenant.to_string(), repo.id.clone());
        {
            let mut running = self.running.lock().map_err(|_| AppError::internal("sync state poisoned"))?;
            if !running.insert(key.clone()) {
                return Err(AppError::conflict(format!("a sync of repository '{}' is already running", repo.id)));
            }
        }
        let guard = RunningGuard { engine: self.clone(), key };
        let run_id = match self.store.insert_run(tenant, &repo.id, request.mode, "paged", &now_rfc3339()).await {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "sync run could not be recorded");
                return Err(AppError::internal("the sync run could not be recorded; see the server log"));
            }
        };
        let engine = self.clone();
        let tenant = tenant.to_string();
        tokio::spawn(async move {
            let _guard = guard;
            engine.run_full(&tenant, &repo, &secrets, run_id, request.force).await;
        });
        Ok(run_id)
    }

    async fn run_full(&self, tenant: &str, repo: &Repository, secrets: &Secrets, run_id: i64, force: bool) {
        let mut counts = SyncCounts::default();
        let mut errors: Vec<SyncError> = Vec::new();
        let mut changes: Vec<SyncChange> = Vec::new();
        tracing::info!(tenant, repository = repo.id, run = run_id, "full sync started");
        let outcome =
            self.full_enumeration(tenant, repo, secrets, run_id, force, &mut counts, &mut errors, &mut changes).await;
        if let Err(e) = self
            .store
            .finish_run(run_id, outcome.state, &now_rfc3339(), &counts, outcome.message.as_deref(), &errors, &changes)
            .await
        {
            tracing::error!(error = %e, run = run_id, "sync run could not be finished in the store");
        }
        tracing::info!(
            tenant,
            repository = repo.id,
            run = run_id,
            state = outcome.state,
            seen = counts.seen,
            added = counts.added,
            updated = counts.updated,
            unchanged = counts.unchanged,
            disabled = counts.disabled,
            deleted = counts.deleted,
            failed = counts.failed,
            message = outcome.message.as_deref().unwrap_or(""),
            "full sync finished"
        );
    }

    #[allow(clippy::too_many_arguments)]
    async fn full_enumeration(
        &self,
        tenant: &str,
        repo: &Repository,
        secrets: &Secrets,
        run_id: i64,
        force: bool,
        counts: &mut SyncCounts,
        errors: &mut Vec<SyncError>,
        changes: &mut Vec<SyncChange>,
    ) -> Outcome {
        let failed = |message: String| Outcome { state: "failed", message: Some(message) };
        let mut conn = match ldap::connect(repo).await {
            Ok(c) => c,
            Err((f, _)) => return failed(format!("connect: {}", f.into_message())),
        };
        if let Err(m) = ldap::bind(&mut conn.ldap, repo, secrets).await {
            return failed(format!("bind: {m}"));
        }
        let mut db = match self.store.sync_connection().await {
            Ok(c) => c,
            Err(e) => return failed(format!("store: {e}")),
        };
        let filter = crate::filter::user_filter(&repo.users.object_classes, &repo.users.filters, None);
        let page_size = repo.sync.page_size.clamp(1, 10_000) as i32;
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(page_size))];
        let mut stream = match conn
            .ldap
            .with_timeout(ldap::timeout_of(repo))
            .streaming_search_with(
                adapters,
                repo.users.effective_users_dn(),
                ldap::scope_of(repo),
                &filter,
                ldap::user_attributes(repo),
            )
            .await
        {
            Ok(s) => s,
            Err(e) => return failed(format!("search: {}", ldap::describe_ldap_error(&e))),
        };
        let now = now_rfc3339();
        let mut batch: Vec<Entry> = Vec::with_capacity(page_size as usize);
        // Entries that could not be mapped and whose UUID is unknown: deletion
        // detection cannot be trusted then, so it is skipped.
        let mut unidentified = 0u64;
        loop {
            let next = stream.next().await;
            match next {
                Ok(Some(raw)) => {
                    let e = SearchEntry::construct(raw);
                    batch.push(Entry::new(e.dn, e.attrs, e.bin_attrs));
                    if batch.len() >= page_size as usize {
                        if let Err(m) = self
                            .flush(tenant, repo, &mut db, &mut batch, &now, counts, errors, changes, &mut unidentified)
                            .await
                        {
                            return failed(m);
                        }
                        let _ = self.store.update_run_progress(run_id, counts, counts.seen).await;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = stream.finish().await;
                    return failed(format!(
                        "the directory stopped answering mid-run: {}; nobody was removed",
                        ldap::describe_ldap_error(&e)
                    ));
                }
            }
        }
        let result = stream.finish().await;
        if result.rc != 0 {
            return failed(format!(
                "the search did not complete: {}; nobody was removed",
                ldap::describe_ldap_error(&ldap3::LdapError::LdapResult { result })
            ));
        }
        if let Err(m) =
            self.flush(tenant, repo, &mut db, &mut batch, &now, counts, errors, changes, &mut unidentified).await
        {
            return failed(m);
        }
        let _ = conn.ldap.unbind().await;

        if unidentified > 0 {
            return Outcome {
                state: "succeeded",
                message: Some(format!(
                    "{unidentified} entries had no {} and could not be identified; removal of missing users was skipped",
                    repo.users.uuid_attribute
                )),
            };
        }
        let delete = repo.sync.deletion.policy == DeletionPolicyKind::Delete;
        let missing = match Store::find_missing(&mut db, tenant, &repo.id, !delete).await {
            Ok(m) => m,
            Err(e) => return failed(format!("store: {e}")),
        };
        if let Err(reason) = plan::removal_allowed(
            missing.stored,
            missing.to_remove,
            counts.seen,
            repo.sync.deletion.max_delete_percent,
            force,
        ) {
            return Outcome { state: "aborted", message: Some(reason) };
        }
        if missing.to_remove > 0 {
            match Store::remove_missing(
                &mut db,
                tenant,
                &repo.id,
                delete,
                &now,
                MAX_SAMPLES.saturating_sub(changes.len()),
            )
            .await
            {
                Ok((n, removed)) => {
                    if delete {
                        counts.deleted = n;
                    } else {
                        counts.disabled = n;
                    }
                    changes.extend(removed);
                }
                Err(e) => return failed(format!("store: {e}")),
            }
        }
        Outcome { state: "succeeded", message: None }
    }

    /// Maps and writes one batch; the batch is emptied.
    #[allow(clippy::too_many_arguments)]
    async fn flush(
        &self,
        tenant: &str,
        repo: &Repository,
        db: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
        batch: &mut Vec<Entry>,
        now: &str,
        counts: &mut SyncCounts,
        errors: &mut Vec<SyncError>,
        changes: &mut Vec<SyncChange>,
        unidentified: &mut u64,
    ) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut prepared = Vec::with_capacity(batch.len());
        let mut seen = Vec::with_capacity(batch.len());
        for entry in batch.drain(..) {
            counts.seen += 1;
            match mapping::map_user(repo, &entry, None) {
                Ok(user) => {
                    seen.push(user.ldap_uuid.clone());
                    prepared.push(plan::prepare(user, now));
                }
                Err(e) => {
                    counts.failed += 1;
                    match mapping::uuid_of(&entry, &repo.users.uuid_attribute) {
                        Some(uuid) => seen.push(uuid),
                        None => *unidentified += 1,
                    }
                    if errors.len() < MAX_SAMPLES {
                        errors.push(SyncError { dn: e.dn, message: e.reason });
                    }
                }
            }
        }
        let prepared: Vec<PreparedUser> = plan::drop_duplicate_usernames(prepared, counts, errors);
        Store::mark_seen(db, &seen).await.map_err(|e| format!("store: {e}"))?;
        let outcome =
            Store::write_batch(db, tenant, &repo.id, &prepared, now, MAX_SAMPLES.saturating_sub(changes.len()))
                .await
                .map_err(|e| format!("store: {e}"))?;
        counts.added += outcome.added;
        counts.updated += outcome.updated;
        counts.unchanged += outcome.unchanged;
        changes.extend(outcome.changes);
        Ok(())
    }
}
