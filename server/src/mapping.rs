//! Mapping a directory entry to the user representation: pure, so it is
//! tested on fixtures without a server.

use crate::entry::{uuid_of, Entry, EntryAttributes};
use app::model::{MappingType, MemberAttribute, Repository, User, Vendor};
use std::collections::BTreeMap;

/// Why an entry cannot become a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingError {
    pub dn: String,
    pub reason: String,
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.dn, self.reason)
    }
}

/// Whether the account is enabled, read from the repository's account status attribute.
pub fn is_enabled(entry: &impl EntryAttributes, status_attribute: Option<&str>) -> bool {
    let Some(attr) = status_attribute.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    let value = entry.first(attr);
    match attr.to_ascii_lowercase().as_str() {
        // AD: bit 0x2 is ACCOUNTDISABLE.
        "useraccountcontrol" => value.and_then(|v| v.parse::<u32>().ok()).is_none_or(|flags| flags & 2 == 0),
        // OpenLDAP ppolicy: any lock time means locked.
        "pwdaccountlockedtime" => value.is_none(),
        _ => match value.map(|v| v.trim().to_ascii_lowercase()) {
            None => true,
            Some(v) => !matches!(v.as_str(), "true" | "yes" | "1" | "disabled" | "inactive" | "locked"),
        },
    }
}

/// Maps an entry to a user of `repo`.
pub fn map_user(
    repo: &Repository,
    entry: &impl EntryAttributes,
    synced_at: Option<String>,
) -> Result<User, MappingError> {
    let fail = |reason: String| MappingError { dn: entry.dn().to_string(), reason };
    let users = &repo.users;
    let ldap_uuid = uuid_of(entry, &users.uuid_attribute)
        .ok_or_else(|| fail(format!("has no {} (the UUID attribute)", users.uuid_attribute)))?;

    let mut user = User {
        repository_id: repo.id.clone(),
        ldap_dn: entry.dn().to_string(),
        enabled: is_enabled(entry, users.account_status_attribute.as_deref()),
        synced_at,
        ..Default::default()
    };
    let mut username = entry.first(&users.username_attribute).map(str::to_string);
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &users.attribute_mappings {
        let mut values = entry.text(&m.ldap_attribute);
        let mut first = || values.next().filter(|v| !v.is_empty()).map(str::to_string);
        match m.attribute.as_str() {
            "username" => {
                if let Some(first) = first() {
                    username = Some(first)
                }
            }
            "email" => user.email = first(),
            "firstName" => user.first_name = first(),
            "lastName" => user.last_name = first(),
            "displayName" => user.display_name = first(),
            "emailVerified" => {
                let truthy = |v: String| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes");
                user.email_verified = first().is_some_and(truthy);
            }
            other => {
                let name = other.strip_prefix("attributes.").unwrap_or(other);
                let text: Vec<String> = values.map(str::to_string).collect();
                if !text.is_empty() {
                    attributes.insert(name.to_string(), text);
                } else {
                    // Binary (or not UTF-8) values are kept, base64-encoded.
                    use base64::Engine as _;
                    let encoded: Vec<String> = entry
                        .binary(&m.ldap_attribute)
                        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                        .collect();
                    if !encoded.is_empty() {
                        attributes.insert(name.to_string(), encoded);
                    }
                }
            }
        }
    }
    user.username =
        username.ok_or_else(|| fail(format!("has no {} (the username attribute)", users.username_attribute)))?;
    user.attributes = attributes;
    user.ldap_uuid = ldap_uuid;
    user.id = format!("{}:{}", repo.id, user.ldap_uuid);

    // Normalising DNs costs a parse each: only when a role is assigned by group.
    let by_group = repo.assignments.roles.iter().any(|r| r.mapping_type == MappingType::Group);
    let member_of: Vec<String> = match (by_group, repo.groups.membership_attribute.as_deref()) {
        (true, Some(a)) => entry.text(a).map(crate::dn::normalize).collect(),
        _ => Vec::new(),
    };
    let a = &repo.assignments;
    let under = |root: &str| crate::dn::is_within(entry.dn(), root);
    user.user_types = a.user_types.iter().filter(|x| under(&x.root_node_dn)).map(|x| x.group_id.clone()).collect();
    user.user_groups = a.user_groups.iter().filter(|x| under(&x.root_node_dn)).map(|x| x.group_id.clone()).collect();
    user.roles = a
        .roles
        .iter()
        .filter(|r| match r.mapping_type {
            MappingType::Ou => under(&r.group_dn_or_ou),
            MappingType::Group => member_of.contains(&crate::dn::normalize(&r.group_dn_or_ou)),
        })
        .map(|r| r.role_id.clone())
        .collect();
    user.roles.dedup();
    user.admin = user.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"));
    user.groups = match repo.groups.membership_attribute.as_deref() {
        Some(attr) => entry.text(attr).map(str::to_string).collect(),
        None => Vec::new(),
    };
    Ok(user)
}

/// The roles assigned by group to any of `groups` (DNs of the synced groups
/// a user is in, directly or through nesting), compared as parsed,
/// normalised DNs.
pub fn roles_of_groups<'g>(repo: &Repository, groups: impl IntoIterator<Item = &'g str>) -> Vec<String> {
    let wanted: Vec<(String, &str)> = repo
        .assignments
        .roles
        .iter()
        .filter(|r| r.mapping_type == MappingType::Group)
        .map(|r| (crate::dn::normalize(&r.group_dn_or_ou), r.role_id.as_str()))
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let held: std::collections::HashSet<String> = groups.into_iter().map(crate::dn::normalize).collect();
    let mut roles: Vec<String> =
        wanted.into_iter().filter(|(dn, _)| held.contains(dn)).map(|(_, role)| role.to_string()).collect();
    roles.dedup();
    roles
}

/// Adds roles a user holds besides those mapped from the entry; `admin`
/// follows the roles.
pub fn add_roles(user: &mut User, roles: Vec<String>) {
    for role in roles {
        if !user.roles.contains(&role) {
            user.roles.push(role);
        }
    }
    user.admin = user.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"));
}

/// Attributes that hold binary data by definition: their values are expected
/// outside UTF-8 and are not reported.
const BINARY_ATTRIBUTES: &[&str] = &[
    "jpegphoto",
    "thumbnailphoto",
    "photo",
    "audio",
    "usercertificate",
    "usercertificate;binary",
    "cacertificate",
    "objectsid",
    "objectguid",
    "userpassword",
    "msexchmailboxguid",
];

/// Mapped attributes of `entry` whose values are not valid UTF-8 text
/// (ldap3 puts those in `bin_attrs`), other than well-known binary ones.
pub fn non_utf8_attributes(repo: &Repository, entry: &impl EntryAttributes) -> Vec<String> {
    if !entry.any_binary() {
        return Vec::new();
    }
    let users = &repo.users;
    let mapped = users
        .attribute_mappings
        .iter()
        .map(|m| m.ldap_attribute.as_str())
        .chain([users.username_attribute.as_str()])
        .chain(users.account_status_attribute.as_deref());
    let mut out: Vec<String> = mapped
        .filter(|a| {
            let key = a.to_ascii_lowercase();
            !key.eq_ignore_ascii_case(&users.uuid_attribute)
                && !BINARY_ATTRIBUTES.contains(&key.as_str())
                && entry.binary(a).next().is_some()
        })
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The key a member value is stored under: a normalized DN for `member` and
/// `uniqueMember` (an optional `#'..'B` unique id suffix dropped), a lower-cased
/// uid for `memberUid`.
pub fn member_key(attribute: MemberAttribute, value: &str) -> String {
    match attribute {
        MemberAttribute::MemberUid => value.trim().to_lowercase(),
        MemberAttribute::UniqueMember => {
            let dn = match value.rfind("#'") {
                Some(i) if value.ends_with("'B") => &value[..i],
                _ => value,
            };
            crate::dn::normalize(dn)
        }
        MemberAttribute::Member => crate::dn::normalize(value),
    }
}

/// The keys under which a user appears as a member of groups.
pub fn user_member_keys(user: &User) -> Vec<String> {
    vec![crate::dn::normalize(&user.ldap_dn), user.username.to_lowercase()]
}

/// A group entry mapped: its identity and its members' keys (in the order
/// read, duplicates included; the store's row packs them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedGroup {
    pub uuid: String,
    pub name: String,
    pub dn: String,
    pub member_keys: Vec<String>,
}

/// Maps a group entry; members are keyed with [`member_key`].
pub fn map_group(repo: &Repository, entry: &Entry) -> Result<MappedGroup, MappingError> {
    let members = entry.values(repo.groups.member_attribute.as_str()).iter().map(String::as_str);
    map_group_with_members(repo, entry, members)
}

/// [`map_group`] with the member attribute's values given apart (a sync
/// reads them in place from the message: a group of 200,000 members is not
/// copied into an [`Entry`] first).
pub fn map_group_with_members<'v>(
    repo: &Repository,
    entry: &impl EntryAttributes,
    members: impl Iterator<Item = &'v str>,
) -> Result<MappedGroup, MappingError> {
    let fail = |reason: String| MappingError { dn: entry.dn().to_string(), reason };
    let groups = &repo.groups;
    let uuid = uuid_of(entry, &repo.users.uuid_attribute)
        .ok_or_else(|| fail(format!("has no {} (the UUID attribute)", repo.users.uuid_attribute)))?;
    let name_attribute = if groups.name_attribute.trim().is_empty() { "cn" } else { groups.name_attribute.as_str() };
    let name = entry
        .first(name_attribute)
        .ok_or_else(|| fail(format!("has no {name_attribute} (the group name attribute)")))?
        .to_string();
    let members = members.filter(|v| !v.trim().is_empty()).map(|v| member_key(groups.member_attribute, v)).collect();
    Ok(MappedGroup { uuid, name, dn: entry.dn().to_string(), member_keys: members })
}

/// Attributes to read for groups.
pub fn group_attributes(repo: &Repository) -> Vec<String> {
    let g = &repo.groups;
    let name = if g.name_attribute.trim().is_empty() { "cn".to_string() } else { g.name_attribute.clone() };
    let member = g.member_attribute.as_str();
    // Active Directory windows big groups' members by itself; asking for the
    // first window explicitly makes every AD-like server (Samba too) answer
    // alike. Other servers would not recognise the option.
    let member = match repo.vendor {
        Vendor::ActiveDirectory => crate::entry::range_request(member, 0),
        _ => member.to_string(),
    };
    vec![name, member, repo.users.uuid_attribute.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{uuid_clause, uuid_from_value, Attributes};
    use app::model::{GroupAssignment, RoleAssignment, Vendor};
    use app::presets::new_repository;

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
        Entry::new(
            dn.into(),
            attrs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect(),
            Attributes::default(),
        )
    }

    fn role(id: &str, mapping_type: MappingType, dn: &str) -> RoleAssignment {
        RoleAssignment { role_id: id.into(), mapping_type, group_dn_or_ou: dn.into() }
    }

    fn repo() -> Repository {
        let mut r = new_repository(Vendor::OpenLdap);
        r.id = "corp".into();
        r.users.base_dn = "dc=example,dc=org".into();
        r.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.department", "departmentNumber"));
        r
    }

    #[test]
    fn maps_standard_and_custom_attributes() {
        let e = entry(
            "uid=jmuller,ou=People,dc=example,dc=org",
            &[
                ("uid", &["jmuller"]),
                ("entryUUID", &["5c7b2a3e-1111-4e3b-9c1d-0242ac120002"]),
                ("givenName", &["Jürgen"]),
                ("SN", &["Müller"]),
                ("mail", &["j.muller@example.org"]),
                ("telephoneNumber", &["+49 30 1234", "+49 170 5678"]),
                ("departmentNumber", &["R&D"]),
            ],
        );
        let u = map_user(&repo(), &e, None).expect("maps");
        assert_eq!(u.username, "jmuller");
        assert_eq!(u.first_name.as_deref(), Some("Jürgen"));
        assert_eq!(u.last_name.as_deref(), Some("Müller"));
        assert_eq!(u.email.as_deref(), Some("j.muller@example.org"));
        assert_eq!(u.attributes["phone"], vec!["+49 30 1234", "+49 170 5678"]);
        assert_eq!(u.attributes["department"], vec!["R&D"]);
        assert_eq!(u.id, "corp:5c7b2a3e-1111-4e3b-9c1d-0242ac120002");
        assert!(u.enabled);
    }

    #[test]
    fn missing_username_or_uuid_is_an_error_naming_the_dn() {
        let no_uid = entry("cn=x,dc=example,dc=org", &[("entryUUID", &["a"])]);
        let err = map_user(&repo(), &no_uid, None).expect_err("no username");
        assert_eq!(err.dn, "cn=x,dc=example,dc=org");
        assert!(err.reason.contains("uid"));
        let no_uuid = entry("uid=x,dc=example,dc=org", &[("uid", &["x"])]);
        assert!(map_user(&repo(), &no_uuid, None).expect_err("no uuid").reason.contains("entryUUID"));
    }

    #[test]
    fn formats_uuids_of_each_vendor() {
        let guid = [0x67u8, 0x45, 0x23, 0x01, 0xab, 0x89, 0xef, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let mut e = Entry::default();
        e.bin_attrs.insert("objectguid".into(), vec![guid.to_vec()]);
        assert_eq!(uuid_of(&e, "objectGUID").as_deref(), Some("01234567-89ab-cdef-0123-456789abcdef"));
        // A GUID whose bytes happen to be valid UTF-8 is still a GUID.
        let ascii = b"ABCDEFGHIJKLMNOP";
        let text = String::from_utf8(ascii.to_vec()).expect("ascii");
        let e = entry("cn=x", &[("objectGUID", &[text.as_str()])]);
        assert_eq!(uuid_of(&e, "objectGUID").as_deref(), Some("44434241-4645-4847-494a-4b4c4d4e4f50"));
        let ds = entry("x", &[("nsUniqueId", &["66446001-1DD211B2-80f4a9c8-34a711e0"])]);
        assert_eq!(uuid_of(&ds, "nsuniqueid").as_deref(), Some("66446001-1dd2-11b2-80f4-a9c834a711e0"));
        // entryUUID in upper case is canonicalised; anything that is not 32
        // hex digits (ignoring dashes) is kept as the server sent it.
        assert_eq!(
            uuid_from_value("entryUUID", b"5C7B2A3E-1111-4E3B-9C1D-0242AC120002"),
            "5c7b2a3e-1111-4e3b-9c1d-0242ac120002"
        );
        assert_eq!(
            uuid_from_value("entryUUID", b"5c7b2a3e11114e3b9c1d0242ac120002"),
            "5c7b2a3e-1111-4e3b-9c1d-0242ac120002"
        );
        // Already canonical (the usual case), and 36 characters with the
        // dashes elsewhere.
        for sent in ["5c7b2a3e-1111-4e3b-9c1d-0242ac120002", "5c7b2a3e1-111-4e3b-9c1d-0242ac12000-2"] {
            assert_eq!(uuid_from_value("entryUUID", sent.as_bytes()), "5c7b2a3e-1111-4e3b-9c1d-0242ac120002");
        }
        for kept in [
            "5c7b2a3e-1111-4e3b-9c1d-0242ac12000",
            "5c7b2a3e-1111-4e3b-9c1d-0242ac1200021",
            "5c7b2a3e-1111-4e3b-9c1d-0242ac12000g",
            "ä",
            "",
        ] {
            assert_eq!(uuid_from_value("entryUUID", kept.as_bytes()), kept);
        }
    }

    #[test]
    fn uuid_clauses_invert_the_canonical_form() {
        let guid = "01234567-89ab-cdef-0123-456789abcdef";
        assert_eq!(
            uuid_clause("objectGUID", guid).as_deref(),
            Some(r"(objectGUID=\67\45\23\01\ab\89\ef\cd\01\23\45\67\89\ab\cd\ef)")
        );
        assert_eq!(
            uuid_clause("nsUniqueId", "66446001-1dd2-11b2-80f4-a9c834a711e0").as_deref(),
            Some("(nsUniqueId=66446001-1dd211b2-80f4a9c8-34a711e0)")
        );
        assert_eq!(uuid_clause("entryUUID", "a*b").as_deref(), Some(r"(entryUUID=a\2ab)"));
        assert_eq!(uuid_clause("objectGUID", "not-a-guid"), None);
    }

    #[test]
    fn reads_account_status_per_vendor() {
        assert!(!is_enabled(&entry("x", &[("userAccountControl", &["514"])]), Some("userAccountControl")));
        assert!(is_enabled(&entry("x", &[("userAccountControl", &["512"])]), Some("userAccountControl")));
        assert!(!is_enabled(
            &entry("x", &[("pwdAccountLockedTime", &["000001010000Z"])]),
            Some("pwdAccountLockedTime")
        ));
        assert!(is_enabled(&entry("x", &[]), Some("pwdAccountLockedTime")));
        assert!(!is_enabled(&entry("x", &[("nsAccountLock", &["TRUE"])]), Some("nsAccountLock")));
        assert!(is_enabled(&entry("x", &[]), None));
    }

    #[test]
    fn assigns_by_ou_and_group() {
        let mut r = repo();
        r.assignments.user_types =
            vec![GroupAssignment { group_id: "UT_EMP".into(), root_node_dn: "ou=People,dc=example,dc=org".into() }];
        r.assignments.roles = vec![
            role("admin", MappingType::Group, "cn=Admins,ou=Groups,dc=example,dc=org"),
            role("RL_OPS", MappingType::Ou, "ou=Ops,dc=example,dc=org"),
        ];
        let e = entry(
            "uid=a,ou=People,dc=example,dc=org",
            &[("uid", &["a"]), ("entryUUID", &["u"]), ("memberOf", &["CN=admins,OU=Groups,DC=example,DC=org"])],
        );
        let u = map_user(&r, &e, None).expect("maps");
        assert_eq!(u.user_types, vec!["UT_EMP"]);
        assert_eq!(u.roles, vec!["admin"]);
        assert!(u.admin);
        assert_eq!(u.groups, vec!["CN=admins,OU=Groups,DC=example,DC=org"]);
    }

    #[test]
    fn roles_by_group_follow_the_groups_held_compared_as_dns() {
        let mut r = repo();
        r.assignments.roles = vec![
            role("RL_STAFF", MappingType::Group, "cn=All Staff,ou=Groups,dc=example,dc=org"),
            role("admin", MappingType::Group, "cn=Admins,ou=Groups,dc=example,dc=org"),
            role("RL_OPS", MappingType::Ou, "cn=All Staff,ou=Groups,dc=example,dc=org"),
        ];
        // Case and spacing differ from the assignment; an OU assignment is
        // not a group one.
        let roles =
            roles_of_groups(&r, ["CN=all staff, OU=Groups,DC=Example,DC=org", "cn=Sales,ou=Groups,dc=example,dc=org"]);
        assert_eq!(roles, vec!["RL_STAFF"]);
        let mut user = User { roles: vec!["RL_STAFF".into()], ..Default::default() };
        add_roles(&mut user, roles_of_groups(&r, ["cn=admins,ou=groups,dc=example,dc=org"]));
        assert_eq!(user.roles, vec!["RL_STAFF", "admin"]);
        assert!(user.admin);
        assert!(roles_of_groups(&r, ["cn=Admins,ou=Other,dc=example,dc=org"]).is_empty());
    }

    #[test]
    fn member_keys_match_user_keys_in_every_membership_style() {
        let user = User {
            ldap_dn: "uid=Anna,ou=People,dc=example,dc=org".into(),
            username: "Anna".into(),
            ..Default::default()
        };
        let keys = user_member_keys(&user);
        assert!(keys.contains(&member_key(MemberAttribute::Member, "UID=anna, OU=people,DC=Example,DC=org")));
        assert!(
            keys.contains(&member_key(MemberAttribute::UniqueMember, "uid=anna,ou=People,dc=example,dc=org#'0101'B"))
        );
        assert!(keys.contains(&member_key(MemberAttribute::MemberUid, "ANNA")));
        assert!(!keys.contains(&member_key(MemberAttribute::MemberUid, "ann")));
    }

    /// A group as its row stores it (member keys packed, content hashed).
    fn map_group(r: &Repository, e: &Entry) -> Result<crate::store::rows::PreparedGroup, MappingError> {
        super::map_group(r, e).map(|g| crate::store::rows::PreparedGroup::of(g.uuid, g.name, g.dn, g.member_keys))
    }

    #[test]
    fn maps_groups_with_a_stable_hash() {
        let r = repo();
        let a = entry(
            "cn=Ops,ou=Groups,dc=example,dc=org",
            &[
                ("cn", &["Ops"]),
                ("entryUUID", &["g1"]),
                ("member", &["uid=b,dc=example,dc=org", "uid=a,dc=example,dc=org"]),
            ],
        );
        let reordered = entry(
            "cn=Ops,ou=Groups,dc=example,dc=org",
            &[
                ("cn", &["Ops"]),
                ("entryUUID", &["g1"]),
                ("member", &["uid=a,dc=example,dc=org", "uid=b,dc=example,dc=org"]),
            ],
        );
        let g = map_group(&r, &a).expect("maps");
        assert_eq!(g.name, "Ops");
        assert_eq!(g.members.iter().collect::<Vec<_>>(), vec!["uid=a,dc=example,dc=org", "uid=b,dc=example,dc=org"]);
        assert_eq!(g.hash, map_group(&r, &reordered).expect("maps").hash);
        let fewer = entry(
            "cn=Ops,ou=Groups,dc=example,dc=org",
            &[("cn", &["Ops"]), ("entryUUID", &["g1"]), ("member", &["uid=a,dc=example,dc=org"])],
        );
        assert_ne!(g.hash, map_group(&r, &fewer).expect("maps").hash);
        let nameless = entry("cn=X,dc=example,dc=org", &[("entryUUID", &["g2"])]);
        assert!(map_group(&r, &nameless).is_err());
    }

    #[test]
    fn reports_non_utf8_values_and_keeps_them_base64() {
        let mut r = repo();
        r.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.legacyName", "description"));
        let mut e = entry("uid=a,dc=example,dc=org", &[("uid", &["a"]), ("entryUUID", &["u"])]);
        e.bin_attrs.insert("description".into(), vec![vec![0xff, 0xfe, 0x41]]);
        e.bin_attrs.insert("jpegphoto".into(), vec![vec![0xff, 0xd8]]);
        assert_eq!(non_utf8_attributes(&r, &e), vec!["description"]);
        let u = map_user(&r, &e, None).expect("maps");
        assert_eq!(u.attributes.get("legacyName"), Some(&vec!["//5B".to_string()]));
    }

    #[test]
    fn active_directory_groups_ask_for_the_first_window_of_members() {
        assert_eq!(group_attributes(&repo()), vec!["cn", "member", "entryUUID"]);
        let ad = new_repository(Vendor::ActiveDirectory);
        assert_eq!(group_attributes(&ad), vec!["cn", "member;range=0-1499", "objectGUID"]);
    }
}
