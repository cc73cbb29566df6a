//! Shared set-up of the integration tests: a real slapd and a dirbridge
//! service on a temp data dir.
#![allow(dead_code)]

use app::model::{Repository, SyncMode, SyncRequest, SyncRun, Vendor};
use app::port::{Backend, UserQuery};
use app::presets::new_repository;
use devdir::{Options, Slapd};
use dirbridge::config::Config;
use dirbridge::service::ServicePort;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "test-admin-password";

pub struct Env {
    pub slapd: Slapd,
    pub service: Arc<dirbridge::service::Service>,
    pub data: tempfile::TempDir,
}

pub async fn env(users: usize) -> Env {
    let slapd = tokio::task::spawn_blocking(move || Slapd::start(Options { users, ..Default::default() }))
        .await
        .expect("join")
        .expect("slapd starts");
    env_with(slapd).await
}

/// A dirbridge service next to an already started slapd.
pub async fn env_with(slapd: Slapd) -> Env {
    let (service, data) = service().await;
    Env { slapd, service, data }
}

/// A dirbridge service on a temp data dir (removed when it is dropped).
pub async fn service() -> (Arc<dirbridge::service::Service>, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tempdir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_path_buf(),
        admin_password: Some(ADMIN_PASSWORD.into()),
        login: Default::default(),
        audit_retention_days: 365,
        metrics_listen: None,
    };
    (dirbridge::open(&config).await.expect("service opens"), data)
}

/// Waits for a sync run to end (two minutes at most).
pub async fn wait(port: &ServicePort, repo: &str, run: &str) -> SyncRun {
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

/// Runs a sync of `mode` to its end.
pub async fn run(port: &ServicePort, repo: &str, mode: SyncMode) -> SyncRun {
    let run = port.start_sync("default", repo, SyncRequest { mode, force: false }).await.expect("starts");
    wait(port, repo, &run).await
}

/// Users whose names or e-mail match `search` (1,000 at most).
pub async fn users(port: &ServicePort, search: &str) -> app::model::UserList {
    port.list_users("default", UserQuery { search: Some(search.into()), page_size: Some(1000), ..Default::default() })
        .await
        .expect("users")
}

/// An OpenLDAP-preset repository bound as the directory admin.
pub fn repository(slapd: &Slapd, id: &str) -> Repository {
    let mut r = new_repository(Vendor::OpenLdap);
    r.id = id.into();
    r.name = format!("Test {id}");
    r.connection.servers = vec![slapd.ldap_url()];
    r.connection.bind_dn = Some(devdir::ADMIN_DN.into());
    r.connection.bind_password = Some(Some(devdir::ADMIN_PASSWORD.into()));
    r.users.base_dn = devdir::ldif::BASE_DN.into();
    r.users.users_dn = Some(format!("ou=People,{}", devdir::ldif::BASE_DN));
    r.groups.groups_dn = Some(format!("ou=Groups,{}", devdir::ldif::BASE_DN));
    r
}
