//! Full sync against a real slapd: import, no-op re-sync, changes, renames and
//! moves, deletions with the max-delete guard, failures that remove nobody.

mod common;

use app::error::AppError;
use app::model::{SyncMode, SyncRequest, SyncRun};
use app::port::{Backend, UserQuery};
use common::{env, repository, run, users, wait, Env};
use dirbridge::service::ServicePort;
use std::time::{Duration, Instant};

async fn sync(port: &ServicePort, repo: &str, force: bool) -> SyncRun {
    let run = port.start_sync("default", repo, SyncRequest { mode: SyncMode::Full, force }).await.expect("starts");
    wait(port, repo, &run).await
}

/// Adds generated user `n` to the group named `group` (member attribute).
fn add_member(slapd: &devdir::Slapd, group: &str, n: usize) {
    let ldif = format!(
        "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n",
        devdir::ldif::group_dn(group),
        devdir::ldif::user_dn(n)
    );
    slapd.modify(&ldif).expect("add member");
}

/// A slapd of `users` generated people and repository `corp` on it, read
/// `page_size` entries a page.
async fn corp(users: usize, page_size: u32) -> (Env, ServicePort) {
    let e = env(users).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "corp");
    repo.sync.page_size = page_size;
    port.create_repository("default", repo).await.expect("created");
    (e, port)
}

#[tokio::test]
async fn full_sync_imports_updates_renames_and_removes_safely() {
    let (e, port) = corp(200, 50).await;

    let first = sync(&port, "corp", false).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    assert_eq!((first.counts.seen, first.counts.added, first.counts.failed), (201, 201, 0), "{first:?}");
    assert_eq!(first.progress.done, 201);
    let all = users(&port, "").await;
    assert_eq!(all.total_results, 201);
    let jurgen = users(&port, "jurgen").await.users.into_iter().next().expect("Jürgen imported");
    assert_eq!(jurgen.first_name.as_deref(), Some("Jürgen"));
    assert!(jurgen.synced_at.is_some());
    assert_eq!(port.get_user("default", &jurgen.id).await.expect("by id"), jurgen);

    let again = sync(&port, "corp", false).await;
    assert_eq!((again.counts.unchanged, again.counts.added, again.counts.updated), (201, 0, 0), "{again:?}");

    // One attribute change updates exactly that user, and says what changed.
    let target = devdir::ldif::user_dn(7);
    e.slapd
        .modify(&format!("dn: {target}\nchangetype: modify\nreplace: mail\nmail: changed@example.org\n"))
        .expect("modify");
    let changed = sync(&port, "corp", false).await;
    assert_eq!((changed.counts.updated, changed.counts.unchanged), (1, 200), "{changed:?}");
    assert_eq!(changed.changes[0].ldap_dn, target);
    assert_eq!(changed.changes[0].attributes, vec!["email"]);

    // Rename and move keep the same user (keyed by entryUUID).
    let before = users(&port, &devdir::ldif::username(3)).await.users.remove(0);
    let renamed_dn = format!("uid=renamed3,ou=Sales,ou=People,{}", devdir::ldif::BASE_DN);
    e.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modrdn\nnewrdn: uid=renamed3\ndeleteoldrdn: 1\nnewsuperior: ou=Sales,ou=People,{}\n",
            devdir::ldif::user_dn(3),
            devdir::ldif::BASE_DN
        ))
        .expect("modrdn");
    let moved = sync(&port, "corp", false).await;
    assert_eq!((moved.counts.updated, moved.counts.added, moved.counts.disabled), (1, 0, 0), "{moved:?}");
    let after = port.get_user("default", &before.id).await.expect("same id");
    assert_eq!((after.username.as_str(), after.ldap_dn.as_str()), ("renamed3", renamed_dn.as_str()));
    assert_eq!(all.total_results, users(&port, "").await.total_results);

    // A user deleted in LDAP is disabled (policy disable), nobody else.
    let gone = users(&port, &devdir::ldif::username(11)).await.users.remove(0);
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(11))).expect("delete");
    let removed = sync(&port, "corp", false).await;
    assert_eq!((removed.counts.disabled, removed.counts.seen), (1, 200), "{removed:?}");
    assert!(!port.get_user("default", &gone.id).await.expect("kept, disabled").enabled);
    assert_eq!(
        users(&port, "").await.users.iter().filter(|u| !u.enabled).count(),
        2,
        "the locked user and the deleted one"
    );

    // Max-delete guard: 30 of 200 enabled users gone is over 10%.
    let mut ldif = String::new();
    for i in 100..130 {
        ldif.push_str(&format!("dn: {}\nchangetype: delete\n\n", devdir::ldif::user_dn(i)));
    }
    e.slapd.modify(&ldif).expect("bulk delete");
    let guarded = sync(&port, "corp", false).await;
    assert_eq!(guarded.state, "aborted", "{guarded:?}");
    assert_eq!(guarded.counts.disabled, 0);
    assert!(guarded.message.as_deref().is_some_and(|m| m.contains("maxDeletePercent")), "{guarded:?}");
    assert_eq!(users(&port, "").await.users.iter().filter(|u| !u.enabled).count(), 2, "guard removed nobody");
    let forced = sync(&port, "corp", true).await;
    assert_eq!((forced.state.as_str(), forced.counts.disabled), ("succeeded", 30), "{forced:?}");

    let runs = port.sync_runs("default", "corp").await.expect("runs");
    assert_eq!(runs.len(), 7);
    assert_eq!(runs[0].id, forced.id, "newest first");
}

#[tokio::test]
async fn a_failed_run_removes_nobody_and_the_next_one_completes() {
    let mut e = env(3000).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "flaky");
    // A page a round trip, so that a run of 3,001 unchanged users lasts
    // well past its first progress (shown after 100 ms at the latest): at
    // 10 a page the re-sync could end before the test saw it going.
    repo.sync.page_size = 1;
    repo.sync.deletion.max_delete_percent = 100;
    repo.connection.timeout_seconds = 3;
    port.create_repository("default", repo).await.expect("created");
    let first = sync(&port, "flaky", false).await;
    assert_eq!((first.state.as_str(), first.counts.added), ("succeeded", 3001));

    let someone = users(&port, "").await.users[0].id.clone();
    // Stop the directory in the middle of the next run.
    let run = port.start_sync("default", "flaky", SyncRequest::default()).await.expect("starts");
    let second = port.start_sync("default", "flaky", SyncRequest::default()).await;
    assert!(matches!(second, Err(AppError::Conflict { .. })), "{second:?}");
    loop {
        let r = port.sync_run("default", "flaky", &run).await.expect("run");
        assert_eq!(r.state, "running", "the run ended before slapd could be stopped: {r:?}");
        if r.progress.done >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Nor does a single user's re-sync write beside the run.
    let resync = port.resync_user("default", &someone).await;
    assert!(matches!(&resync, Err(AppError::Conflict { message }) if message.contains("running")), "{resync:?}");
    e.slapd.stop();
    let failed = wait(&port, "flaky", &run).await;
    assert_eq!(failed.state, "failed", "{failed:?}");
    assert!(failed.message.as_deref().is_some_and(|m| m.contains("nobody was removed")), "{failed:?}");
    assert_eq!((failed.counts.disabled, failed.counts.deleted), (0, 0));
    assert!(users(&port, "").await.users.len() == 1000 && users(&port, "").await.total_results == 3001);
    let enabled = port
        .list_users("default", UserQuery { page_size: Some(1000), page: Some(4), ..Default::default() })
        .await
        .expect("page 4");
    assert_eq!(enabled.users.len(), 1, "3001 users over pages of 1000");

    let down = sync(&port, "flaky", false).await;
    assert_eq!(down.state, "failed", "no directory: {down:?}");
    e.slapd.restart().expect("slapd back");
    let next = sync(&port, "flaky", false).await;
    assert_eq!((next.state.as_str(), next.counts.unchanged, next.counts.disabled), ("succeeded", 3001, 0), "{next:?}");
}

#[tokio::test]
async fn an_empty_read_never_removes_users_and_changed_mode_says_it_is_not_there_yet() {
    let e = env(20).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "empty");
    repo.sync.deletion.max_delete_percent = 100;
    let created = port.create_repository("default", repo).await.expect("created");
    assert_eq!(sync(&port, "empty", false).await.counts.added, 21);

    // A filter that suddenly matches nothing looks like an empty directory.
    let mut none = created.clone();
    none.users.filters = vec!["(departmentNumber=Nobody)".into()];
    port.replace_repository("default", "empty", none).await.expect("replaced");
    let empty = sync(&port, "empty", false).await;
    assert_eq!(empty.state, "aborted", "{empty:?}");
    assert!(empty.message.as_deref().is_some_and(|m| m.contains("no users")));
    assert_eq!(users(&port, "").await.users.iter().filter(|u| u.enabled).count(), 20);

    // Editing the repository dropped the sync state: a changed sync reads
    // everything, and the same guard stops it.
    let changed = run(&port, "empty", SyncMode::Changed).await;
    assert_eq!((changed.state.as_str(), changed.method.as_str()), ("aborted", "paged"), "{changed:?}");
    assert_eq!(users(&port, "").await.users.iter().filter(|u| u.enabled).count(), 20);
    assert!(matches!(
        port.start_sync("default", "missing", SyncRequest::default()).await,
        Err(AppError::NotFound { .. })
    ));
}

#[tokio::test]
async fn single_user_resync_reads_one_entry_and_handles_its_removal() {
    let e = env(30).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "one")).await.expect("created");
    sync(&port, "one", false).await;
    let user = users(&port, &devdir::ldif::username(4)).await.users.remove(0);

    e.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: mail\nmail: fresh@example.org\n",
            devdir::ldif::user_dn(4)
        ))
        .expect("modify");
    let fresh = port.resync_user("default", &user.id).await.expect("re-read");
    assert_eq!(fresh.email.as_deref(), Some("fresh@example.org"));
    assert_eq!(port.get_user("default", &user.id).await.expect("stored").email.as_deref(), Some("fresh@example.org"));

    // Renamed: found again by its UUID.
    e.slapd
        .modify(&format!("dn: {}\nchangetype: modrdn\nnewrdn: uid=moved4\ndeleteoldrdn: 1\n", devdir::ldif::user_dn(4)))
        .expect("rename");
    let renamed = port.resync_user("default", &user.id).await.expect("found by uuid");
    assert_eq!(renamed.username, "moved4");

    e.slapd
        .modify(&format!("dn: uid=moved4,ou=Operations,ou=People,{}\nchangetype: delete\n", devdir::ldif::BASE_DN))
        .expect("delete");
    let gone = port.resync_user("default", &user.id).await;
    assert!(matches!(&gone, Err(AppError::NotFound { message }) if message.contains("disabled")), "{gone:?}");
    assert!(!port.get_user("default", &user.id).await.expect("kept").enabled);

    assert!(matches!(port.resync_user("default", " ").await, Err(AppError::BadRequest { .. })));
    assert!(matches!(port.resync_user("default", "one:no-such-uuid").await, Err(AppError::NotFound { .. })));
}

#[tokio::test]
async fn changed_sync_reads_only_changes_by_content_synchronisation() {
    let e = env(100).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "inc")).await.expect("created");
    // Without an earlier run, a changed sync reads everything and says so.
    let first = run(&port, "inc", SyncMode::Changed).await;
    assert_eq!(
        (first.state.as_str(), first.method.as_str(), first.counts.added),
        ("succeeded", "paged", 101),
        "{first:?}"
    );
    assert!(first.message.as_deref().is_some_and(|m| m.contains("no earlier successful sync")), "{first:?}");

    // A run's end is announced once it can be read (the event stream and
    // the benchmark wait on this instead of polling).
    let mut ends = e.service.sync_run_ends();
    let quiet = port.start_sync("default", "inc", SyncRequest { mode: SyncMode::Changed, force: false });
    let quiet = quiet.await.expect("starts");
    tokio::time::timeout(Duration::from_secs(120), ends.changed()).await.expect("ends").expect("engine runs");
    let quiet = port.sync_run("default", "inc", &quiet).await.expect("run");
    assert_eq!((quiet.state.as_str(), quiet.method.as_str()), ("succeeded", "syncrepl"), "{quiet:?}");
    assert_eq!(quiet.counts, Default::default(), "nothing changed: {quiet:?}");

    let base = devdir::ldif::BASE_DN;
    e.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: mail\nmail: chief@example.org\n",
            devdir::ldif::user_dn(5)
        ))
        .expect("modify");
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(6))).expect("delete");
    e.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modrdn\nnewrdn: uid=renamed7\ndeleteoldrdn: 1\n",
            devdir::ldif::user_dn(7)
        ))
        .expect("rename");
    e.slapd
        .modify(&format!(
            "dn: uid=new.hire,ou=Sales,ou=People,{base}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new.hire\ncn: New Hire\nsn: Hire\nmail: new.hire@example.org\n"
        ))
        .expect("add");
    let changed = run(&port, "inc", SyncMode::Changed).await;
    assert_eq!((changed.state.as_str(), changed.method.as_str()), ("succeeded", "syncrepl"), "{changed:?}");
    let c = changed.counts;
    assert_eq!((c.seen, c.added, c.updated, c.disabled, c.deleted, c.failed), (3, 1, 2, 1, 0, 0), "{changed:?}");
    let gone = users(&port, &devdir::ldif::username(6)).await.users.remove(0);
    assert!(!gone.enabled, "deleted in LDAP, disabled here");
    assert_eq!(users(&port, "renamed7").await.total_results, 1);
    assert_eq!(users(&port, &devdir::ldif::username(7)).await.total_results, 0, "renamed, not duplicated");
    assert_eq!(users(&port, "new.hire").await.users[0].email.as_deref(), Some("new.hire@example.org"));
    let chief = users(&port, &devdir::ldif::username(5)).await.users.remove(0);
    assert_eq!(chief.email.as_deref(), Some("chief@example.org"));

    // A full sync afterwards agrees with what the changed sync wrote.
    let full = run(&port, "inc", SyncMode::Full).await;
    assert_eq!((full.counts.added, full.counts.updated, full.counts.disabled), (0, 0, 0), "{full:?}");

    // With the delete policy a changed sync deletes exactly the deleted user.
    let mut repo = port.get_repository("default", "inc").await.expect("repo");
    repo.sync.deletion.policy = app::model::DeletionPolicyKind::Delete;
    port.replace_repository("default", "inc", repo).await.expect("replaced");
    run(&port, "inc", SyncMode::Full).await;
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(8))).expect("delete");
    let deleted = run(&port, "inc", SyncMode::Changed).await;
    assert_eq!(
        (deleted.method.as_str(), deleted.counts.deleted, deleted.counts.seen),
        ("syncrepl", 1, 0),
        "{deleted:?}"
    );
    assert_eq!(users(&port, &devdir::ldif::username(8)).await.total_results, 0);
}

#[tokio::test]
async fn a_stale_cookie_falls_back_to_the_present_set_and_removes_what_is_gone() {
    let e = env(40).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "stale")).await.expect("created");
    run(&port, "stale", SyncMode::Full).await;
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(2))).expect("delete");
    // A cookie from before the server's session log: the server answers with
    // the whole present set instead of the changes.
    let store = e.service.store();
    let mut state = store.sync_state("default", "stale").await.expect("read").expect("saved by the full run");
    state.users_cookie = Some(b"rid=000,csn=20000101000000.000000Z#000000#000#000000".to_vec());
    store.bulk().expect("writer").save_sync_state("default", "stale", &state).expect("saved");
    let r = run(&port, "stale", SyncMode::Changed).await;
    assert_eq!((r.state.as_str(), r.method.as_str()), ("succeeded", "syncrepl"), "{r:?}");
    assert_eq!((r.counts.seen, r.counts.unchanged, r.counts.disabled), (40, 40, 1), "{r:?}");
    assert!(!users(&port, &devdir::ldif::username(2)).await.users[0].enabled);

    // The same when users and groups continue from one stale cookie (read
    // together, the present set sends them back to being read apart).
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(3))).expect("delete");
    let mut state = store.sync_state("default", "stale").await.expect("read").expect("saved");
    state.users_cookie = Some(b"rid=000,csn=20000101000000.000000Z#000000#000#000000".to_vec());
    state.groups_cookie = state.users_cookie.clone();
    store.bulk().expect("writer").save_sync_state("default", "stale", &state).expect("saved");
    let r = run(&port, "stale", SyncMode::Changed).await;
    assert_eq!((r.state.as_str(), r.method.as_str()), ("succeeded", "syncrepl"), "{r:?}");
    assert_eq!((r.counts.seen, r.counts.unchanged, r.counts.disabled), (39, 39, 1), "{r:?}");
    assert_eq!(r.group_counts.expect("groups").seen, 7, "the groups' present set too");
    assert!(!users(&port, &devdir::ldif::username(3)).await.users[0].enabled);
}

#[tokio::test]
async fn one_changed_sync_reads_users_and_groups_and_tells_them_apart_by_place() {
    let e = env(20).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "j")).await.expect("created");
    let base = devdir::ldif::BASE_DN;
    // Entries that belong to nothing else: slapd's memberof overlay rewrites
    // the entries around a moved member or group behind content sync's back
    // (its internal writes reach no session log), which only a full sync sees.
    let nobody = format!("cn=nobody,{base}");
    for ldif in [
        format!("dn: ou=Former,{base}\nchangetype: add\nobjectClass: organizationalUnit\nou: Former\n"),
        format!(
            "dn: uid=mover,ou=People,{base}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: mover\ncn: M\nsn: M\n"
        ),
        format!(
            "dn: cn=Temp,ou=Groups,{base}\nchangetype: add\nobjectClass: groupOfNames\ncn: Temp\nmember: {nobody}\n"
        ),
    ] {
        e.slapd.modify(&ldif).expect("add");
    }
    let first = run(&port, "j", SyncMode::Full).await;
    assert_eq!(first.group_counts.expect("groups").seen, 8, "{first:?}");
    let stored = port.list_users("default", UserQuery::default()).await.expect("users").total_results;
    let move_to_former = |dn: &str, rdn: &str| {
        let ldif =
            format!("dn: {dn}\nchangetype: modrdn\nnewrdn: {rdn}\ndeleteoldrdn: 1\nnewsuperior: ou=Former,{base}\n");
        e.slapd.modify(&ldif).expect("move");
    };
    // A user and a group move out of their places; another user and group change.
    move_to_former(&format!("uid=mover,ou=People,{base}"), "uid=mover");
    move_to_former(&format!("cn=Temp,ou=Groups,{base}"), "cn=Temp");
    let four = devdir::ldif::user_dn(4);
    e.slapd.modify(&format!("dn: {four}\nchangetype: modify\nreplace: mail\nmail: four@example.org\n")).expect("mail");
    add_member(&e.slapd, "All Staff", 4);
    let changed = run(&port, "j", SyncMode::Changed).await;
    assert_eq!((changed.state.as_str(), changed.method.as_str()), ("succeeded", "syncrepl"), "{changed:?}");
    assert_eq!((changed.counts.disabled, changed.counts.failed), (1, 0), "{changed:?}");
    let gc = changed.group_counts.expect("groups");
    assert_eq!((gc.deleted, gc.updated, gc.added), (1, 1, 0), "{changed:?}");
    assert!(!users(&port, "mover").await.users[0].enabled, "moved out of People");
    let four = users(&port, &devdir::ldif::username(4)).await.users.remove(0);
    assert_eq!(four.email.as_deref(), Some("four@example.org"));
    assert!(four.groups.iter().any(|g| g.starts_with("cn=All Staff")), "{:?}", four.groups);
    let groups = port.list_groups("default", UserQuery::default()).await.expect("groups");
    assert_eq!(groups.total_results, 7);
    assert!(!groups.groups.iter().any(|g| g.name == "Temp"), "moved out of Groups");

    // A group among the users is neither a user nor (outside Groups) a group.
    e.slapd
        .modify(&format!(
            "dn: cn=Team,ou=People,{base}\nchangetype: add\nobjectClass: groupOfNames\ncn: Team\nmember: {nobody}\n"
        ))
        .expect("add a group among users");
    let team = run(&port, "j", SyncMode::Changed).await;
    assert_eq!((team.state.as_str(), team.counts.failed, team.counts.added), ("succeeded", 0, 0), "{team:?}");
    assert_eq!(port.list_groups("default", UserQuery::default()).await.expect("groups").total_results, 7);
    let now = port.list_users("default", UserQuery::default()).await.expect("users").total_results;
    assert_eq!(now, stored, "nobody added; the user moved out disabled, not deleted");

    // A full sync afterwards agrees with what the changed syncs wrote.
    let full = run(&port, "j", SyncMode::Full).await;
    let (c, gc) = (&full.counts, full.group_counts.as_ref().expect("groups"));
    assert_eq!((c.added, c.updated, c.disabled, c.failed), (0, 0, 0, 0), "{full:?}");
    assert_eq!((gc.added, gc.updated, gc.deleted), (0, 0, 0), "{full:?}");
}

#[tokio::test]
async fn without_content_synchronisation_changed_sync_reads_by_timestamp() {
    let slapd = tokio::task::spawn_blocking(|| {
        devdir::Slapd::start(devdir::Options { users: 30, content_sync: false, ..Default::default() })
    })
    .await
    .expect("join")
    .expect("slapd");
    let e = common::env_with(slapd).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "ts")).await.expect("created");
    assert_eq!(run(&port, "ts", SyncMode::Full).await.counts.added, 31);
    e.slapd
        .modify(&format!("dn: {}\nchangetype: modify\nreplace: mail\nmail: ts@example.org\n", devdir::ldif::user_dn(3)))
        .expect("modify");
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(4))).expect("delete");
    let r = run(&port, "ts", SyncMode::Changed).await;
    assert_eq!((r.state.as_str(), r.method.as_str()), ("succeeded", "timestamps"), "{r:?}");
    assert_eq!((r.counts.updated, r.counts.added, r.counts.disabled), (1, 0, 0), "{r:?}");
    assert!(r.message.as_deref().is_some_and(|m| m.contains("deletions are found by full syncs")), "{r:?}");
    assert!(users(&port, &devdir::ldif::username(4)).await.users[0].enabled, "timestamps cannot see deletions");
    let full = run(&port, "ts", SyncMode::Full).await;
    assert_eq!(full.counts.disabled, 1, "the next full sync does: {full:?}");
}

#[tokio::test]
async fn groups_sync_in_every_membership_style_with_nesting() {
    let e = env(20).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "g")).await.expect("created");
    let first = run(&port, "g", SyncMode::Full).await;
    let gc = first.group_counts.expect("groups were read");
    // 5 departments, All Staff, Admins (groupOfNames).
    assert_eq!((gc.seen, gc.added), (7, 7), "{first:?}");
    let groups = port.list_groups("default", UserQuery::default()).await.expect("groups");
    assert_eq!(groups.total_results, 7);
    let staff = groups.groups.iter().find(|g| g.name == "All Staff").expect("All Staff");
    assert_eq!(staff.member_count, 5);

    // User 0: Engineering directly, All Staff through nesting, Admins.
    let anna = users(&port, &devdir::ldif::username(0)).await.users.remove(0);
    let names: Vec<String> = anna.groups.iter().map(|dn| dirbridge::dn::normalize(dn)).collect();
    for g in ["Engineering", "Admins", "All Staff"] {
        assert!(names.contains(&dirbridge::dn::normalize(&devdir::ldif::group_dn(g))), "{g} in {:?}", anna.groups);
    }
    let one = users(&port, &devdir::ldif::username(1)).await.users.remove(0);
    assert_eq!(one.groups.len(), 3, "Sales, All Staff, Admins: {:?}", one.groups);

    // A membership change is picked up by a changed sync; unchanged groups are not rewritten.
    add_member(&e.slapd, "Admins", 10);
    let changed = run(&port, "g", SyncMode::Changed).await;
    let gc = changed.group_counts.expect("groups");
    assert_eq!((changed.method.as_str(), gc.updated, gc.added), ("syncrepl", 1, 0), "{changed:?}");
    let ten = users(&port, &devdir::ldif::username(10)).await.users.remove(0);
    assert!(ten.groups.iter().any(|g| g.starts_with("cn=Admins")), "{:?}", ten.groups);
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::group_dn("Admins"))).expect("delete group");
    let removed = run(&port, "g", SyncMode::Changed).await;
    assert_eq!(removed.group_counts.expect("groups").deleted, 1, "{removed:?}");
    assert_eq!(port.list_groups("default", UserQuery::default()).await.expect("groups").total_results, 6);
    // Its memberships went with it; the other groups' stayed.
    let db = rusqlite::Connection::open(e.data.path().join("dirbridge.db")).expect("store");
    let (orphans, kept): (i64, i64) = db
        .query_row(
            "SELECT count(*) FILTER (WHERE g.ldap_uuid IS NULL), count(g.ldap_uuid) FROM group_members m LEFT JOIN groups g ON g.id = m.group_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("members");
    assert_eq!(orphans, 0);
    assert!(kept > 0, "{kept}");
    let ten = users(&port, &devdir::ldif::username(10)).await.users.remove(0);
    assert!(!ten.groups.iter().any(|g| g.starts_with("cn=Admins")), "{:?}", ten.groups);

    // uniqueMember (with the optional unique id) and memberUid.
    let mut unique = repository(&e.slapd, "unique");
    unique.groups.object_classes = vec!["groupOfUniqueNames".into()];
    unique.groups.member_attribute = app::model::MemberAttribute::UniqueMember;
    unique.groups.membership_attribute = None;
    port.create_repository("default", unique).await.expect("created");
    let mut posix = repository(&e.slapd, "posix");
    posix.groups.object_classes = vec!["posixGroup".into()];
    posix.groups.member_attribute = app::model::MemberAttribute::MemberUid;
    posix.groups.membership_attribute = None;
    port.create_repository("default", posix).await.expect("created");
    for id in ["unique", "posix"] {
        let r = run(&port, id, SyncMode::Full).await;
        assert_eq!(r.group_counts.expect("groups").seen, 1, "{r:?}");
    }
    let in_repo = |repo: &str, user: usize| {
        let port = &port;
        let repo = repo.to_string();
        async move {
            let q = UserQuery {
                search: Some(devdir::ldif::username(user)),
                repository_id: Some(repo),
                ..Default::default()
            };
            port.list_users("default", q).await.expect("users").users.remove(0).groups
        }
    };
    assert_eq!(in_repo("unique", 1).await, vec![devdir::ldif::group_dn("Auditors")]);
    assert_eq!(in_repo("unique", 2).await, Vec::<String>::new());
    assert_eq!(in_repo("posix", 2).await, vec![devdir::ldif::group_dn("posix-devs")]);
    assert_eq!(in_repo("posix", 1).await, Vec::<String>::new());
}

#[tokio::test]
async fn schedules_start_runs_and_show_the_next_one() {
    let e = env(10).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "cron");
    // Quartz-style 6-field cron with seconds: every two seconds.
    repo.sync.full_sync =
        app::model::Schedule { enabled: true, cron: Some("*/2 * * * * ?".into()), interval_seconds: None };
    port.create_repository("default", repo).await.expect("created");
    let next = port.next_runs("default", "cron").await.expect("next runs");
    assert!(next.full.is_some() && next.changed.is_none(), "{next:?}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let runs = port.sync_runs("default", "cron").await.expect("runs");
        if let Some(r) = runs.iter().find(|r| r.state == "succeeded") {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no scheduled run: {runs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((run.mode, run.counts.added), (SyncMode::Full, 11), "{run:?}");
    // When it fired is stored, so a restart continues from there.
    let fired = e.service.store().schedule_last_fired("default", "cron", "full").await.expect("read");
    assert!(fired.is_some());

    // Disabled: no more runs are scheduled.
    let mut repo = port.get_repository("default", "cron").await.expect("repo");
    repo.sync.full_sync.enabled = false;
    port.replace_repository("default", "cron", repo).await.expect("replaced");
    assert_eq!(port.next_runs("default", "cron").await.expect("next").full, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = port.sync_runs("default", "cron").await.expect("runs").len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(port.sync_runs("default", "cron").await.expect("runs").len(), settled);
}

#[tokio::test]
async fn a_replay_too_large_for_memory_becomes_a_complete_read() {
    // More users than the smallest replay limit (5,000).
    let e = env(5_200).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "big")).await.expect("created");
    run(&port, "big", SyncMode::Full).await;
    e.slapd.modify(&format!("dn: {}\nchangetype: delete\n", devdir::ldif::user_dn(9))).expect("delete");
    let store = e.service.store();
    let mut state = store.sync_state("default", "big").await.expect("read").expect("saved");
    state.users_cookie = Some(b"rid=000,csn=20000101000000.000000Z#000000#000#000000".to_vec());
    store.bulk().expect("writer").save_sync_state("default", "big", &state).expect("saved");
    // The groups' own cookie is still good: their changes are read while the
    // users' replay goes, then read again completely once it is abandoned.
    add_member(&e.slapd, "Admins", 10);

    let r = run(&port, "big", SyncMode::Changed).await;
    assert_eq!((r.state.as_str(), r.method.as_str()), ("succeeded", "paged"), "{r:?}");
    assert!(r.message.as_deref().is_some_and(|m| m.contains("more than 5000 changes")), "{r:?}");
    assert_eq!((r.counts.seen, r.counts.disabled), (5_200, 1), "{r:?}");
    assert!(!users(&port, &devdir::ldif::username(9)).await.users[0].enabled);
    let gc = r.group_counts.expect("groups were read");
    // Admins, and user 9's department (refint dropped the deleted member).
    assert_eq!((gc.seen, gc.updated, gc.added, gc.deleted), (7, 2, 0, 0), "{r:?}");
    let ten = users(&port, &devdir::ldif::username(10)).await.users.remove(0);
    assert!(ten.groups.iter().any(|g| g.starts_with("cn=Admins")), "{:?}", ten.groups);
    // The fresh cookie works: the next changed sync replays nothing.
    let next = run(&port, "big", SyncMode::Changed).await;
    assert_eq!((next.method.as_str(), next.counts.seen), ("syncrepl", 0), "{next:?}");
}

#[tokio::test]
async fn a_run_cut_off_by_a_restart_is_marked_interrupted_and_the_next_one_completes() {
    let e = env(50).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "restart")).await.expect("created");
    assert_eq!(run(&port, "restart", SyncMode::Full).await.counts.added, 51);
    // What a process killed mid-run leaves behind: a run still `running`.
    let cut = e
        .service
        .store()
        .insert_run("default", "restart", SyncMode::Full, app::model::RunMethod::Paged, "2026-01-01T00:00:00Z", 51)
        .await
        .expect("run row");
    drop(port);
    let config = dirbridge::config::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: e.data.path().to_path_buf(),
        admin_password: None,
        login: Default::default(),
        audit_retention_days: 365,
        metrics_listen: None,
    };
    let restarted = dirbridge::open(&config).await.expect("reopens");
    let port = ServicePort(restarted);
    let r = port.sync_run("default", "restart", &cut.to_string()).await.expect("run");
    assert_eq!(r.state, "failed");
    assert!(r.message.as_deref().is_some_and(|m| m.contains("interrupted")), "{r:?}");
    assert_eq!(users(&port, "").await.total_results, 51, "the store is intact");
    let next = run(&port, "restart", SyncMode::Full).await;
    assert_eq!((next.state.as_str(), next.counts.unchanged), ("succeeded", 51), "{next:?}");
}

#[tokio::test]
async fn unchanged_entries_are_skipped_by_fingerprint_until_the_mapping_or_the_store_changes() {
    let e = env(120).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "corp");
    repo.sync.page_size = 25;
    port.create_repository("default", repo).await.expect("created");
    let first = sync(&port, "corp", false).await;
    assert_eq!((first.state.as_str(), first.counts.added), ("succeeded", 121), "{first:?}");

    // Every user has its entry's fingerprint and its own place in read order.
    let db = rusqlite::Connection::open(e.data.path().join("dirbridge.db")).expect("store");
    let fingerprinted = |db: &rusqlite::Connection| -> (i64, i64) {
        db.query_row("SELECT count(source_hash), count(DISTINCT seq) FROM users", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("count")
    };
    assert_eq!(fingerprinted(&db), (121, 121));
    let again = sync(&port, "corp", false).await;
    assert_eq!((again.counts.seen, again.counts.unchanged, again.counts.updated), (121, 121, 0), "{again:?}");

    // A store written before fingerprints: every entry is mapped again, found
    // unchanged, and fingerprinted for the next run.
    db.execute("UPDATE users SET source_hash = NULL, seq = NULL", []).expect("forget");
    let upgraded = sync(&port, "corp", false).await;
    assert_eq!((upgraded.counts.unchanged, upgraded.counts.updated), (121, 0), "{upgraded:?}");
    assert_eq!(fingerprinted(&db), (121, 121));

    // The mapping is part of the fingerprint: with a new attribute mapping,
    // entries unchanged in the directory are mapped again and updated.
    let mut repo = port.get_repository("default", "corp").await.expect("repo");
    repo.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.employee", "employeeNumber"));
    port.replace_repository("default", "corp", repo).await.expect("replaced");
    let remapped = sync(&port, "corp", false).await;
    // (The one entry without an employeeNumber maps to the same user.)
    assert_eq!((remapped.counts.updated, remapped.counts.unchanged), (120, 1), "{:?}", remapped.counts);
    let user = users(&port, &devdir::ldif::username(5)).await.users.remove(0);
    assert_eq!(user.attributes["employee"], vec!["100005"]);

    // A user disabled because its entry left the read comes back enabled,
    // although its entry is the same as when it was stored.
    let dn = devdir::ldif::user_dn(9);
    let (rdn, parent) = dn.split_once(',').expect("parent");
    let outside = format!("ou=Groups,{}", devdir::ldif::BASE_DN);
    let moved = |from: &str, to: &str| {
        format!("dn: {from}\nchangetype: modrdn\nnewrdn: {rdn}\ndeleteoldrdn: 1\nnewsuperior: {to}\n")
    };
    e.slapd.modify(&moved(&dn, &outside)).expect("out of scope");
    let removed = sync(&port, "corp", false).await;
    assert_eq!(removed.counts.disabled, 1, "{removed:?}");
    e.slapd.modify(&moved(&format!("{rdn},{outside}"), parent)).expect("back in scope");
    let back = sync(&port, "corp", false).await;
    assert_eq!((back.counts.updated, back.counts.added), (1, 0), "{back:?}");
    let user = users(&port, &devdir::ldif::username(9)).await.users.remove(0);
    assert!(user.enabled && user.ldap_dn == dn, "{user:?}");
}

#[tokio::test]
async fn a_username_another_user_has_fails_that_entry_in_any_page_until_the_holder_is_gone() {
    // Small pages: the two claimants are written in different batches.
    let (e, port) = corp(60, 10).await;
    let holder_dn = devdir::ldif::user_dn(5);
    let name = devdir::ldif::username(5);
    let claimant_dn = format!("uid={},ou=People,{}", name.to_uppercase(), devdir::ldif::BASE_DN);
    e.slapd
        .modify(&format!(
            "dn: {claimant_dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {}\ncn: Claimant\nsn: Claimant\n",
            name.to_uppercase()
        ))
        .expect("add the claimant");

    let first = sync(&port, "corp", false).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    assert_eq!((first.counts.seen, first.counts.added, first.counts.failed), (62, 61, 1), "{first:?}");
    let error = first.errors.iter().find(|e| e.dn == claimant_dn).expect("the claimant's DN is reported");
    assert!(error.message.contains("duplicate username") && error.message.contains(&holder_dn), "{error:?}");
    let found = users(&port, &name).await;
    assert_eq!(found.total_results, 1, "{found:?}");
    assert_eq!(found.users[0].ldap_dn, holder_dn);

    // Unchanged, it fails again (nothing is overwritten, nothing else fails).
    let again = sync(&port, "corp", false).await;
    assert_eq!((again.counts.failed, again.counts.added, again.counts.unchanged), (1, 0, 61), "{again:?}");

    // The holder leaves the directory: disabled at the end of the run that
    // sees it gone; the next run gives the name to the claimant.
    e.slapd.modify(&format!("dn: {holder_dn}\nchangetype: delete\n")).expect("delete the holder");
    let gone = sync(&port, "corp", false).await;
    assert_eq!((gone.counts.disabled, gone.counts.failed), (1, 1), "{gone:?}");
    let taken_over = sync(&port, "corp", false).await;
    assert_eq!((taken_over.counts.added, taken_over.counts.failed), (1, 0), "{taken_over:?}");
    let now = users(&port, &name).await;
    let enabled: Vec<_> = now.users.iter().filter(|u| u.enabled).map(|u| u.ldap_dn.as_str()).collect();
    assert_eq!(enabled, [claimant_dn.as_str()], "{now:?}");
}

#[tokio::test]
async fn a_rename_or_a_new_schedule_keeps_fingerprints_and_cookie_a_new_mapping_maps_everyone_again() {
    let e = env(60).await;
    let port = ServicePort(e.service.clone());
    port.create_repository("default", repository(&e.slapd, "keep")).await.expect("created");
    let first = sync(&port, "keep", false).await;
    assert_eq!((first.state.as_str(), first.counts.added), ("succeeded", 61), "{first:?}");
    // A user's stored fingerprint changes whenever a run maps it again (the
    // mapping key is part of it), so equal fingerprints mean "not re-mapped".
    let db = rusqlite::Connection::open(e.data.path().join("dirbridge.db")).expect("store");
    let fingerprints = |db: &rusqlite::Connection| -> Vec<String> {
        let mut q = db.prepare("SELECT hex(source_hash) FROM users ORDER BY ldap_uuid").expect("query");
        q.query_map([], |r| r.get::<_, String>(0)).expect("rows").map(|r| r.expect("row")).collect()
    };
    let stored = fingerprints(&db);
    assert_eq!(stored.len(), 61);

    // Rename, reprioritise and reschedule: nothing a run reads or maps.
    let mut repo = port.get_repository("default", "keep").await.expect("repo");
    repo.name = "Kept under another name".into();
    repo.priority = 5;
    repo.sync.full_sync =
        app::model::Schedule { enabled: true, cron: Some("0 0 1 1 *".into()), interval_seconds: None };
    port.replace_repository("default", "keep", repo).await.expect("replaced");
    e.slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: mail\nmail: kept@example.org\n",
            devdir::ldif::user_dn(3)
        ))
        .expect("modify");
    // The changed sync continues from the cookie the full sync stored.
    let changed = run(&port, "keep", SyncMode::Changed).await;
    assert_eq!((changed.state.as_str(), changed.method.as_str()), ("succeeded", "syncrepl"), "{changed:?}");
    assert_eq!((changed.counts.seen, changed.counts.updated), (1, 1), "{changed:?}");
    let full = sync(&port, "keep", false).await;
    assert_eq!((full.counts.seen, full.counts.unchanged, full.counts.updated), (61, 61, 0), "{full:?}");
    let now = fingerprints(&db);
    let remapped = stored.iter().zip(&now).filter(|(a, b)| a != b).count();
    assert_eq!(remapped, 1, "only the modified user was mapped again");

    // A new attribute mapping changes how every entry maps: the cookie goes,
    // the next changed sync reads everything, and every user is mapped again.
    let mut repo = port.get_repository("default", "keep").await.expect("repo");
    repo.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.employee", "employeeNumber"));
    port.replace_repository("default", "keep", repo).await.expect("replaced");
    let after = run(&port, "keep", SyncMode::Changed).await;
    assert_eq!(
        (after.state.as_str(), after.method.as_str(), after.counts.seen),
        ("succeeded", "paged", 61),
        "{after:?}"
    );
    let again = fingerprints(&db);
    assert!(now.iter().zip(&again).all(|(a, b)| a != b), "every user was mapped again");
}
