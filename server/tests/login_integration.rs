//! Login by bind against a real OpenLDAP (slapd, with the ppolicy overlay):
//! answers, account states, injection, failover, login options, roles by
//! OU and by (nested) group, throttling and pools across a restart.

mod common;

use app::error::AppError;
use app::model::{LoginReason, LoginRequest, LoginSuccess, MappingType, RoleAssignment, SyncMode, SyncRequest};
use app::port::Backend;
use common::{env, repository, run};
use devdir::ldif::{user_dn, username, BASE_DN, LOCKED_USER, USER_PASSWORD};
use dirbridge::service::ServicePort;

fn request(username: &str, password: &str) -> LoginRequest {
    LoginRequest { username: username.into(), password: password.into() }
}

async fn login(port: &ServicePort, username: &str, password: &str) -> Result<LoginSuccess, AppError> {
    port.login("default", request(username, password), None).await
}

/// The reason of a refused login (panics on anything else).
fn reason(result: Result<LoginSuccess, AppError>) -> LoginReason {
    match result {
        Err(AppError::InvalidGrant { reason, .. }) => reason,
        other => panic!("expected a refused login, got {other:?}"),
    }
}

#[tokio::test]
async fn a_directory_user_signs_in_with_fresh_attributes_and_roles_by_ou_group_and_nesting() {
    let e = env(30).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "corp");
    let role =
        |id: &str, kind, dn: String| RoleAssignment { role_id: id.into(), mapping_type: kind, group_dn_or_ou: dn };
    repo.assignments.roles = vec![
        // User 0 is in Engineering (department 0) and an admin.
        role("RL_ENG", MappingType::Ou, format!("OU=engineering, ou=People,{BASE_DN}")),
        role("admin", MappingType::Group, format!("cn=Admins,ou=Groups,{BASE_DN}")),
        // Only through nesting: All Staff holds the department groups.
        role("RL_STAFF", MappingType::Group, format!("CN=all staff,ou=Groups,{BASE_DN}")),
        role("RL_FIN", MappingType::Ou, format!("ou=Finance,ou=People,{BASE_DN}")),
        // A group made later, holding the Finance group.
        role("RL_LEAD", MappingType::Group, format!("cn=Leads,ou=Groups,{BASE_DN}")),
    ];
    port.create_repository("default", repo).await.expect("created");
    assert_eq!(run(&port, "corp", SyncMode::Full).await.state, "succeeded");

    let ok = login(&port, &username(0), USER_PASSWORD).await.expect("signs in");
    assert_eq!(ok.repository_id, "corp");
    assert_eq!(ok.user.username, username(0));
    assert_eq!(ok.user.ldap_dn, user_dn(0));
    assert_eq!(ok.user.email.as_deref(), Some(format!("{}@example.org", username(0)).as_str()));
    let mut roles = ok.user.roles.clone();
    roles.sort();
    assert_eq!(roles, ["RL_ENG", "RL_STAFF", "admin"], "{:?}", ok.user);
    assert!(ok.user.admin);
    assert!(ok.user.groups.iter().any(|g| g.starts_with("cn=All Staff")), "{:?}", ok.user.groups);

    // Someone else (users 0 to 2 are the admins): Finance; the username in
    // another case.
    let other = login(&port, &username(3).to_uppercase(), USER_PASSWORD).await.expect("signs in");
    assert_eq!(other.user.username, username(3));
    let mut roles = other.user.roles.clone();
    roles.sort();
    assert_eq!(roles, ["RL_FIN", "RL_STAFF"]);
    assert!(!other.user.admin);

    // A group change reaches logins with the next run (what a login knows
    // of the store is kept only until a run ends). Leads holds Finance: only
    // the synced graph knows user 3 is in it, memberOf does not.
    e.slapd
        .modify(&format!(
            "dn: cn=Leads,ou=Groups,{BASE_DN}\nchangetype: add\nobjectClass: groupOfNames\ncn: Leads\nmember: cn=Finance,ou=Groups,{BASE_DN}\n"
        ))
        .expect("add Leads");
    let before = login(&port, &username(3), USER_PASSWORD).await.expect("signs in");
    assert!(!before.user.roles.contains(&"RL_LEAD".to_string()), "not synced yet: {:?}", before.user.roles);
    assert_eq!(run(&port, "corp", SyncMode::Full).await.state, "succeeded");
    let promoted = login(&port, &username(3), USER_PASSWORD).await.expect("signs in");
    assert!(promoted.user.roles.contains(&"RL_LEAD".to_string()), "{:?}", promoted.user.roles);

    // Fresh: a change in the directory shows at the next login.
    e.slapd
        .modify(&format!("dn: {}\nchangetype: modify\nreplace: mail\nmail: moved@example.org\n", user_dn(0)))
        .expect("modify");
    let again = login(&port, &username(0), USER_PASSWORD).await.expect("signs in");
    assert_eq!(again.user.email.as_deref(), Some("moved@example.org"));

    // Wrong password, unknown user, empty password: the same answer.
    let wrong = login(&port, &username(2), "not-the-password").await;
    let unknown = login(&port, "nobody-at-all", USER_PASSWORD).await;
    let (Err(wrong), Err(unknown)) = (wrong, unknown) else { panic!("both must be refused") };
    assert_eq!(wrong, unknown);
    assert!(matches!(wrong, AppError::InvalidGrant { reason: LoginReason::InvalidCredentials, .. }), "{wrong:?}");
    assert_eq!(reason(login(&port, &username(3), "").await), LoginReason::InvalidCredentials);
}

#[tokio::test]
async fn injection_attempts_and_ambiguous_usernames_never_authenticate_anyone() {
    let e = env(10).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "corp")).await.expect("created");
    // Every generated person has this password: any filter that matched
    // someone would sign them in.
    for attempt in ["*", ")(uid=*", "\0", "admin)(|(uid=*", "*)(objectClass=*", &format!("{}*", &username(0)[..3])] {
        let result = login(&port, attempt, USER_PASSWORD).await;
        assert_eq!(reason(result), LoginReason::InvalidCredentials, "{attempt:?}");
    }
    // Two entries with one username: an error, never a guess.
    e.slapd
        .modify(&format!(
            "dn: uid={},ou=Sales,ou=People,{BASE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {}\ncn: Twin\nsn: Twin\nuserPassword: {USER_PASSWORD}\n",
            "twin-one",
            username(4)
        ))
        .expect("add twin");
    assert_eq!(reason(login(&port, &username(4), USER_PASSWORD).await), LoginReason::InvalidCredentials);
    // Nobody was stored by those attempts.
    assert_eq!(common::users(&port, "").await.total_results, 0);
}

/// Adds a password policy and a person governed by it.
fn add_policy_user(slapd: &devdir::Slapd, uid: &str, policy: &str, extra: &str) {
    slapd
        .modify(&format!(
            "dn: cn={policy},ou=Policies,{BASE_DN}\nchangetype: add\nobjectClass: pwdPolicy\nobjectClass: device\ncn: {policy}\npwdAttribute: userPassword\n{}\n",
            match policy {
                "expires-now" => "pwdMaxAge: 1\npwdGraceAuthNLimit: 0",
                "grace" => "pwdMaxAge: 1\npwdGraceAuthNLimit: 2",
                "warns" => "pwdMaxAge: 86400\npwdExpireWarning: 172800",
                _ => "pwdLockout: TRUE\npwdMaxFailure: 5\npwdMustChange: TRUE",
            }
        ))
        .ok();
    slapd
        .modify(&format!(
            "dn: uid={uid},ou=Support,ou=People,{BASE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: Policy\nuserPassword: {USER_PASSWORD}\npwdPolicySubentry: cn={policy},ou=Policies,{BASE_DN}\n{extra}"
        ))
        .expect("add policy user");
}

#[tokio::test]
async fn account_states_are_told_only_once_the_directory_checked_the_password() {
    let e = env(5).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "corp")).await.expect("created");
    e.slapd
        .modify(&format!("dn: ou=Policies,{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: Policies\n"))
        .expect("policies OU");
    add_policy_user(&e.slapd, "must.change", "strict", "pwdReset: TRUE\n");
    add_policy_user(&e.slapd, "policy.locked", "strict", "pwdAccountLockedTime: 000001010000Z\n");
    add_policy_user(&e.slapd, "expired", "expires-now", "");
    add_policy_user(&e.slapd, "in.grace", "grace", "");
    add_policy_user(&e.slapd, "warned", "warns", "");
    // Both passwords of the first policy need a second to expire.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;

    assert_eq!(reason(login(&port, "must.change", USER_PASSWORD).await), LoginReason::PasswordMustChange);
    assert_eq!(reason(login(&port, "expired", USER_PASSWORD).await), LoginReason::PasswordExpired);
    let grace = login(&port, "in.grace", USER_PASSWORD).await.expect("a grace login");
    assert_eq!(grace.grace_logins_remaining, Some(1));
    let warned = login(&port, "warned", USER_PASSWORD).await.expect("signs in");
    let expires = warned.password_expires_at.expect("an expiry warning");
    assert!(expires.as_str() > dirbridge::clock::now_rfc3339().as_str(), "{expires}");
    // ppolicy says "locked" whatever the password: that is not repeated.
    assert_eq!(reason(login(&port, "policy.locked", USER_PASSWORD).await), LoginReason::InvalidCredentials);
    // The account status attribute (pwdAccountLockedTime, no policy): the
    // bind succeeds, so the answer may say why the user is refused.
    assert_eq!(reason(login(&port, LOCKED_USER, USER_PASSWORD).await), LoginReason::UserDisabled);
    // With a wrong password every one of them is just invalid.
    for user in ["must.change", "expired", "in.grace", "warned", "policy.locked", LOCKED_USER] {
        assert_eq!(reason(login(&port, user, "wrong").await), LoginReason::InvalidCredentials, "{user}");
    }
}

#[tokio::test]
async fn the_first_server_down_the_second_answers_and_none_answering_is_503_with_the_servers() {
    let e = env(5).await;
    let port = ServicePort(e.service.clone());
    let down = format!("ldap://127.0.0.1:{}", devdir::free_port().expect("port"));
    let mut repo = repository(&e.slapd, "corp");
    repo.connection.timeout_seconds = 2;
    repo.connection.servers = vec![down.clone(), e.slapd.ldap_url()];
    port.create_repository("default", repo.clone()).await.expect("created");
    for _ in 0..3 {
        login(&port, &username(1), USER_PASSWORD).await.expect("the second server answers");
    }
    repo.connection.servers = vec![down.clone()];
    repo.meta = None;
    port.replace_repository("default", "corp", repo).await.expect("replaced");
    match login(&port, &username(1), USER_PASSWORD).await {
        Err(AppError::Unavailable { servers, .. }) => assert_eq!(servers, vec![down]),
        other => panic!("expected 503, got {other:?}"),
    }
}

#[tokio::test]
async fn deleting_and_disabled_repositories() {
    let e = env(5).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "corp");
    port.create_repository("default", repo.clone()).await.expect("created");
    assert_eq!(run(&port, "corp", SyncMode::Full).await.state, "succeeded");

    repo.enabled = false;
    port.replace_repository("default", "corp", repo).await.expect("disabled");
    assert_eq!(reason(login(&port, &username(1), USER_PASSWORD).await), LoginReason::InvalidCredentials);
    // No runs either; its users stay stored.
    match port.start_sync("default", "corp", SyncRequest::default()).await {
        Err(AppError::Conflict { message }) => assert!(message.contains("disabled"), "{message}"),
        other => panic!("expected 409, got {other:?}"),
    }
    assert_eq!(common::users(&port, "").await.total_results, 6);

    e.service.store().set_repository_state("default", "corp", "deleting").await.expect("state");
    match login(&port, &username(1), USER_PASSWORD).await {
        Err(AppError::InvalidGrant { reason: LoginReason::RepositoryDeleted, hid_failure: Some(h), .. }) => {
            assert_eq!((h.reason, h.auth_type.as_str()), (60, "AT_LDAP"));
        }
        other => panic!("expected REASON_USER_REPO_DELETED, got {other:?}"),
    }
}

#[tokio::test]
async fn login_options_decide_who_is_admitted_and_stored() {
    let e = env(8).await;
    let port = ServicePort(e.service.clone());
    let stored = |name: String| {
        let port = &port;
        async move { common::users(port, &name).await.users.into_iter().find(|u| u.username == name) }
    };

    // Creation refused: nobody the repository has not imported.
    let mut repo = repository(&e.slapd, "corp");
    repo.login.is_creation_allowed = false;
    port.create_repository("default", repo.clone()).await.expect("created");
    assert_eq!(reason(login(&port, &username(1), USER_PASSWORD).await), LoginReason::InvalidCredentials);
    assert!(stored(username(1)).await.is_none());

    // Allowed, not auto-created: admitted, not stored.
    repo.login.is_creation_allowed = true;
    repo.login.is_auto_creation = false;
    repo.meta = None;
    port.replace_repository("default", "corp", repo.clone()).await.expect("replaced");
    let ok = login(&port, &username(1), USER_PASSWORD).await.expect("admitted");
    assert_eq!(ok.user.synced_at, None);
    assert!(stored(username(1)).await.is_none());

    // Auto-created: stored at the first login, once (same entry, same user).
    repo.login.is_auto_creation = true;
    port.replace_repository("default", "corp", repo.clone()).await.expect("replaced");
    let first = login(&port, &username(1), USER_PASSWORD).await.expect("signs in");
    let second = login(&port, &username(1), USER_PASSWORD).await.expect("signs in");
    assert_eq!(first.user.id, second.user.id);
    let user = stored(username(1)).await.expect("stored by the login");
    assert_eq!(user.id, first.user.id);
    assert_eq!(common::users(&port, &username(1)).await.total_results, 1);

    // Auto-update off: the store keeps what it had; on: refreshed.
    let change = |mail: &str| format!("dn: {}\nchangetype: modify\nreplace: mail\nmail: {mail}\n", user_dn(1));
    repo.login.is_auto_update = false;
    port.replace_repository("default", "corp", repo.clone()).await.expect("replaced");
    e.slapd.modify(&change("first@example.org")).expect("modify");
    let fresh = login(&port, &username(1), USER_PASSWORD).await.expect("signs in");
    assert_eq!(fresh.user.email.as_deref(), Some("first@example.org"));
    assert_ne!(stored(username(1)).await.and_then(|u| u.email).as_deref(), Some("first@example.org"));
    repo.login.is_auto_update = true;
    port.replace_repository("default", "corp", repo).await.expect("replaced");
    login(&port, &username(1), USER_PASSWORD).await.expect("signs in");
    assert_eq!(stored(username(1)).await.and_then(|u| u.email).as_deref(), Some("first@example.org"));
}

#[tokio::test]
async fn with_import_off_runs_keep_stored_users_up_but_add_none_while_a_login_still_may() {
    let e = env(6).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "corp");
    repo.sync.import_enabled = false;
    port.create_repository("default", repo).await.expect("created");
    login(&port, &username(1), USER_PASSWORD).await.expect("auto-created at login");

    let first = run(&port, "corp", SyncMode::Full).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    assert_eq!((first.counts.added, first.counts.not_imported), (0, first.counts.seen - 1), "{first:?}");
    assert_eq!(common::users(&port, "").await.total_results, 1);

    e.slapd
        .modify(&format!("dn: {}\nchangetype: modify\nreplace: mail\nmail: kept@example.org\n", user_dn(1)))
        .expect("modify");
    let changed = run(&port, "corp", SyncMode::Full).await;
    assert_eq!((changed.counts.updated, changed.counts.added), (1, 0), "{changed:?}");
    let stored = common::users(&port, "").await.users;
    assert_eq!(stored[0].email.as_deref(), Some("kept@example.org"));

    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", user_dn(1))).expect("delete");
    let request = SyncRequest { mode: SyncMode::Full, force: true };
    let run_id = port.start_sync("default", "corp", request).await.expect("starts");
    let gone = common::wait(&port, "corp", &run_id).await;
    assert_eq!(gone.counts.disabled, 1, "{gone:?}");
    assert!(!common::users(&port, "").await.users[0].enabled);
}

#[tokio::test]
async fn throttling_refuses_before_the_directory_would_lock_the_account() {
    let e = env(5).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "corp")).await.expect("created");
    e.slapd
        .modify(&format!("dn: ou=Policies,{BASE_DN}\nchangetype: add\nobjectClass: organizationalUnit\nou: Policies\n"))
        .expect("policies OU");
    // The directory locks the account at its fifth failure.
    add_policy_user(&e.slapd, "target", "strict", "");
    let client: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
    let mut refused_after = None;
    for attempt in 1..=10 {
        match port.login("default", request("target", "guess"), Some(client)).await {
            Err(AppError::InvalidGrant { .. }) => {}
            Err(AppError::Throttled { retry_after, .. }) if retry_after < 60 => {
                // Slowed: wait as told, then go on guessing.
                tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
            }
            Err(AppError::Throttled { retry_after, .. }) => {
                refused_after = Some((attempt, retry_after));
                break;
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    let (attempt, retry_after) = refused_after.expect("refused for a while");
    assert!(attempt <= 7, "refused only at attempt {attempt}");
    assert!(retry_after > 60, "{retry_after}");
    // The directory never saw a fifth failure: the account is not locked
    // there, and the right password works as soon as dirbridge lets it.
    let direct = std::process::Command::new("ldapwhoami")
        .args(["-x", "-H", &e.slapd.ldap_url(), "-D", &format!("uid=target,ou=Support,ou=People,{BASE_DN}")])
        .args(["-w", USER_PASSWORD])
        .output()
        .expect("ldapwhoami");
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    // Other accounts from elsewhere are not affected.
    login(&port, &username(1), USER_PASSWORD).await.expect("someone else signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_recover_after_the_directory_restarts() {
    let mut e = env(5).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "corp")).await.expect("created");
    login(&port, &username(1), USER_PASSWORD).await.expect("signs in");
    let slapd = &mut e.slapd;
    slapd.stop();
    assert!(matches!(login(&port, &username(1), USER_PASSWORD).await, Err(AppError::Unavailable { .. })));
    tokio::task::block_in_place(|| slapd.restart()).expect("restarts");
    login(&port, &username(1), USER_PASSWORD).await.expect("signs in after the restart");
    login(&port, &username(2), USER_PASSWORD).await.expect("and again");
}

#[tokio::test]
async fn a_first_login_through_another_repository_links_to_the_user_stored_from_elsewhere() {
    let e = env(5).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "a")).await.expect("created");
    assert_eq!(run(&port, "a", SyncMode::Full).await.state, "succeeded");
    let stored_in = |repo: &'static str| {
        let port = &port;
        async move {
            let query =
                app::port::UserQuery { repository_id: Some(repo.into()), page_size: Some(100), ..Default::default() };
            port.list_users("default", query).await.expect("users").total_results
        }
    };
    let through = |repo: &'static str, user: String| {
        let port = &port;
        async move {
            let trace =
                port.test_login("default", Some(repo.into()), request(&user, USER_PASSWORD)).await.expect("traced");
            let shown = format!("{trace:?}");
            trace.success.unwrap_or_else(|| panic!("{shown}")).user
        }
    };
    let a_users = common::users(&port, "").await.users;
    let id_in_a = |n: usize| a_users.iter().find(|u| u.username == username(n)).map(|u| u.id.clone()).expect("in a");

    let mut by_name = repository(&e.slapd, "b");
    by_name.login.auto_linking = app::model::AutoLinking::AutoLinkingOptionUsername;
    port.create_repository("default", by_name).await.expect("created");
    assert_eq!(through("b", username(1)).await.id, id_in_a(1));
    assert_eq!(through("b", username(1)).await.id, id_in_a(1), "the link is kept");
    assert_eq!(stored_in("b").await, 0, "a linked entry is not stored again");

    let mut by_mail = repository(&e.slapd, "c");
    by_mail.login.auto_linking = app::model::AutoLinking::AutoLinkingOptionEmail;
    port.create_repository("default", by_mail).await.expect("created");
    assert_eq!(through("c", username(2)).await.id, id_in_a(2));

    // Without an auto-linking option the entry becomes a user of its own.
    port.create_repository("default", repository(&e.slapd, "d")).await.expect("created");
    let own = through("d", username(2)).await;
    assert!(own.id.starts_with("d:"), "{}", own.id);
    assert_eq!(stored_in("d").await, 1);
}
