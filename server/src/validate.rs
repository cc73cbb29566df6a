//! Validation of a repository: pure, returns every problem with the path of
//! its field so the form and the API can show each one where it belongs.

use crate::ldap_url::{parse_pem_certificates, ServerUrl};
use crate::{cron::Cron, dn, filter};
use app::error::FieldError;
use app::model::*;

pub fn is_slug_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub fn is_tenant_slug(s: &str) -> bool {
    let mut chars = s.chars();
    (1..=63).contains(&s.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }
    fn dn(&mut self, field: &str, value: &str, required: bool) {
        if value.trim().is_empty() {
            if required {
                self.add(field, "is required");
            }
        } else if let Err(e) = dn::Dn::parse(value) {
            self.add(field, format!("is not a valid DN: {e}"));
        }
    }
    fn attr(&mut self, field: &str, value: &str, required: bool) {
        if value.trim().is_empty() {
            if required {
                self.add(field, "is required");
            }
        } else if !dn::is_attribute_type(value.trim()) {
            self.add(field, format!("'{value}' is not a valid attribute name"));
        }
    }
    fn cron(&mut self, field: &str, value: Option<&str>) {
        if let Some(expr) = value.filter(|v| !v.trim().is_empty()) {
            if let Err(e) = Cron::parse(expr) {
                self.add(field, format!("is not a valid cron expression: {e}"));
            }
        }
    }
}

/// What validation needs to know about stored secrets.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoredSecretState {
    pub bind_password_stored: bool,
}

/// Every problem of `repo`, each with its field path.
pub fn validate(repo: &Repository, stored: StoredSecretState) -> Vec<FieldError> {
    let mut e = Errors(Vec::new());
    if !repo.id.is_empty() && !is_slug_id(&repo.id) {
        e.add("id", "must be 1-64 letters, digits, '.', '_' or '-'");
    }
    if repo.name.trim().is_empty() {
        e.add("name", "is required");
    } else if repo.name.chars().count() > 200 {
        e.add("name", "must be at most 200 characters");
    }

    let c = &repo.connection;
    if c.servers.is_empty() {
        e.add("connection.servers", "at least one server URL is required");
    }
    let mut any_ldaps = false;
    for (i, s) in c.servers.iter().enumerate() {
        match ServerUrl::parse(s) {
            Ok(u) => any_ldaps |= u.tls,
            Err(m) => e.add(format!("connection.servers[{i}]"), format!("'{s}' {m}")),
        }
    }
    if c.start_tls && any_ldaps {
        e.add("connection.startTls", "StartTLS works only with ldap:// URLs; ldaps:// is already encrypted");
    }
    if let Some(pem) = c.ca_certificate.as_deref().filter(|p| !p.trim().is_empty()) {
        if let Err(m) = parse_pem_certificates(pem) {
            e.add("connection.caCertificate", m);
        }
    }
    match c.bind_type {
        BindType::Simple => {
            e.dn("connection.bindDn", c.bind_dn.as_deref().unwrap_or(""), true);
            let password_given = matches!(&c.bind_password, Some(Some(p)) if !p.is_empty());
            let password_kept = c.bind_password.is_none() && stored.bind_password_stored;
            if !password_given && !password_kept {
                e.add("connection.bindPassword", "is required for a simple bind");
            }
        }
        BindType::None => {}
    }
    if !(1..=300).contains(&c.timeout_seconds) {
        e.add("connection.timeoutSeconds", "must be between 1 and 300");
    }
    if c.referrals.strategy == ReferralStrategy::FollowListed && c.referrals.servers.is_empty() {
        e.add("connection.referrals.servers", "list at least one server to follow");
    }
    for (i, r) in c.referrals.servers.iter().enumerate() {
        if let Err(m) = ServerUrl::parse(&r.url) {
            e.add(format!("connection.referrals.servers[{i}].url"), format!("'{}' {m}", r.url));
        }
        e.dn(&format!("connection.referrals.servers[{i}].bindDn"), r.bind_dn.as_deref().unwrap_or(""), false);
    }

    let u = &repo.users;
    e.dn("users.baseDn", &u.base_dn, true);
    if let Some(users_dn) = u.users_dn.as_deref().filter(|d| !d.trim().is_empty()) {
        e.dn("users.usersDn", users_dn, true);
        if dn::Dn::parse(users_dn).is_ok() && dn::Dn::parse(&u.base_dn).is_ok() && !dn::is_within(users_dn, &u.base_dn)
        {
            e.add("users.usersDn", "must be the base DN or below it");
        }
    }
    if u.object_classes.is_empty() {
        e.add("users.objectClasses", "at least one object class is required");
    }
    for (i, oc) in u.object_classes.iter().enumerate() {
        e.attr(&format!("users.objectClasses[{i}]"), oc, true);
    }
    for (i, f) in u.filters.iter().enumerate() {
        if let Err(m) = filter::validate(&filter::parenthesize(f)) {
            e.add(format!("users.filters[{i}]"), format!("is not a valid LDAP filter: {m}"));
        }
    }
    e.attr("users.usernameAttribute", &u.username_attribute, true);
    e.attr("users.rdnAttribute", &u.rdn_attribute, true);
    e.attr("users.uuidAttribute", &u.uuid_attribute, true);
    e.attr("users.accountStatusAttribute", u.account_status_attribute.as_deref().unwrap_or(""), false);
    let mut targets = std::collections::HashSet::new();
    for (i, m) in u.attribute_mappings.iter().enumerate() {
        let field = format!("users.attributeMappings[{i}].attribute");
        let target = m.attribute.trim();
        let custom_ok = target.strip_prefix("attributes.").is_some_and(|n| {
            !n.is_empty() && n.len() <= 128 && n.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
        if target.is_empty() {
            e.add(&field, "is required");
        } else if !MAPPABLE_ATTRIBUTES.contains(&target) && !custom_ok {
            e.add(
                &field,
                format!(
                    "'{target}' is not a user attribute; use one of {} or attributes.NAME",
                    MAPPABLE_ATTRIBUTES.join(", ")
                ),
            );
        } else if !targets.insert(target.to_string()) {
            e.add(&field, format!("'{target}' is mapped twice"));
        }
        e.attr(&format!("users.attributeMappings[{i}].ldapAttribute"), &m.ldap_attribute, true);
    }

    let g = &repo.groups;
    e.dn("groups.groupsDn", g.groups_dn.as_deref().unwrap_or(""), false);
    for (i, oc) in g.object_classes.iter().enumerate() {
        e.attr(&format!("groups.objectClasses[{i}]"), oc, true);
    }
    e.attr("groups.nameAttribute", &g.name_attribute, g.groups_dn.as_deref().is_some_and(|d| !d.trim().is_empty()));
    e.attr("groups.membershipAttribute", g.membership_attribute.as_deref().unwrap_or(""), false);

    let a = &repo.assignments;
    for (kind, list) in [("userTypes", &a.user_types), ("userGroups", &a.user_groups)] {
        for (i, x) in list.iter().enumerate() {
            if x.group_id.trim().is_empty() {
                e.add(format!("assignments.{kind}[{i}].groupId"), "is required");
            }
            e.dn(&format!("assignments.{kind}[{i}].rootNodeDn"), &x.root_node_dn, true);
        }
    }
    for (i, r) in a.roles.iter().enumerate() {
        if r.role_id.trim().is_empty() {
            e.add(format!("assignments.roles[{i}].roleId"), "is required");
        }
        e.dn(&format!("assignments.roles[{i}].groupDnOrOu"), &r.group_dn_or_ou, true);
    }

    let s = &repo.sync;
    if !(1..=10_000).contains(&s.page_size) {
        e.add("sync.pageSize", "must be between 1 and 10000");
    }
    e.cron("sync.fullSync.cron", s.full_sync.cron.as_deref());
    e.cron("sync.changedSync.cron", s.changed_sync.cron.as_deref());
    let has_cron = |sch: &Schedule| sch.cron.as_deref().is_some_and(|c| !c.trim().is_empty());
    if s.full_sync.enabled && !has_cron(&s.full_sync) && s.full_sync.interval_seconds.is_none() {
        e.add("sync.fullSync.cron", "is required when periodic full sync is enabled");
    }
    if s.changed_sync.enabled && !has_cron(&s.changed_sync) && s.changed_sync.interval_seconds.is_none() {
        e.add(
            "sync.changedSync.intervalSeconds",
            "give a cron expression or an interval when periodic changed sync is enabled",
        );
    }
    for (name, sch) in [("fullSync", &s.full_sync), ("changedSync", &s.changed_sync)] {
        if has_cron(sch) && sch.interval_seconds.is_some() {
            e.add(format!("sync.{name}.intervalSeconds"), "give either a cron expression or an interval, not both");
        }
        if let Some(secs) = sch.interval_seconds {
            if !(10..=31_536_000).contains(&secs) {
                e.add(format!("sync.{name}.intervalSeconds"), "must be between 10 seconds and one year");
            }
        }
    }
    if s.deletion.max_delete_percent > 100 {
        e.add("sync.deletion.maxDeletePercent", "must be between 0 and 100");
    }
    e.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::presets::new_repository;

    fn valid() -> Repository {
        let mut r = new_repository(Vendor::OpenLdap);
        r.name = "Corp".into();
        r.connection.servers = vec!["ldap://127.0.0.1:3890".into()];
        r.connection.bind_dn = Some("cn=admin,dc=example,dc=org".into());
        r.connection.bind_password = Some(Some("secret".into()));
        r.users.base_dn = "dc=example,dc=org".into();
        r
    }

    fn fields(r: &Repository) -> Vec<String> {
        validate(r, StoredSecretState::default()).into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_complete_preset_repository_is_valid() {
        assert_eq!(validate(&valid(), StoredSecretState::default()), vec![]);
    }

    #[test]
    fn parses_server_urls() {
        assert_eq!(ServerUrl::parse("ldaps://dc1.corp.local").map(|u| u.port), Ok(636));
        assert_eq!(ServerUrl::parse("LDAP://host:1389/").map(|u| (u.tls, u.port)), Ok((false, 1389)));
        assert_eq!(ServerUrl::parse("ldap://[::1]:389").map(|u| u.to_url()), Ok("ldap://[::1]:389".into()));
        for bad in
            ["http://x", "ldap://", "ldap://h:0", "ldap://h:99999", "ldap://h/dc=x", "ldap://u:p@h", "ldap://bad host"]
        {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_each_bad_field() {
        let mut r = valid();
        r.name = " ".into();
        r.id = "bad id".into();
        r.connection.servers = vec!["ldap://ok".into(), "ftp://x".into()];
        r.users.base_dn = "dc=example,".into();
        r.users.filters = vec!["(cn=x".into()];
        r.users.attribute_mappings.push(AttributeMapping::new("shoeSize", "x"));
        r.sync.full_sync = Schedule { enabled: true, cron: Some("61 * * * *".into()), interval_seconds: None };
        r.sync.page_size = 0;
        assert_eq!(
            fields(&r),
            vec![
                "id",
                "name",
                "connection.servers[1]",
                "users.baseDn",
                "users.filters[0]",
                "users.attributeMappings[7].attribute",
                "sync.pageSize",
                "sync.fullSync.cron"
            ]
        );
    }

    #[test]
    fn start_tls_needs_ldap_urls() {
        let mut r = valid();
        r.connection.start_tls = true;
        assert!(fields(&r).is_empty());
        r.connection.servers = vec!["ldaps://x".into()];
        assert_eq!(fields(&r), vec!["connection.startTls"]);
    }

    #[test]
    fn bind_password_may_be_kept_from_the_store() {
        let mut r = valid();
        r.connection.bind_password = None;
        assert_eq!(fields(&r), vec!["connection.bindPassword"]);
        assert!(validate(&r, StoredSecretState { bind_password_stored: true }).is_empty());
        r.connection.bind_password = Some(None);
        assert_eq!(validate(&r, StoredSecretState { bind_password_stored: true }).len(), 1, "explicit null clears it");
        r.connection.bind_type = BindType::None;
        assert!(fields(&r).is_empty());
    }

    #[test]
    fn users_dn_must_be_under_base_dn() {
        let mut r = valid();
        r.users.users_dn = Some("ou=People,dc=other,dc=org".into());
        assert_eq!(fields(&r), vec!["users.usersDn"]);
        r.users.users_dn = Some("ou=People,DC=Example,dc=org".into());
        assert!(fields(&r).is_empty());
    }

    #[test]
    fn rejects_non_certificates() {
        let mut r = valid();
        r.connection.ca_certificate = Some("hello".into());
        assert_eq!(fields(&r), vec!["connection.caCertificate"]);
        r.connection.ca_certificate = Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into());
        assert_eq!(fields(&r), vec!["connection.caCertificate"]);
    }

    #[test]
    fn slugs() {
        assert!(is_slug_id("DS_1101.a-b"));
        assert!(!is_slug_id(""));
        assert!(!is_slug_id(&"x".repeat(65)));
        assert!(is_tenant_slug("default"));
        assert!(!is_tenant_slug("-x"));
        assert!(!is_tenant_slug("Upper"));
    }
}
