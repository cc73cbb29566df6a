//! Shared set-up of the integration tests: a real slapd and a dirbridge
//! service on a temp data dir.
#![allow(dead_code)]

use app::model::{Repository, Vendor};
use app::presets::new_repository;
use devdir::{Options, Slapd};
use dirbridge::config::Config;
use std::sync::Arc;

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
    let data = tempfile::tempdir().expect("tempdir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_path_buf(),
        admin_password: Some(ADMIN_PASSWORD.into()),
    };
    let service = dirbridge::open(&config).await.expect("service opens");
    Env { slapd, service, data }
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
