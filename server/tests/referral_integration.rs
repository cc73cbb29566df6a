//! Referrals across two real slapd instances: the home server holds the
//! people and a referral object `ou=Remote,ou=People` pointing to the
//! second, which holds the remote people. Each strategy for preview, sync,
//! single-user re-sync, login and the connection test.

mod common;

use app::error::AppError;
use app::model::{LoginReason, LoginRequest, ReferralServer, ReferralStrategy, Repository, SyncMode, TestLogin};
use app::port::Backend;
use common::{env_with, repository, run, users};
use devdir::ldif::{username, BASE_DN, USER_PASSWORD};
use devdir::{Options, Slapd};
use dirbridge::service::ServicePort;

const REMOTE: [&str; 3] = ["remote.one", "remote.two", "remote.three"];
const REMOTE_PASSWORD: &str = "Rem0te-pass!";
const SERVICE_DN: &str = "cn=svc,dc=example,dc=org";
const SERVICE_PASSWORD: &str = "svc-only-on-home";

fn remote_dn(uid: &str) -> String {
    format!("uid={uid},ou=Remote,ou=People,{BASE_DN}")
}

async fn start(users: usize) -> Slapd {
    tokio::task::spawn_blocking(move || Slapd::start(Options { users, content_sync: true, ..Default::default() }))
        .await
        .expect("join")
        .expect("slapd starts")
}

/// Home (20 people and the locked user, a service account only it has, the referral object)
/// and the remote server (the remote people).
async fn two_servers() -> (Slapd, Slapd) {
    let (home, remote) = (start(20).await, start(0).await);
    let mut ldif =
        format!("dn: ou=Remote,ou=People,{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: Remote\n");
    for uid in REMOTE {
        ldif += &format!(
            "\ndn: {}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: Remote\ngivenName: {uid}\nmail: {uid}@remote.example.org\nuserPassword: {REMOTE_PASSWORD}\n",
            remote_dn(uid)
        );
    }
    remote.modify(&ldif).expect("remote people");
    home.modify(&format!(
        "dn: ou=Remote,ou=People,{BASE_DN}\nchangetype: add\nobjectClass: referral\nobjectClass: extensibleObject\nou: Remote\nref: {}/ou=Remote,ou=People,{BASE_DN}\n\n\
         dn: {SERVICE_DN}\nchangetype: add\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: svc\nuserPassword: {SERVICE_PASSWORD}\n",
        remote.ldap_url()
    ))
    .expect("referral and service account");
    (home, remote)
}

fn following(home: &Slapd, strategy: ReferralStrategy, listed: Vec<ReferralServer>) -> Repository {
    let mut repo = repository(home, "corp");
    repo.connection.referrals.strategy = strategy;
    repo.connection.referrals.servers = listed;
    repo
}

fn listed(url: String, dn: &str, password: &str) -> ReferralServer {
    ReferralServer { url, bind_dn: Some(dn.into()), bind_password: Some(Some(password.into())), ..Default::default() }
}

async fn login(port: &ServicePort, user: &str, password: &str) -> Result<app::model::LoginSuccess, AppError> {
    port.login("default", LoginRequest { username: user.into(), password: password.into() }, None).await
}

async fn previewed(port: &ServicePort, repo: &Repository) -> Vec<String> {
    let preview = port.preview("default", repo.clone(), None, 100).await.expect("preview");
    assert!(preview.errors.is_empty(), "{:?}", preview.errors);
    preview.users.into_iter().map(|u| u.username).collect()
}

#[tokio::test]
async fn follow_all_reads_and_signs_in_through_the_referral_with_the_repository_credentials() {
    let (home, mut remote) = two_servers().await;
    let e = env_with(home).await;
    let port = ServicePort(e.service.clone());
    let repo = following(&e.slapd, ReferralStrategy::FollowAll, Vec::new());

    let names = previewed(&port, &repo).await;
    assert!(REMOTE.iter().all(|r| names.iter().any(|n| n == r)), "{names:?}");
    assert!(names.contains(&username(0)), "{names:?}");

    let test = port
        .test_connection(
            "default",
            repo.clone(),
            None,
            TestLogin { username: Some("remote.two".into()), password: Some(REMOTE_PASSWORD.into()) },
        )
        .await
        .expect("tested");
    assert!(test.ok, "{:?}", test.steps);

    port.create_repository("default", repo).await.expect("created");
    let full = run(&port, "corp", SyncMode::Full).await;
    assert_eq!(full.state, "succeeded", "{full:?}");
    assert_eq!(full.counts.seen, 24, "{full:?}");
    let stored = users(&port, "remote").await;
    assert_eq!(stored.total_results, 3, "{:?}", stored.users);
    let one = stored.users.iter().find(|u| u.username == "remote.one").expect("stored");
    assert_eq!(one.ldap_dn, remote_dn("remote.one"));

    // A login of a stored remote user: the base read at its DN is referred,
    // and the bind goes to the server holding the entry.
    let ok = login(&port, "remote.one", REMOTE_PASSWORD).await.expect("signs in");
    assert_eq!(ok.user.id, one.id);
    assert_eq!(ok.user.email.as_deref(), Some("remote.one@remote.example.org"));
    // Not stored yet from this login's point of view: found by search.
    let wrong = login(&port, "remote.three", "not-it").await;
    assert!(matches!(wrong, Err(AppError::InvalidGrant { reason: LoginReason::InvalidCredentials, .. })), "{wrong:?}");
    login(&port, &username(1), USER_PASSWORD).await.expect("a home user signs in");

    let resynced = port.resync_user("default", &one.id).await.expect("re-read through the referral");
    assert_eq!(resynced.ldap_dn, remote_dn("remote.one"));

    // The remote server down: a run fails and removes nobody; home users
    // still sign in, remote ones get 503 (unknown, not absent).
    remote.stop();
    let failed = run(&port, "corp", SyncMode::Full).await;
    assert_eq!(failed.state, "failed", "{failed:?}");
    assert!(failed.message.as_deref().unwrap_or("").contains("referral"), "{failed:?}");
    let kept = users(&port, "remote").await;
    assert_eq!(kept.total_results, 3);
    assert!(kept.users.iter().all(|u| u.enabled), "{:?}", kept.users);
    login(&port, &username(2), USER_PASSWORD).await.expect("home users still sign in");
    let unknown = login(&port, "remote.two", REMOTE_PASSWORD).await;
    assert!(matches!(unknown, Err(AppError::Unavailable { .. })), "{unknown:?}");

    remote.restart().expect("remote back");
    login(&port, "remote.two", REMOTE_PASSWORD).await.expect("signs in again");
}

#[tokio::test]
async fn follow_listed_binds_each_listed_server_with_its_own_credentials_and_skips_others() {
    let (home, remote) = two_servers().await;
    let e = env_with(home).await;
    let port = ServicePort(e.service.clone());
    // The repository binds with an account only the home server has.
    let mut repo = following(
        &e.slapd,
        ReferralStrategy::FollowListed,
        vec![listed(remote.ldap_url(), devdir::ADMIN_DN, devdir::ADMIN_PASSWORD)],
    );
    repo.connection.bind_dn = Some(SERVICE_DN.into());
    repo.connection.bind_password = Some(Some(SERVICE_PASSWORD.into()));
    let saved = port.create_repository("default", repo.clone()).await.expect("created");
    assert!(saved.connection.referrals.servers[0].bind_password_set);
    assert_eq!(saved.connection.referrals.servers[0].bind_password, None, "write-only");
    let full = run(&port, "corp", SyncMode::Full).await;
    assert_eq!(full.state, "succeeded", "{full:?}");
    assert_eq!(users(&port, "remote").await.total_results, 3);
    login(&port, "remote.two", REMOTE_PASSWORD).await.expect("signs in");

    // Following all, the remote server gets the home account: refused.
    let mut all = port.get_repository("default", "corp").await.expect("stored");
    all.connection.referrals.strategy = ReferralStrategy::FollowAll;
    port.replace_repository("default", "corp", all).await.expect("changed");
    let failed = run(&port, "corp", SyncMode::Full).await;
    assert_eq!(failed.state, "failed", "{failed:?}");
    assert_eq!(users(&port, "remote").await.total_results, 3, "a failed run removes nobody");

    // Another server listed: the referral is not followed.
    let mut other = repo.clone();
    other.connection.referrals.servers = vec![listed("ldap://127.0.0.1:1".into(), devdir::ADMIN_DN, "x")];
    let names = previewed(&port, &other).await;
    assert!(!names.iter().any(|n| n.starts_with("remote.")), "{names:?}");
    assert!(names.contains(&username(0)));
}

#[tokio::test]
async fn follow_none_leaves_the_referred_subtree_alone() {
    let (home, _remote) = two_servers().await;
    let e = env_with(home).await;
    let port = ServicePort(e.service.clone());
    let repo = following(&e.slapd, ReferralStrategy::FollowNone, Vec::new());
    let names = previewed(&port, &repo).await;
    assert_eq!(names.len(), 21, "{names:?}");
    port.create_repository("default", repo).await.expect("created");
    let full = run(&port, "corp", SyncMode::Full).await;
    assert_eq!(full.state, "succeeded", "{full:?}");
    assert_eq!(full.counts.seen, 21);
    assert_eq!(users(&port, "remote").await.total_results, 0);
    let refused = login(&port, "remote.one", REMOTE_PASSWORD).await;
    assert!(
        matches!(refused, Err(AppError::InvalidGrant { reason: LoginReason::InvalidCredentials, .. })),
        "{refused:?}"
    );
}
