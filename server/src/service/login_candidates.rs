//! The tenant's repositories as a login sees them: parsed, secrets opened,
//! by priority then name. Cached per tenant until a repository row changes
//! (the store counts its changes), so a login reads no repository row.

use super::Service;
use crate::ldap::Secrets;
use app::error::AppError;
use app::model::Repository;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub(super) struct Candidate {
    pub(super) repo: Repository,
    pub(super) secrets: Secrets,
    pub(super) deleting: bool,
}

/// The store's repository generation when read, and what was read.
type Read = (u64, Arc<Vec<Candidate>>);

#[derive(Default)]
pub struct CandidateCache {
    by_tenant: Mutex<HashMap<String, Read>>,
}

impl Service {
    /// Every repository of the tenant, by priority (lower first) then name;
    /// 404 for a tenant that does not exist.
    pub(super) async fn tenant_candidates(&self, tenant: &str) -> Result<Arc<Vec<Candidate>>, AppError> {
        // Read before the rows: a change committed meanwhile makes the
        // cached list stale at once.
        let generation = self.store.repositories_generation();
        let cached = self.candidates.by_tenant.lock().ok().and_then(|m| m.get(tenant).cloned());
        if let Some((_, candidates)) = cached.filter(|(at, _)| *at == generation) {
            return Ok(candidates);
        }
        self.require_tenant(tenant).await?;
        let rows = self.store.list_repositories(tenant).await.map_err(super::store_err)?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let secrets = self.open_secrets(tenant, &row)?.for_directory();
            candidates.push(Candidate {
                repo: self.repository_of(tenant, &row)?,
                secrets,
                deleting: row.state == "deleting",
            });
        }
        candidates.sort_by(|a, b| {
            a.repo
                .priority
                .cmp(&b.repo.priority)
                .then_with(|| a.repo.name.to_lowercase().cmp(&b.repo.name.to_lowercase()))
        });
        let candidates = Arc::new(candidates);
        if let Ok(mut m) = self.candidates.by_tenant.lock() {
            m.insert(tenant.to_string(), (generation, candidates.clone()));
        }
        Ok(candidates)
    }
}
