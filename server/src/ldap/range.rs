//! Range retrieval of multi-valued attributes (Active Directory).
//!
//! Active Directory never sends more than MaxValRange values (1,500 by
//! default) of one attribute in one entry: a group with more members comes
//! as `member;range=0-1499`, and the client asks for `member;range=1500-*`,
//! then the next window, until a window ends in `*`. A client that only
//! knows `member` sees a big group with no members at all. Every entry a
//! sync reads goes through [`complete`], so a windowed attribute reaches
//! fingerprinting and mapping whole and under its plain name, as from any
//! other server.

use super::entry::{malformed, RawEntry};
use crate::entry::{parse_range, range_request, RANGE_WINDOW};
use ldap3::asn1::{StructureTag, TagClass, PL};
use ldap3::{Ldap, Scope};
use std::time::Duration;

/// Windows of one attribute read at most: a server that keeps answering (a
/// bug, or a group growing faster than it is read) cannot keep a sync
/// reading forever; the entry then fails. 20 million values.
const MAX_WINDOWS: u64 = 20_000_000 / RANGE_WINDOW;

/// The attributes of a SearchResultEntry: (description, values), mutable.
fn attributes_mut(tag: &mut StructureTag) -> Option<impl Iterator<Item = (&mut StructureTag, &mut Vec<StructureTag>)>> {
    let PL::C(parts) = &mut tag.payload else { return None };
    let PL::C(attributes) = &mut parts.get_mut(1)?.payload else { return None };
    Some(attributes.iter_mut().filter_map(|a| match &mut a.payload {
        PL::C(pair) => match pair.as_mut_slice() {
            [name, values] => match &mut values.payload {
                PL::C(values) => Some((name, values)),
                PL::P(_) => None,
            },
            _ => None,
        },
        PL::P(_) => None,
    }))
}

/// The windows of an entry that do not hold the rest of their attribute's
/// values yet: (attribute, index of the next value to ask for).
pub fn unfinished(tag: &StructureTag) -> Vec<(String, u64)> {
    let Some(entry) = RawEntry::of(tag) else { return Vec::new() };
    entry
        .attributes()
        .flatten()
        .filter_map(|a| parse_range(std::str::from_utf8(a.name).ok()?))
        .filter_map(|w| Some((w.attribute, w.end?.checked_add(1)?)))
        .collect()
}

/// Renames every windowed attribute of the entry to its plain name
/// (`member;range=0-*` becomes `member`), so mapping finds it.
pub fn rename_windows(tag: &mut StructureTag) {
    let Some(attributes) = attributes_mut(tag) else { return };
    for (name, _) in attributes {
        let PL::P(bytes) = &mut name.payload else { continue };
        if let Some(window) = std::str::from_utf8(bytes).ok().and_then(parse_range) {
            *bytes = window.attribute.into_bytes();
        }
    }
}

/// Appends `values` to the entry's windowed `attribute` (found by its plain
/// name, case-insensitively); false when the entry has no such window.
pub fn append(tag: &mut StructureTag, attribute: &str, values: Vec<Vec<u8>>) -> bool {
    let Some(attributes) = attributes_mut(tag) else { return false };
    for (name, existing) in attributes {
        let PL::P(bytes) = &name.payload else { continue };
        let windowed = std::str::from_utf8(bytes).ok().and_then(parse_range);
        if windowed.is_some_and(|w| w.attribute.eq_ignore_ascii_case(attribute)) {
            existing.extend(values.into_iter().map(|v| StructureTag {
                class: TagClass::Universal,
                id: 4,
                payload: PL::P(v),
            }));
            return true;
        }
    }
    false
}

/// One window's values as a follow-up search returned them.
#[derive(Debug, PartialEq, Eq)]
struct WindowValues {
    values: Vec<Vec<u8>>,
    /// The last value's index; None when this window is the last one.
    end: Option<u64>,
}

/// The values of `attribute`'s window in a follow-up answer (None: the
/// answer has no such window). Err when the server answered another window
/// than the one asked for.
fn window_values(tag: &StructureTag, attribute: &str, start: u64) -> Result<Option<WindowValues>, String> {
    let entry = RawEntry::of(tag).ok_or_else(malformed)?;
    for a in entry.attributes() {
        let a = a.ok_or_else(malformed)?;
        let Some(window) = std::str::from_utf8(a.name).ok().and_then(parse_range) else { continue };
        if !window.attribute.eq_ignore_ascii_case(attribute) {
            continue;
        }
        if window.start != start {
            return Err(format!(
                "asked for the values of {attribute} from {start}, the server answered from {}",
                window.start
            ));
        }
        let values = a.values().map(|v| v.map(<[u8]>::to_vec)).collect::<Option<Vec<_>>>().ok_or_else(malformed)?;
        return Ok(Some(WindowValues { values, end: window.end }));
    }
    Ok(None)
}

/// Reads the rest of every windowed attribute of a SearchResultEntry, one
/// base search per window, and leaves the entry as if the server had sent
/// all values under the plain attribute names.
pub async fn complete(ldap: &mut Ldap, timeout: Duration, tag: &mut StructureTag) -> Result<(), String> {
    // Most entries of most servers: no attribute option at all. An entry
    // sent raw without a ';' in any byte has none (one search over its
    // bytes instead of walking every attribute: ~1,500 instructions an entry).
    let has_options = match &tag.payload {
        PL::P(content) if !content.contains(&b';') => false,
        _ => RawEntry::of(tag).is_some_and(|e| e.attributes().flatten().any(|a| a.name.contains(&b';'))),
    };
    if !has_options {
        return Ok(());
    }
    // Windows are completed in ldap3's tree form; entries arrive raw.
    if matches!(tag.payload, PL::P(_)) {
        let raw =
            std::mem::replace(tag, StructureTag { class: TagClass::Universal, id: 0, payload: PL::C(Vec::new()) });
        *tag = ldap3::asn1::inflate_entry(raw);
    }
    let pending = unfinished(tag);
    if !pending.is_empty() {
        let dn = RawEntry::of(tag).and_then(|e| String::from_utf8(e.dn.to_vec()).ok()).ok_or_else(malformed)?;
        for (attribute, first) in pending {
            let mut start = first;
            for windows in 1.. {
                if windows > MAX_WINDOWS {
                    return Err(format!("{attribute} of {dn} has more than {} values", MAX_WINDOWS * RANGE_WINDOW));
                }
                let wanted = range_request(&attribute, start);
                let found = ldap
                    .with_timeout(timeout)
                    .search(&dn, Scope::Base, "(objectClass=*)", vec![wanted])
                    .await
                    .and_then(|r| r.success())
                    .map_err(|e| {
                        format!("reading {attribute} of {dn} from value {start}: {}", super::describe_ldap_error(&e))
                    })?;
                let Some(answer) = found.0.first() else { break };
                // No window at all: the values after `start` were removed
                // since the first window was read.
                let Some(WindowValues { values, end }) = window_values(&answer.0, &attribute, start)? else { break };
                append(tag, &attribute, values);
                match end {
                    Some(end) => start = end + 1,
                    None => break,
                }
            }
        }
    }
    rename_windows(tag);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::entry::{into_entry, tests::raw_entry};

    #[test]
    fn finds_unfinished_windows_and_completes_them_under_the_plain_name() {
        let mut tag = raw_entry(
            "CN=big,OU=Groups,DC=example,DC=org",
            &[("cn", &[b"big"]), ("member;range=0-1", &[b"CN=a", b"CN=b"]), ("memberUid;range=0-*", &[b"x"])],
        );
        assert_eq!(unfinished(&tag), vec![("member".to_string(), 2)]);
        assert!(append(&mut tag, "MEMBER", vec![b"CN=c".to_vec()]));
        assert!(!append(&mut tag, "uniqueMember", vec![b"CN=d".to_vec()]));
        rename_windows(&mut tag);
        assert!(unfinished(&tag).is_empty());
        let entry = into_entry(tag).expect("entry");
        assert_eq!(entry.values("member"), ["CN=a", "CN=b", "CN=c"]);
        assert_eq!(entry.values("memberUid"), ["x"]);
        assert_eq!(entry.values("cn"), ["big"]);
    }

    #[test]
    fn a_follow_up_must_answer_the_window_asked_for() {
        let answer = raw_entry("CN=big", &[("member;range=1500-2999", &[b"CN=a"])]);
        assert_eq!(
            window_values(&answer, "member", 1500),
            Ok(Some(WindowValues { values: vec![b"CN=a".to_vec()], end: Some(2999) }))
        );
        assert!(window_values(&answer, "member", 3000).is_err());
        let last = raw_entry("CN=big", &[("member;range=3000-*", &[b"CN=z"])]);
        assert_eq!(
            window_values(&last, "member", 3000),
            Ok(Some(WindowValues { values: vec![b"CN=z".to_vec()], end: None }))
        );
        let none = raw_entry("CN=big", &[("cn", &[b"big"])]);
        assert_eq!(window_values(&none, "member", 3000), Ok(None));
    }
}
