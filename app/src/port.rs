//! The seam between the console and the server: the server implements this
//! trait once and provides it as context; server functions and the REST API
//! both call it, so they never diverge.

use crate::error::AppError;
use crate::model::{Admin, ApiToken, AuditPage, AuditQuery, Caller, NewApiToken, PasswordChange, Tenant};
use crate::model::{
    GroupList, LoginRequest, LoginSuccess, LoginTrace, NextRuns, Preview, Repository, SyncRequest, SyncRun, TestLogin,
    TestResult, User, UserList,
};
use std::sync::Arc;

/// A signed-in admin session, as the cookie and bearer token carry it.
#[derive(Clone, Debug)]
pub struct SessionToken {
    pub token: String,
    pub expires_in_seconds: u64,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Signs an admin in (throttled per account and per `client` address).
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<SessionToken, AppError>;
    /// Ends the session whose secret `token` is.
    async fn sign_out(&self, token: &str) -> Result<(), AppError>;

    async fn list_repositories(&self, tenant: &str) -> Result<Vec<Repository>, AppError>;
    async fn get_repository(&self, tenant: &str, id: &str) -> Result<Repository, AppError>;
    async fn create_repository(&self, tenant: &str, repo: Repository) -> Result<Repository, AppError>;
    async fn replace_repository(&self, tenant: &str, id: &str, repo: Repository) -> Result<Repository, AppError>;
    async fn delete_repository(&self, tenant: &str, id: &str) -> Result<(), AppError>;

    /// Tests a configuration that may not be saved yet. With `stored_id`, secrets
    /// the draft leaves out are taken from the stored repository.
    async fn test_connection(
        &self,
        tenant: &str,
        draft: Repository,
        stored_id: Option<String>,
        login: TestLogin,
    ) -> Result<TestResult, AppError>;

    async fn preview(
        &self,
        tenant: &str,
        draft: Repository,
        stored_id: Option<String>,
        limit: usize,
    ) -> Result<Preview, AppError>;

    /// Tests the stored repository as it is (needs only the test permission).
    async fn test_stored(&self, tenant: &str, id: &str, login: TestLogin) -> Result<TestResult, AppError>;
    /// Previews the stored repository as it is (needs only the test permission).
    async fn preview_stored(&self, tenant: &str, id: &str, limit: usize) -> Result<Preview, AppError>;

    /// Starts a sync run in the background; its id. 409 while one runs.
    async fn start_sync(&self, tenant: &str, id: &str, request: SyncRequest) -> Result<String, AppError>;
    /// Runs of a repository, newest first.
    async fn sync_runs(&self, tenant: &str, id: &str) -> Result<Vec<SyncRun>, AppError>;
    async fn sync_run(&self, tenant: &str, id: &str, run_id: &str) -> Result<SyncRun, AppError>;

    /// Users from the store (never a live LDAP query).
    async fn list_users(&self, tenant: &str, query: UserQuery) -> Result<UserList, AppError>;
    async fn get_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError>;
    /// Re-reads one user from LDAP and stores it; 404 when the entry is gone
    /// (the user is then disabled or deleted per the repository's policy).
    async fn resync_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError>;

    /// Groups from the store; `search` is a name prefix.
    async fn list_groups(&self, tenant: &str, query: UserQuery) -> Result<GroupList, AppError>;

    /// Signs a directory user in by bind, as the platform's login route
    /// does: the tenant's repositories in order, the password checked by the
    /// directory. `client` is the caller's address (throttling).
    async fn login(
        &self,
        tenant: &str,
        request: LoginRequest,
        client: Option<std::net::IpAddr>,
    ) -> Result<LoginSuccess, AppError>;

    /// The console's "Test login": the same login step by step, through one
    /// repository when `repository_id` is given. Throttled like a login.
    async fn test_login(
        &self,
        tenant: &str,
        repository_id: Option<String>,
        request: LoginRequest,
    ) -> Result<LoginTrace, AppError>;

    /// When the repository's schedules fire next.
    async fn next_runs(&self, tenant: &str, id: &str) -> Result<NextRuns, AppError>;
}

/// Access control: tenants, admins, API tokens and the caller's own
/// credentials. Each call acts as the caller whose credential came with the
/// request (the server builds one port per request), and is allowed or
/// refused by the caller's permissions (docs/api.md, "Access control").
#[async_trait::async_trait]
pub trait AccessPort: Send + Sync + 'static {
    /// Who the caller is and what it may do.
    async fn whoami(&self) -> Result<Caller, AppError>;

    /// The tenants the caller holds any permission on (all, for a super-admin).
    async fn list_tenants(&self) -> Result<Vec<Tenant>, AppError>;
    async fn get_tenant(&self, slug: &str) -> Result<Tenant, AppError>;
    async fn create_tenant(&self, tenant: Tenant) -> Result<Tenant, AppError>;
    /// Renames a tenant (its display name; the slug is fixed).
    async fn rename_tenant(&self, slug: &str, tenant: Tenant) -> Result<Tenant, AppError>;
    /// 409 while the tenant has repositories.
    async fn delete_tenant(&self, slug: &str) -> Result<(), AppError>;

    async fn list_admins(&self) -> Result<Vec<Admin>, AppError>;
    async fn get_admin(&self, username: &str) -> Result<Admin, AppError>;
    async fn create_admin(&self, admin: Admin) -> Result<Admin, AppError>;
    /// Replaces enabled, super-admin and permissions; a password resets it.
    /// Disabling or a new password ends the admin's sessions and tokens.
    async fn update_admin(&self, username: &str, admin: Admin) -> Result<Admin, AppError>;
    async fn delete_admin(&self, username: &str) -> Result<(), AppError>;
    /// Changes the caller's own password; ends its other sessions and tokens.
    async fn change_password(&self, change: PasswordChange) -> Result<(), AppError>;
    /// Ends the caller's own session or token.
    async fn logout(&self) -> Result<(), AppError>;

    /// The caller's tokens (a super-admin's: all; with `admin` on a tenant: that tenant's too).
    async fn list_tokens(&self) -> Result<Vec<ApiToken>, AppError>;
    /// A token holding at most the caller's permissions on its tenant; the
    /// secret is in this answer only.
    async fn create_token(&self, token: ApiToken) -> Result<NewApiToken, AppError>;
    async fn revoke_token(&self, id: &str) -> Result<(), AppError>;

    /// The tenant's audit log, newest first (`read`; a super-admin also sees
    /// the entries of no tenant: admins, tokens, sign-ins).
    async fn audit(&self, tenant: &str, query: AuditQuery) -> Result<AuditPage, AppError>;
}

pub type SharedAccess = Arc<dyn AccessPort>;

/// The ports of one request, as the caller's credential allows them: the
/// server's authentication puts them in the request's extensions, and server
/// functions take them from there (never from a port shared by all).
#[derive(Clone)]
pub struct RequestPorts {
    pub backend: SharedBackend,
    pub access: SharedAccess,
    /// The caller's address (throttling of sign-ins).
    pub client: Option<std::net::IpAddr>,
}

/// Filters and paging of the users and groups lists (`page` from 1).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserQuery {
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub repository_id: Option<String>,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub page_size: Option<u32>,
}

pub type SharedBackend = Arc<dyn Backend>;

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "dirbridge_session";
