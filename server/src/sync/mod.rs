//! The sync engine: full and changed synchronisation of a repository's users
//! and groups into the store. One run per repository at a time; a run that
//! does not read the directory completely never removes anyone.

pub mod fingerprint;
mod joint;
pub mod plan;

use crate::clock::now_rfc3339;
use crate::entry::EntryAttributes;
use crate::ldap::content_sync::{self, SyncItem};
use crate::ldap::entry::{AttributeNames, EntryView, RawEntry};
use crate::ldap::{self, Secrets};
use crate::mapping;
use crate::store::bulk::{blocking, Bulk};
use crate::store::known::KnownUsers;
use crate::store::rows::PreparedGroup;
use crate::store::rows::{PreparedUser, Removal, RunEnd, SeenPlaces, SyncState};
use crate::store::sync::MAX_SAMPLES;
use crate::store::Store;
use app::error::AppError;
use app::model::{
    DeletionPolicyKind, GroupCounts, Repository, SyncChange, SyncCounts, SyncError, SyncMode, SyncRequest,
};
use fingerprint::Recognised;
use ldap3::{Ldap, SearchStream};
use plan::Method;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

pub struct SyncEngine {
    store: Store,
    running: Mutex<HashSet<(String, String)>>,
    /// How many runs have ended, bumped once each run's end is stored.
    ended: tokio::sync::watch::Sender<u64>,
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

fn failed(message: String) -> Outcome {
    Outcome { state: "failed", message: Some(message) }
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
    ) -> Result<i64, AppError> {
        let key = (tenant.to_string(), repo.id.clone());
        {
            let mut running = self.running.lock().map_err(|_| AppError::internal("sync state poisoned"))?;
            if !running.insert(key.clone()) {
                return Err(AppError::conflict(format!("a sync of repository '{}' is already running", repo.id)));
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
                .insert_run(tenant, &repo.id, request.mode, "pending", &now_rfc3339(), stored)
                .await
                .map(|id| (id, stored)),
            Err(e) => Err(e),
        };
        let (run_id, stored_users) = match recorded {
            Ok(recorded) => recorded,
            Err(e) => {
                tracing::error!(error = %e, "sync run could not be recorded");
                return Err(AppError::internal("the sync run could not be recorded; see the server log"));
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
            return Err(AppError::internal("the sync run could not start; see the server log"));
        }
        Ok(run_id)
    }

    async fn run(
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
            (Ok(Some(state @ SyncState { users_cookie: Some(cookie), .. })), SyncMode::Changed) => {
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
                let end = RunEnd::new(run_id, "failed", now_rfc3339(), &SyncCounts::default(), Some(m), &[], &[], None);
                let _ = self.store.finish_run(&end).await;
                self.announce_end();
                return;
            }
        };
        run.timer = timer;
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
        run.timings.finish += finish_started.elapsed();
        let c = &run.counts;
        let used = crate::allocator::ThreadUsage::now().since(usage_before);
        tracing::info!(
            tenant,
            repository = repo.id,
            run = run_id,
            state = outcome.state,
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
        return_free_memory_unless_small(seen);
    }

    /// Tells the watchers of [`SyncEngine::run_ends`] that a run's end is
    /// stored.
    fn announce_end(&self) {
        self.ended.send_modify(|n| *n += 1);
    }
}

/// Gives free memory back to the system after a run (or its users) that
/// saw `seen` entries, unless that is below [`SMALL_RUN_ENTRIES`].
fn return_free_memory_unless_small(seen: u64) {
    if seen >= SMALL_RUN_ENTRIES {
        crate::allocator::return_free_memory();
    }
}

/// A run that sees fewer entries keeps what it freed for the next one
/// instead of giving it back to the system: what it holds is small, and
/// giving it back made the next run fault it in again (~6 ms of a 1,000-
/// change sync at 100,000 users, a tenth of it). Bigger runs give back
/// their page cache and batches, so the memory of a full sync does not
/// stay with an idle server.
const SMALL_RUN_ENTRIES: u64 = 10_000;

/// Runs `work` on a new thread of its own, on a single-threaded runtime.
fn on_own_thread(name: &str, work: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let thread = name.to_string();
    std::thread::Builder::new().name(thread.clone()).spawn(
        move || match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(work),
            Err(e) => tracing::error!(error = %e, thread, "a runtime could not start"),
        },
    )?;
    Ok(())
}

/// A directory read as a stream of items, paged or by content synchronisation.
struct Reader {
    stream: SearchStream<'static, String, Vec<String>>,
    /// A paged read: how to ask for the next page (None: a content sync).
    pages: Option<Pages>,
    /// The last page's result, once a paged read is complete.
    done: Option<ldap3::LdapResult>,
    /// The connection, for reading the rest of windowed attributes.
    ldap: Ldap,
    timeout: std::time::Duration,
    /// The values handed to the writer and not yet written.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// A paged read's current page, read whole before its entries are
    /// handed over, so the next page is asked for first: the server
    /// prepares it while this one is decoded, mapped and written (asked for
    /// after, the server idled while the reader caught up with each page).
    ahead: std::collections::VecDeque<ldap3::ResultEntry>,
    /// The cookie of the page after a heavy one: asked for once the heavy
    /// page is handed over and written (one huge group in memory at a time).
    deferred: Option<Vec<u8>>,
}

/// A paged read, page by page (ldap3's PagedResults adapter asks for the
/// same size every time; groups need pages that adapt to their size).
struct Pages {
    ldap: Ldap,
    timeout: std::time::Duration,
    base: String,
    scope: ldap3::Scope,
    filter: String,
    attrs: Vec<String>,
    sizer: plan::PageSizer,
    /// Entries and attribute values in the page being read.
    entries: usize,
    values: usize,
}

impl Pages {
    /// Asks for the page after `cookie` (empty: the first).
    async fn request(&mut self, cookie: Vec<u8>) -> Result<SearchStream<'static, String, Vec<String>>, String> {
        let size = i32::try_from(self.sizer.size()).unwrap_or(i32::MAX);
        self.entries = 0;
        self.values = 0;
        let paged = ldap3::controls::PagedResults { size, cookie }.into();
        stream(&mut self.ldap, self.timeout, paged, &self.base, self.scope, &self.filter, self.attrs.clone()).await
    }

    fn count(&mut self, entry: &ldap3::ResultEntry) {
        self.entries += 1;
        if self.sizer.adapts() {
            if let Some(raw) = crate::ldap::entry::RawEntry::of(&entry.0) {
                self.values += raw.attributes().flatten().map(|a| a.value_count()).sum::<usize>();
            }
        }
    }
}

/// Starts a streaming search with one request control.
async fn stream(
    ldap: &mut Ldap,
    timeout: std::time::Duration,
    control: ldap3::controls::RawControl,
    base: &str,
    scope: ldap3::Scope,
    filter: &str,
    attrs: Vec<String>,
) -> Result<SearchStream<'static, String, Vec<String>>, String> {
    ldap.with_timeout(timeout)
        .with_controls(control)
        .streaming_search(base, scope, filter, attrs)
        .await
        .map_err(|e| format!("search: {}", ldap::describe_ldap_error(&e)))
}

/// What to search for.
struct Search {
    /// How many entries each page (and batch) holds.
    pages: plan::PageSizer,
    base: String,
    scope: ldap3::Scope,
    filter: String,
    attrs: Vec<String>,
    /// Some: an RFC 4533 content sync from this cookie (None: from scratch).
    cookie: Option<Option<Vec<u8>>>,
}

impl Reader {
    async fn open(
        ldap: &mut Ldap,
        repo: &Repository,
        search: Search,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Result<Reader, String> {
        let timeout = ldap::timeout_of(repo);
        if let Some(cookie) = search.cookie {
            // OpenLDAP silently truncates a content-sync search that is also
            // paged: content sync reads without paging (its results are the
            // changes only).
            let control = content_sync::request(cookie);
            let stream =
                stream(ldap, timeout, control, &search.base, search.scope, &search.filter, search.attrs).await?;
            return Ok(Reader::new(stream, None, ldap.clone(), timeout, in_flight));
        }
        let mut pages = Pages {
            ldap: ldap.clone(),
            timeout,
            base: search.base,
            scope: search.scope,
            filter: search.filter,
            attrs: search.attrs,
            sizer: search.pages,
            entries: 0,
            values: 0,
        };
        let stream = pages.request(Vec::new()).await?;
        Ok(Reader::new(stream, Some(pages), ldap.clone(), timeout, in_flight))
    }

    fn new(
        stream: SearchStream<'static, String, Vec<String>>,
        pages: Option<Pages>,
        ldap: Ldap,
        timeout: std::time::Duration,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Reader {
        Reader { stream, pages, done: None, ldap, timeout, in_flight, ahead: Default::default(), deferred: None }
    }

    async fn next(&mut self) -> Result<Option<SyncItem>, String> {
        let Some(pages) = &mut self.pages else {
            // A content sync: one stream, handed over as it arrives.
            return match self.stream.next().await {
                Ok(Some(raw)) => content_sync::classify_any(raw).map(Some),
                Ok(None) => Ok(None),
                Err(e) => Err(Self::stopped(&mut self.stream, e).await),
            };
        };
        loop {
            if let Some(raw) = self.ahead.pop_front() {
                return content_sync::classify_any(raw).map(Some);
            }
            if self.done.is_some() {
                return Ok(None);
            }
            if let Some(cookie) = self.deferred.take() {
                // A huge group was read and handed over: the next page waits
                // until the writer is through, so one huge group is in memory
                // at a time, not two.
                let all = u32::try_from(MAX_VALUES_IN_FLIGHT).unwrap_or(u32::MAX);
                let _ = self.in_flight.acquire_many(all).await;
                self.stream = pages.request(cookie).await?;
            }
            loop {
                match self.stream.next().await {
                    Ok(Some(raw)) => {
                        pages.count(&raw);
                        self.ahead.push_back(raw);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(Self::stopped(&mut self.stream, e).await),
                }
            }
            let result = self.stream.finish().await;
            // A page that failed ends the read; finish() reports it. A
            // malformed cookie is an error, never the end of the read: a
            // read taken for complete removes unseen users.
            let cookie = if result.rc == 0 { content_sync::paged_cookie(&result.ctrls)? } else { None };
            // No control: the server ignored paging and sent everything.
            let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
                self.done = Some(result);
                continue;
            };
            pages.sizer.page_read(pages.entries, pages.values);
            if pages.values >= MAX_BATCH_VALUES {
                self.deferred = Some(cookie);
            } else {
                self.stream = pages.request(cookie).await?;
            }
        }
    }

    /// Why a read stopped: the stream's error (its search is ended).
    async fn stopped(stream: &mut SearchStream<'static, String, Vec<String>>, e: ldap3::LdapError) -> String {
        let _ = stream.finish().await;
        format!("the directory stopped answering mid-run: {}", ldap::describe_ldap_error(&e))
    }

    /// Reads on a thread of its own, a batch at a time and at most two
    /// batches ahead: decoding overlaps with mapping and writing, memory
    /// stays flat. The thread opens its own connection, so the messages are
    /// decoded, fingerprinted and mapped where they arrive (no hand-off of
    /// every entry between threads).
    /// Entries are fingerprinted there and, unless stored unchanged, decoded
    /// (users also mapped) per `decode`.
    /// With `limit`, a content sync that replays more changed entries than
    /// that is abandoned.
    fn spawn(
        repo: Repository,
        secrets: Secrets,
        search: Search,
        decode: Decode,
        limit: Option<u64>,
    ) -> tokio::sync::mpsc::Receiver<Read> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let tx = Handover { tx, in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_VALUES_IN_FLIGHT)) };
        let read = async move {
            let mut conn = match ldap::connect(&repo).await {
                Ok(c) => c,
                Err((f, _)) => {
                    tx.end(Err(format!("connect: {}", f.into_message()))).await;
                    return;
                }
            };
            if let Err(m) = ldap::bind(&mut conn.ldap, &repo, &secrets).await {
                tx.end(Err(format!("bind: {m}"))).await;
                return;
            }
            // A content sync is one stream, not pages: smaller batches let the
            // writer start on the first changes while the rest arrive.
            let batch =
                if search.cookie.is_some() { search.pages.max().min(CHANGES_BATCH) } else { search.pages.max() };
            match Reader::open(&mut conn.ldap, &repo, search, tx.in_flight.clone()).await {
                Ok(reader) => reader.read(batch, decode, limit, tx).await,
                Err(m) => tx.end(Err(m)).await,
            }
            let _ = conn.ldap.unbind().await;
        };
        // A single-threaded runtime of its own: the connection's driver and
        // the reading run on this thread; the shared runtime stays free for
        // the writer and the web server.
        if let Err(e) = on_own_thread("dirbridge-reader", read) {
            // Without a reader the channel closes at once and the run fails.
            tracing::error!(error = %e, "the reader thread could not start");
        }
        rx
    }

    /// A joint reader of users and groups (see [`joint`]): a content sync,
    /// every entry it returns changed.
    fn joint(
        repo: &Repository,
        secrets: &Secrets,
        search: Search,
        split: joint::JointRead,
        limit: u64,
    ) -> tokio::sync::mpsc::Receiver<Read> {
        let mapping_key = fingerprint::mapping_key(repo);
        let users = UserReader {
            repo: repo.clone(),
            mapping_key,
            keep: Some(AttributeNames::new(ldap::user_attributes(repo))),
            known: None,
        };
        let groups = GroupReader {
            repo: repo.clone(),
            mapping_key,
            keep: Some(AttributeNames::new(mapping::group_attributes(repo))),
            known: Default::default(),
        };
        let decode = Decode::Joint(Box::new(JointReader { users, groups, split }));
        Reader::spawn(repo.clone(), secrets.clone(), search, decode, Some(limit))
    }

    /// A users' reader (see [`Reader::spawn`]), with the stored source
    /// hashes of `known` to skip unchanged entries by.
    fn users(
        repo: &Repository,
        secrets: &Secrets,
        search: Search,
        known: Option<KnownUsers>,
        limit: Option<u64>,
    ) -> tokio::sync::mpsc::Receiver<Read> {
        let users = UserReader { repo: repo.clone(), mapping_key: fingerprint::mapping_key(repo), keep: None, known };
        Reader::spawn(repo.clone(), secrets.clone(), search, Decode::Users(Box::new(users)), limit)
    }

    async fn read(mut self, batch: usize, mut decode: Decode, limit: Option<u64>, tx: Handover) {
        let mut items = Vec::with_capacity(batch);
        let mut weight = 0usize;
        let mut changed = 0u64;
        loop {
            let item = match self.next().await {
                Ok(Some(SyncItem::Changed(_))) if limit.is_some_and(|l| changed >= l) => {
                    // ldap3 buffers whatever the server sends: stop the
                    // server rather than hold the whole directory.
                    self.abandon().await;
                    return tx.stop(items, weight, Read::TooMany).await;
                }
                Ok(Some(SyncItem::Changed(mut raw))) => {
                    // A group read without all its members must not be
                    // stored: failing to read the rest fails the run.
                    let read = match ldap::range::complete(&mut self.ldap, self.timeout, &mut raw.0).await {
                        Ok(()) => decode.read(raw.0),
                        Err(m) => Err(m),
                    };
                    // An entry of a joint read that is neither a user nor a
                    // group is no change of this repository (a separate read
                    // hears of it as a deletion): it does not count towards
                    // the replay limit, and it costs two UUIDs.
                    let neither = matches!(read, Ok(Decoded::Two(Item::NotUser(_), _)));
                    changed += u64::from(!neither);
                    match read {
                        Ok(Decoded::One(item)) => item,
                        Ok(Decoded::Two(first, second)) => {
                            weight += first.weight();
                            items.push(first);
                            second
                        }
                        Ok(Decoded::Unsure(why)) => {
                            self.abandon().await;
                            return tx.stop(items, weight, Read::Separately(why)).await;
                        }
                        Err(m) => return tx.fail(items, weight, m).await,
                    }
                }
                Ok(Some(SyncItem::Present(_))) if matches!(decode, Decode::Joint(_)) => {
                    // A present set says nothing about which entries are
                    // users: the run reads them apart (see [`joint`]).
                    self.abandon().await;
                    let why = "the directory answered with its present set".to_string();
                    return tx.stop(items, weight, Read::Separately(why)).await;
                }
                Ok(Some(SyncItem::Present(uuids))) => Item::Present(uuids),
                Ok(Some(SyncItem::Deleted(uuids))) => Item::Deleted(uuids),
                Ok(Some(SyncItem::Other)) => continue,
                Ok(None) => break,
                // The writer gets what was read, then the failure: the run
                // fails and removes nobody.
                Err(m) => return tx.fail(items, weight, m).await,
            };
            // Big entries (a group with 200,000 members) go on their own:
            // a batch is also full at MAX_BATCH_VALUES attribute values.
            weight += item.weight();
            items.push(item);
            let heavy = weight >= MAX_BATCH_VALUES;
            if items.len() >= batch || heavy {
                if !tx.items(std::mem::take(&mut items), weight).await {
                    // The writer gave up (store error): stop reading.
                    return;
                }
                weight = 0;
                if heavy {
                    // A huge group's message, tree and entry were freed here.
                    crate::allocator::return_free_memory();
                }
            }
        }
        if !tx.items(items, weight).await {
            return;
        }
        tx.end(self.finish().await).await;
    }

    /// Stops the server's search (its answer is not read any further).
    async fn abandon(&mut self) {
        let ldap = self.stream.ldap_handle();
        let id = ldap.last_id();
        let _ = ldap.abandon(id).await;
    }

    /// Ends the read: the Sync Done cookie and refreshDeletes flag, if any.
    async fn finish(mut self) -> Result<(Option<Vec<u8>>, bool), String> {
        let result = match self.done.take() {
            Some(result) => result,
            None => self.stream.finish().await,
        };
        if result.rc != 0 {
            return Err(format!(
                "the search did not complete: {}",
                ldap::describe_ldap_error(&ldap3::LdapError::LdapResult { result })
            ));
        }
        content_sync::sync_done(&result.ctrls)
    }
}

/// Groups per LDAP page at most. Group pages adapt to the groups' sizes
/// (see [`plan::PageSizer`]); this bounds how many huge groups one page can
/// hold when they follow small ones.
const GROUP_PAGE_MAX: usize = 32;

/// The filter of a repository's users.
fn users_filter(repo: &Repository) -> String {
    crate::filter::user_filter(&repo.users.object_classes, &repo.users.filters, None)
}

/// The search of a repository's users with `filter`: paged, or a content
/// sync from `cookie` (see [`Search::cookie`]).
fn users_search(repo: &Repository, filter: &str, cookie: Option<Option<Vec<u8>>>) -> Search {
    Search {
        pages: plan::PageSizer::fixed(page_size(repo)),
        base: repo.users.effective_users_dn().to_string(),
        scope: ldap::scope_of(repo),
        filter: filter.to_string(),
        attrs: ldap::user_attributes(repo),
        cookie,
    }
}

/// Whether a repository's groups are synchronised: an empty groups DN
/// means "do not sync groups", as the console explains.
fn wants_groups(repo: &Repository) -> bool {
    repo.groups.groups_dn.as_deref().is_some_and(|d| !d.trim().is_empty()) && !repo.groups.object_classes.is_empty()
}

/// The joint content sync of users and groups (see [`joint`]) a changed
/// sync continues with from `state`: when both continue from one cookie and
/// their places allow it.
fn joint_search(repo: &Repository, state: Option<&SyncState>) -> Option<(Search, joint::JointRead)> {
    let state = state?;
    let cookie = state.users_cookie.clone().filter(|c| state.groups_cookie.as_ref() == Some(c))?;
    if !wants_groups(repo) {
        return None;
    }
    let groups_filter = crate::filter::user_filter(&repo.groups.object_classes, &[], None);
    let split = joint::JointRead::of(repo, &users_filter(repo), &groups_filter)?;
    let mut attrs = ldap::user_attributes(repo);
    attrs.extend(mapping::group_attributes(repo));
    attrs.push("objectClass".into());
    let mut seen = HashSet::new();
    attrs.retain(|a| seen.insert(a.to_ascii_lowercase()));
    let search = Search {
        pages: plan::PageSizer::fixed(page_size(repo)),
        base: split.base.clone(),
        scope: ldap3::Scope::Subtree,
        filter: split.filter.clone(),
        attrs,
        cookie: Some(Some(cookie)),
    };
    Some((search, split))
}

/// Entries per LDAP page and per write batch.
fn page_size(repo: &Repository) -> usize {
    repo.sync.page_size.clamp(1, 10_000) as usize
}

/// A run that failed before removing anyone.
fn nobody_removed(m: String) -> Outcome {
    failed(format!("{m}; nobody was removed"))
}

fn failed_store(e: crate::store::StoreError) -> Outcome {
    failed(store_error(e))
}

fn store_error(e: crate::store::StoreError) -> String {
    format!("store: {e}")
}

/// The reader's end of the channel to the writer.
struct Handover {
    tx: tokio::sync::mpsc::Sender<Read>,
    /// Attribute values handed over and not yet written (see
    /// [`MAX_VALUES_IN_FLIGHT`]).
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Handover {
    /// Hands a batch of `weight` attribute values over, once the values in
    /// flight leave room for it; false when the writer is gone.
    async fn items(&self, items: Vec<Item>, weight: usize) -> bool {
        if items.is_empty() {
            return !self.tx.is_closed();
        }
        let permits = u32::try_from(weight.min(MAX_VALUES_IN_FLIGHT)).unwrap_or(u32::MAX);
        // The semaphore is never closed: acquiring only waits.
        let held = self.in_flight.clone().acquire_many_owned(permits).await.ok();
        self.tx.send(Read::Items(items, held)).await.is_ok()
    }

    async fn end(&self, end: Result<(Option<Vec<u8>>, bool), String>) {
        let _ = self.tx.send(Read::End(end)).await;
    }

    /// Hands over what was read, then `read` (the search was abandoned).
    async fn stop(&self, items: Vec<Item>, weight: usize, read: Read) {
        if self.items(items, weight).await {
            let _ = self.tx.send(read).await;
        }
    }

    /// Hands over what was read, then why the read failed.
    async fn fail(&self, items: Vec<Item>, weight: usize, message: String) {
        if self.items(items, weight).await {
            self.end(Err(message)).await;
        }
    }
}

/// What the reader task hands the writer.
enum Read {
    /// Items, with their share of the values in flight: the writer drops it
    /// once they are written.
    Items(Vec<Item>, Option<tokio::sync::OwnedSemaphorePermit>),
    /// A content sync replayed more changed entries than the limit: the
    /// search was abandoned (see [`replay_limit`]).
    TooMany,
    /// A joint read met an entry it cannot tell apart (why): the search was
    /// abandoned, users and groups are to be read apart.
    Separately(String),
    /// The read is over: Sync Done (cookie, refreshDeletes), or why it failed.
    End(Result<(Option<Vec<u8>>, bool), String>),
}

/// One read item, decoded (and for users mapped) on the reader task.
enum Item {
    /// A group entry mapped on the reader (the entry itself is dropped
    /// there: only one representation of a large group travels), or why it
    /// could not be.
    Group(Result<PreparedGroup, mapping::MappingError>),
    User(Box<MappedUser>),
    /// A user entry whose fingerprint matches the stored one (its UUID).
    Unchanged(String),
    /// The same, when the stored user's place in read order is known (see
    /// [`SeenPlaces`]).
    UnchangedAt(i64),
    /// An entry that could not be decoded (why).
    Malformed(String),
    Present(Vec<String>),
    Deleted(Vec<String>),
    /// In a joint read (see [`joint`]): an entry that is not a user (any
    /// more), by UUID; what a users' refresh reports as deleted.
    NotUser(String),
    /// The same for groups.
    NotGroup(String),
}

/// Entries per batch of a content sync.
const CHANGES_BATCH: usize = 200;

/// Attribute values per batch at most: big entries (a group with 200,000
/// members) go in batches of their own.
const MAX_BATCH_VALUES: usize = 50_000;

/// Attribute values handed to the writer and not yet written, at most (a
/// bigger batch takes all of it): with the channel's two batches, this bounds
/// the memory between reader and writer however large groups get; a huge
/// group is mapped while the one before it is written, never queued behind it.
const MAX_VALUES_IN_FLIGHT: usize = 2 * MAX_BATCH_VALUES;

impl Item {
    /// Roughly how much memory the item holds, in attribute values.
    fn weight(&self) -> usize {
        match self {
            Item::Group(Ok(g)) => 1 + g.members.len(),
            Item::Group(Err(_)) => 1,
            Item::User(_) => 16,
            Item::Unchanged(_) | Item::UnchangedAt(_) | Item::Malformed(_) | Item::NotUser(_) | Item::NotGroup(_) => 1,
            Item::Present(u) | Item::Deleted(u) => u.len() / 16,
        }
    }
}

/// Where a users' read stands.
#[derive(Default)]
struct UsersProgress {
    /// The server sent its present set (entries that still exist).
    present_phase: bool,
    /// UUIDs the server reported gone.
    gone: u64,
}

/// Where a groups' read stands.
#[derive(Default)]
struct GroupsProgress {
    counts: GroupCounts,
    /// Groups read and not yet written.
    batch: Vec<PreparedGroup>,
    present_phase: bool,
    gone: bool,
}

/// How a joint read of users and groups ended (see [`Run::read_joint`]).
enum JointEnd {
    Done(Option<Vec<u8>>),
    TooManyChanges,
    /// Users and groups are to be read apart (why).
    Separately(String),
}

/// How a users read ended.
enum UsersRead {
    /// With the Sync Done cookie of a content sync.
    Done(Option<Vec<u8>>),
    /// A content sync was abandoned: too many changes to replay.
    TooManyChanges,
}

/// How many changed entries a content sync may replay before it is
/// abandoned for a complete read: ldap3 buffers whatever the server sends,
/// so an unbounded replay (a stale cookie resends everything) would hold the
/// directory in memory.
fn replay_limit(stored_users: u64) -> u64 {
    (stored_users / 50).max(5_000)
}

/// A user entry mapped and serialised on the reader task, so mapping
/// overlaps with writing.
struct MappedUser {
    /// The user (its DN and UUID are the prepared row's: no second copy
    /// travels, nor is freed on the writer's thread), or why the entry cannot
    /// be one.
    result: Result<PreparedUser, Unmapped>,
    /// Attributes whose values are not UTF-8 text.
    non_utf8: Vec<String>,
}

/// An entry that cannot be a user.
struct Unmapped {
    dn: String,
    /// The entry's UUID, if it has one: it still counts as seen (a mapping
    /// problem must never turn into a deletion).
    uuid: Option<String>,
    reason: String,
}

/// How the reader turns entries into items.
enum Decode {
    Users(Box<UserReader>),
    Groups(Box<GroupReader>),
    Joint(Box<JointReader>),
}

/// What the reader made of one entry.
enum Decoded {
    One(Item),
    /// A joint read's entry: its user part and its group part.
    Two(Item, Item),
    /// A joint read's entry that cannot be told apart (why).
    Unsure(String),
}

impl Decode {
    fn read(&mut self, tag: ldap3::asn1::StructureTag) -> Result<Decoded, String> {
        Ok(match self {
            Decode::Users(users) => Decoded::One(users.read(tag)?),
            Decode::Groups(groups) => Decoded::One(groups.read(tag)),
            Decode::Joint(joint) => joint.read(tag)?,
        })
    }
}

/// Reads the entries of a joint read (see [`joint`]): each is a user, a
/// group or neither, and is decoded as the users' or the groups' read would.
struct JointReader {
    users: UserReader,
    groups: GroupReader,
    split: joint::JointRead,
}

impl JointReader {
    fn read(&mut self, tag: ldap3::asn1::StructureTag) -> Result<Decoded, String> {
        let uuid_attribute = self.users.repo.users.uuid_attribute.as_str();
        let place = RawEntry::of(&tag).and_then(|raw| {
            let dn = std::str::from_utf8(raw.dn).ok()?;
            let classes = raw.text_values("objectClass").ok()?.unwrap_or_default();
            let uuid = raw.first_value(uuid_attribute)?.map(|v| crate::entry::uuid_from_value(uuid_attribute, v));
            let part = self.split.classify(dn, classes);
            // The DN is copied only for the messages of the rare cases.
            let named = part == joint::Part::Unsure || (part == joint::Part::Neither && uuid.is_none());
            let dn = named.then(|| dn.to_string());
            Some((part, uuid, dn.unwrap_or_default()))
        });
        let Some((part, uuid, dn)) = place else {
            return Ok(Decoded::One(Item::Malformed(crate::ldap::entry::malformed())));
        };
        Ok(match (part, uuid) {
            (joint::Part::Unsure, _) => Decoded::Unsure(format!("{dn} could be a user or a group")),
            (joint::Part::User, Some(uuid)) => Decoded::Two(self.users.read(tag)?, Item::NotGroup(uuid)),
            (joint::Part::Group, Some(uuid)) => Decoded::Two(self.groups.read(tag), Item::NotUser(uuid)),
            (joint::Part::Neither, Some(uuid)) => Decoded::Two(Item::NotUser(uuid.clone()), Item::NotGroup(uuid)),
            // Without a UUID: a user entry is reported as one (not
            // identified: removal of unseen users is skipped), others are
            // nothing a store could hold.
            (joint::Part::User, None) => Decoded::One(self.users.read(tag)?),
            (joint::Part::Group, None) => Decoded::One(self.groups.read(tag)),
            (joint::Part::Neither, None) => {
                Decoded::One(Item::Malformed(format!("{dn} has no {}", self.users.repo.users.uuid_attribute)))
            }
        })
    }
}

/// Recognises group entries stored unchanged by their fingerprint; decodes
/// the others (a group of 200,000 members unchanged is never decoded).
struct GroupReader {
    repo: Repository,
    mapping_key: u128,
    /// The group attributes, when the read asks for more (a joint read):
    /// only they are fingerprinted and decoded.
    keep: Option<AttributeNames>,
    /// Source hashes of the stored groups by UUID.
    known: std::collections::HashMap<String, Vec<u8>>,
}

impl GroupReader {
    fn read(&self, tag: ldap3::asn1::StructureTag) -> Item {
        let stored = (!self.known.is_empty()).then_some(|uuid: &str, hash: &fingerprint::SourceHash| {
            Ok::<_, std::convert::Infallible>(self.known.get(uuid).map(Vec::as_slice) == Some(hash.as_slice()))
        });
        // The member values are read in place; the rest is decoded.
        let member_attribute = self.repo.groups.member_attribute.as_str();
        let keep = self.keep.as_ref();
        let decode = |raw: &RawEntry<'_>| {
            let members = raw.text_values(member_attribute)?;
            let entry = EntryView::of(raw, |name| {
                name.eq_ignore_ascii_case(member_attribute.as_bytes()) || keep.is_some_and(|k| !k.contains(name))
            })?;
            // Members that are not text are no members (as in an Entry).
            let members = members.unwrap_or_default();
            Ok(mapping::map_group_with_members(&self.repo, &entry, members.into_iter())
                .map(|g| PreparedGroup::of(g.uuid, g.name, g.dn, g.member_keys)))
        };
        match fingerprint::recognise(&tag, (&self.repo.users.uuid_attribute, keep), self.mapping_key, stored, decode) {
            Ok(Recognised::Unchanged(uuid)) => Item::Unchanged(uuid),
            Ok(Recognised::Decoded(group, source_hash)) => {
                Item::Group(group.map(|g| PreparedGroup { source_hash, ..g }))
            }
            Ok(Recognised::Malformed(reason)) => Item::Malformed(reason),
            Err(never) => match never {},
        }
    }
}

/// Turns user entries into items on the reader task: entries stored
/// unchanged are recognised by their fingerprint, the others are mapped.
struct UserReader {
    repo: Repository,
    mapping_key: u128,
    /// The user attributes, when the read asks for more (a joint read):
    /// only they are fingerprinted and mapped.
    keep: Option<AttributeNames>,
    /// None when the repository had no users when the run began.
    known: Option<KnownUsers>,
}

impl UserReader {
    fn read(&mut self, tag: ldap3::asn1::StructureTag) -> Result<Item, String> {
        // Where the matching stored user is in read order.
        let mut place = None;
        let stored = self.known.as_mut().map(|known| {
            |uuid: &str, hash: &fingerprint::SourceHash| {
                let Some((seq, stored)) = known.lookup(uuid).map_err(store_error)? else { return Ok(false) };
                place = seq.filter(|&seq| SeenPlaces::fits(seq));
                Ok::<_, String>(stored.as_deref() == Some(hash.as_slice()))
            }
        });
        let (repo, keep) = (&self.repo, self.keep.as_ref());
        // Mapped from the message in place: no value is copied but those the user keeps.
        let skip = |name: &[u8]| keep.is_some_and(|k| !k.contains(name));
        let decode = |raw: &RawEntry<'_>| Ok(map_entry(repo, &EntryView::of(raw, skip)?));
        Ok(match fingerprint::recognise(&tag, (&repo.users.uuid_attribute, keep), self.mapping_key, stored, decode)? {
            Recognised::Unchanged(uuid) => match place {
                Some(seq) => Item::UnchangedAt(seq),
                None => Item::Unchanged(uuid),
            },
            Recognised::Decoded(mut user, source_hash) => {
                if let Ok(prepared) = &mut user.result {
                    prepared.source_hash = source_hash;
                }
                Item::User(Box::new(user))
            }
            Recognised::Malformed(reason) => Item::Malformed(reason),
        })
    }
}

/// Maps a user entry and prepares it for writing.
fn map_entry(repo: &Repository, entry: &impl EntryAttributes) -> MappedUser {
    let non_utf8 = mapping::non_utf8_attributes(repo, entry);
    let result = match mapping::map_user(repo, entry, None) {
        Ok(user) => Ok(PreparedUser::of(user)),
        Err(e) => {
            Err(Unmapped { uuid: crate::entry::uuid_of(entry, &repo.users.uuid_attribute), dn: e.dn, reason: e.reason })
        }
    };
    MappedUser { result, non_utf8 }
}

/// One run's working state: its store connection, counts and samples.
struct Run<'a> {
    store: &'a Store,
    tenant: &'a str,
    repo: &'a Repository,
    run_id: i64,
    /// The readers open their own connections.
    secrets: Secrets,
    started: String,
    db: Bulk,
    batch: Vec<MappedUser>,
    /// UUIDs of entries the reader found stored unchanged, not yet counted.
    unchanged: Vec<String>,
    counts: SyncCounts,
    errors: Vec<SyncError>,
    changes: Vec<SyncChange>,
    /// Entries that could not be mapped and whose UUID is unknown: removal of
    /// unseen users cannot be trusted then, so it is skipped.
    unidentified: u64,
    group_counts: Option<GroupCounts>,
    /// Whether the groups are to be read whole after the users; their reader
    /// is then started as soon as the users' read has ended (`groups_ahead`),
    /// so its connection and first page overlap the users' last commit and
    /// removal.
    groups_in_full: bool,
    groups_ahead: Option<tokio::sync::mpsc::Receiver<Read>>,
    /// Places in read order of the users the reader found unchanged.
    seen_places: SeenPlaces,
    /// Removes users even beyond maxDeletePercent (this run only).
    force: bool,
    /// Users of the repository in the store when the run began.
    stored_users: u64,
    /// The repository had no users when the run began: every user is new,
    /// nobody can be missing (no lookups, no seen-set, no removal).
    import: bool,
    /// Where the run's time went (logged at the end): waiting for the reader
    /// (decoding, mapping and hashing run there), collecting its results,
    /// writing to the store.
    timings: Timings,
    /// When the run began (its `total_ms`).
    timer: std::time::Instant,
    /// The repository's sync state when the run began.
    state: Option<SyncState>,
    /// The users' content-sync reader started before the set-up (see
    /// `SyncEngine::run`); dropped unless the run reads by content sync.
    users_ahead: Option<ReaderAhead>,
    /// Users and groups are being read together (see [`Run::read_joint`]).
    reading_jointly: bool,
}

/// A content-sync reader started ahead.
struct ReaderAhead {
    /// The cookie it reads from.
    from: Vec<u8>,
    /// Whether it reads users and groups together (see [`joint`]).
    joint: bool,
    rx: tokio::sync::mpsc::Receiver<Read>,
}

#[derive(Default, Debug)]
struct Timings {
    read: std::time::Duration,
    collect: std::time::Duration,
    store: std::time::Duration,
    removal: std::time::Duration,
    groups: std::time::Duration,
    /// Of `groups`: waiting for the groups reader.
    groups_read: std::time::Duration,
    /// Opening the writer, connecting, binding and choosing the method,
    /// before the users read.
    setup: std::time::Duration,
    /// Recording the run's end: its last commit, the sync state, the run row.
    finish: std::time::Duration,
}

impl<'a> Run<'a> {
    fn open(
        store: &'a Store,
        tenant: &'a str,
        repo: &'a Repository,
        secrets: &Secrets,
        (run_id, stored_users): (i64, u64),
        force: bool,
        (state, users_ahead): (Option<SyncState>, Option<ReaderAhead>),
    ) -> Result<Run<'a>, String> {
        let mut db = store.run_writer().map_err(store_error)?;
        match blocking(|| db.restart_wal()) {
            Ok(true) => {}
            Ok(false) => tracing::info!(run = run_id, "the WAL could not be restarted before the run"),
            Err(e) => tracing::warn!(error = %e, run = run_id, "the WAL could not be checkpointed before the run"),
        }
        Ok(Run {
            store,
            tenant,
            repo,
            run_id,
            secrets: secrets.clone(),
            started: now_rfc3339(),
            db,
            batch: Vec::new(),
            unchanged: Vec::new(),
            counts: SyncCounts::default(),
            errors: Vec::new(),
            changes: Vec::new(),
            unidentified: 0,
            group_counts: None,
            groups_in_full: false,
            groups_ahead: None,
            seen_places: SeenPlaces::default(),
            force,
            stored_users,
            import: stored_users == 0,
            timings: Timings::default(),
            timer: std::time::Instant::now(),
            state,
            users_ahead,
            reading_jointly: false,
        })
    }

    fn error(&mut self, dn: String, message: String) {
        if self.errors.len() < MAX_SAMPLES {
            self.errors.push(SyncError { dn, message });
        }
    }

    async fn execute(&mut self, secrets: &Secrets, request: SyncRequest) -> Outcome {
        let repo = self.repo;
        let mut conn = match ldap::connect(repo).await {
            Ok(c) => c,
            Err((f, _)) => return failed(format!("connect: {}", f.into_message())),
        };
        if let Err(m) = ldap::bind(&mut conn.ldap, repo, secrets).await {
            return failed(format!("bind: {m}"));
        }
        let ldap = &mut conn.ldap;
        let state = self.state.take();
        let stored_cookie = state.as_ref().and_then(|s| s.users_cookie.clone());
        // The cookie a complete read continues from is taken before the read,
        // so changes made while it runs are replayed by the next changed sync.
        // Taking it also proves the server really offers content sync: some
        // list the control in the RootDSE without the provider configured.
        let mut has_content_sync = content_sync::supported(ldap, repo).await;
        let mut start_cookie = None;
        if has_content_sync && !(request.mode == SyncMode::Changed && stored_cookie.is_some()) {
            match content_sync::current_cookie(ldap, repo, repo.users.effective_users_dn()).await {
                Ok(c) => start_cookie = c,
                Err(m) => {
                    tracing::info!(repository = repo.id, error = %m, "content synchronisation not usable");
                    has_content_sync = false;
                }
            }
        }
        let (method, note) = plan::choose_method(request.mode, state.as_ref(), has_content_sync);
        let _ = self.store.set_run_method(self.run_id, method.label()).await;
        if method != Method::Paged {
            start_cookie = None;
        }
        if method != Method::ContentSync {
            // Its thread stops at its next batch; the server's search ends
            // with the connection.
            self.users_ahead = None;
        }
        let user_filter = users_filter(repo);
        // A cookie from before a complete read is a safe place to continue
        // from: changes after it are replayed, at worst twice.
        let mut next_state = SyncState {
            users_cookie: start_cookie.clone(),
            groups_cookie: start_cookie.clone().or(stored_cookie.clone()),
            since: self.started.clone(),
        };
        let mut messages: Vec<String> = note.into_iter().collect();

        // Groups, when the repository says where they are.
        let wants_groups = wants_groups(repo);
        let previous_groups_cookie = state.as_ref().and_then(|s| s.groups_cookie.clone());
        // Users and groups that continue from one cookie are read in one
        // content sync (see [`joint`]).
        let joint = if method == Method::ContentSync { joint_search(repo, state.as_ref()) } else { None };
        // Otherwise a changed sync reads the groups' changes while the
        // users' are read and written: both are small, and the server's
        // answer for groups can take a while (a present phase when its
        // session log has moved on). A full read of groups waits for the
        // users instead, so huge groups are not held in memory beside them.
        let early_groups_reader = |run: &mut Self| match (wants_groups, method, previous_groups_cookie.clone()) {
            (true, Method::ContentSync, Some(c)) => run.groups_reader(Some(Some(c))).map(Some),
            _ => Ok(None),
        };
        let mut early_groups = None;
        if joint.is_none() {
            early_groups = match early_groups_reader(self) {
                Ok(reader) => reader,
                Err(e) => return failed_store(e),
            };
        }
        self.groups_in_full = wants_groups && early_groups.is_none() && joint.is_none();
        self.timings.setup = self.timer.elapsed();
        let mut users = None;
        let mut groups_read = false;
        if let Some((search, split)) = joint {
            self.reading_jointly = true;
            let joint = self.read_joint(search, split).await;
            self.reading_jointly = false;
            match joint {
                Ok(JointEnd::Done(cookie)) => {
                    next_state.groups_cookie = cookie.clone().or(stored_cookie.clone());
                    users = Some(Ok(UsersRead::Done(cookie)));
                    groups_read = true;
                }
                Ok(JointEnd::TooManyChanges) => users = Some(Ok(UsersRead::TooManyChanges)),
                Ok(JointEnd::Separately(why)) => {
                    tracing::info!(repository = repo.id, reason = %why, "users and groups are read apart");
                    // The separate reads replay from the same cookies and
                    // tell the whole story (the changes written stay listed).
                    self.counts = SyncCounts::default();
                    self.unidentified = 0;
                    self.errors.clear();
                    early_groups = match early_groups_reader(self) {
                        Ok(reader) => reader,
                        Err(e) => return failed_store(e),
                    };
                }
                Err(outcome) => return outcome,
            }
        }
        // Users.
        let users = match users {
            Some(joint) => joint,
            None => match method {
                Method::Paged => self.read_users(&user_filter, None, true).await,
                Method::ContentSync => self.read_users(&user_filter, Some(stored_cookie.clone()), false).await,
                Method::Timestamps => {
                    let since = state.as_ref().map(|s| s.since.clone()).unwrap_or_default();
                    match plan::changed_since_filter(&user_filter, &since) {
                        // Sees only changed entries: removes nobody.
                        Ok(f) => self.read_users(&f, None, false).await,
                        Err(m) => Err(failed(m)),
                    }
                }
            },
        };
        let mut groups_from_scratch = false;
        match users {
            Ok(UsersRead::Done(Some(cookie))) => next_state.users_cookie = Some(cookie),
            // No cookie in Sync Done: nothing changed, continue from the old one.
            Ok(UsersRead::Done(None)) if method == Method::ContentSync => next_state.users_cookie = stored_cookie,
            Ok(UsersRead::Done(None)) => {}
            Ok(UsersRead::TooManyChanges) => {
                // Replaying would hold too much in memory (a cookie too old
                // for the session log makes the server resend everything):
                // read the whole directory instead, from a fresh cookie.
                let fresh =
                    content_sync::current_cookie(ldap, repo, repo.users.effective_users_dn()).await.ok().flatten();
                messages.push(format!(
                    "more than {} changes to replay: the whole directory was read instead",
                    replay_limit(self.stored_users)
                ));
                let _ = self.store.set_run_method(self.run_id, Method::Paged.label()).await;
                // The counts tell the complete read's story (what the replay
                // wrote reads as unchanged there); its changes stay listed.
                self.counts = SyncCounts::default();
                // The replay wrote users: the complete read must look them up.
                self.import = false;
                self.groups_in_full = wants_groups;
                if let Err(outcome) = self.read_users(&user_filter, None, true).await {
                    return outcome;
                }
                next_state.users_cookie = fresh.clone();
                next_state.groups_cookie = fresh;
                groups_from_scratch = true;
            }
            Err(outcome) => return outcome,
        }
        if self.unidentified > 0 {
            messages.push(format!(
                "{} entries had no {} and could not be identified; removal of missing users was skipped",
                self.unidentified, repo.users.uuid_attribute
            ));
        }

        // What the users' read left free goes back before the groups' read,
        // with most of the writer's page cache.
        if let Err(e) = blocking(|| self.db.shrink_cache()) {
            tracing::debug!(error = %e, "page cache kept");
        }
        return_free_memory_unless_small(self.counts.seen);
        if wants_groups && !groups_read {
            let cookie = match (method, previous_groups_cookie) {
                (Method::ContentSync, Some(c)) if !groups_from_scratch => Some(Some(c)),
                _ => None,
            };
            let used = cookie.clone().flatten();
            let content_sync = cookie.is_some();
            let groups_started = std::time::Instant::now();
            // After a replay that turned into a complete read, the early
            // reader's changes are not enough: the groups are read whole.
            let reader = match early_groups.filter(|_| !groups_from_scratch).or_else(|| self.groups_ahead.take()) {
                Some(reader) => reader,
                None => match self.groups_reader(cookie) {
                    Ok(reader) => reader,
                    Err(e) => return failed_store(e),
                },
            };
            let groups = self.read_groups(reader, content_sync).await;
            self.timings.groups = groups_started.elapsed();
            match groups {
                Ok(new_cookie) => next_state.groups_cookie = new_cookie.or(used).or(next_state.groups_cookie),
                Err(m) => {
                    messages.push(format!("users were synchronised, but reading groups failed: {m}"));
                    return Outcome { state: "failed", message: Some(messages.join("; ")) };
                }
            }
        }
        let _ = ldap.unbind().await;

        let saving = std::time::Instant::now();
        if let Err(e) = blocking(|| self.db.save_sync_state(self.tenant, &repo.id, &next_state)) {
            tracing::error!(error = %e, repository = repo.id, "sync state could not be saved");
        }
        self.timings.finish += saving.elapsed();
        Outcome { state: "succeeded", message: (!messages.is_empty()).then(|| messages.join("; ")) }
    }

    /// Reads users (paged, or by content sync from `cookie`), writes them and
    /// removes the ones the directory no longer has: after a `complete` read
    /// those it did not return, after a content sync those it reported gone.
    /// Returns the new cookie.
    async fn read_users(
        &mut self,
        filter: &str,
        cookie: Option<Option<Vec<u8>>>,
        complete: bool,
    ) -> Result<UsersRead, Outcome> {
        let repo = self.repo;
        let content_sync = cookie.is_some();
        let search = users_search(repo, filter, cookie);
        let mut read = UsersProgress::default();
        let limit = content_sync.then(|| replay_limit(self.stored_users));
        // Nothing to recognise in an import, nor in a content sync (the
        // server sends only entries that changed). Only a complete read
        // follows the stored order.
        // The reader started ahead serves this read if it reads the same.
        let ahead =
            self.users_ahead.take().filter(|a| !a.joint && matches!(&search.cookie, Some(Some(c)) if *c == a.from));
        let mut rx = match ahead {
            Some(ahead) => ahead.rx,
            None => {
                let known = if self.import || content_sync {
                    None
                } else {
                    Some(self.store.known_users(self.tenant, &repo.id, complete).map_err(|e| failed(store_error(e)))?)
                };
                Reader::users(repo, &self.secrets, search, known, limit)
            }
        };
        let end = loop {
            let Some(batch) = self.next_batch(&mut rx).await else {
                break Err("the directory reader stopped unexpectedly".to_string());
            };
            let (items, written) = match batch {
                Read::Items(items, held) => (items, held),
                Read::End(end) => break end,
                Read::TooMany | Read::Separately(_) => {
                    // What was replayed is written; the caller reads everything.
                    self.keep_what_was_read().await?;
                    return Ok(UsersRead::TooManyChanges);
                }
            };
            for item in items {
                self.take_user_item(item, &mut read).map_err(nobody_removed)?;
            }
            self.flush().await.map_err(nobody_removed)?;
            drop(written);
        };
        let (new_cookie, refresh_deletes) = end.map_err(nobody_removed)?;
        if self.groups_in_full && self.groups_ahead.is_none() {
            // The users' reader and its memory are gone: nothing huge is held
            // beside the groups' first batches.
            self.groups_ahead = Some(self.groups_reader(None).map_err(|e| failed(store_error(e)))?);
        }
        blocking(|| self.db.commit()).map_err(|e| nobody_removed(store_error(e)))?;

        let which = if !content_sync {
            complete.then_some(Removal::Unseen)
        } else if refresh_deletes && !read.present_phase {
            (read.gone > 0).then_some(Removal::Gone)
        } else if read.present_phase || self.counts.seen > 0 {
            // A present phase (e.g. a cookie too old for the server's session
            // log): whatever was not reported is gone.
            Some(Removal::Unseen)
        } else {
            None
        };
        self.remove_missing_users(which).await?;
        Ok(UsersRead::Done(new_cookie))
    }

    /// The reader's next batch, its wait counted as read time; None when the
    /// reader is gone.
    async fn next_batch(&mut self, rx: &mut tokio::sync::mpsc::Receiver<Read>) -> Option<Read> {
        let waited = std::time::Instant::now();
        let batch = rx.recv().await;
        self.timings.read += waited.elapsed();
        batch
    }

    /// Writes and commits what an abandoned read handed over (the read that
    /// follows replays it).
    async fn keep_what_was_read(&mut self) -> Result<(), Outcome> {
        self.flush().await.map_err(nobody_removed)?;
        blocking(|| self.db.commit()).map_err(|e| nobody_removed(store_error(e)))
    }

    /// Takes one item of a users' read: counts it, queues a user for the
    /// next [`Run::flush`], marks the UUIDs reported present or gone.
    fn take_user_item(&mut self, item: Item, read: &mut UsersProgress) -> Result<(), String> {
        match item {
            Item::User(user) => self.batch.push(*user),
            Item::Unchanged(uuid) => self.unchanged.push(uuid),
            Item::UnchangedAt(seq) => {
                self.counts.seen += 1;
                self.counts.unchanged += 1;
                self.seen_places.insert(seq);
            }
            Item::Malformed(reason) => {
                // Its UUID is unknown: removal of unseen users is skipped.
                self.counts.seen += 1;
                self.counts.failed += 1;
                self.unidentified += 1;
                self.error(String::new(), reason);
            }
            Item::Group(_) | Item::NotGroup(_) => {}
            Item::Present(uuids) => {
                read.present_phase = true;
                self.counts.seen += uuids.len() as u64;
                self.counts.unchanged += uuids.len() as u64;
                blocking(|| self.db.mark_seen(&uuids)).map_err(store_error)?;
            }
            Item::Deleted(uuids) => {
                read.gone += uuids.len() as u64;
                blocking(|| self.db.mark_gone(&uuids)).map_err(store_error)?;
            }
            Item::NotUser(uuid) => return self.take_user_item(Item::Deleted(vec![uuid]), read),
        }
        Ok(())
    }

    /// Removes the users `which` names (none when None), unless nobody may
    /// be: an import, or unidentified entries in a read that removes the
    /// unseen.
    async fn remove_missing_users(&mut self, which: Option<Removal>) -> Result<(), Outcome> {
        let Some(which) = which.filter(|_| !self.import) else { return Ok(()) };
        if which == Removal::Unseen && self.unidentified > 0 {
            return Ok(());
        }
        let removal_started = std::time::Instant::now();
        self.remove_users(which).await?;
        self.timings.removal = removal_started.elapsed();
        Ok(())
    }

    /// Reads users and groups in one content sync from `cookie` (see
    /// [`joint`]), writes them and removes those it reports gone. An answer
    /// that is not a replay of changes (a present phase) or an entry it
    /// cannot tell apart sends the run back to reading them apart (what was
    /// written stays: the separate reads replay it from the same cookies).
    async fn read_joint(&mut self, search: Search, split: joint::JointRead) -> Result<JointEnd, Outcome> {
        let repo = self.repo;
        let ahead =
            self.users_ahead.take().filter(|a| a.joint && matches!(&search.cookie, Some(Some(c)) if *c == a.from));
        let mut rx = match ahead {
            Some(ahead) => ahead.rx,
            None => Reader::joint(repo, &self.secrets, search, split, replay_limit(self.stored_users)),
        };
        let mut users = UsersProgress::default();
        let mut groups = GroupsProgress::default();
        let mut received = false;
        let end = loop {
            let Some(batch) = self.next_batch(&mut rx).await else {
                break Err("the directory reader stopped unexpectedly".to_string());
            };
            let (items, written) = match batch {
                Read::Items(items, held) => (items, held),
                Read::End(end) => break end,
                abandoned @ (Read::TooMany | Read::Separately(_)) => {
                    self.keep_what_was_read().await?;
                    return Ok(match abandoned {
                        Read::Separately(why) => JointEnd::Separately(why),
                        _ => JointEnd::TooManyChanges,
                    });
                }
            };
            received = true;
            let (mut not_users, mut not_groups) = (Vec::new(), Vec::new());
            for item in items {
                match item {
                    // Not applied: the run reads apart instead (below).
                    Item::Present(_) => users.present_phase = true,
                    Item::NotUser(uuid) => not_users.push(uuid),
                    Item::NotGroup(uuid) => not_groups.push(uuid),
                    Item::Group(_) => self.take_group_item(item, &mut groups).map_err(nobody_removed)?,
                    Item::Deleted(uuids) => {
                        self.take_group_item(Item::Deleted(uuids.clone()), &mut groups).map_err(nobody_removed)?;
                        self.take_user_item(Item::Deleted(uuids), &mut users).map_err(nobody_removed)?;
                    }
                    other => self.take_user_item(other, &mut users).map_err(nobody_removed)?,
                }
            }
            if !not_users.is_empty() {
                self.take_user_item(Item::Deleted(not_users), &mut users).map_err(nobody_removed)?;
            }
            if !not_groups.is_empty() {
                self.take_group_item(Item::Deleted(not_groups), &mut groups).map_err(nobody_removed)?;
            }
            self.flush().await.map_err(nobody_removed)?;
            let members: usize = groups.batch.iter().map(|g| g.members.len()).sum();
            self.write_groups(&mut groups.batch, &mut groups.counts).await.map_err(nobody_removed)?;
            drop(written);
            if members >= MAX_BATCH_VALUES {
                crate::allocator::return_free_memory();
            }
        };
        let (new_cookie, refresh_deletes) = match end {
            // Refused before anything was read (the common ancestor out of
            // reach, say): the separate reads may still work.
            Err(why) if !received => return Ok(JointEnd::Separately(why)),
            end => end.map_err(nobody_removed)?,
        };
        blocking(|| self.db.commit()).map_err(|e| nobody_removed(store_error(e)))?;
        if users.present_phase || (!refresh_deletes && received) {
            return Ok(JointEnd::Separately("the directory answered with its present set".into()));
        }
        self.remove_missing_users((users.gone > 0).then_some(Removal::Gone)).await?;
        self.finish_groups(groups, false).await.map_err(nobody_removed)?;
        Ok(JointEnd::Done(new_cookie))
    }

    /// Disables or deletes users per the repository's policy, within the
    /// max-delete guard.
    async fn remove_users(&mut self, which: Removal) -> Result<(), Outcome> {
        let force = self.force;
        let repo = self.repo;
        let delete = repo.sync.deletion.policy == DeletionPolicyKind::Delete;
        let store_err = |e| failed(store_error(e));
        let missing = blocking(|| self.db.find_removable(self.tenant, &repo.id, which, !delete, &self.seen_places))
            .map_err(store_err)?;
        // Content sync reports deletions explicitly, so an otherwise empty
        // answer is not suspicious there; the percentage guard still applies.
        let seen = if which == Removal::Gone { self.counts.seen.max(1) } else { self.counts.seen };
        plan::removal_allowed(missing.stored, missing.to_remove, seen, repo.sync.deletion.max_delete_percent, force)
            .map_err(|reason| Outcome { state: "aborted", message: Some(reason) })?;
        if missing.to_remove == 0 {
            return Ok(());
        }
        let want = MAX_SAMPLES.saturating_sub(self.changes.len());
        let (n, removed) = blocking(|| self.db.remove_users(self.tenant, &repo.id, which, delete, &self.started, want))
            .map_err(store_err)?;
        if delete {
            self.counts.deleted += n;
        } else {
            self.counts.disabled += n;
        }
        self.changes.extend(removed);
        Ok(())
    }

    /// Counts and writes the pending batch (mapped on the reader).
    async fn flush(&mut self) -> Result<(), String> {
        if self.batch.is_empty() && self.unchanged.is_empty() {
            // Users found unchanged by their place were counted: show them.
            let store_started = std::time::Instant::now();
            self.record_progress()?;
            self.timings.store += store_started.elapsed();
            return Ok(());
        }
        let repo = self.repo;
        let collect_started = std::time::Instant::now();
        let mut prepared = Vec::with_capacity(self.batch.len());
        let mut seen = std::mem::take(&mut self.unchanged);
        self.counts.seen += seen.len() as u64;
        self.counts.unchanged += seen.len() as u64;
        for user in std::mem::take(&mut self.batch) {
            self.counts.seen += 1;
            let (dn, uuid) = match &user.result {
                Ok(p) => (&p.ldap_dn, Some(&p.ldap_uuid)),
                Err(unmapped) => (&unmapped.dn, unmapped.uuid.as_ref()),
            };
            for attribute in &user.non_utf8 {
                self.error(
                    dn.clone(),
                    format!("{attribute} has a value that is not UTF-8 text; it was stored base64-encoded"),
                );
            }
            match uuid {
                // An import removes nobody: it needs no seen-set.
                Some(uuid) if !self.import => seen.push(uuid.clone()),
                Some(_) => {}
                None => self.unidentified += 1,
            }
            match user.result {
                Ok(p) => prepared.push(p),
                Err(unmapped) => {
                    self.counts.failed += 1;
                    self.error(unmapped.dn, unmapped.reason);
                }
            }
        }
        let store_started = std::time::Instant::now();
        self.timings.collect += store_started - collect_started;
        // Only a read that removes the unseen needs the seen-set; a joint
        // read never does (a present set sends the run back to separate reads).
        if !self.import && !self.reading_jointly {
            blocking(|| self.db.mark_seen(&seen)).map_err(store_error)?;
        }
        let want = MAX_SAMPLES.saturating_sub(self.changes.len());
        let import = self.import;
        let outcome = blocking(|| self.db.write_batch(self.tenant, &repo.id, &prepared, &self.started, want, import))
            .map_err(store_error)?;
        self.counts.added += outcome.added;
        self.counts.updated += outcome.updated;
        self.counts.unchanged += outcome.unchanged;
        self.counts.failed += outcome.refused.len() as u64;
        self.changes.extend(outcome.changes);
        for refused in outcome.refused {
            self.error(refused.dn, refused.message);
        }
        self.record_progress()?;
        self.timings.store += store_started.elapsed();
        Ok(())
    }

    /// Progress is committed with the users it counts, about once a second.
    fn record_progress(&mut self) -> Result<(), String> {
        let counts = serde_json::to_string(&self.counts).unwrap_or_default();
        blocking(|| self.db.commit_if_due(self.run_id, &counts, self.counts.seen)).map_err(store_error)?;
        Ok(())
    }

    /// Starts reading groups (completely, or by content sync from `cookie`)
    /// on a reader thread of their own.
    fn groups_reader(
        &mut self,
        cookie: Option<Option<Vec<u8>>>,
    ) -> Result<tokio::sync::mpsc::Receiver<Read>, crate::store::StoreError> {
        let repo = self.repo;
        let search = Search {
            pages: plan::PageSizer::by_values(page_size(repo).min(GROUP_PAGE_MAX), MAX_BATCH_VALUES),
            base: repo.groups.groups_dn.clone().unwrap_or_default(),
            scope: ldap3::Scope::Subtree,
            filter: crate::filter::user_filter(&repo.groups.object_classes, &[], None),
            attrs: mapping::group_attributes(repo),
            cookie,
        };
        let known = blocking(|| self.db.group_source_hashes(self.tenant, &repo.id))?;
        let groups = GroupReader { repo: repo.clone(), mapping_key: fingerprint::mapping_key(repo), keep: None, known };
        Ok(Reader::spawn(repo.clone(), self.secrets.clone(), search, Decode::Groups(Box::new(groups)), None))
    }

    /// Writes what a groups reader reads, groups with their members, and
    /// removes the groups it shows are gone. Returns the new cookie.
    async fn read_groups(
        &mut self,
        mut rx: tokio::sync::mpsc::Receiver<Read>,
        content_sync: bool,
    ) -> Result<Option<Vec<u8>>, String> {
        let mut groups = GroupsProgress::default();
        let end = loop {
            let waited = std::time::Instant::now();
            let read = rx.recv().await;
            self.timings.groups_read += waited.elapsed();
            let (items, written) = match read {
                None | Some(Read::TooMany) | Some(Read::Separately(_)) => {
                    break Err("the directory reader stopped unexpectedly".to_string())
                }
                Some(Read::End(end)) => break end,
                Some(Read::Items(items, held)) => (items, held),
            };
            for item in items {
                self.take_group_item(item, &mut groups)?;
            }
            let members: usize = groups.batch.iter().map(|g| g.members.len()).sum();
            self.write_groups(&mut groups.batch, &mut groups.counts).await?;
            drop(written);
            if members >= MAX_BATCH_VALUES {
                crate::allocator::return_free_memory();
            }
        };
        let (new_cookie, refresh_deletes) = end?;
        let complete = !content_sync || groups.present_phase || !refresh_deletes;
        self.finish_groups(groups, complete).await?;
        Ok(new_cookie)
    }

    /// Takes one item of a groups' read: queues a group for writing, marks
    /// the UUIDs seen or reported gone.
    fn take_group_item(&mut self, item: Item, groups: &mut GroupsProgress) -> Result<(), String> {
        match item {
            Item::Group(Ok(g)) => groups.batch.push(g),
            Item::Group(Err(e)) => self.error(e.dn, e.reason),
            Item::Unchanged(uuid) => {
                groups.counts.seen += 1;
                groups.counts.unchanged += 1;
                blocking(|| self.db.mark_groups(std::slice::from_ref(&uuid), false)).map_err(store_error)?;
            }
            Item::Malformed(reason) => self.error(String::new(), reason),
            Item::User(_) | Item::UnchangedAt(_) | Item::NotUser(_) => {}
            Item::Present(uuids) => {
                groups.present_phase = true;
                groups.counts.seen += uuids.len() as u64;
                groups.counts.unchanged += uuids.len() as u64;
                blocking(|| self.db.mark_groups(&uuids, false)).map_err(store_error)?;
            }
            Item::Deleted(uuids) => {
                groups.gone = true;
                blocking(|| self.db.mark_groups(&uuids, true)).map_err(store_error)?;
            }
            Item::NotGroup(uuid) => return self.take_group_item(Item::Deleted(vec![uuid]), groups),
        }
        Ok(())
    }

    /// Commits a groups' read and removes the groups it shows are gone: after
    /// a `complete` read those it did not return, otherwise those reported
    /// deleted.
    async fn finish_groups(&mut self, groups: GroupsProgress, complete: bool) -> Result<(), String> {
        let (repo, mut counts) = (self.repo, groups.counts);
        blocking(|| self.db.commit()).map_err(store_error)?;
        if complete && counts.seen > 0 {
            counts.deleted = blocking(|| self.db.remove_groups(self.tenant, &repo.id, false)).map_err(store_error)?;
        } else if groups.gone {
            counts.deleted = blocking(|| self.db.remove_groups(self.tenant, &repo.id, true)).map_err(store_error)?;
        }
        self.group_counts = Some(counts);
        Ok(())
    }

    async fn write_groups(&mut self, batch: &mut Vec<PreparedGroup>, counts: &mut GroupCounts) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        blocking(|| self.db.write_groups(self.tenant, &self.repo.id, batch, &self.started, counts))
            .map_err(store_error)?;
        batch.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::entry::tests::{raw_entry, raw_form};
    use ldap3::asn1::PL;

    fn reader() -> GroupReader {
        let repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        GroupReader { mapping_key: fingerprint::mapping_key(&repo), repo, keep: None, known: Default::default() }
    }

    const UUID: &[u8] = b"5c7b2a3e-1111-4e3b-9c1d-0242ac120002";

    /// A group read in place from the raw message maps exactly as one
    /// decoded whole into an Entry.
    #[test]
    fn a_raw_group_maps_as_its_decoded_entry_does() {
        let reader = reader();
        let members: [&[u8]; 4] = [b"uid=B,ou=People,dc=x", b"uid=a,ou=People,dc=x", b"", b"UID=a, ou=People,dc=x"];
        let tree = raw_entry(
            "cn=Ops,ou=Groups,dc=x",
            &[("cn", &[b"Ops"]), ("member", &members[..2]), ("entryUUID", &[UUID]), ("Member", &members[2..])],
        );
        let Item::Group(Ok(group)) = reader.read(raw_form(&tree)) else { panic!("a group") };
        let want = mapping::map_group(&reader.repo, &crate::ldap::entry::into_entry(tree.clone()).expect("entry"))
            .map(|g| PreparedGroup::of(g.uuid, g.name, g.dn, g.member_keys))
            .expect("maps");
        // The Entry path keeps one attribute per name as sent ("member"): the
        // raw path also takes "Member", as the directory means.
        assert_eq!(group.members.iter().collect::<Vec<_>>(), ["uid=a,ou=people,dc=x", "uid=b,ou=people,dc=x"]);
        assert_eq!(
            (group.uuid.as_str(), group.name.as_str(), group.dn_key.as_str()),
            (want.uuid.as_str(), "Ops", want.dn_key.as_str())
        );
        assert_eq!(group.members, want.members);
        assert!(group.source_hash.is_some());
    }

    /// A user mapped from the message in place maps exactly as one decoded
    /// whole into an Entry: text, binary and not-UTF-8 values, empty ones,
    /// and an entry that cannot be a user.
    #[test]
    fn a_raw_user_maps_as_its_decoded_entry_does() {
        let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        for (attribute, ldap) in [("attributes.photo", "jpegPhoto"), ("attributes.department", "departmentNumber")] {
            repo.users.attribute_mappings.push(app::model::AttributeMapping::new(attribute, ldap));
        }
        let anna: &[(&str, &[&[u8]])] = &[
            ("uid", &[b"anna"]),
            ("entryUUID", &[UUID]),
            ("mail", &[b"a@x", b"b@x"]),
            ("jpegPhoto", &[b"ok", &[0xff, 0xd8]]),
            ("departmentNumber", &[b"", b"R&D"]),
            ("givenName", &[&[0xff]]),
            ("sn", &[b"Smith"]),
        ];
        let nameless: &[(&str, &[&[u8]])] = &[("entryUUID", &[UUID]), ("cn", &[b"x"])];
        for attrs in [anna, nameless] {
            let tree = raw_entry("uid=anna,ou=People,dc=x", attrs);
            let raw = raw_form(&tree);
            let view = EntryView::of(&RawEntry::of(&raw).expect("entry"), |_| false).expect("view");
            let (a, b) =
                (map_entry(&repo, &view), map_entry(&repo, &crate::ldap::entry::into_entry(tree).expect("entry")));
            assert_eq!(a.non_utf8, b.non_utf8);
            match (a.result, b.result) {
                (Ok(a), Ok(b)) => {
                    assert!(a.body.contains("R&D") && a.body.contains("b@x") == b.body.contains("b@x"), "{}", a.body);
                    assert_eq!(
                        (a.ldap_uuid, a.username, a.ldap_dn, a.enabled, a.body, a.hash),
                        (b.ldap_uuid, b.username, b.ldap_dn, b.enabled, b.body, b.hash)
                    );
                }
                (Err(a), Err(b)) => assert_eq!((a.dn, a.uuid, a.reason), (b.dn, b.uuid, b.reason)),
                _ => panic!("one maps and the other does not"),
            }
        }
    }

    /// Members that are not text are no members (as in an Entry); a member
    /// value that is not even a value makes the entry malformed, never a
    /// group without members.
    #[test]
    fn raw_group_members_that_are_not_text_or_not_values() {
        let reader = reader();
        let binary =
            raw_entry("cn=Bin,dc=x", &[("cn", &[b"Bin"]), ("entryUUID", &[UUID]), ("member", &[b"uid=a", &[0xff]])]);
        let Item::Group(Ok(group)) = reader.read(raw_form(&binary)) else { panic!("a group") };
        assert!(group.members.is_empty());
        let mut broken =
            raw_entry("cn=Bad,dc=x", &[("cn", &[b"Bad"]), ("entryUUID", &[UUID]), ("member", &[b"uid=a"])]);
        if let PL::C(parts) = &mut broken.payload {
            if let PL::C(attributes) = &mut parts[1].payload {
                if let PL::C(pair) = &mut attributes[2].payload {
                    if let PL::C(values) = &mut pair[1].payload {
                        values[0].payload = PL::C(vec![]);
                    }
                }
            }
        }
        assert!(matches!(reader.read(raw_form(&broken)), Item::Malformed(_)));
    }
}
