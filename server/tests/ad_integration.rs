//! Active Directory behaviour against a real Samba AD DC: the AD preset
//! (sAMAccountName, binary objectGUID, userAccountControl), groups bigger
//! than one window of members (range retrieval), the timestamp fallback
//! for changed syncs and single-user re-sync.
//! Samba's LDAP port is fixed (389), so this binary holds one test.

mod common;

use app::error::AppError;
use app::model::{LoginReason, LoginRequest, LoginSuccess, SyncMode, Vendor};
use app::port::{Backend, UserQuery};
use common::{run, users};
use devdir::samba::{self, SambaDc};
use dirbridge::service::ServicePort;

/// More members than one window (1,500) of the Everyone group.
const USERS: usize = 1_600;

fn ad_repository(dc: &SambaDc) -> app::model::Repository {
    let mut r = app::presets::new_repository(Vendor::ActiveDirectory);
    r.id = "ad".into();
    r.name = "Samba AD".into();
    r.connection.servers = vec![dc.ldap_url()];
    r.connection.bind_dn = Some(samba::ADMIN_DN.into());
    r.connection.bind_password = Some(Some(samba::ADMIN_PASSWORD.into()));
    r.users.base_dn = samba::BASE_DN.into();
    r.users.users_dn = Some(samba::PEOPLE_DN.into());
    r.groups.groups_dn = Some(samba::GROUPS_DN.into());
    r
}

async fn member_count(port: &ServicePort, name: &str) -> u64 {
    let groups = port.list_groups("default", UserQuery::default()).await.expect("groups");
    groups.groups.iter().find(|g| g.name == name).unwrap_or_else(|| panic!("{name} in {groups:?}")).member_count
}

fn is_canonical_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
}

#[tokio::test]
async fn active_directory_users_and_groups_bigger_than_a_window_sync_from_samba() {
    let dc = tokio::task::spawn_blocking(|| SambaDc::start(USERS)).await.expect("join").expect("samba starts");
    let (service, _data) = common::service().await;
    let port = ServicePort(service);
    let tested = port
        .test_connection("default", ad_repository(&dc), None, app::model::TestLogin::default())
        .await
        .expect("tested");
    assert!(tested.ok, "{tested:?}");
    assert_eq!(tested.server.map(|s| s.detected_vendor), Some(Vendor::ActiveDirectory));
    port.create_repository("default", ad_repository(&dc)).await.expect("created");

    let first = run(&port, "ad", SyncMode::Full).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    assert_eq!((first.counts.seen, first.counts.added, first.counts.failed), (USERS as u64, USERS as u64, 0));
    let gc = first.group_counts.expect("groups were read");
    assert_eq!((gc.seen, gc.added), (2, 2), "{first:?}");
    // Samba answers the first 1,500 members; the rest come by range retrieval.
    assert_eq!(member_count(&port, samba::ALL_USERS_GROUP).await, USERS as u64);
    assert_eq!(member_count(&port, samba::SMALL_GROUP).await, 3);

    let last = users(&port, &samba::username(USERS - 1)).await.users.remove(0);
    assert_eq!(last.username, samba::username(USERS - 1));
    assert_eq!(last.ldap_dn, samba::user_dn(USERS - 1));
    assert!(is_canonical_uuid(&last.ldap_uuid), "objectGUID as a UUID: {}", last.ldap_uuid);
    // The GUID's string form is AD's own (the first three fields byte-swapped).
    assert_eq!(dc.dn_of_guid(&last.ldap_uuid).expect("found by GUID"), samba::user_dn(USERS - 1));
    let everyone = dirbridge::dn::normalize(&samba::group_dn(samba::ALL_USERS_GROUP));
    assert!(last.groups.iter().any(|g| dirbridge::dn::normalize(g) == everyone), "{:?}", last.groups);
    assert!(!users(&port, &samba::username(9)).await.users.remove(0).enabled, "userAccountControl 546 is disabled");
    let zero = users(&port, &samba::username(0)).await.users.remove(0);
    assert!(zero.enabled);
    assert_eq!(zero.email.as_deref(), Some(format!("{}@dirbridge.test", samba::username(0)).as_str()));
    assert_eq!(zero.groups.len(), 2, "{:?}", zero.groups);

    // Nothing changed: nothing is rewritten, the big group included.
    let again = run(&port, "ad", SyncMode::Full).await;
    assert_eq!((again.counts.unchanged, again.counts.updated), (USERS as u64, 0), "{again:?}");
    assert_eq!(again.group_counts.map(|g| (g.unchanged, g.updated)), Some((2, 0)), "{again:?}");

    // A member beyond the first window leaves: the group is updated.
    dc.modify(&format!(
        "dn: {}\nchangetype: modify\ndelete: member\nmember: {}\n",
        samba::group_dn(samba::ALL_USERS_GROUP),
        samba::user_dn(USERS - 1)
    ))
    .expect("remove member");
    let left = run(&port, "ad", SyncMode::Full).await;
    assert_eq!(left.group_counts.map(|g| (g.unchanged, g.updated)), Some((1, 1)), "{left:?}");
    assert_eq!(member_count(&port, samba::ALL_USERS_GROUP).await, USERS as u64 - 1);

    // Samba has no content synchronisation: a changed sync reads by timestamp.
    dc.modify(&format!("dn: {}\nchangetype: modify\nreplace: mail\nmail: moved@dirbridge.test\n", samba::user_dn(5)))
        .expect("modify");
    let changed = run(&port, "ad", SyncMode::Changed).await;
    assert_eq!((changed.state.as_str(), changed.method.as_str()), ("succeeded", "timestamps"), "{changed:?}");
    assert!(changed.counts.updated >= 1, "{changed:?}");
    let five = users(&port, &samba::username(5)).await.users.remove(0);
    assert_eq!(five.email.as_deref(), Some("moved@dirbridge.test"));

    // Single-user re-sync reads the entry by its DN (objectGUID as the key).
    dc.modify(&format!("dn: {}\nchangetype: modify\nreplace: givenName\ngivenName: Renamed\n", samba::user_dn(5)))
        .expect("modify");
    let fresh = port.resync_user("default", &five.id).await.expect("re-synced");
    assert_eq!(fresh.first_name.as_deref(), Some("Renamed"));
    assert_eq!(fresh.ldap_uuid, five.ldap_uuid);

    // A user deleted in AD (moved to Deleted Objects) is disabled by the
    // next full sync (the default policy), and only that user.
    dc.modify(&format!("dn: {}\nchangetype: delete\n", samba::user_dn(4))).expect("delete");
    let gone = run(&port, "ad", SyncMode::Full).await;
    assert_eq!(gone.state, "succeeded", "{gone:?}");
    assert_eq!((gone.counts.disabled, gone.counts.deleted), (1, 0), "{gone:?}");
    assert!(!users(&port, &samba::username(4)).await.users.remove(0).enabled);
    assert!(users(&port, &samba::username(3)).await.users.remove(0).enabled);

    // Login by bind. LDAP cannot set passwords without TLS: samba-tool does.
    const PASSWORD: &str = "Us3r-Passw0rd!";
    for n in [0, 1, 2, 3, 9] {
        let name = samba::username(n);
        dc.samba_tool(&["user", "setpassword", &name, &format!("--newpassword={PASSWORD}")]).expect("password set");
    }
    let login = |n: usize, password: &str| {
        let request = LoginRequest { username: samba::username(n), password: password.into() };
        let port = &port;
        async move { port.login("default", request, None).await }
    };
    let reason = |r: Result<LoginSuccess, AppError>| match r {
        Err(AppError::InvalidGrant { reason, .. }) => reason,
        other => panic!("expected a refused login, got {other:?}"),
    };
    let ok = login(0, PASSWORD).await.expect("signs in");
    assert_eq!((ok.repository_id.as_str(), ok.user.ldap_dn.as_str()), ("ad", samba::user_dn(0).as_str()));
    assert!(ok.user.groups.iter().any(|g| g.starts_with("CN=Team")), "{:?}", ok.user.groups);
    assert_eq!(reason(login(0, "Wr0ng-Passw0rd!").await), LoginReason::InvalidCredentials);
    // Disabled (userAccountControl 0x2; setting a password enabled it).
    dc.samba_tool(&["user", "disable", &samba::username(9)]).expect("disabled");
    assert_eq!(reason(login(9, PASSWORD).await), LoginReason::UserDisabled);
    assert_eq!(reason(login(9, "Wr0ng-Passw0rd!").await), LoginReason::InvalidCredentials);
    // pwdLastSet 0: must change (data 773).
    let name = samba::username(1);
    dc.samba_tool(&["user", "setpassword", &name, &format!("--newpassword={PASSWORD}"), "--must-change-at-next-login"])
        .expect("must change");
    assert_eq!(reason(login(1, PASSWORD).await), LoginReason::PasswordMustChange);
    assert_eq!(reason(login(1, "Wr0ng-Passw0rd!").await), LoginReason::InvalidCredentials);
    // An expired account (data 701).
    dc.samba_tool(&["user", "setexpiry", &samba::username(3), "--days=0"]).expect("expiry");
    assert_eq!(reason(login(3, PASSWORD).await), LoginReason::UserDisabled);
    // A lockout policy, and the account locked by wrong passwords sent
    // around dirbridge: data 775, which Samba (like AD) answers without
    // checking the password, so the caller hears only "invalid".
    dc.samba_tool(&["domain", "passwordsettings", "set", "--account-lockout-threshold=3"]).expect("lockout policy");
    for _ in 0..3 {
        let _ = std::process::Command::new("ldapwhoami")
            .args(["-x", "-H", &dc.ldap_url(), "-D", &samba::user_dn(2), "-w", "Wr0ng-Passw0rd!"])
            .output();
    }
    let trace = port
        .test_login(
            "default",
            Some("ad".into()),
            LoginRequest { username: samba::username(2), password: PASSWORD.into() },
        )
        .await
        .expect("traced");
    let bind = trace.steps.iter().find(|s| s.name == "bind").expect("a bind step");
    assert!(!trace.ok);
    assert!(bind.detail.contains("AccountLocked"), "the admin's trace says why: {bind:?}");
    assert_eq!(reason(login(2, PASSWORD).await), LoginReason::InvalidCredentials);
    // (After two failures the throttle spaces attempts out.)
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(reason(login(2, "Wr0ng-Passw0rd!").await), LoginReason::InvalidCredentials);
}
