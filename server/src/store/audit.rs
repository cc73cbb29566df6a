//! The audit log: appended, listed newest first with filters, pruned by
//! age only (no statement here changes or removes one entry).

use super::{Store, StoreError};
use app::model::{AuditEntry, AuditPage};
use sqlx::{QueryBuilder, Row, Sqlite};

/// An entry to append (its id and time come from the store and clock).
pub struct NewAuditEntry<'a> {
    pub tenant: Option<&'a str>,
    pub at: &'a str,
    pub actor: &'a str,
    pub address: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub diff: &'a serde_json::Value,
}

/// Which entries a listing shows.
pub struct AuditFilter<'a> {
    pub tenant: &'a str,
    /// Also the entries of no tenant (admins, tokens, sign-ins).
    pub global: bool,
    pub actor: Option<&'a str>,
    /// A prefix: `repository` finds `repository.create` and the others.
    pub action: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub offset: u64,
    pub limit: u64,
}

fn push_where<'a>(q: &mut QueryBuilder<'a, Sqlite>, f: &'a AuditFilter<'a>) {
    q.push(" WHERE (tenant = ").push_bind(f.tenant);
    if f.global {
        q.push(" OR tenant IS NULL");
    }
    q.push(")");
    if let Some(actor) = f.actor {
        q.push(" AND actor = ").push_bind(actor);
    }
    if let Some(action) = f.action {
        q.push(" AND substr(action, 1, length(").push_bind(action).push(")) = ").push_bind(action);
    }
    if let Some(since) = f.since {
        q.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = f.until {
        q.push(" AND at < ").push_bind(until);
    }
}

impl Store {
    pub async fn append_audit(&self, e: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit (tenant, at, actor, address, action, target, diff) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.tenant)
        .bind(e.at)
        .bind(e.actor)
        .bind(e.address)
        .bind(e.action)
        .bind(e.target)
        .bind(e.diff.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn audit(&self, f: &AuditFilter<'_>) -> Result<AuditPage, StoreError> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit");
        push_where(&mut count, f);
        let total: i64 = count.build().fetch_one(&self.pool).await?.get(0);
        let mut q = QueryBuilder::<Sqlite>::new("SELECT id, at, actor, address, action, target, diff FROM audit");
        push_where(&mut q, f);
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit as i64).push(" OFFSET ").push_bind(f.offset as i64);
        let rows = q.build().fetch_all(&self.pool).await?;
        let entries = rows
            .iter()
            .map(|r| {
                let diff: String = r.get(6);
                AuditEntry {
                    id: r.get(0),
                    at: r.get(1),
                    actor: r.get(2),
                    address: r.get(3),
                    action: r.get(4),
                    target: r.get(5),
                    diff: serde_json::from_str(&diff).unwrap_or(serde_json::Value::Null),
                }
            })
            .collect();
        Ok(AuditPage { total_results: total as u64, entries })
    }

    /// Removes entries older than `before` (the retention setting).
    pub async fn prune_audit(&self, before: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM audit WHERE at < ?").bind(before).execute(&self.pool).await?.rows_affected())
    }
}
