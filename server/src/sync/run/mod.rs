//! One run: the state it works in (its writer, counts, samples, timings),
//! how it chooses its method and where the next run continues from. Reading
//! and writing users, groups and the joint read live beside it.

mod groups;
mod joint_read;
mod users;

use crate::clock::now_rfc3339;
use crate::ldap::content_sync::{self};
use crate::ldap::paged::PageSizer;
use crate::ldap::{self, Secrets};
use crate::mapping;
use crate::memory;
use crate::store::rows::{PreparedGroup, SeenPlaces, SyncState};
use crate::store::sync::MAX_SAMPLES;
use crate::store::writer::{blocking, Writer};
use crate::store::Store;
use crate::sync::cookies::Cookies;
use crate::sync::handover::MappedUser;
use crate::sync::handover::Read;
use crate::sync::joint;
use crate::sync::outcome::{failed, failed_store, store_error, Outcome};
use crate::sync::plan::{self, Method};
use crate::sync::reader::Search;
use app::model::RunState;
use app::model::{GroupCounts, Repository, SyncChange, SyncCounts, SyncError, SyncMode, SyncRequest};
use std::collections::HashSet;

/// Groups per LDAP page at most. Group pages adapt to the groups' sizes
/// (see [`PageSizer`]); this bounds how many huge groups one page can
/// hold when they follow small ones.
pub(crate) const GROUP_PAGE_MAX: usize = 32;

/// The filter of a repository's users.
pub(crate) fn users_filter(repo: &Repository) -> String {
    crate::filter::user_filter(&repo.users.object_classes, &repo.users.filters, None)
}

/// The search of a repository's users with `filter`: paged, or a content
/// sync from `cookie` (see [`Search::cookie`]).
pub(crate) fn users_search(repo: &Repository, filter: &str, cookie: Option<Option<Vec<u8>>>) -> Search {
    Search {
        pages: PageSizer::fixed(page_size(repo)),
        base: repo.users.effective_users_dn().to_string(),
        scope: ldap::scope_of(repo),
        filter: filter.to_string(),
        attrs: ldap::user_attributes(repo),
        cookie,
    }
}

/// Whether a repository's groups are synchronised: an empty groups DN
/// means "do not sync groups", as the console explains.
pub(crate) fn wants_groups(repo: &Repository) -> bool {
    repo.groups.groups_dn.as_deref().is_some_and(|d| !d.trim().is_empty()) && !repo.groups.object_classes.is_empty()
}

/// The joint content sync of users and groups (see [`joint`]) a changed
/// sync continues with from `state`: when both continue from one cookie and
/// their places allow it.
pub(crate) fn joint_search(repo: &Repository, state: Option<&SyncState>) -> Option<(Search, joint::JointRead)> {
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
        pages: PageSizer::fixed(page_size(repo)),
        base: split.base.clone(),
        scope: ldap3::Scope::Subtree,
        filter: split.filter.clone(),
        attrs,
        cookie: Some(Some(cookie)),
    };
    Some((search, split))
}

/// Entries per LDAP page and per write batch.
pub(crate) fn page_size(repo: &Repository) -> usize {
    repo.sync.page_size.clamp(1, 10_000) as usize
}

/// Where a users' read stands.
#[derive(Default)]
pub(crate) struct UsersProgress {
    /// The server sent its present set (entries that still exist).
    present_phase: bool,
    /// UUIDs the server reported gone.
    gone: u64,
}

/// Where a groups' read stands.
#[derive(Default)]
pub(crate) struct GroupsProgress {
    counts: GroupCounts,
    /// Groups read and not yet written.
    batch: Vec<PreparedGroup>,
    present_phase: bool,
    gone: bool,
}

/// How a joint read of users and groups ended (see [`Run::read_joint`]).
pub(crate) enum JointEnd {
    Done(Option<Vec<u8>>),
    TooManyChanges,
    /// Users and groups are to be read apart (why).
    Separately(String),
}

/// How a users read ended.
pub(crate) enum UsersRead {
    /// With the Sync Done cookie of a content sync.
    Done(Option<Vec<u8>>),
    /// A content sync was abandoned: too many changes to replay.
    TooManyChanges,
}

/// How many changed entries a content sync may replay before it is
/// abandoned for a complete read: ldap3 buffers whatever the server sends,
/// so an unbounded replay (a stale cookie resends everything) would hold the
/// directory in memory.
pub(crate) fn replay_limit(stored_users: u64) -> u64 {
    (stored_users / 50).max(5_000)
}

/// One run's working state: its store connection, counts and samples.
pub(crate) struct Run<'a> {
    store: &'a Store,
    tenant: &'a str,
    repo: &'a Repository,
    run_id: i64,
    /// The readers open their own connections.
    secrets: Secrets,
    started: String,
    pub(crate) db: Writer,
    batch: Vec<MappedUser>,
    /// UUIDs of entries the reader found stored unchanged, not yet counted.
    unchanged: Vec<String>,
    pub(crate) counts: SyncCounts,
    pub(crate) errors: Vec<SyncError>,
    pub(crate) changes: Vec<SyncChange>,
    /// Entries that could not be mapped and whose UUID is unknown: removal of
    /// unseen users cannot be trusted then, so it is skipped.
    unidentified: u64,
    pub(crate) group_counts: Option<GroupCounts>,
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
    pub(crate) timings: Timings,
    /// When the run began (its `total_ms`).
    pub(crate) timer: std::time::Instant,
    /// How the run read the directory, once chosen.
    pub(crate) method: Option<app::model::RunMethod>,
    /// The repository's sync state when the run began.
    state: Option<SyncState>,
    /// The users' content-sync reader started before the set-up (see
    /// `SyncEngine::run`); dropped unless the run reads by content sync.
    users_ahead: Option<ReaderAhead>,
    /// Users and groups are being read together (see [`Run::read_joint`]).
    reading_jointly: bool,
}

/// A content-sync reader started ahead.
pub(crate) struct ReaderAhead {
    /// The cookie it reads from.
    pub(crate) from: Vec<u8>,
    /// Whether it reads users and groups together (see [`joint`]).
    pub(crate) joint: bool,
    pub(crate) rx: tokio::sync::mpsc::Receiver<Read>,
}

#[derive(Default, Debug)]
pub(crate) struct Timings {
    pub(crate) read: std::time::Duration,
    pub(crate) collect: std::time::Duration,
    pub(crate) store: std::time::Duration,
    pub(crate) removal: std::time::Duration,
    pub(crate) groups: std::time::Duration,
    /// Of `groups`: waiting for the groups reader.
    pub(crate) groups_read: std::time::Duration,
    /// Opening the writer, connecting, binding and choosing the method,
    /// before the users read.
    pub(crate) setup: std::time::Duration,
    /// Recording the run's end: its last commit, the sync state, the run row.
    pub(crate) finish: std::time::Duration,
}

impl<'a> Run<'a> {
    pub(super) fn open(
        store: &'a Store,
        tenant: &'a str,
        repo: &'a Repository,
        secrets: &Secrets,
        (run_id, stored_users): (i64, u64),
        force: bool,
        (state, users_ahead): (Option<SyncState>, Option<ReaderAhead>),
    ) -> Result<Run<'a>, String> {
        let mut db = store.run_writer().map_err(store_error)?;
        blocking(|| db.before_run(run_id));
        if !repo.sync.import_enabled {
            db.add_no_new_users();
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
            method: None,
            state,
            users_ahead,
            reading_jointly: false,
        })
    }

    pub(super) fn error(&mut self, dn: String, message: String) {
        if self.errors.len() < MAX_SAMPLES {
            self.errors.push(SyncError { dn, message });
        }
    }

    pub(super) async fn execute(&mut self, secrets: &Secrets, request: SyncRequest) -> Outcome {
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
        let continues_from_cookie = state.as_ref().is_some_and(|s| s.users_cookie.is_some());
        // The cookie a complete read continues from is taken before the read,
        // so changes made while it runs are replayed by the next changed sync.
        // Taking it also proves the server really offers content sync: some
        // list the control in the RootDSE without the provider configured.
        let mut has_content_sync =
            plan::may_use_content_sync(&repo.connection.referrals) && content_sync::supported(ldap, repo).await;
        let mut start_cookie = None;
        if has_content_sync && !(request.mode == SyncMode::Changed && continues_from_cookie) {
            match content_sync::current_cookie(ldap, repo, repo.users.effective_users_dn()).await {
                Ok(c) => start_cookie = c,
                Err(m) => {
                    tracing::info!(repository = repo.id, error = %m, "content synchronisation not usable");
                    has_content_sync = false;
                }
            }
        }
        let (method, note) = plan::choose_method(request.mode, state.as_ref(), has_content_sync);
        let _ = self.store.set_run_method(self.run_id, method.reported()).await;
        self.method = Some(method.reported());
        if method != Method::Paged {
            start_cookie = None;
        }
        if method != Method::ContentSync {
            // Its thread stops at its next batch; the server's search ends
            // with the connection.
            self.users_ahead = None;
        }
        let user_filter = users_filter(repo);
        let mut cookies = Cookies::begin(state.as_ref(), start_cookie, self.started.clone());
        let mut messages: Vec<String> = note.into_iter().collect();

        // Groups, when the repository says where they are.
        let wants_groups = wants_groups(repo);
        let early_groups_from = cookies.groups_from(method);
        // Users and groups that continue from one cookie are read in one
        // content sync (see [`joint`]).
        let joint = if method == Method::ContentSync { joint_search(repo, state.as_ref()) } else { None };
        // Otherwise a changed sync reads the groups' changes while the
        // users' are read and written: both are small, and the server's
        // answer for groups can take a while (a present phase when its
        // session log has moved on). A full read of groups waits for the
        // users instead, so huge groups are not held in memory beside them.
        let early_groups_reader = |run: &mut Self| match (wants_groups, early_groups_from.clone()) {
            (true, Some(from)) => run.groups_reader(Some(from)).map(Some),
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
                    cookies.joint_read(cookie.clone());
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
                Method::ContentSync => self.read_users(&user_filter, Some(cookies.stored_users()), false).await,
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
        match users {
            Ok(UsersRead::Done(cookie)) => cookies.users_read(method, cookie),
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
                let _ = self.store.set_run_method(self.run_id, Method::Paged.reported()).await;
                self.method = Some(Method::Paged.reported());
                // The counts tell the complete read's story (what the replay
                // wrote reads as unchanged there); its changes stay listed.
                self.counts = SyncCounts::default();
                // The replay wrote users: the complete read must look them up.
                self.import = false;
                self.groups_in_full = wants_groups;
                if let Err(outcome) = self.read_users(&user_filter, None, true).await {
                    return outcome;
                }
                cookies.replay_became_complete_read(fresh);
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
        blocking(|| self.db.between_phases());
        memory::after_phase(self.counts.seen);
        if wants_groups && !groups_read {
            let cookie = cookies.groups_from(method);
            let used = cookie.clone().flatten();
            let content_sync = cookie.is_some();
            let groups_started = std::time::Instant::now();
            // After a replay that turned into a complete read, the early
            // reader's changes are not enough: the groups are read whole.
            let reader =
                match early_groups.filter(|_| !cookies.reads_from_scratch()).or_else(|| self.groups_ahead.take()) {
                    Some(reader) => reader,
                    None => match self.groups_reader(cookie) {
                        Ok(reader) => reader,
                        Err(e) => return failed_store(e),
                    },
                };
            let groups = self.read_groups(reader, content_sync).await;
            self.timings.groups = groups_started.elapsed();
            match groups {
                Ok(new_cookie) => cookies.groups_read(new_cookie, used),
                Err(m) => {
                    messages.push(format!("users were synchronised, but reading groups failed: {m}"));
                    return Outcome { state: RunState::Failed, message: Some(messages.join("; ")) };
                }
            }
        }
        let _ = ldap.unbind().await;

        let saving = std::time::Instant::now();
        let next_state = cookies.into_state();
        if let Err(e) = blocking(|| self.db.save_sync_state(self.tenant, &repo.id, &next_state)) {
            tracing::error!(error = %e, repository = repo.id, "sync state could not be saved");
        }
        self.timings.finish += saving.elapsed();
        Outcome { state: RunState::Succeeded, message: (!messages.is_empty()).then(|| messages.join("; ")) }
    }
}
