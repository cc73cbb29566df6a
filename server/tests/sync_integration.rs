//! Full sync against a real slapd: import, no-op re-sync, changes, renames and
//! moves, deletions with the max-delete guard, failures that remove nobody.

mod common;

use app::error::AppError;
use app::model::{SyncMode, SyncRequest, SyncRun};
use app::port::{Backend, UserQuery};
use common::{env, repository};
use dirbridge::service::ServicePort;
use std::time::{Duration, Instant};

async fn wait(port: &ServicePort, repo: &str, run: &str) -> SyncRun {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = port.sync_run("default", repo, run).await.expect("run exists");
        if r.state != "running" {
            return r;
        }
        assert!(Instant::now() < deadline, "run {run} did not finish: {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sync(port: &ServicePort, repo: &str, force: bool) -> SyncRun {
    let run = port.start_sync("default", repo, SyncRequest { mode: SyncMode::Full, force }).await.expect("starts");
    wait(port, repo, &run).await
}

async fn users(port: &ServicePort, search: &str) -> app::model::UserList {
    port.list_users("default", UserQuery { search: Some(search.into()), page_size: Some(1000), ..Default::default() })
        .await
        .expect("users")
}

#[tokio::test]
async fn full_sync_imports_updates_renames_and_removes_safely() {
    let e = env(200).await;
    let port = ServicePort(e.service.clone());
    let mut repo = repository(&e.slapd, "corp");
    repo.sync.page_size = 50;
    port.create_repository("default", repo).await.expect("created");

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
    repo.sync.page_size = 10;
    repo.sync.deletion.max_delete_percent = 100;
    repo.connection.timeout_seconds = 3;
    port.create_repository("default", repo).await.expect("created");
    let first = sync(&port, "flaky", false).await;
    assert_eq!((first.state.as_str(), first.counts.added), ("succeeded", 3001));

    // Stop the directory in the middle of the next run.
    let run = port.start_sync("default", "flaky", SyncRequest::default()).await.expect("starts");
    let second = port.start_sync("default", "flaky", SyncRequest::default()).await;
    assert!(matches!(second, Err(AppError::Conflict { .. })), "{second:?}");
    loop {
        let r = port.sync_run("default", "flaky", &run).await.expect("run");
        assert_eq!(r.state, "running", "the run ended before slapd could be stopped: {r:?}");
        if r.progress.done >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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

    let changed = port.start_sync("default", "empty", SyncRequest { mode: SyncMode::Changed, force: false }).await;
    assert!(matches!(changed, Err(AppError::BadRequest { .. })), "{changed:?}");
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
