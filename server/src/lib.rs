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
pub mod metrics;
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

/// `dirbridge rotate-key`: re-seals every stored secret under a new key,
/// then makes it the key. Run it with dirbridge stopped (a running one
/// keeps the old key in memory). Returns how many repositories' secrets
/// were re-sealed. Until the new key replaces the old one, both are on
/// disk and dirbridge refuses to start (see docs/operations.md).
pub async fn rotate_key(data_dir: &std::path::Path) -> Result<usize, String> {
    let key_path = data_dir.join("secret.key");
    let old = crypto::SecretBox::load_or_create(&key_path).map_err(|e| e.to_string())?;
    let store = store::Store::open_file(&data_dir.join("dirbridge.db")).await.map_err(|e| e.to_string())?;
    let sealed = store.sealed_secrets().await.map_err(|e| e.to_string())?;
    let new = crypto::SecretBox::create_pending(&key_path).map_err(|e| e.to_string())?;
    let resealed: Result<Vec<_>, String> = sealed
        .iter()
        .map(|(tenant, id, secrets)| {
            let aad = service::Service::aad(tenant, id);
            let plain = old.open(secrets, &aad).map_err(|e| format!("repository {tenant}/{id}: {e}"))?;
            let again = new.seal(&plain, &aad).map_err(|e| e.to_string())?;
            Ok((tenant.clone(), id.clone(), again))
        })
        .collect();
    let resealed = match resealed {
        Ok(r) => r,
        Err(e) => {
            // Nothing was changed: the pending key goes.
            let _ = std::fs::remove_file(crypto::pending_key_path(&key_path));
            return Err(e);
        }
    };
    if let Err(e) = store.reseal(&resealed).await {
        let _ = std::fs::remove_file(crypto::pending_key_path(&key_path));
        return Err(format!("store: {e} (nothing was changed)"));
    }
    crypto::SecretBox::commit_pending(&key_path).map_err(|e| e.to_string())?;
    Ok(resealed.len())
}
