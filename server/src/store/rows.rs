//! The store's row formats and their encoding, in one place: a user row's
//! body and content hash, a group's packed member keys and hash, the sync
//! state and a run's end, and the statements both of the store's
//! connections (the pool's and the sync writer's) run on those rows.

use app::model::{GroupCounts, RunState, SyncChange, SyncCounts, SyncError, User};

/// Disables users (`?1` = now). The hashes are reset with the body, so a user
/// that comes back in a later read is mapped and rewritten.
pub const DISABLE_USERS: &str =
    "UPDATE users SET enabled = 0, content_hash = x'00', source_hash = NULL, synced_at = ?1";

/// What a user row's `body` holds: the mapped fields the row has no column
/// for, empty ones left out (a third of the whole user's JSON: less to
/// serialize and hash on the reader, fewer pages for the writer). Bodies
/// written before this form hold the whole user and read the same: the
/// fields that are columns now are ignored, the columns win.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub email_verified: bool,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required_actions: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub admin: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_groups: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The body fields that are row columns (in bodies of the whole user).
const COLUMN_FIELDS: [&str; 7] = ["id", "repositoryId", "username", "ldapDn", "ldapUuid", "enabled", "syncedAt"];

impl UserBody {
    /// Moves the body's fields out of `user`, leaving its column fields.
    pub fn take(user: &mut User) -> UserBody {
        use std::mem::take;
        // Every field of `User` is named (no `..`): a field added there does
        // not compile here until it is a column (and in COLUMN_FIELDS) or
        // part of the body, so no mapped value is silently left unstored.
        let User {
            id: _,
            repository_id: _,
            username: _,
            ldap_dn: _,
            ldap_uuid: _,
            enabled: _,
            synced_at: _,
            email,
            first_name,
            last_name,
            display_name,
            email_verified,
            attributes,
            required_actions,
            admin,
            roles,
            user_types,
            user_groups,
            groups,
        } = user;
        UserBody {
            email: take(email),
            first_name: take(first_name),
            last_name: take(last_name),
            display_name: take(display_name),
            email_verified: take(email_verified),
            attributes: take(attributes),
            required_actions: take(required_actions),
            admin: take(admin),
            roles: take(roles),
            user_types: take(user_types),
            user_groups: take(user_groups),
            groups: take(groups),
        }
    }

    /// The user of a row: `columns` with the body's fields.
    pub fn into_user(self, columns: User) -> User {
        User {
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            display_name: self.display_name,
            email_verified: self.email_verified,
            attributes: self.attributes,
            required_actions: self.required_actions,
            admin: self.admin,
            roles: self.roles,
            user_types: self.user_types,
            user_groups: self.user_groups,
            groups: self.groups,
            ..columns
        }
    }
}

/// A user prepared for writing: the columns of its row, its JSON and a hash
/// of it. Only these reach the writer thread; the mapped `User` is dropped
/// where it was built (a block freed on another thread costs mimalloc an
/// atomic hand-back, and a user is dozens of blocks).
pub struct PreparedUser {
    pub ldap_uuid: String,
    pub username: String,
    pub ldap_dn: String,
    pub enabled: bool,
    pub body: String,
    /// XXH3-128 of the body and columns (see `sync::plan::prepare`).
    pub hash: [u8; 16],
    /// The fingerprint of the entry it was mapped from, when read by a run
    /// (see `sync::fingerprint`); None makes the next run map it again.
    pub source_hash: Option<[u8; 16]>,
}

/// How a batch changed the store.
#[derive(Default, Debug)]
pub struct BatchOutcome {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// New entries left out: the writer adds no users (see
    /// [`crate::store::writer::Writer::add_no_new_users`]).
    pub not_imported: u64,
    pub changes: Vec<SyncChange>,
    /// Users not written, with their DN and why (a username another user
    /// of the repository has).
    pub refused: Vec<SyncError>,
}

/// Which users a removal selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Not returned by a complete read: neither at a place in read order
    /// the run saw ([`SeenPlaces`]) nor in its seen-set (`temp.sync_seen`);
    /// collected into `temp.sync_unseen` by `Writer::find_removable`.
    Unseen,
    /// Reported deleted by content synchronisation (`temp.sync_gone`).
    Gone,
}

impl Removal {
    pub(super) fn condition(self) -> &'static str {
        match self {
            Removal::Unseen => "ldap_uuid IN (SELECT uuid FROM temp.sync_unseen)",
            Removal::Gone => "ldap_uuid IN (SELECT uuid FROM temp.sync_gone)",
        }
    }
}

/// The places in read order (`users.seq`) of the users a complete read found
/// stored unchanged: the reader takes them from the stored order it reads
/// alongside the directory, so such a user costs the writer a bit instead of
/// a row in the seen-set (and the removal check a bit test instead of a
/// lookup in it).
#[derive(Default, Debug)]
pub struct SeenPlaces {
    bits: Vec<u64>,
}

impl SeenPlaces {
    /// Places from 1 up to this are recorded here (8 MiB at most); users
    /// at other places go to the seen-set by UUID.
    pub const LIMIT: i64 = 1 << 26;

    pub fn fits(seq: i64) -> bool {
        (1..Self::LIMIT).contains(&seq)
    }

    /// Records `seq` (one that [`SeenPlaces::fits`]).
    pub fn insert(&mut self, seq: i64) {
        if Self::fits(seq) {
            let (word, bit) = ((seq / 64) as usize, seq % 64);
            if word >= self.bits.len() {
                self.bits.resize(word + 1, 0);
            }
            self.bits[word] |= 1 << bit;
        }
    }

    pub fn contains(&self, seq: i64) -> bool {
        Self::fits(seq) && self.bits.get((seq / 64) as usize).is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
}

/// Where the next changed sync of a repository continues from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState {
    pub users_cookie: Option<Vec<u8>>,
    pub groups_cookie: Option<Vec<u8>>,
    /// Start of the last successful run (RFC 3339).
    pub since: String,
}

/// How a run ended, as its row stores it.
pub struct RunEnd {
    pub id: i64,
    pub state: RunState,
    pub finished_at: String,
    /// JSON of the counts, errors, changes and group counts.
    pub counts: String,
    pub errors: String,
    pub changes: String,
    pub group_counts: Option<String>,
    pub seen: i64,
    pub message: Option<String>,
}

impl RunEnd {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: i64,
        state: RunState,
        finished_at: String,
        counts: &SyncCounts,
        message: Option<String>,
        errors: &[SyncError],
        changes: &[SyncChange],
        group_counts: Option<&GroupCounts>,
    ) -> RunEnd {
        RunEnd {
            id,
            state,
            finished_at,
            counts: serde_json::to_string(counts).unwrap_or_default(),
            errors: serde_json::to_string(errors).unwrap_or_default(),
            changes: serde_json::to_string(changes).unwrap_or_default(),
            group_counts: group_counts.and_then(|g| serde_json::to_string(g).ok()),
            seen: counts.seen as i64,
            message,
        }
    }
}

/// Parameters: state, finished_at, counts, seen, message, errors, changes,
/// group_counts, id (see [`RunEnd`]).
pub const FINISH_RUN: &str = "UPDATE sync_runs SET state = ?1, finished_at = ?2, counts = ?3, progress_done = ?4, progress_total = CASE WHEN ?1 = 'succeeded' THEN ?4 ELSE progress_total END, message = ?5, errors = ?6, changes = ?7, group_counts = ?8 WHERE id = ?9";

/// What deletion detection found after a complete enumeration.
#[derive(Debug)]
pub struct Missing {
    pub stored: u64,
    pub to_remove: u64,
}

/// Body fields (and attribute names) whose values differ between two user
/// bodies. A field left out counts as empty, and the fields that are columns
/// (in bodies of the whole user) are not compared: the writer compares the
/// columns themselves.
pub fn changed_fields(old: &str, new: &str) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::from_str::<serde_json::Value>(old), serde_json::from_str::<serde_json::Value>(new))
    else {
        return Vec::new();
    };
    let empty = serde_json::Value::Null;
    let is_empty = |v: &serde_json::Value| match v {
        serde_json::Value::Null | serde_json::Value::Bool(false) => true,
        serde_json::Value::Array(items) => items.is_empty(),
        serde_json::Value::Object(fields) => fields.is_empty(),
        _ => false,
    };
    let same = |x: Option<&serde_json::Value>, y: Option<&serde_json::Value>| {
        let (x, y) = (x.unwrap_or(&empty), y.unwrap_or(&empty));
        x == y || (is_empty(x) && is_empty(y))
    };
    let mut names: Vec<&String> = b.keys().chain(a.keys()).filter(|k| !COLUMN_FIELDS.contains(&k.as_str())).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for k in names {
        if k == "attributes" {
            let no_attributes = serde_json::Map::new();
            let old_attrs = a.get(k).and_then(|x| x.as_object()).unwrap_or(&no_attributes);
            let new_attrs = b.get(k).and_then(|x| x.as_object()).unwrap_or(&no_attributes);
            let mut attrs: Vec<&String> = old_attrs.keys().chain(new_attrs.keys()).collect();
            attrs.sort();
            attrs.dedup();
            for name in attrs {
                if !same(old_attrs.get(name), new_attrs.get(name)) {
                    out.push(format!("attributes.{name}"));
                }
            }
        } else if !same(a.get(k), b.get(k)) {
            out.push(k.clone());
        }
    }
    out
}

/// A group read from the directory, ready to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedGroup {
    pub uuid: String,
    pub name: String,
    pub dn: String,
    pub dn_key: String,
    pub members: MemberKeys,
    pub hash: Vec<u8>,
    /// The fingerprint of the entry it was mapped from (see `sync::fingerprint`).
    pub source_hash: Option<[u8; 16]>,
}

impl PreparedGroup {
    /// A mapped group's row: its member keys packed (sorted, without
    /// duplicates) and its content hash.
    pub fn of(uuid: String, name: String, dn: String, member_keys: Vec<String>) -> PreparedGroup {
        let members = MemberKeys::new(member_keys);
        let dn_key = crate::dn::normalize(&dn);
        // XXH3-128 as for users (see [`PreparedUser::of`]): the hash only
        // tells a group's content from its stored copy, and it is taken over
        // every member (SHA-256 cost ~3,500 instructions a member). Rows an
        // older release hashed with SHA-256 are told apart by length (the
        // writer's groups).
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for part in [name.as_str(), dn.as_str()].into_iter().chain(members.iter()) {
            hasher.update(part.as_bytes());
            hasher.update(&[0]);
        }
        PreparedGroup {
            uuid,
            name,
            dn,
            dn_key,
            members,
            hash: hasher.digest128().to_le_bytes().to_vec(),
            source_hash: None,
        }
    }
}

/// A group's member keys, sorted (by bytes) and without duplicates, packed
/// in one buffer as `<byte length>:<key>` pieces. This is the form the
/// group's row keeps (`groups.members`, built the same way by migration
/// 0008): a changed group is compared with it and only the difference is
/// written, and it holds a huge group in one allocation instead of one
/// string per member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberKeys {
    packed: Vec<u8>,
    len: usize,
}

impl MemberKeys {
    /// Sorts and deduplicates `keys`, then packs them.
    pub fn new(mut keys: Vec<String>) -> MemberKeys {
        keys.sort_unstable();
        keys.dedup();
        let mut packed = Vec::with_capacity(keys.iter().map(|k| k.len() + 4).sum());
        for k in &keys {
            packed.extend_from_slice(k.len().to_string().as_bytes());
            packed.push(b':');
            packed.extend_from_slice(k.as_bytes());
        }
        MemberKeys { packed, len: keys.len() }
    }

    /// Reads the stored form back, checking it against the stored `count`:
    /// a damaged value is an error, never a shorter member list (that would
    /// leave memberships behind).
    pub fn from_stored(packed: Vec<u8>, count: i64) -> Result<MemberKeys, String> {
        let mut len = 0;
        let mut previous: Option<&str> = None;
        let mut rest = packed.as_slice();
        while !rest.is_empty() {
            let (key, after) = split_piece(rest).ok_or("a group's stored member list is damaged")?;
            if previous.is_some_and(|p| p >= key) {
                return Err("a group's stored member list is out of order".into());
            }
            previous = Some(key);
            len += 1;
            rest = after;
        }
        if i64::try_from(len).ok() != Some(count) {
            return Err(format!("a group's stored member list has {len} keys, its count says {count}"));
        }
        Ok(MemberKeys { packed, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed form, as stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.packed
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut rest = self.packed.as_slice();
        std::iter::from_fn(move || {
            let (key, after) = split_piece(rest)?;
            rest = after;
            Some(key)
        })
    }

    /// What changes from `self` to `new`: the keys only `self` has, and
    /// the keys only `new` has (one merge of the two sorted lists).
    pub fn difference<'a>(&'a self, new: &'a MemberKeys) -> (Vec<&'a str>, Vec<&'a str>) {
        let (mut gone, mut added) = (Vec::new(), Vec::new());
        let (mut old_keys, mut new_keys) = (self.iter().peekable(), new.iter().peekable());
        loop {
            match (old_keys.peek(), new_keys.peek()) {
                (Some(o), Some(n)) => match o.cmp(n) {
                    std::cmp::Ordering::Less => gone.extend(old_keys.next()),
                    std::cmp::Ordering::Greater => added.extend(new_keys.next()),
                    std::cmp::Ordering::Equal => {
                        old_keys.next();
                        new_keys.next();
                    }
                },
                (Some(_), None) => gone.extend(old_keys.next()),
                (None, Some(_)) => added.extend(new_keys.next()),
                (None, None) => return (gone, added),
            }
        }
    }
}

/// The first `<length>:<key>` piece of `packed` and what follows it; None
/// when there is none or it is malformed.
fn split_piece(packed: &[u8]) -> Option<(&str, &[u8])> {
    let colon = packed.iter().take(20).position(|&b| b == b':')?;
    let digits = std::str::from_utf8(&packed[..colon]).ok()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: usize = digits.parse().ok()?;
    let rest = &packed[colon + 1..];
    let key = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((key, &rest[len..]))
}

impl PreparedUser {
    /// Serialises a user's body once (the fields without a column; see
    /// [`UserBody`]) and hashes it with the columns: an unchanged entry
    /// hashes the same in every run, whatever the sync time.
    pub fn of(mut user: User) -> PreparedUser {
        let body = serde_json::to_string(&UserBody::take(&mut user)).unwrap_or_default();
        // The columns too: a rename or a disabled account changes no body field.
        // XXH3-128 as for fingerprints: the hash only tells a user's content from
        // its previous content (a stored SHA-256 from before simply differs once),
        // at a fraction of SHA-256's cost on the reader.
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(body.as_bytes());
        for column in [user.username.as_bytes(), user.ldap_dn.as_bytes(), &[u8::from(user.enabled)]] {
            hasher.update(&[0]);
            hasher.update(column);
        }
        let hash = hasher.digest128().to_le_bytes();
        PreparedUser {
            ldap_uuid: user.ldap_uuid,
            username: user.username,
            ldap_dn: user.ldap_dn,
            enabled: user.enabled,
            body,
            hash,
            source_hash: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_changed_fields_and_attributes() {
        let old = r#"{"email":"a@x","attributes":{"phone":["1"],"title":["x"]}}"#;
        let new = r#"{"email":"b@x","attributes":{"phone":["2"],"title":["x"]}}"#;
        assert_eq!(changed_fields(old, new), vec!["attributes.phone", "email"]);
        // A field or attribute that went is a change too.
        let gone = r#"{"attributes":{"title":["x"]}}"#;
        assert_eq!(changed_fields(old, gone), vec!["attributes.phone", "email"]);
        // A body of the whole user (as stored before) against the same user
        // in the body form: the column fields and empty ones are no change.
        let whole = r#"{"id":"r:u","repositoryId":"r","username":"a","enabled":true,"ldapDn":"uid=a","ldapUuid":"u","syncedAt":null,"email":"a@x","emailVerified":false,"admin":false,"roles":[],"groups":[],"attributes":{"phone":["1"],"title":["x"]}}"#;
        assert_eq!(changed_fields(whole, old), Vec::<String>::new());
        assert_eq!(changed_fields(whole, new), vec!["attributes.phone", "email"]);
    }

    /// A body holds what the columns do not, reads back into the same user,
    /// and a body of the whole user (stored before) reads the same.
    #[test]
    fn a_user_goes_through_its_body_and_columns_unchanged() {
        let user = User {
            id: "r:u".into(),
            repository_id: "r".into(),
            ldap_uuid: "u".into(),
            username: "anna".into(),
            ldap_dn: "uid=anna,dc=x".into(),
            enabled: true,
            email: Some("anna@x".into()),
            last_name: Some("Smith".into()),
            attributes: [("phone".to_string(), vec!["1".to_string(), "2".into()])].into(),
            admin: true,
            groups: vec!["cn=ops,dc=x".into()],
            synced_at: Some("now".into()),
            ..User::default()
        };
        let mut columns = user.clone();
        let body = serde_json::to_string(&UserBody::take(&mut columns)).expect("body");
        for field in ["anna\"", "uid=anna", "\"r:u\"", "enabled", "synced", "firstName", "roles", "emailVerified"] {
            assert!(!body.contains(field), "{field} in {body}");
        }
        let back = serde_json::from_str::<UserBody>(&body).expect("read").into_user(columns.clone());
        assert_eq!(back, user);
        let whole = serde_json::to_string(&User { synced_at: None, ..user.clone() }).expect("whole");
        let back = serde_json::from_str::<UserBody>(&whole).expect("read whole").into_user(columns);
        assert_eq!(back, user);
    }

    fn user(name: &str, uuid: &str) -> User {
        User { username: name.into(), ldap_uuid: uuid.into(), ldap_dn: format!("uid={name}"), ..Default::default() }
    }

    #[test]
    fn hash_ignores_sync_time_only() {
        let a = PreparedUser::of(User { synced_at: Some("2026-01-01T00:00:00Z".into()), ..user("a", "1") });
        let b = PreparedUser::of(User { synced_at: Some("2027-01-01T00:00:00Z".into()), ..user("a", "1") });
        assert_eq!((a.hash, a.body.clone()), (b.hash, b.body));
        assert!(!a.body.contains("2026"), "{}", a.body);
        let mut changed = user("a", "1");
        changed.email = Some("x@y".into());
        assert_ne!(PreparedUser::of(changed).hash, a.hash);
        // A rename or a disabled account changes no body field, but the hash.
        assert_ne!(PreparedUser::of(user("b", "1")).hash, a.hash);
        assert_ne!(PreparedUser::of(User { ldap_dn: "uid=a,ou=moved".into(), ..user("a", "1") }).hash, a.hash);
        assert_ne!(PreparedUser::of(User { enabled: true, ..user("a", "1") }).hash, a.hash);
    }

    #[test]
    fn member_keys_pack_sorted_without_duplicates_and_read_back() {
        let keys = ["uid=b", "12:uid=a", "", "uid=b", "cn=x\nline", "uid=zoë"];
        let members = MemberKeys::new(keys.iter().map(|k| k.to_string()).collect());
        let listed: Vec<&str> = members.iter().collect();
        assert_eq!(listed, ["", "12:uid=a", "cn=x\nline", "uid=b", "uid=zoë"]);
        assert_eq!(members.len(), 5);
        let back = MemberKeys::from_stored(members.as_bytes().to_vec(), 5).expect("reads back");
        assert_eq!(back, members);
        assert!(MemberKeys::from_stored(Vec::new(), 0).expect("empty").is_empty());
    }

    #[test]
    fn a_damaged_member_list_is_an_error_not_a_shorter_list() {
        let members = MemberKeys::new(vec!["uid=a".into(), "uid=b".into()]);
        let whole = members.as_bytes().to_vec();
        for cut in 1..whole.len() {
            assert!(MemberKeys::from_stored(whole[..cut].to_vec(), 2).is_err(), "cut at {cut}");
        }
        assert!(MemberKeys::from_stored(whole.clone(), 2).is_ok());
        assert!(MemberKeys::from_stored(whole, 3).is_err());
        for bad in ["x:uid=a", "5uid=a", ":uid=a", "5:uid=b5:uid=a", "5:uid=a5:uid=a", "-1:"] {
            assert!(MemberKeys::from_stored(bad.as_bytes().to_vec(), 2).is_err(), "{bad}");
            assert!(MemberKeys::from_stored(bad.as_bytes().to_vec(), 1).is_err(), "{bad}");
        }
        assert!(MemberKeys::from_stored(b"2:\xff\xfe".to_vec(), 1).is_err());
    }

    #[test]
    fn the_difference_of_two_member_lists_is_what_one_has_and_the_other_not() {
        let of = |keys: &[&str]| MemberKeys::new(keys.iter().map(|k| k.to_string()).collect());
        let old = of(&["a", "b", "d", "f"]);
        let new = of(&["b", "c", "d", "g", "h"]);
        assert_eq!(old.difference(&new), (vec!["a", "f"], vec!["c", "g", "h"]));
        assert_eq!(new.difference(&new), (vec![], vec![]));
        assert_eq!(of(&[]).difference(&old), (vec![], vec!["a", "b", "d", "f"]));
        assert_eq!(old.difference(&of(&[])), (vec!["a", "b", "d", "f"], vec![]));
    }
}
