//! The audit trail: who changed what, when and from where, with a
//! redacted before/after diff (`crate::audit`); listed per tenant, pruned
//! by age only. A change whose entry cannot be written is logged loudly
//! (the change itself is done and stays).

use super::access::denied;
use super::{store_err, Service};
use crate::auth::Principal;
use crate::clock::{now_rfc3339, parse_rfc3339, rfc3339_at, unix_now};
use crate::store::audit::{AuditFilter, NewAuditEntry};
use app::error::{AppError, FieldError};
use app::model::{AuditPage, AuditQuery, Permission};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};

/// How often old entries are pruned (at most).
const PRUNE_EVERY_SECONDS: i64 = 3600;

pub struct AuditSettings {
    retention_days: AtomicU32,
    last_pruned: AtomicI64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            retention_days: AtomicU32::new(crate::config::DEFAULT_AUDIT_RETENTION_DAYS),
            last_pruned: AtomicI64::new(0),
        }
    }
}

/// One change as the trail records it.
pub(super) struct Change<'a> {
    pub tenant: Option<&'a str>,
    pub action: &'a str,
    pub target: &'a str,
    pub diff: serde_json::Value,
}

impl Service {
    pub fn set_audit_retention_days(&self, days: u32) {
        self.audit.retention_days.store(days.max(1), Ordering::Relaxed);
    }

    /// Appends an entry; prunes entries past the retention now and then.
    pub(super) async fn record(&self, actor: &str, client: Option<IpAddr>, change: Change<'_>) {
        let at = now_rfc3339();
        let address = client.map(|a| a.to_string()).unwrap_or_default();
        let entry = NewAuditEntry {
            tenant: change.tenant,
            at: &at,
            actor,
            address: &address,
            action: change.action,
            target: change.target,
            diff: &crate::audit::redact_diff(&change.diff),
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, action = change.action, target = change.target, actor, "the audit entry could not be written");
        }
        let now = unix_now();
        let last = self.audit.last_pruned.load(Ordering::Relaxed);
        if now - last >= PRUNE_EVERY_SECONDS
            && self.audit.last_pruned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            let days = i64::from(self.audit.retention_days.load(Ordering::Relaxed));
            match self.store.prune_audit(&rfc3339_at(now - days * 86_400)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(entries = n, days, "audit entries past the retention pruned"),
                Err(e) => tracing::error!(error = %e, "audit pruning failed"),
            }
        }
    }

    /// A tenant's entries, newest first; entries of no tenant (admins,
    /// tokens, sign-ins) too for a super-admin.
    pub(super) async fn audit_page(&self, who: &Principal, tenant: &str, q: AuditQuery) -> Result<AuditPage, AppError> {
        who.check(tenant, Permission::Read).map_err(denied)?;
        self.require_tenant(tenant).await?;
        let time = |field: &str, v: &Option<String>| -> Result<Option<String>, AppError> {
            match v.as_deref().filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) => parse_rfc3339(s).map(|t| Some(rfc3339_at(t))).ok_or_else(|| {
                    AppError::validation(vec![FieldError {
                        field: field.into(),
                        message: "must be an RFC 3339 time".into(),
                    }])
                }),
            }
        };
        let (since, until) = (time("since", &q.since)?, time("until", &q.until)?);
        let page = u64::from(q.page.unwrap_or(1).max(1));
        let limit = u64::from(q.page_size.unwrap_or(50).clamp(1, 500));
        let filter = AuditFilter {
            tenant,
            global: who.is_super(),
            actor: q.actor.as_deref().filter(|s| !s.is_empty()),
            action: q.action.as_deref().filter(|s| !s.is_empty()),
            since: since.as_deref(),
            until: until.as_deref(),
            offset: (page - 1) * limit,
            limit,
        };
        self.store.audit(&filter).await.map_err(store_err)
    }
}
