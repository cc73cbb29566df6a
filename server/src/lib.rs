//! dirbridge server: LDAP user federation behind a Leptos console and a REST API.
#![deny(clippy::unwrap_used)]

pub mod allocator;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod cron;
pub mod crypto;
pub mod dn;
pub mod entry;
pub mod filter;
pub mod http;
pub mod ldap;
pub mod ldap_url;
pub mod mapping;
pub mod memory;
pub mod referral;
pub mod schedule;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod sync;
pub mod throttle;
pub mod validate;

use std::sync::Arc;

/// Opens the data dir (creating store and key on first start), the bootstrap admin and the service.
pub async fn open(config: &config::Config) -> Result<Arc<service::Service>, String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| format!("data dir {}: {e}", config.data_dir.display()))?;
    let secret_box =
        crypto::SecretBox::load_or_create(&config.data_dir.join("secret.key")).map_err(|e| e.to_string())?;
    let store = store::Store::open_file(&config.data_dir.join("dirbridge.db")).await.map_err(|e| e.to_string())?;
    let service = service::Service::with_settings(store, secret_box, service::LoginSettings::from(config.login));
    service.set_audit_retention_days(config.audit_retention_days);
    if let Some(password) = service.ensure_admin(config.admin_password.clone()).await? {
        // Printed once, to stderr only: this is the only time it is shown.
        eprintln!("dirbridge: created admin user 'admin' with password: {password}");
    }
    match service.store().fail_interrupted_runs(&service::now_rfc3339()).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "sync runs interrupted by the previous stop were marked failed"),
        Err(e) => return Err(format!("store: {e}")),
    }
    service.resume_deletions().await;
    scheduler::spawn(&service);
    Ok(service)
}
