//! The seam between the console and the server: the server implements this
//! trait once and provides it as context; server functions and the REST API
//! both call it, so they never diverge.

use crate::error::AppError;
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
    async fn sign_in(&self, username: &str, password: &str) -> Result<SessionToken, AppError>;
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
