//! The seam between the console and the server: the server implements this
//! trait once and provides it as context; server functions and the REST API
//! both call it, so they never diverge.

use crate::error::AppError;
use crate::model::{Preview, Repository, TestLogin, TestResult};
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
}

pub type SharedBackend = Arc<dyn Backend>;

/// The name of the console's session cookie.
pub const SESSION_COOKIE: &str = "dirbridge_session";
