//! Connection test and preview against a real OpenLDAP (slapd) started by the test.

mod common;

use app::model::{TestLogin, TestResult};
use app::port::Backend;
use common::{env, repository};
use dirbridge::service::ServicePort;

fn step<'a>(r: &'a TestResult, name: &str) -> &'a app::model::TestStep {
    r.steps.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no step {name} in {r:#?}"))
}

fn names(r: &TestResult) -> Vec<&str> {
    r.steps.iter().map(|s| s.name.as_str()).collect()
}

#[tokio::test]
async fn test_connection_succeeds_over_plain_starttls_and_ldaps() {
    let e = env(120).await;
    let port = ServicePort(e.service.clone());

    let plain = repository(&e.slapd, "plain");
    let r = port.test_connection("default", plain, None, TestLogin::default()).await.expect("runs");
    assert!(r.ok, "{r:#?}");
    assert_eq!(names(&r), ["connect", "bind", "baseDn", "users"]);
    assert!(step(&r, "users").detail.contains("more than 100 users match"), "{}", step(&r, "users").detail);
    let server = r.server.expect("root DSE read");
    assert_eq!(server.detected_vendor, app::model::Vendor::OpenLdap);
    assert!(server.supported_controls.iter().any(|c| c.starts_with("Paged results")));

    let mut start_tls = repository(&e.slapd, "starttls");
    start_tls.connection.servers = vec![format!("ldap://localhost:{}", e.slapd.port)];
    start_tls.connection.start_tls = true;
    start_tls.connection.ca_certificate = Some(e.slapd.ca_pem());
    let r = port.test_connection("default", start_tls, None, TestLogin::default()).await.expect("runs");
    assert!(r.ok, "{r:#?}");
    assert_eq!(names(&r), ["connect", "tls", "bind", "baseDn", "users"]);
    let tls = &step(&r, "tls").detail;
    assert!(tls.contains("StartTLS") && tls.contains("dirbridge test CA") && tls.contains("localhost"), "{tls}");

    let mut ldaps = repository(&e.slapd, "ldaps");
    ldaps.connection.servers = vec![e.slapd.ldaps_url()];
    ldaps.connection.ca_certificate = Some(e.slapd.ca_pem());
    let login =
        TestLogin { username: Some(devdir::ldif::username(1)), password: Some(devdir::ldif::USER_PASSWORD.into()) };
    let r = port.test_connection("default", ldaps, None, login).await.expect("runs");
    assert!(r.ok, "{r:#?}");
    assert_eq!(names(&r), ["connect", "tls", "bind", "baseDn", "users", "login"]);
    assert!(step(&r, "tls").detail.starts_with("LDAPS"));
    assert!(step(&r, "login").detail.contains(&devdir::ldif::user_dn(1)));
}

#[tokio::test]
async fn test_connection_explains_each_failure() {
    let e = env(20).await;
    let port = ServicePort(e.service.clone());

    let mut wrong_password = repository(&e.slapd, "a");
    wrong_password.connection.bind_password = Some(Some("nope".into()));
    let r = port.test_connection("default", wrong_password, None, TestLogin::default()).await.expect("runs");
    assert!(!r.ok);
    let bind = step(&r, "bind");
    assert!(
        !bind.ok && bind.detail.contains("rejected the bind DN or password") && bind.detail.contains("49"),
        "{}",
        bind.detail
    );
    assert_eq!(names(&r), ["connect", "bind"], "stops at the failing step");

    let mut wrong_ca = repository(&e.slapd, "b");
    wrong_ca.connection.servers = vec![e.slapd.ldaps_url()];
    wrong_ca.connection.ca_certificate = Some(e.slapd.other_ca_pem());
    let r = port.test_connection("default", wrong_ca, None, TestLogin::default()).await.expect("runs");
    let tls = step(&r, "tls");
    assert!(!r.ok && !tls.ok);
    assert!(tls.detail.contains("not trusted") && tls.detail.contains("dirbridge test CA"), "{}", tls.detail);

    let mut dead_first = repository(&e.slapd, "c");
    let dead = devdir::free_port().expect("port");
    dead_first.connection.servers = vec![format!("ldap://127.0.0.1:{dead}"), e.slapd.ldap_url()];
    let r = port.test_connection("default", dead_first, None, TestLogin::default()).await.expect("runs");
    assert!(r.ok, "{r:#?}");
    let connect = &step(&r, "connect").detail;
    assert!(connect.contains(&e.slapd.ldap_url()) && connect.contains(&format!("127.0.0.1:{dead}")), "{connect}");

    let mut all_dead = repository(&e.slapd, "d");
    all_dead.connection.servers = vec![format!("ldap://127.0.0.1:{dead}")];
    let r = port.test_connection("default", all_dead, None, TestLogin::default()).await.expect("runs");
    assert!(!r.ok && !step(&r, "connect").ok);

    let mut missing_base = repository(&e.slapd, "e");
    missing_base.users.base_dn = "dc=nowhere,dc=org".into();
    missing_base.users.users_dn = None;
    let r = port.test_connection("default", missing_base, None, TestLogin::default()).await.expect("runs");
    let base = step(&r, "baseDn");
    assert!(!base.ok && base.detail.contains("dc=nowhere,dc=org does not exist"), "{}", base.detail);

    let mut no_match = repository(&e.slapd, "f");
    no_match.users.filters = vec!["(department=Nobody)".into()];
    let r = port.test_connection("default", no_match, None, TestLogin::default()).await.expect("runs");
    assert!(!step(&r, "users").ok);

    let bad_login = TestLogin { username: Some(devdir::ldif::LOCKED_USER.into()), password: Some("wrong".into()) };
    let r = port.test_connection("default", repository(&e.slapd, "g"), None, bad_login).await.expect("runs");
    assert!(!r.ok && !step(&r, "login").ok, "{r:#?}");
}

#[tokio::test]
async fn preview_maps_users_including_non_ascii_and_locked() {
    let e = env(60).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "preview");
    repo.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.department", "departmentNumber"));
    let preview = port.preview("default", repo, None, 100).await.expect("preview");
    assert!(preview.errors.is_empty(), "{:?}", preview.errors);
    assert_eq!(preview.users.len(), 61);
    let jurgen = preview.users.iter().find(|u| u.first_name.as_deref() == Some("Jürgen")).expect("non-ASCII user");
    assert!(jurgen.username.starts_with("jurgen."));
    assert!(jurgen.last_name.is_some() && jurgen.email.as_deref().is_some_and(|m| m.ends_with("@example.org")));
    assert!(!jurgen.attributes["department"].is_empty());
    assert_eq!(jurgen.ldap_uuid.len(), 36, "entryUUID");
    assert!(preview.users.iter().any(|u| u.last_name.as_deref() == Some("Müller")));
    let locked = preview.users.iter().find(|u| u.username == devdir::ldif::LOCKED_USER).expect("locked user");
    assert!(!locked.enabled);
    assert!(preview.users.iter().filter(|u| u.username != devdir::ldif::LOCKED_USER).all(|u| u.enabled));
    let admin = preview.users.iter().find(|u| u.username == devdir::ldif::username(0)).expect("user 0");
    assert!(admin.groups.iter().any(|g| g.starts_with("cn=Admins")));
}
