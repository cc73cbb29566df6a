//! Server functions: thin wrappers that take the backend from context and call
//! one method. The console works on the `default` tenant.

use crate::error::AppError;
use crate::model::{Preview, Repository, RepositorySummary, TestLogin, TestResult};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

pub const CONSOLE_TENANT: &str = "default";

/// This request's ports (as its credential allows them).
#[cfg(feature = "ssr")]
fn ports() -> Result<crate::port::RequestPorts, AppError> {
    use_context::<leptos::server_fn::http_export::request::Parts>()
        .and_then(|parts| parts.extensions.get::<crate::port::RequestPorts>().cloned())
        .ok_or_else(|| AppError::internal("the request carries no ports"))
}

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::port::SharedBackend, AppError> {
    ports().map(|p| p.backend)
}

/// Gives a failed server function the status its error kind has in the REST API.
#[cfg(feature = "ssr")]
fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    use leptos::server_fn::http_export::StatusCode;
    if let (Err(e), Some(response)) = (&result, use_context::<leptos_axum::ResponseOptions>()) {
        response.set_status(StatusCode::from_u16(e.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
    result
}

#[server(prefix = "/_sfn", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<(), AppError> {
    use leptos::prelude::expect_context;
    let session = respond(
        async {
            let ports = ports()?;
            ports.backend.sign_in(&username, &password, ports.client).await
        }
        .await,
    )?;
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        crate::port::SESSION_COOKIE,
        session.token,
        session.expires_in_seconds
    );
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = leptos::server_fn::http_export::HeaderValue::from_str(&cookie) {
        response.insert_header(leptos::server_fn::http_export::header::SET_COOKIE, value);
    }
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/_sfn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use leptos::prelude::expect_context;
    use leptos::server_fn::http_export::{header, request::Parts, HeaderValue};
    let parts: Parts = leptos_axum::extract().await.map_err(|e| AppError::internal(e.to_string()))?;
    if let Some(token) = crate::session_from_cookies(&parts.headers) {
        backend()?.sign_out(&token).await?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    let expired = format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", crate::port::SESSION_COOKIE);
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.insert_header(header::SET_COOKIE, value);
    }
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(prefix = "/_sfn", endpoint = "list_repositories")]
pub async fn list_repositories() -> Result<Vec<RepositorySummary>, AppError> {
    respond(
        async {
            let repos = backend()?.list_repositories(CONSOLE_TENANT).await?;
            Ok(repos.iter().map(RepositorySummary::from).collect())
        }
        .await,
    )
}

#[server(prefix = "/_sfn", endpoint = "get_repository")]
pub async fn get_repository(id: String) -> Result<Repository, AppError> {
    respond(async { backend()?.get_repository(CONSOLE_TENANT, &id).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "create_repository", input = Json)]
pub async fn create_repository(repo: Repository) -> Result<Repository, AppError> {
    respond(async { backend()?.create_repository(CONSOLE_TENANT, repo).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "replace_repository", input = Json)]
pub async fn replace_repository(id: String, repo: Repository) -> Result<Repository, AppError> {
    respond(async { backend()?.replace_repository(CONSOLE_TENANT, &id, repo).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "delete_repository")]
pub async fn delete_repository(id: String) -> Result<(), AppError> {
    respond(async { backend()?.delete_repository(CONSOLE_TENANT, &id).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "test_connection", input = Json)]
pub async fn test_connection(
    draft: Repository,
    stored_id: Option<String>,
    login: TestLogin,
) -> Result<TestResult, AppError> {
    respond(async { backend()?.test_connection(CONSOLE_TENANT, draft, stored_id, login).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "preview_users", input = Json)]
pub async fn preview_users(draft: Repository, stored_id: Option<String>) -> Result<Preview, AppError> {
    respond(async { backend()?.preview(CONSOLE_TENANT, draft, stored_id, 20).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "start_sync")]
pub async fn start_sync(id: String, mode: crate::model::SyncMode, force: bool) -> Result<String, AppError> {
    use crate::model::SyncRequest;
    respond(async { backend()?.start_sync(CONSOLE_TENANT, &id, SyncRequest { mode, force }).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "next_runs")]
pub async fn next_runs(id: String) -> Result<crate::model::NextRuns, AppError> {
    respond(async { backend()?.next_runs(CONSOLE_TENANT, &id).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "list_groups")]
pub async fn list_groups(search: String, page: u32) -> Result<crate::model::GroupList, AppError> {
    respond(async { backend()?.list_groups(CONSOLE_TENANT, console_query(search, page)).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "sync_runs")]
pub async fn sync_runs(id: String) -> Result<Vec<crate::model::SyncRun>, AppError> {
    respond(async { backend()?.sync_runs(CONSOLE_TENANT, &id).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "list_users")]
pub async fn list_users(search: String, page: u32) -> Result<crate::model::UserList, AppError> {
    respond(async { backend()?.list_users(CONSOLE_TENANT, console_query(search, page)).await }.await)
}

#[server(prefix = "/_sfn", endpoint = "get_user")]
pub async fn get_user(id: String) -> Result<crate::model::User, AppError> {
    respond(async { backend()?.get_user(CONSOLE_TENANT, &id).await }.await)
}

pub const USERS_PAGE_SIZE: u32 = 25;

/// The console's list query: a search over all repositories, one page.
#[cfg(feature = "ssr")]
fn console_query(search: String, page: u32) -> crate::port::UserQuery {
    crate::port::UserQuery {
        search: Some(search),
        repository_id: None,
        page: Some(page.max(1)),
        page_size: Some(USERS_PAGE_SIZE),
    }
}

#[server(prefix = "/_sfn", endpoint = "resync_user")]
pub async fn resync_user(id: String) -> Result<crate::model::User, AppError> {
    respond(async { backend()?.resync_user(CONSOLE_TENANT, &id).await }.await)
}

/// The console's "Test login": a login through one repository, step by step.
#[server(prefix = "/_sfn", endpoint = "try_login", input = Json)]
pub async fn try_login(
    repository_id: Option<String>,
    username: String,
    password: String,
) -> Result<crate::model::LoginTrace, AppError> {
    use crate::model::LoginRequest;
    respond(
        async { backend()?.test_login(CONSOLE_TENANT, repository_id, LoginRequest { username, password }).await }.await,
    )
}
