//! Fingerprints of raw directory entries, so a run can tell an entry it has
//! already stored from a changed one before mapping it.
//!
//! A user's stored representation is a function of the entry, the
//! repository's configuration and this code's mapping rules. The source hash
//! covers all three: when it matches the stored one, mapping, serialising
//! and hashing the user again would give the same body, so the run skips
//! them. A 128-bit XXH3 compares the same entry's old and new version (not
//! adversarial content against a list), so a non-cryptographic hash does.

use crate::ldap::entry::{self, AttributeNames, RawEntry};
use app::model::{Assignments, GroupsConfig, ReferralStrategy, Repository, UsersConfig, Vendor};
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

pub type SourceHash = [u8; 16];

/// Bump when what `mapping::map_user` or `plan::prepare` produce for the same
/// entry and configuration changes: every stored user is then mapped again
/// once (source hashes no longer match).
///
/// 2: the fingerprint hashes the entry's BER content whole (1 hashed each
/// part with a length prefix).
/// 3: it hashes the DN and the attributes the read is for, not the list
/// around them, so entries read together with others' attributes (users and
/// groups in one content sync) fingerprint as when read alone.
/// 4: the key covers what mapping and the reads look at ([`MappingInputs`]),
/// not the whole repository resource (a rename or a new schedule re-mapped
/// everyone).
const MAPPING_RULES: &str = "dirbridge-user-mapping-4";

/// The parts of a repository that decide what a run reads and how an entry
/// maps: where and as whom it reads, which users and groups, their
/// attributes and mappings, the assignments. Not its name, priority,
/// schedules, login options, deletion policy, edit mode or version: changing
/// those neither changes a stored user nor what the directory sends.
/// Never a secret: fingerprints are stored, and a fast hash must not become
/// a way to test passwords.
#[derive(serde::Serialize)]
struct MappingInputs<'a> {
    id: &'a str,
    vendor: Vendor,
    servers: &'a [String],
    bind_dn: Option<&'a str>,
    referral_strategy: ReferralStrategy,
    referral_urls: Vec<&'a str>,
    users: &'a UsersConfig,
    groups: &'a GroupsConfig,
    assignments: &'a Assignments,
}

impl<'a> MappingInputs<'a> {
    fn of(repo: &'a Repository) -> Self {
        let connection = &repo.connection;
        MappingInputs {
            id: &repo.id,
            vendor: repo.vendor,
            servers: &connection.servers,
            bind_dn: connection.bind_dn.as_deref(),
            referral_strategy: connection.referrals.strategy,
            referral_urls: connection.referrals.servers.iter().map(|s| s.url.as_str()).collect(),
            users: &repo.users,
            groups: &repo.groups,
            assignments: &repo.assignments,
        }
    }
}

/// What mapping an entry depends on besides the entry itself.
pub fn mapping_key(repo: &Repository) -> u128 {
    let mut input = MAPPING_RULES.as_bytes().to_vec();
    input.extend(serde_json::to_vec(&MappingInputs::of(repo)).unwrap_or_default());
    xxh3_128(&input)
}

/// Whether a change from `old` to `new` changes what a run reads or how it
/// maps: only then are the stored sync state's cookies no longer a place to
/// continue from (the next run must read, and map, everything).
pub fn reads_differently(old: &Repository, new: &Repository) -> bool {
    mapping_key(old) != mapping_key(new)
}

/// The source hash of an entry as the server sent it: the mapping key, then
/// the DN and the attributes `keep` names (all without it: one slice), types
/// and values in the server's order with their BER lengths (see
/// [`RawEntry::fingerprint_parts`]). An entry whose bytes match the stored
/// hash was decoded and mapped from these very bytes before, so the rest of
/// it need not be checked here; any other entry is decoded, which checks it
/// all. None when the entry is malformed.
fn source_hash(entry: &RawEntry, mapping_key: u128, keep: Option<&AttributeNames>) -> Option<SourceHash> {
    let mut hasher = Xxh3::new();
    hasher.update(&mapping_key.to_le_bytes());
    entry.fingerprint_parts(keep, &mut |part| hasher.update(part))?;
    Some(hasher.digest128().to_le_bytes())
}

/// The entry's canonical UUID (Some(None): it has no UUID attribute); None
/// when the entry is malformed before it.
fn uuid_of(entry: &RawEntry, uuid_attribute: &str) -> Option<Option<String>> {
    Some(entry.first_value(uuid_attribute)?.map(|value| crate::entry::uuid_from_value(uuid_attribute, value)))
}

/// What reading an entry found.
pub enum Recognised<T> {
    /// Its fingerprint matches the stored one (its UUID): nothing to decode.
    Unchanged(String),
    /// Decoded, with its fingerprint to store beside it.
    Decoded(T, Option<SourceHash>),
    /// It could not be decoded (why).
    Malformed(String),
}

/// Fingerprints an entry as it arrived and asks `is_stored(uuid, hash)`
/// whether the store already has it so; decodes it with `decode` only when
/// not. Without `is_stored` (nothing is stored yet: an import) the UUID is
/// not looked for, only the hash taken.
/// With `keep`, only the attributes it names are fingerprinted (the read
/// asked for more); `decode` is then expected to skip the others.
pub fn recognise<T, E>(
    tag: &ldap3::asn1::StructureTag,
    (uuid_attribute, keep): (&str, Option<&AttributeNames>),
    mapping_key: u128,
    is_stored: Option<impl FnMut(&str, &SourceHash) -> Result<bool, E>>,
    decode: impl FnOnce(&RawEntry<'_>) -> Result<T, String>,
) -> Result<Recognised<T>, E> {
    let malformed = || Ok(Recognised::Malformed(entry::malformed()));
    let Some(raw) = RawEntry::of(tag) else { return malformed() };
    let Some(hash) = source_hash(&raw, mapping_key, keep) else { return malformed() };
    // The UUID only when there is a store to look it up in: an import or a
    // content sync decodes every entry, and the mapping reads it again.
    if let Some(mut is_stored) = is_stored {
        if let Some(Some(uuid)) = uuid_of(&raw, uuid_attribute) {
            if is_stored(&uuid, &hash)? {
                return Ok(Recognised::Unchanged(uuid));
            }
        }
    }
    Ok(match decode(&raw) {
        Ok(decoded) => Recognised::Decoded(decoded, Some(hash)),
        Err(reason) => Recognised::Malformed(reason),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ldap::entry::tests::raw_entry;

    /// An entry's identity and source hash, as [`recognise`] reads them.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) struct Fingerprint {
        uuid: Option<String>,
        hash: SourceHash,
    }

    pub(crate) fn of_entry(entry: &RawEntry, uuid_attribute: &str, mapping_key: u128) -> Option<Fingerprint> {
        Some(Fingerprint { uuid: uuid_of(entry, uuid_attribute)?, hash: source_hash(entry, mapping_key, None)? })
    }

    fn fingerprint(dn: &str, attrs: &[(&str, &[&[u8]])], key: u128) -> Fingerprint {
        let tag = raw_entry(dn, attrs);
        of_entry(&RawEntry::of(&tag).expect("entry"), "entryUUID", key).expect("fingerprint")
    }

    const UUID: &[u8] = b"5C7B2A3E-1111-4E3B-9C1D-0242AC120002";

    #[test]
    fn same_entry_same_hash_any_change_another() {
        let base = fingerprint("uid=a,dc=x", &[("uid", &[b"a"]), ("entryUUID", &[UUID])], 1);
        assert_eq!(base.uuid.as_deref(), Some("5c7b2a3e-1111-4e3b-9c1d-0242ac120002"));
        assert_eq!(base, fingerprint("uid=a,dc=x", &[("uid", &[b"a"]), ("entryUUID", &[UUID])], 1));
        let variants = [
            fingerprint("uid=b,dc=x", &[("uid", &[b"a"]), ("entryUUID", &[UUID])], 1),
            fingerprint("uid=a,dc=x", &[("uid", &[b"b"]), ("entryUUID", &[UUID])], 1),
            fingerprint("uid=a,dc=x", &[("uid", &[b"a", b""]), ("entryUUID", &[UUID])], 1),
            fingerprint("uid=a,dc=x", &[("uid", &[b"a"]), ("cn", &[]), ("entryUUID", &[UUID])], 1),
            // Values moved between attributes.
            fingerprint("uid=a,dc=x", &[("ui", &[b"da"]), ("entryUUID", &[UUID])], 1),
            // Another configuration or rule set.
            fingerprint("uid=a,dc=x", &[("uid", &[b"a"]), ("entryUUID", &[UUID])], 2),
        ];
        for v in variants {
            assert_ne!(v.hash, base.hash, "{v:?}");
            assert_eq!(v.uuid, base.uuid);
        }
    }

    #[test]
    fn a_read_asking_for_more_attributes_fingerprints_the_kept_ones_as_a_read_of_them_alone() {
        use crate::ldap::entry::tests::raw_form;
        let alone = raw_entry("uid=a,dc=x", &[("uid", &[b"a"]), ("entryUUID", &[UUID])]);
        let with_more = raw_entry(
            "uid=a,dc=x",
            &[("objectClass", &[b"person"]), ("uid", &[b"a"]), ("member", &[b"cn=b"]), ("entryUUID", &[UUID])],
        );
        let keep = AttributeNames::new(["UID", "entryuuid"]);
        let too_few = AttributeNames::new(["uid"]);
        let hash = |tag: &ldap3::asn1::StructureTag, keep| source_hash(&RawEntry::of(tag).expect("entry"), 1, keep);
        // ldap3 hands most entries over raw, unusual ones as a tree: alike.
        for form in [|t: &ldap3::asn1::StructureTag| t.clone(), raw_form] {
            let (alone, with_more) = (form(&alone), form(&with_more));
            let whole = hash(&alone, None).expect("hash");
            assert_eq!(hash(&alone, Some(&keep)), Some(whole));
            assert_eq!(hash(&with_more, Some(&keep)), Some(whole));
            assert_ne!(hash(&with_more, None), Some(whole));
            assert_ne!(hash(&with_more, Some(&too_few)), Some(whole));
        }
        assert_eq!(hash(&raw_form(&alone), None), hash(&alone, None));
    }

    #[test]
    fn uuid_is_found_case_insensitively_and_binary_guids_are_formatted() {
        let tag = raw_entry(
            "cn=a",
            &[(
                "objectguid",
                &[&[0x67, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd, 1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]],
            )],
        );
        let f = of_entry(&RawEntry::of(&tag).expect("entry"), "objectGUID", 0).expect("fingerprint");
        assert_eq!(f.uuid.as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
        assert_eq!(fingerprint("cn=a", &[("cn", &[b"a"])], 0).uuid, None);
        assert_eq!(fingerprint("cn=a", &[("entryUUID", &[b""])], 0).uuid, None);
    }

    #[test]
    fn configuration_is_part_of_the_key() {
        let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        let key = mapping_key(&repo);
        assert_eq!(key, mapping_key(&repo));
        repo.connection.bind_password = Some(Some("secret".into()));
        assert_eq!(key, mapping_key(&repo), "secrets are not part of the key");
        repo.users.username_attribute = "cn".into();
        assert_ne!(key, mapping_key(&repo));
    }

    #[test]
    fn only_what_mapping_and_the_reads_look_at_is_part_of_the_key() {
        let repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        let changed = |edit: &dyn Fn(&mut Repository)| {
            let mut other = repo.clone();
            edit(&mut other);
            reads_differently(&repo, &other)
        };
        // Neither a stored user nor what the directory sends changes.
        assert!(!changed(&|r| r.name = "Renamed".into()));
        assert!(!changed(&|r| r.priority = 7));
        assert!(!changed(&|r| r.sync.full_sync.cron = Some("0 3 * * *".into())));
        assert!(!changed(&|r| r.sync.changed_sync.interval_seconds = Some(60)));
        assert!(!changed(&|r| r.sync.page_size = 17));
        assert!(!changed(&|r| r.sync.deletion.max_delete_percent = 3));
        assert!(!changed(&|r| r.login.is_auto_creation = !r.login.is_auto_creation));
        assert!(!changed(&|r| r.meta = Some(app::model::Meta { version: 9, ..Default::default() })));
        assert!(!changed(&|r| r.connection.timeout_seconds = 99));
        // What is read, or how it maps.
        assert!(changed(&|r| r.connection.servers = vec!["ldap://elsewhere".into()]));
        assert!(changed(&|r| r.connection.bind_dn = Some("cn=reader".into())));
        assert!(changed(&|r| r.users.filters = vec!["(department=Sales)".into()]));
        assert!(changed(&|r| r.users.users_dn = Some("ou=Staff,dc=example,dc=org".into())));
        assert!(changed(&|r| r.users.attribute_mappings.push(app::model::AttributeMapping::new("phone", "mobile"))));
        assert!(changed(&|r| r.users.account_status_attribute = Some("nsAccountLock".into())));
        assert!(changed(&|r| r.users.uuid_attribute = "nsUniqueId".into()));
        assert!(changed(&|r| r.groups.groups_dn = Some("ou=Teams,dc=example,dc=org".into())));
        assert!(changed(&|r| r.assignments.roles.push(Default::default())));
        assert!(changed(&|r| r.vendor = app::model::Vendor::Ds389));
    }
}
