//! The one service behind the console (server functions) and the REST API.
//!
//! Split by concern: `secrets` (sealing a repository's write-only
//! secrets), `repositories` (the stored form of a repository, drafts,
//! background deletion) and `port` (the console's port, which REST and the
//! server functions share); the service itself, its errors and the
//! HTTP-facing operations here.

mod access;
mod audit_trail;
mod credentials;
mod guarded;
mod login;
mod login_candidates;
mod login_directory;
mod login_facts;
mod login_guard;
mod port;
mod repositories;
mod secrets;

pub use guarded::GuardedPort;
pub use login_guard::{LoginCounts, LoginThrottle};

pub use crate::clock::{now_rfc3339, unix_now};
use crate::crypto::SecretBox;
use crate::store::{RepositoryRow, Store, StoreError};
use crate::validate::{self};
use app::error::AppError;
use std::sync::Arc;

pub struct Service {
    store: Store,
    secret_box: SecretBox,
    sync: Arc<crate::sync::SyncEngine>,
    /// Logins' connections, per repository.
    pools: crate::ldap::pool::Pools,
    login_throttle: LoginThrottle,
    login_counts: LoginCounts,
    candidates: login_candidates::CandidateCache,
    facts: login_facts::FactsCache,
    /// Sessions and tokens already looked up.
    credentials: credentials::CredentialCache,
    audit: audit_trail::AuditSettings,
    /// Admin sign-ins (per account and per address).
    admin_throttle: LoginThrottle,
}

/// Settings of logins: throttling and connection pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    pub per_account: crate::throttle::Policy,
    pub per_address: crate::throttle::Policy,
    pub pools: crate::ldap::pool::PoolSettings,
}

impl From<crate::config::LoginLimits> for LoginSettings {
    fn from(l: crate::config::LoginLimits) -> Self {
        use crate::throttle::Policy;
        let window = i64::from(l.window_seconds);
        // Spacing out begins at the same share of the maximum as in the
        // default policy (a half per account, a fifth per address).
        let slowed = |max: u32, of: Policy| Policy {
            window_seconds: window,
            max_failures: max,
            slow_after: (u64::from(max) * u64::from(of.slow_after) / u64::from(of.max_failures.max(1))) as u32,
            ..of
        };
        LoginSettings {
            per_account: slowed(l.max_failures_per_account, Policy::PER_ACCOUNT),
            per_address: slowed(l.max_failures_per_address, Policy::PER_ADDRESS),
            pools: crate::ldap::pool::PoolSettings::from(&l),
        }
    }
}

impl Default for LoginSettings {
    fn default() -> Self {
        crate::config::LoginLimits::default().into()
    }
}

fn internal(context: &str, e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "{context}");
    AppError::internal(format!("{context}; see the server log"))
}

fn store_err(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("not found"),
        StoreError::Conflict => AppError::conflict("already exists"),
        StoreError::StaleVersion => AppError::conflict("the repository was changed meanwhile; reload and try again"),
        other => internal("store error", other),
    }
}

/// The wire error of a run the engine did not start (logged where it failed).
fn start_err(e: crate::sync::StartError) -> AppError {
    match e {
        crate::sync::StartError::AlreadyRunning(_) => AppError::conflict(e.to_string()),
        crate::sync::StartError::Store(_) => {
            AppError::internal("the sync run could not be recorded; see the server log")
        }
        _ => AppError::internal("the sync run could not start; see the server log"),
    }
}

impl Service {
    pub fn new(store: Store, secret_box: SecretBox) -> Arc<Service> {
        Self::with_settings(store, secret_box, LoginSettings::default())
    }

    pub fn with_settings(store: Store, secret_box: SecretBox, login: LoginSettings) -> Arc<Service> {
        let sync = crate::sync::SyncEngine::new(store.clone());
        Arc::new(Service {
            store,
            secret_box,
            sync,
            pools: crate::ldap::pool::Pools::new(login.pools),
            login_throttle: LoginThrottle::new(login.per_account, login.per_address),
            login_counts: LoginCounts::default(),
            candidates: Default::default(),
            facts: Default::default(),
            credentials: Default::default(),
            audit: Default::default(),
            admin_throttle: LoginThrottle::new(
                crate::throttle::Policy::PER_ACCOUNT,
                crate::throttle::Policy::PER_ADDRESS,
            ),
        })
    }

    /// Logins so far by outcome.
    pub fn login_counts(&self) -> Vec<(&'static str, u64)> {
        self.login_counts.snapshot()
    }

    /// Changes whenever a sync run's end has been stored (see
    /// [`crate::sync::SyncEngine::run_ends`]).
    pub fn sync_run_ends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sync.run_ends()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(super) async fn require_tenant(&self, tenant: &str) -> Result<(), AppError> {
        if validate::is_tenant_slug(tenant) && self.store.tenant_exists(tenant).await.map_err(store_err)? {
            Ok(())
        } else {
            Err(AppError::not_found(format!("tenant '{tenant}' does not exist")))
        }
    }

    /// The stored row of a repository; 404 when there is none.
    pub(super) async fn load_row(&self, tenant: &str, id: &str) -> Result<RepositoryRow, AppError> {
        self.store.get_repository(tenant, id).await.map_err(|e| match e {
            StoreError::NotFound => AppError::not_found(format!("repository '{id}' does not exist")),
            other => store_err(other),
        })
    }
}

/// The service as the port; an `Arc<Service>` so background work can outlive a request.
pub struct ServicePort(pub Arc<Service>);

/// What the HTTP layer needs of the service besides the console's port
/// (which the server functions share): readiness, whose a session or token
/// is, and when sync runs end (a run's event stream sends its end at once).
#[async_trait::async_trait]
pub trait HttpOperations: Send + Sync {
    async fn ready(&self) -> Result<(), String>;
    /// Who a credential (bearer token or session cookie) is; Anonymous
    /// for none that is valid.
    async fn principal(&self, secret: &str) -> crate::auth::Principal;
    fn sync_run_ends(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Sets the gauges read at a scrape (pool sizes, store size).
    fn export_gauges(&self);
}

#[async_trait::async_trait]
impl HttpOperations for Service {
    async fn ready(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }

    async fn principal(&self, secret: &str) -> crate::auth::Principal {
        Service::principal(self, secret).await
    }

    fn sync_run_ends(&self) -> tokio::sync::watch::Receiver<u64> {
        Service::sync_run_ends(self)
    }

    fn export_gauges(&self) {
        self.pools.export_gauges();
        crate::metrics::global().store_bytes.set(i64::try_from(self.store.file_bytes()).unwrap_or(i64::MAX));
    }
}
