//! What runs in front of every route: authentication (a session cookie or a
//! bearer token, resolved by the service into a principal whose ports the
//! request gets), the cross-site check, and the structured request log.

use super::state::AppState;
use crate::auth::Principal;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use std::time::Instant;

/// Routes reachable without a credential.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/login" | "/favicon.ico" | "/api/v1/auth/token" | "/_sfn/sign_in" | "/_sfn/sign_out"
    ) || path.starts_with("/pkg/")
}

/// Where a request's credential came from.
enum Presented {
    Bearer(String),
    Cookie(String),
    Nothing,
}

fn presented(req: &Request) -> Presented {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    match (bearer, app::session_from_cookies(req.headers())) {
        (Some(token), _) => Presented::Bearer(token),
        (None, Some(cookie)) => Presented::Cookie(cookie),
        (None, None) => Presented::Nothing,
    }
}

/// A state-changing request that a browser may have sent from another
/// site. Browsers send `Sec-Fetch-Site` (and `Origin` on every POST);
/// other clients send neither and carry no ambient cookie to abuse.
fn cross_site(req: &Request) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest).trim_end_matches('/');
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

fn refused(status: StatusCode, body: app::error::AppError) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// Resolves the request's credential into a principal and gives the
/// request the ports that principal may use; refuses cross-site
/// state-changing requests that rely on the session cookie (CSRF) and
/// requests without a valid credential to routes that need one.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let credential = presented(&req);
    // Bearer requests carry no ambient credential: exempt. Sign-in is
    // checked too (login CSRF).
    if !matches!(credential, Presented::Bearer(_)) && cross_site(&req) {
        tracing::warn!(%path, "cross-site request refused");
        return refused(
            StatusCode::FORBIDDEN,
            app::error::AppError::forbidden(
                "cross-site request refused: send it from the console, or use a bearer token",
            ),
        );
    }
    let principal = match &credential {
        Presented::Bearer(secret) | Presented::Cookie(secret) => state.operations.principal(secret).await,
        Presented::Nothing => Principal::Anonymous,
    };
    if principal == Principal::Anonymous && !is_public(&path) {
        if path.starts_with("/api/") || path.starts_with("/_sfn/") || path == "/metrics" {
            let message = match credential {
                Presented::Nothing => "sign in first: send Authorization: Bearer TOKEN from POST /api/v1/auth/token",
                _ => "the credential is not valid (malformed, expired or revoked)",
            };
            return refused(StatusCode::UNAUTHORIZED, app::error::AppError::unauthorized(message));
        }
        return Redirect::to("/login").into_response();
    }
    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ports = (state.ports_for)(principal, client);
    req.extensions_mut().insert(ports);
    next.run(req).await
}

/// Structured request log with a request id; never logs bodies or headers.
pub async fn request_log(req: Request, next: Next) -> Response {
    let id = crate::crypto::random_bytes::<6>().map(hex::encode).unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // Routes by their pattern (bounded label values); assets as one.
    let route = match req.extensions().get::<axum::extract::MatchedPath>() {
        Some(matched) => matched.as_str().to_string(),
        None if path.starts_with("/pkg/") => "/pkg/*".to_string(),
        None => "unmatched".to_string(),
    };
    let started = Instant::now();
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let mut resp = {
        let _enter = span.enter();
        next.run(req)
    }
    .await;
    let status = resp.status().as_u16();
    let millis = started.elapsed().as_millis() as u64;
    crate::metrics::global().http_request(&route, method.as_str(), status, started.elapsed());
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

/// Headers every response carries: no MIME sniffing, no referrer, never
/// framed, its own browsing context; a response that set no
/// Content-Security-Policy (the console's pages set theirs, with the
/// hydration scripts' nonce) gets one that allows nothing.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    resp
}
