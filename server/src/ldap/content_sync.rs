//! RFC 4533 content synchronisation (refreshOnly) on top of ldap3, and the
//! other control a sync read parses (the paged results cookie).
//!
//! ldap3's control and syncInfo parsers panic on malformed input, so every
//! parse goes through `guarded`: a broken server fails the run, it never
//! takes dirbridge down.

use super::{describe_ldap_error, timeout_of};
use app::model::Repository;
use ldap3::controls::{
    parse_syncinfo, Control, ControlParser, EntryState, PagedResults, RefreshMode, SyncDone, SyncInfo, SyncRequest,
    SyncState,
};
use ldap3::{Ldap, ResultEntry, Scope};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub const SYNC_REQUEST_OID: &str = "1.3.6.1.4.1.4203.1.9.1.1";
const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// Matches no entry: used to learn the server's current cookie cheaply.
const MATCH_NOTHING: &str = "(&(objectClass=*)(!(objectClass=*)))";

/// What one message of a refreshOnly search means for the store.
#[derive(Debug)]
pub enum SyncItem {
    /// An entry added or modified since the cookie (all requested attributes).
    Changed(ResultEntry),
    /// Entries that still exist unchanged (present phase only).
    Present(Vec<String>),
    /// Entries deleted or moved out of scope since the cookie.
    Deleted(Vec<String>),
    /// Nothing the store needs (new cookie, phase markers, referrals).
    Other,
}

fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| format!("the server sent a malformed {what}"))
}

/// Formats a 16-byte entryUUID the way OpenLDAP prints the `entryUUID` attribute.
pub fn format_uuid(bytes: &[u8]) -> Option<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if bytes.len() != 16 {
        return None;
    }
    // A deletion set lists thousands: no formatting machinery per byte.
    let mut out = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Some(out)
}

fn raw_control<'a>(controls: &'a [Control], oid: &str) -> Option<&'a ldap3::controls::RawControl> {
    controls.iter().map(|c| &c.1).find(|raw| raw.ctype == oid)
}

fn parse_control<T: ControlParser>(controls: &[Control], oid: &str, what: &str) -> Result<Option<T>, String> {
    match raw_control(controls, oid) {
        None => Ok(None),
        Some(raw) => guarded(what, || raw.parse::<T>()).map(Some),
    }
}

/// Classifies one message of a search: entries without a Sync State control
/// (a plain paged read) are `Changed`.
pub fn classify_any(entry: ResultEntry) -> Result<SyncItem, String> {
    if entry.is_ref() {
        return Ok(SyncItem::Other);
    }
    if entry.is_intermediate() {
        let info = guarded("syncInfo message", || parse_syncinfo(entry))?;
        return Ok(match info {
            SyncInfo::SyncIdSet { refresh_deletes, sync_uuids, .. } => {
                let uuids = sync_uuids.iter().filter_map(|u| format_uuid(u)).collect();
                if refresh_deletes {
                    SyncItem::Deleted(uuids)
                } else {
                    SyncItem::Present(uuids)
                }
            }
            _ => SyncItem::Other,
        });
    }
    let state: Option<SyncState> = parse_control(&entry.1, SYNC_STATE_OID, "Sync State control")?;
    let Some(state) = state else {
        return Ok(SyncItem::Changed(entry));
    };
    // A changed entry carries its UUID as an attribute: only a bare state needs this one.
    let uuid = || format_uuid(&state.entry_uuid).ok_or("the server sent an entryUUID that is not 16 bytes");
    Ok(match state.state {
        EntryState::Add | EntryState::Modify => SyncItem::Changed(entry),
        EntryState::Present => SyncItem::Present(vec![uuid()?]),
        EntryState::Delete => SyncItem::Deleted(vec![uuid()?]),
    })
}

/// The Sync Done control of a finished search: (new cookie, refreshDeletes).
pub fn sync_done(controls: &[Control]) -> Result<(Option<Vec<u8>>, bool), String> {
    let done: Option<SyncDone> = parse_control(controls, SYNC_DONE_OID, "Sync Done control")?;
    Ok(done.map(|d| (d.cookie, d.refresh_deletes)).unwrap_or((None, false)))
}

/// The cookie of a paged search's page (RFC 2696): None when the result
/// has no paged results control, empty after the last page.
pub fn paged_cookie(controls: &[Control]) -> Result<Option<Vec<u8>>, String> {
    let paged: Option<PagedResults> = parse_control(controls, PAGED_RESULTS_OID, "paged results control")?;
    Ok(paged.map(|p| p.cookie))
}

pub fn request(cookie: Option<Vec<u8>>) -> ldap3::controls::RawControl {
    let mut raw: ldap3::controls::RawControl =
        SyncRequest { mode: RefreshMode::RefreshOnly, cookie, reload_hint: false }.into();
    raw.crit = true;
    raw
}

/// The server's current cookie, taken before a paged full read so that the
/// next changed sync replays whatever changes while the read runs.
pub async fn current_cookie(ldap: &mut Ldap, repo: &Repository, base: &str) -> Result<Option<Vec<u8>>, String> {
    let res = ldap
        .with_timeout(timeout_of(repo))
        .with_controls(request(None))
        .search(base, Scope::Base, MATCH_NOTHING, vec!["1.1"])
        .await
        .map_err(|e| describe_ldap_error(&e))?;
    let result = res.1;
    if result.rc != 0 {
        return Err(describe_ldap_error(&ldap3::LdapError::LdapResult { result }));
    }
    Ok(sync_done(&result.ctrls)?.0)
}

/// Whether the server's RootDSE lists the content synchronisation control.
pub async fn supported(ldap: &mut Ldap, repo: &Repository) -> bool {
    let Ok(ldap3::SearchResult(entries, _)) =
        ldap.with_timeout(timeout_of(repo)).search("", Scope::Base, "(objectClass=*)", vec!["supportedControl"]).await
    else {
        return false;
    };
    entries
        .into_iter()
        .map(ldap3::SearchEntry::construct)
        .any(|e| super::rootdse::all(&e.attrs, "supportedControl").iter().any(|oid| oid == SYNC_REQUEST_OID))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_entry_uuid_like_openldap() {
        let bytes = [0x68, 0x9c, 0x4b, 0xea, 0x7b, 0xad, 0x10, 0x41, 0x87, 0x50, 0xab, 0x07, 0x1c, 0x83, 0x30, 0x6b];
        assert_eq!(format_uuid(&bytes).as_deref(), Some("689c4bea-7bad-1041-8750-ab071c83306b"));
        assert_eq!(format_uuid(&bytes[..15]), None);
    }

    #[test]
    fn malformed_sync_done_is_an_error_not_a_panic() {
        let control = Control(
            None,
            ldap3::controls::RawControl { ctype: SYNC_DONE_OID.into(), crit: false, val: Some(vec![0x30, 0x03, 0x09]) },
        );
        assert!(sync_done(&[control]).is_err());
        assert_eq!(sync_done(&[]).ok(), Some((None, false)));
    }

    #[test]
    fn reads_the_paged_results_cookie_and_rejects_a_malformed_one() {
        let control = |val: Vec<u8>| {
            Control(None, ldap3::controls::RawControl { ctype: PAGED_RESULTS_OID.into(), crit: false, val: Some(val) })
        };
        // SEQUENCE { INTEGER 0, OCTET STRING "ab" }
        let page = control(vec![0x30, 0x07, 0x02, 0x01, 0x00, 0x04, 0x02, b'a', b'b']);
        assert_eq!(paged_cookie(&[page]).ok(), Some(Some(b"ab".to_vec())));
        assert_eq!(paged_cookie(&[]).ok(), Some(None));
        assert!(paged_cookie(&[control(vec![0x30, 0x03, 0x02])]).is_err());
    }
}
