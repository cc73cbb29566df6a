//! Vendor presets: the defaults an admin expects for each directory product.
//! Pure data, shared by the console (to fill the form) and the server (to fill
//! fields a request leaves empty).

use crate::model::{AttributeMapping, MemberAttribute, Repository, Vendor};

pub struct Preset {
    pub user_object_classes: &'static [&'static str],
    pub user_filters: &'static [&'static str],
    pub username_attribute: &'static str,
    pub rdn_attribute: &'static str,
    pub uuid_attribute: &'static str,
    pub account_status_attribute: Option<&'static str>,
    pub group_object_classes: &'static [&'static str],
    pub group_name_attribute: &'static str,
    pub member_attribute: MemberAttribute,
    pub membership_attribute: Option<&'static str>,
    pub mappings: &'static [(&'static str, &'static str)],
}

const COMMON_MAPPINGS: &[(&str, &str)] = &[
    ("email", "mail"),
    ("firstName", "givenName"),
    ("lastName", "sn"),
    ("displayName", "displayName"),
    ("phone", "telephoneNumber"),
    ("preferredLanguage", "preferredLanguage"),
];

pub fn preset(vendor: Vendor) -> Preset {
    match vendor {
        Vendor::ActiveDirectory => Preset {
            user_object_classes: &["person", "organizationalPerson", "user"],
            // Computer accounts are `user` objects too.
            user_filters: &["(!(objectClass=computer))"],
            username_attribute: "sAMAccountName",
            rdn_attribute: "cn",
            uuid_attribute: "objectGUID",
            account_status_attribute: Some("userAccountControl"),
            group_object_classes: &["group"],
            group_name_attribute: "cn",
            member_attribute: MemberAttribute::Member,
            membership_attribute: Some("memberOf"),
            mappings: COMMON_MAPPINGS,
        },
        Vendor::OpenLdap => Preset {
            user_object_classes: &["inetOrgPerson", "organizationalPerson"],
            user_filters: &[],
            username_attribute: "uid",
            rdn_attribute: "uid",
            uuid_attribute: "entryUUID",
            // Set by the ppolicy overlay when an account is locked.
            account_status_attribute: Some("pwdAccountLockedTime"),
            group_object_classes: &["groupOfNames"],
            group_name_attribute: "cn",
            member_attribute: MemberAttribute::Member,
            membership_attribute: Some("memberOf"),
            mappings: COMMON_MAPPINGS,
        },
        Vendor::Ds389 => Preset {
            user_object_classes: &["inetOrgPerson", "organizationalPerson"],
            user_filters: &[],
            username_attribute: "uid",
            rdn_attribute: "uid",
            uuid_attribute: "nsUniqueId",
            account_status_attribute: Some("nsAccountLock"),
            group_object_classes: &["groupOfUniqueNames"],
            group_name_attribute: "cn",
            member_attribute: MemberAttribute::UniqueMember,
            membership_attribute: Some("memberOf"),
            mappings: COMMON_MAPPINGS,
        },
        Vendor::Other => Preset {
            user_object_classes: &["inetOrgPerson"],
            user_filters: &[],
            username_attribute: "uid",
            rdn_attribute: "uid",
            uuid_attribute: "entryUUID",
            account_status_attribute: None,
            group_object_classes: &["groupOfNames"],
            group_name_attribute: "cn",
            member_attribute: MemberAttribute::Member,
            membership_attribute: None,
            mappings: COMMON_MAPPINGS,
        },
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Overwrites the vendor-dependent settings with the preset's (the admin
/// picked a preset on purpose).
pub fn apply_preset(repo: &mut Repository, vendor: Vendor) {
    let p = preset(vendor);
    repo.vendor = vendor;
    repo.users.object_classes = strings(p.user_object_classes);
    repo.users.filters = strings(p.user_filters);
    repo.users.username_attribute = p.username_attribute.into();
    repo.users.rdn_attribute = p.rdn_attribute.into();
    repo.users.uuid_attribute = p.uuid_attribute.into();
    repo.users.account_status_attribute = p.account_status_attribute.map(Into::into);
    repo.users.attribute_mappings = mappings_for(&p);
    repo.groups.object_classes = strings(p.group_object_classes);
    repo.groups.name_attribute = p.group_name_attribute.into();
    repo.groups.member_attribute = p.member_attribute;
    repo.groups.membership_attribute = p.membership_attribute.map(Into::into);
}

fn mappings_for(p: &Preset) -> Vec<AttributeMapping> {
    std::iter::once(AttributeMapping::new("username", p.username_attribute))
        .chain(p.mappings.iter().map(|(a, l)| AttributeMapping::new(a, l)))
        .collect()
}

/// Fills only what the repository leaves empty, from its vendor's preset.
pub fn fill_defaults(repo: &mut Repository) {
    let p = preset(repo.vendor);
    let u = &mut repo.users;
    if u.object_classes.is_empty() {
        u.object_classes = strings(p.user_object_classes);
    }
    for (field, value) in [
        (&mut u.username_attribute, p.username_attribute),
        (&mut u.rdn_attribute, p.rdn_attribute),
        (&mut u.uuid_attribute, p.uuid_attribute),
    ] {
        if field.trim().is_empty() {
            *field = value.into();
        }
    }
    if u.attribute_mappings.is_empty() {
        u.attribute_mappings = mappings_for(&p);
    }
    let g = &mut repo.groups;
    if g.object_classes.is_empty() {
        g.object_classes = strings(p.group_object_classes);
    }
    if g.name_attribute.trim().is_empty() {
        g.name_attribute = p.group_name_attribute.into();
    }
}

/// A new, unsaved repository with the given vendor's preset.
pub fn new_repository(vendor: Vendor) -> Repository {
    let mut repo = Repository { enabled: true, ..Default::default() };
    apply_preset(&mut repo, vendor);
    repo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_vendor_settings() {
        let ad = new_repository(Vendor::ActiveDirectory);
        assert_eq!(ad.users.username_attribute, "sAMAccountName");
        assert_eq!(ad.users.uuid_attribute, "objectGUID");
        assert_eq!(ad.users.account_status_attribute.as_deref(), Some("userAccountControl"));
        assert_eq!(ad.users.attribute_mappings[0], AttributeMapping::new("username", "sAMAccountName"));
        let ds = new_repository(Vendor::Ds389);
        assert_eq!(ds.groups.member_attribute, MemberAttribute::UniqueMember);
        assert_eq!(ds.users.uuid_attribute, "nsUniqueId");
    }

    #[test]
    fn fill_defaults_keeps_what_the_admin_set() {
        let mut r = Repository { vendor: Vendor::OpenLdap, ..Default::default() };
        r.users.username_attribute = "mail".into();
        fill_defaults(&mut r);
        assert_eq!(r.users.username_attribute, "mail");
        assert_eq!(r.users.uuid_attribute, "entryUUID");
        assert_eq!(r.users.object_classes, vec!["inetOrgPerson", "organizationalPerson"]);
    }
}
