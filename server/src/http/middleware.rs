//! What runs in front of every route: authentication (a session cookie or a
//! bearer token, checked by the service) and the structured request log.

use super::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::time::Instant;

/// Routes reachable without a session.
fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/login" | "/favicon.ico" | "/api/v1/auth/token" | "/_sfn/sign_in")
        || path.starts_with("/pkg/")
}

fn bearer_or_cookie(req: &Request) -> Option<String> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    bearer.or_else(|| app::session_from_cookies(req.headers()))
}

pub async fn require_auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    if let Some(token) = bearer_or_cookie(&req) {
        if state.operations.authenticate(&token).await.is_some() {
            return next.run(req).await;
        }
    }
    if path.starts_with("/api/") || path.starts_with("/_sfn/") {
        let body = app::error::AppError::unauthorized(
            "sign in first: send Authorization: Bearer TOKEN from POST /api/v1/auth/token",
        );
        let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        resp
    } else {
        Redirect::to("/login").into_response()
    }
}

/// Structured request log with a request id; never logs bodies or headers.
pub async fn request_log(req: Request, next: Next) -> Response {
    let id = crate::crypto::random_bytes::<6>().map(hex::encode).unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let mut resp = {
        let _enter = span.enter();
        next.run(req)
    }
    .await;
    let status = resp.status().as_u16();
    let millis = started.elapsed().as_millis() as u64;
    if path.starts_with("/pkg/") {
        tracing::debug!(request_id = %id, %method, %path, status, millis, "request");
    } else {
        tracing::info!(request_id = %id, %method, %path, status, millis, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
