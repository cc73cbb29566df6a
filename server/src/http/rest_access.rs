//! The access-control part of the REST API (docs/api.md, "Access control"):
//! tenants, admins, API tokens and one's own credentials. Handlers only
//! translate HTTP to the request's access port.

use super::rest::{ApiError, ApiJson, Ports};
use super::state::AppState;
use super::RouteTable;
use app::model::{Admin, ApiToken, AuditQuery, PasswordChange, Tenant};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;

type ApiResult<T> = Result<T, ApiError>;

pub fn routes() -> RouteTable {
    RouteTable::default()
        .route("GET", "/api/v1/auth/me", get(whoami))
        .route("POST", "/api/v1/auth/password", post(change_password))
        .route("POST", "/api/v1/auth/logout", post(logout))
        .route("GET POST", "/api/v1/tenants", get(list_tenants).post(create_tenant))
        .route("GET PUT DELETE", "/api/v1/tenants/{tenant}", get(get_tenant).put(rename_tenant).delete(delete_tenant))
        .route("GET POST", "/api/v1/admins", get(list_admins).post(create_admin))
        .route("GET PUT DELETE", "/api/v1/admins/{username}", get(get_admin).put(update_admin).delete(delete_admin))
        .route("GET POST", "/api/v1/tokens", get(list_tokens).post(create_token))
        .route("DELETE", "/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("GET", "/api/v1/tenants/{tenant}/audit", get(audit))
        .route("GET", "/metrics", get(metrics))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn whoami(Ports(p): Ports) -> ApiResult<Response> {
    Ok(Json(p.access.whoami().await?).into_response())
}

async fn change_password(Ports(p): Ports, ApiJson(change): ApiJson<PasswordChange>) -> ApiResult<Response> {
    p.access.change_password(change).await?;
    Ok(no_content())
}

async fn logout(Ports(p): Ports) -> ApiResult<Response> {
    p.access.logout().await?;
    Ok(no_content())
}

async fn list_tenants(Ports(p): Ports) -> ApiResult<Response> {
    let tenants = p.access.list_tenants().await?;
    Ok(Json(serde_json::json!({ "totalResults": tenants.len(), "tenants": tenants })).into_response())
}

async fn create_tenant(Ports(p): Ports, ApiJson(t): ApiJson<Tenant>) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(p.access.create_tenant(t).await?)).into_response())
}

async fn get_tenant(Ports(p): Ports, Path(slug): Path<String>) -> ApiResult<Response> {
    Ok(Json(p.access.get_tenant(&slug).await?).into_response())
}

async fn rename_tenant(Ports(p): Ports, Path(slug): Path<String>, ApiJson(t): ApiJson<Tenant>) -> ApiResult<Response> {
    Ok(Json(p.access.rename_tenant(&slug, t).await?).into_response())
}

async fn delete_tenant(Ports(p): Ports, Path(slug): Path<String>) -> ApiResult<Response> {
    p.access.delete_tenant(&slug).await?;
    Ok(no_content())
}

async fn list_admins(Ports(p): Ports) -> ApiResult<Response> {
    let admins = p.access.list_admins().await?;
    Ok(Json(serde_json::json!({ "totalResults": admins.len(), "admins": admins })).into_response())
}

async fn create_admin(Ports(p): Ports, ApiJson(a): ApiJson<Admin>) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(p.access.create_admin(a).await?)).into_response())
}

async fn get_admin(Ports(p): Ports, Path(username): Path<String>) -> ApiResult<Response> {
    Ok(Json(p.access.get_admin(&username).await?).into_response())
}

async fn update_admin(
    Ports(p): Ports,
    Path(username): Path<String>,
    ApiJson(a): ApiJson<Admin>,
) -> ApiResult<Response> {
    Ok(Json(p.access.update_admin(&username, a).await?).into_response())
}

async fn delete_admin(Ports(p): Ports, Path(username): Path<String>) -> ApiResult<Response> {
    p.access.delete_admin(&username).await?;
    Ok(no_content())
}

async fn list_tokens(Ports(p): Ports) -> ApiResult<Response> {
    let tokens = p.access.list_tokens().await?;
    Ok(Json(serde_json::json!({ "totalResults": tokens.len(), "tokens": tokens })).into_response())
}

async fn create_token(Ports(p): Ports, ApiJson(t): ApiJson<ApiToken>) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(p.access.create_token(t).await?)).into_response())
}

async fn revoke_token(Ports(p): Ports, Path(id): Path<String>) -> ApiResult<Response> {
    p.access.revoke_token(&id).await?;
    Ok(no_content())
}

async fn audit(Ports(p): Ports, Path(tenant): Path<String>, Query(q): Query<AuditQuery>) -> ApiResult<Response> {
    Ok(Json(p.access.audit(&tenant, q).await?).into_response())
}

/// Prometheus text; needs `read` on some tenant (or a super-admin).
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>, Ports(p): Ports) -> ApiResult<Response> {
    let caller = p.access.whoami().await?;
    let reads = caller.super_admin || caller.permissions.values().any(|ps| ps.contains(&app::model::Permission::Read));
    if !reads {
        return Err(ApiError(app::error::AppError::forbidden("metrics need 'read' on some tenant")));
    }
    Ok(exposition(state.operations.as_ref()))
}

/// The metrics as Prometheus scrapes them.
pub fn exposition(operations: &dyn crate::service::HttpOperations) -> Response {
    operations.export_gauges();
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(axum::http::header::CONTENT_TYPE, content_type)], crate::metrics::global().render()).into_response()
}
