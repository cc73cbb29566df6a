//! Two small pools of connections per repository (deadpool): service
//! connections, bound with the repository's credentials, for searches; and
//! user-bind connections, used for nothing but user binds. A user bind
//! changes a connection's identity, and every clone of an ldap3 handle
//! shares its connection, so the two are never mixed. Connections come from
//! the first server that answers (`failover`); one that breaks is dropped,
//! and an idle service connection is checked (Who am I?) before reuse.

use super::failover::{self, ServerHealth, Unreachable};
use super::{bind, Secrets};
use app::model::Repository;
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult, Timeouts};
use ldap3::exop::WhoAmI;
use ldap3::Ldap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    pub service_connections: usize,
    pub bind_connections: usize,
    /// How long a login waits for a free connection.
    pub wait: Duration,
    /// How long a server that failed is tried last.
    pub server_back_off: Duration,
}

impl From<&crate::config::LoginLimits> for PoolSettings {
    fn from(l: &crate::config::LoginLimits) -> Self {
        PoolSettings {
            service_connections: l.service_connections as usize,
            bind_connections: l.bind_connections as usize,
            wait: Duration::from_secs(u64::from(l.pool_wait_seconds)),
            server_back_off: Duration::from_secs(30),
        }
    }
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings::from(&crate::config::LoginLimits::default())
    }
}

/// A service connection idle this long is checked before it is reused.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Service,
    UserBind,
}

impl PoolKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolKind::Service => "service",
            PoolKind::UserBind => "bind",
        }
    }
}

/// Why no connection could be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolFailure {
    Unreachable(Unreachable),
    /// The service account's bind was refused: a configuration error.
    ServiceBind(String),
    /// Every connection stayed busy for the whole wait.
    Busy,
}

impl std::fmt::Display for PoolFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolFailure::Unreachable(u) => u.fmt(f),
            PoolFailure::ServiceBind(m) => write!(f, "the service account could not bind: {m}"),
            PoolFailure::Busy => f.write_str("every directory connection stayed busy"),
        }
    }
}

pub struct Opener {
    repo: Arc<Repository>,
    secrets: Secrets,
    kind: PoolKind,
    health: Arc<ServerHealth>,
}

impl managed::Manager for Opener {
    type Type = Ldap;
    type Error = PoolFailure;

    async fn create(&self) -> Result<Ldap, PoolFailure> {
        let mut conn = failover::connect(&self.repo, &self.health).await.map_err(PoolFailure::Unreachable)?;
        if self.kind == PoolKind::Service {
            if let Err(m) = bind(&mut conn.ldap, &self.repo, &self.secrets).await {
                let _ = conn.ldap.unbind().await;
                return Err(PoolFailure::ServiceBind(m));
            }
        }
        Ok(conn.ldap)
    }

    async fn recycle(&self, ldap: &mut Ldap, metrics: &Metrics) -> RecycleResult<PoolFailure> {
        if ldap.is_closed() {
            return Err(RecycleError::message("the connection is closed"));
        }
        if self.kind == PoolKind::Service && metrics.last_used() > CHECK_AFTER_IDLE {
            let answered = ldap.with_timeout(super::timeout_of(&self.repo)).extended(WhoAmI).await;
            if answered.and_then(|r| r.success()).is_err() {
                return Err(RecycleError::message("the idle connection no longer answers"));
            }
        }
        Ok(())
    }
}

pub type Connection = Object<Opener>;

/// A repository's pools, for one stored version of it.
pub struct RepositoryPools {
    /// The repository's id (metrics).
    id: String,
    version: u64,
    service: managed::Pool<Opener>,
    user_bind: managed::Pool<Opener>,
    wait: Duration,
}

impl RepositoryPools {
    fn new(repo: Repository, secrets: Secrets, settings: PoolSettings) -> Result<RepositoryPools, String> {
        let version = repo.meta.as_ref().map_or(0, |m| m.version);
        let id = repo.id.clone();
        let repo = Arc::new(repo);
        let health = Arc::new(ServerHealth::new(settings.server_back_off));
        let build = |kind, size: usize| {
            let opener = Opener { repo: repo.clone(), secrets: secrets.clone(), kind, health: health.clone() };
            managed::Pool::builder(opener)
                .max_size(size.max(1))
                .runtime(deadpool::Runtime::Tokio1)
                .build()
                .map_err(|e| e.to_string())
        };
        Ok(RepositoryPools {
            id,
            version,
            service: build(PoolKind::Service, settings.service_connections)?,
            user_bind: build(PoolKind::UserBind, settings.bind_connections)?,
            wait: settings.wait,
        })
    }

    pub async fn get(&self, kind: PoolKind) -> Result<Connection, PoolFailure> {
        let pool = match kind {
            PoolKind::Service => &self.service,
            PoolKind::UserBind => &self.user_bind,
        };
        // Opening a connection is bounded by the repository's own timeout
        // per server; only waiting for a busy one is bounded here.
        let timeouts = Timeouts { wait: Some(self.wait), create: None, recycle: Some(self.wait) };
        pool.timeout_get(&timeouts).await.map_err(|e| {
            let failure = match e {
                PoolError::Backend(f) => f,
                PoolError::Timeout(_) => PoolFailure::Busy,
                other => PoolFailure::ServiceBind(other.to_string()),
            };
            let why = match &failure {
                PoolFailure::Unreachable(_) => "unreachable",
                PoolFailure::ServiceBind(_) => "service_bind",
                PoolFailure::Busy => "busy",
            };
            crate::metrics::global().pool_error(&self.id, kind.as_str(), why);
            failure
        })
    }

    /// (in use or idle, idle) connections of a pool.
    pub fn sizes(&self, kind: PoolKind) -> (usize, usize) {
        let status = match kind {
            PoolKind::Service => self.service.status(),
            PoolKind::UserBind => self.user_bind.status(),
        };
        (status.size, status.available)
    }
}

/// Drops a connection that failed in use instead of returning it.
pub fn discard(conn: Connection) {
    let _ = Object::take(conn);
}

/// Every repository's pools, rebuilt when a repository's stored version changes.
pub struct Pools {
    settings: PoolSettings,
    by_repository: Mutex<HashMap<(String, String), Arc<RepositoryPools>>>,
}

impl Pools {
    pub fn new(settings: PoolSettings) -> Pools {
        Pools { settings, by_repository: Mutex::new(HashMap::new()) }
    }

    /// The pools of a stored repository (`meta.version` tells a stale set).
    pub fn of(&self, tenant: &str, repo: &Repository, secrets: &Secrets) -> Result<Arc<RepositoryPools>, String> {
        let key = (tenant.to_string(), repo.id.clone());
        let version = repo.meta.as_ref().map_or(0, |m| m.version);
        let mut map = self.by_repository.lock().map_err(|_| "the pool registry is poisoned".to_string())?;
        if let Some(p) = map.get(&key).filter(|p| p.version == version) {
            return Ok(p.clone());
        }
        let pools = Arc::new(RepositoryPools::new(repo.clone(), secrets.clone(), self.settings)?);
        if let Some(old) = map.insert(key, pools.clone()) {
            old.service.close();
            old.user_bind.close();
        }
        Ok(pools)
    }

    /// Sets the connection gauges of every repository's pools (before a scrape).
    pub fn export_gauges(&self) {
        let Ok(map) = self.by_repository.lock() else { return };
        let gauges = &crate::metrics::global().ldap_connections;
        gauges.clear();
        for pools in map.values() {
            for kind in [PoolKind::Service, PoolKind::UserBind] {
                let (open, idle) = pools.sizes(kind);
                for (state, n) in [("open", open), ("idle", idle)] {
                    let labels = crate::metrics::PoolLabels {
                        repository: pools.id.clone(),
                        pool: kind.as_str().into(),
                        state: state.into(),
                    };
                    gauges.get_or_create(&labels).set(n as i64);
                }
            }
        }
    }

    /// Closes a repository's pools (changed or deleted).
    pub fn forget(&self, tenant: &str, id: &str) {
        if let Ok(mut map) = self.by_repository.lock() {
            if let Some(old) = map.remove(&(tenant.to_string(), id.to_string())) {
                old.service.close();
                old.user_bind.close();
            }
        }
    }
}
