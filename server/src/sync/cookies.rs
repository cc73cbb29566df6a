//! Where the next changed sync continues from: a run's cookie bookkeeping,
//! pure. A run begins from the stored sync state (and, before a complete
//! read, from a cookie taken first, so changes made while it reads are
//! replayed next time); each read that completes moves its cookie on, and
//! what is left at the end is saved for the next run.

use super::plan::Method;
use crate::store::rows::SyncState;

/// A run's cookies: those it began with and those it will leave.
#[derive(Debug)]
pub struct Cookies {
    /// The users' cookie of the stored state.
    stored_users: Option<Vec<u8>>,
    /// The groups' cookie of the stored state.
    stored_groups: Option<Vec<u8>>,
    next: SyncState,
    /// A replay of changes became a complete read: the groups are read whole
    /// too, not from their stored cookie.
    from_scratch: bool,
}

impl Cookies {
    /// A run that begins from `stored`; `read_start` is the cookie taken
    /// before a complete read (None for any other read). A cookie from
    /// before a complete read is a safe place to continue from: changes
    /// after it are replayed, at worst twice.
    pub fn begin(stored: Option<&SyncState>, read_start: Option<Vec<u8>>, since: String) -> Cookies {
        let stored_users = stored.and_then(|s| s.users_cookie.clone());
        let stored_groups = stored.and_then(|s| s.groups_cookie.clone());
        let next =
            SyncState { users_cookie: read_start.clone(), groups_cookie: read_start.or(stored_users.clone()), since };
        Cookies { stored_users, stored_groups, next, from_scratch: false }
    }

    /// The users' cookie a content sync continues from.
    pub fn stored_users(&self) -> Option<Vec<u8>> {
        self.stored_users.clone()
    }

    /// What the groups' read of a run using `method` continues from: Some
    /// (a content sync from the stored groups' cookie) or None (read whole).
    pub fn groups_from(&self, method: Method) -> Option<Option<Vec<u8>>> {
        match (method, &self.stored_groups) {
            (Method::ContentSync, Some(cookie)) if !self.from_scratch => Some(Some(cookie.clone())),
            _ => None,
        }
    }

    /// Whether a replay became a complete read (see
    /// [`Cookies::replay_became_complete_read`]).
    pub fn reads_from_scratch(&self) -> bool {
        self.from_scratch
    }

    /// Users and groups were read in one content sync that ended with
    /// `done` (Sync Done's cookie, if it had one). The users' part is then
    /// recorded by [`Cookies::users_read`] as for any content sync.
    pub fn joint_read(&mut self, done: Option<Vec<u8>>) {
        self.next.groups_cookie = done.or(self.stored_users.clone());
    }

    /// The users' read by `method` completed, with Sync Done's cookie if it
    /// had one. A content sync whose Sync Done carries no cookie changed
    /// nothing: it continues from the stored one.
    pub fn users_read(&mut self, method: Method, done: Option<Vec<u8>>) {
        match done {
            Some(cookie) => self.next.users_cookie = Some(cookie),
            None if method == Method::ContentSync => self.next.users_cookie = self.stored_users.clone(),
            None => {}
        }
    }

    /// A replay of changes was too large and the whole directory was read
    /// instead, from `fresh` (a cookie taken before that read): users and
    /// groups continue from it, and the groups are read whole.
    pub fn replay_became_complete_read(&mut self, fresh: Option<Vec<u8>>) {
        self.next.users_cookie = fresh.clone();
        self.next.groups_cookie = fresh;
        self.from_scratch = true;
    }

    /// The groups' read completed with `done` (Sync Done's cookie), having
    /// continued from `used`: the next one continues from the first of them
    /// there is, else from where the users' read left the groups.
    pub fn groups_read(&mut self, done: Option<Vec<u8>>, used: Option<Vec<u8>>) {
        self.next.groups_cookie = done.or(used).or(self.next.groups_cookie.take());
    }

    /// The state to save for the next run.
    pub fn into_state(self) -> SyncState {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str) -> Option<Vec<u8>> {
        Some(name.as_bytes().to_vec())
    }

    fn stored(users: &str, groups: &str) -> SyncState {
        SyncState { users_cookie: c(users), groups_cookie: c(groups), since: "before".into() }
    }

    fn cookies_of(state: &SyncState) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        (state.users_cookie.clone(), state.groups_cookie.clone())
    }

    #[test]
    fn a_complete_read_continues_from_the_cookie_taken_before_it() {
        let mut run = Cookies::begin(Some(&stored("old", "old-groups")), c("start"), "now".into());
        assert_eq!(run.groups_from(Method::Paged), None, "groups are read whole too");
        run.users_read(Method::Paged, None);
        run.groups_read(None, None);
        let state = run.into_state();
        assert_eq!(cookies_of(&state), (c("start"), c("start")));
        assert_eq!(state.since, "now");
    }

    #[test]
    fn no_cookie_in_sync_done_keeps_the_stored_one() {
        let mut run = Cookies::begin(Some(&stored("users", "groups")), None, "now".into());
        assert_eq!(run.stored_users(), c("users"));
        let from = run.groups_from(Method::ContentSync);
        assert_eq!(from, Some(c("groups")));
        run.users_read(Method::ContentSync, None);
        run.groups_read(None, from.flatten());
        assert_eq!(cookies_of(&run.into_state()), (c("users"), c("groups")));
    }

    #[test]
    fn a_cookie_in_sync_done_moves_each_read_on() {
        let mut run = Cookies::begin(Some(&stored("users", "groups")), None, "now".into());
        run.users_read(Method::ContentSync, c("users-2"));
        run.groups_read(c("groups-2"), c("groups"));
        assert_eq!(cookies_of(&run.into_state()), (c("users-2"), c("groups-2")));
    }

    #[test]
    fn a_replay_that_became_a_complete_read_continues_from_the_fresh_cookie() {
        let mut run = Cookies::begin(Some(&stored("users", "groups")), None, "now".into());
        run.replay_became_complete_read(c("fresh"));
        assert!(run.reads_from_scratch());
        assert_eq!(run.groups_from(Method::ContentSync), None, "the groups are read whole");
        run.groups_read(None, None);
        assert_eq!(cookies_of(&run.into_state()), (c("fresh"), c("fresh")));
    }

    #[test]
    fn a_joint_read_moves_both_on_from_one_cookie() {
        let mut run = Cookies::begin(Some(&stored("both", "both")), None, "now".into());
        run.joint_read(c("both-2"));
        run.users_read(Method::ContentSync, c("both-2"));
        assert_eq!(cookies_of(&run.into_state()), (c("both-2"), c("both-2")));
        // Nothing changed: Sync Done without a cookie keeps the stored one.
        let mut quiet = Cookies::begin(Some(&stored("both", "both")), None, "now".into());
        quiet.joint_read(None);
        quiet.users_read(Method::ContentSync, None);
        assert_eq!(cookies_of(&quiet.into_state()), (c("both"), c("both")));
    }

    #[test]
    fn a_joint_read_that_fell_back_leaves_it_to_the_separate_reads() {
        // The joint read records nothing; the separate reads replay from the
        // stored cookies and move each on.
        let mut run = Cookies::begin(Some(&stored("both", "both")), None, "now".into());
        run.users_read(Method::ContentSync, c("users-2"));
        let from = run.groups_from(Method::ContentSync);
        assert_eq!(from, Some(c("both")));
        run.groups_read(None, from.flatten());
        assert_eq!(cookies_of(&run.into_state()), (c("users-2"), c("both")));
    }

    #[test]
    fn a_read_by_timestamps_leaves_no_users_cookie() {
        let mut run = Cookies::begin(Some(&stored("users", "groups")), None, "now".into());
        run.users_read(Method::Timestamps, None);
        let state = run.into_state();
        assert_eq!(cookies_of(&state), (None, c("users")));
        assert_eq!(state.since, "now");
    }
}
