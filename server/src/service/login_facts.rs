//! What a login reads from the store about the user: the stored content
//! hash and sync time (a login writes only a changed entry) and the synced
//! groups the user is in, nesting included. Both change only when a sync
//! run writes (or a login or re-sync writes that user), so they are kept
//! per user until the next run ends or the user is written here: a login
//! of a known user then asks the store nothing. Through sqlx's pool each
//! query hops to a worker thread and back; in the login benchmark the two
//! queries cost more than half of the throughput (docs/performance.md).

use super::{store_err, Service};
use crate::store::groups::Membership;
use app::error::AppError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Users remembered at most; beyond, the cache starts again.
const MAX_USERS: usize = 200_000;

pub(super) struct StoredFacts {
    /// Content hash and sync time of the stored user, if stored.
    pub(super) stored: Option<(Vec<u8>, String)>,
    /// Groups found from the member keys below.
    pub(super) memberships: Vec<Membership>,
    member_keys: Vec<String>,
}

type Key = (String, String, String);

#[derive(Default)]
pub struct FactsCache {
    /// (tenant, repository, UUID) → (sync runs ended when read, facts).
    by_user: Mutex<HashMap<Key, (u64, Arc<StoredFacts>)>>,
}

impl FactsCache {
    /// Forgets a user written outside a run.
    pub(super) fn forget(&self, tenant: &str, repository: &str, uuid: &str) {
        if let Ok(mut m) = self.by_user.lock() {
            m.remove(&(tenant.to_string(), repository.to_string(), uuid.to_string()));
        }
    }

    /// Forgets everything (a repository changed or went).
    pub(super) fn clear(&self) {
        if let Ok(mut m) = self.by_user.lock() {
            m.clear();
        }
    }
}

impl Service {
    /// The store's facts about a user with these member keys (see the module).
    pub(super) async fn stored_facts(
        &self,
        tenant: &str,
        repository: &str,
        uuid: &str,
        member_keys: Vec<String>,
    ) -> Result<Arc<StoredFacts>, AppError> {
        // Read before the store: a run ending meanwhile makes them stale at once.
        let runs_ended = *self.sync.run_ends().borrow();
        let key = (tenant.to_string(), repository.to_string(), uuid.to_string());
        let cached = self.facts.by_user.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some((_, facts)) = cached.filter(|(at, f)| *at == runs_ended && f.member_keys == member_keys) {
            return Ok(facts);
        }
        let stored = self.store.stored_content(tenant, repository, uuid).await.map_err(store_err)?;
        let memberships = self.store.memberships(tenant, repository, &member_keys).await.map_err(store_err)?;
        let facts = Arc::new(StoredFacts { stored, memberships, member_keys });
        if let Ok(mut m) = self.facts.by_user.lock() {
            if m.len() >= MAX_USERS {
                m.clear();
            }
            m.insert(key, (runs_ended, facts.clone()));
        }
        Ok(facts)
    }
}
