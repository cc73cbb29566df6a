//! Pure decisions of a sync run, unit-tested without a directory.

use crate::store::rows::SyncState;
use app::model::{ReferralStrategy, Referrals, RunMethod, SyncMode};

/// How a run reads the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A complete paged enumeration; deletions found by what it did not return.
    Paged,
    /// RFC 4533 refreshOnly from the stored cookie; deletions reported by the server.
    ContentSync,
    /// Entries whose modifyTimestamp/createTimestamp is after the last run
    /// (minus an overlap); deletions are left to full syncs.
    Timestamps,
}

impl Method {
    /// The method as a run reports it.
    pub fn reported(self) -> RunMethod {
        match self {
            Method::Paged => RunMethod::Paged,
            Method::ContentSync => RunMethod::Syncrepl,
            Method::Timestamps => RunMethod::Timestamps,
        }
    }
}

/// Whether a repository's runs may read by content synchronisation. Not
/// when it follows referrals: a cookie speaks for one server, and a present
/// set from it would read as the removal of every user held by the servers
/// its referrals lead to. Those runs read by pages (changed runs by
/// timestamps), on every server.
pub fn may_use_content_sync(referrals: &Referrals) -> bool {
    referrals.strategy == ReferralStrategy::FollowNone
}

/// Picks the method of a run, with a note for the run history when a
/// changed sync cannot be incremental.
pub fn choose_method(
    mode: SyncMode,
    state: Option<&SyncState>,
    server_has_content_sync: bool,
) -> (Method, Option<String>) {
    if mode == SyncMode::Full {
        return (Method::Paged, None);
    }
    match state {
        None => (
            Method::Paged,
            Some("no earlier successful sync to continue from: the whole directory was read".into()),
        ),
        Some(s) if server_has_content_sync && s.users_cookie.is_some() => (Method::ContentSync, None),
        Some(_) if server_has_content_sync => (
            Method::Paged,
            Some("no content synchronisation cookie stored yet: the whole directory was read".into()),
        ),
        Some(s) => (
            Method::Timestamps,
            Some(format!(
                "the server does not offer content synchronisation (RFC 4533): read entries changed since {} (minus {} s overlap); deletions are found by full syncs",
                s.since, TIMESTAMP_OVERLAP_SECS
            )),
        ),
    }
}

/// How far before the last run a timestamp-based changed sync starts reading,
/// to cover clock skew between dirbridge and the directory and entries
/// written while the last run was going.
pub const TIMESTAMP_OVERLAP_SECS: i64 = 600;

/// The LDAP filter of a timestamp-based changed sync: entries of `base_filter`
/// created or modified at or after `since` (RFC 3339) minus the overlap.
pub fn changed_since_filter(base_filter: &str, since: &str) -> Result<String, String> {
    let t = time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("stored sync time '{since}' is unreadable: {e}"))?
        - time::Duration::seconds(TIMESTAMP_OVERLAP_SECS);
    let t = t.to_offset(time::UtcOffset::UTC);
    let generalized = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(format!("(&{base_filter}(|(modifyTimestamp>={generalized})(createTimestamp>={generalized})))"))
}

/// Whether a complete run may remove `to_remove` of the `stored` users.
/// An empty read never removes anyone unless forced: a directory that
/// suddenly returns nothing is far more often broken than empty.
pub fn removal_allowed(stored: u64, to_remove: u64, seen: u64, max_percent: u32, force: bool) -> Result<(), String> {
    if to_remove == 0 || force {
        return Ok(());
    }
    if seen == 0 {
        return Err(format!(
            "the directory returned no users, which would remove all {to_remove}; nothing was removed (force the run to accept it)"
        ));
    }
    if to_remove * 100 > u64::from(max_percent) * stored {
        return Err(format!(
            "{to_remove} of {stored} users ({:.1}%) are gone from the directory, more than maxDeletePercent ({max_percent}%); nothing was removed (force the run to accept it)",
            to_remove as f64 * 100.0 / stored.max(1) as f64
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_guard() {
        assert!(removal_allowed(100, 0, 100, 10, false).is_ok());
        assert!(removal_allowed(100, 10, 90, 10, false).is_ok());
        let err = removal_allowed(100, 11, 89, 10, false).expect_err("over the limit");
        assert!(err.contains("11 of 100") && err.contains("10%"), "{err}");
        assert!(removal_allowed(100, 11, 89, 10, true).is_ok());
        assert!(removal_allowed(5, 5, 0, 100, false).expect_err("empty read").contains("no users"));
        assert!(removal_allowed(5, 5, 0, 100, true).is_ok());
    }

    #[test]
    fn changed_sync_picks_content_sync_then_timestamps_then_a_full_read() {
        let with_cookie = SyncState {
            users_cookie: Some(b"rid=000".to_vec()),
            groups_cookie: None,
            since: "2026-01-01T00:00:00Z".into(),
        };
        let without_cookie = SyncState { users_cookie: None, ..with_cookie.clone() };
        assert_eq!(choose_method(SyncMode::Full, Some(&with_cookie), true).0, Method::Paged);
        assert_eq!(choose_method(SyncMode::Changed, Some(&with_cookie), true), (Method::ContentSync, None));
        let (m, note) = choose_method(SyncMode::Changed, Some(&without_cookie), false);
        assert_eq!(m, Method::Timestamps);
        assert!(note.unwrap_or_default().contains("2026-01-01T00:00:00Z"));
        assert_eq!(choose_method(SyncMode::Changed, Some(&without_cookie), true).0, Method::Paged);
        assert_eq!(choose_method(SyncMode::Changed, None, true).0, Method::Paged);
    }

    #[test]
    fn timestamp_filter_reads_from_before_the_last_run() {
        let f = changed_since_filter("(objectClass=person)", "2026-03-01T00:05:00Z").expect("valid");
        assert_eq!(f, "(&(objectClass=person)(|(modifyTimestamp>=20260228235500Z)(createTimestamp>=20260228235500Z)))");
        assert!(changed_since_filter("(objectClass=person)", "yesterday").is_err());
    }
}
