//! The HTTP surface: console (SSR + server functions), REST, embedded
//! assets, health, authentication and request logging.

use crate::rest;
use crate::service::{Service, ServicePort};
use app::port::SharedBackend;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub service: Arc<Service>,
    pub port: SharedBackend,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}

/// The site built by cargo-leptos, embedded in release builds (read from
/// disk in debug builds, so `cargo leptos watch` sees changes).
#[derive(rust_embed::RustEmbed)]
/// `allow_missing`: lints and tests compile before the first site build.
#[folder = "$CARGO_MANIFEST_DIR/../target/site"]
#[allow_missing = true]
struct Site;

pub fn leptos_options(addr: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("dirbridge")
        .site_pkg_dir("pkg")
        .site_root("target/site")
        .site_addr(addr)
        .build()
}

pub fn router(service: Arc<Service>, options: LeptosOptions) -> Router {
    let port: SharedBackend = Arc::new(ServicePort(service.clone()));
    let state = AppState { leptos_options: options.clone(), service, port: port.clone() };
    let routes = generate_route_list(app::App);
    let context_port = port.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(rest::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_port.clone()),
            move || app::shell(options.clone()),
        )
        .fallback(static_or_not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_auth))
        .layer(middleware::from_fn(request_log))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.service.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

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

async fn require_auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    if let Some(token) = bearer_or_cookie(&req) {
        if state.service.authenticate(&token).await.is_some() {
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
async fn request_log(req: Request, next: Next) -> Response {
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

/// Serves an embedded asset (precompressed .br/.gz when the client accepts
/// them), or the console's not-found page.
async fn static_or_not_found(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    if let Some(resp) = embedded(&path, &req) {
        return resp;
    }
    if path.starts_with("api/") || path.starts_with("_sfn/") {
        return (StatusCode::NOT_FOUND, axum::Json(app::error::AppError::not_found("no such route"))).into_response();
    }
    let options = state.leptos_options.clone();
    let handler = leptos_axum::render_app_to_stream(move || app::shell(options.clone()));
    let mut resp = handler(req).await.into_response();
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp
}

fn embedded(path: &str, req: &Request) -> Option<Response> {
    if path.is_empty() || path.ends_with(".br") || path.ends_with(".gz") {
        return None;
    }
    let file = Site::get(path)?;
    let accepts = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Some(StatusCode::NOT_MODIFIED.into_response());
    }
    let (body, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .iter()
        .find(|(enc, _)| accepts.split(',').any(|a| a.trim().starts_with(enc)))
        .and_then(|(enc, ext)| Site::get(&format!("{path}{ext}")).map(|f| (f.data, Some(*enc))))
        .unwrap_or((file.data, None));
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut resp = Response::new(Body::from(body.into_owned()));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(enc) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // File names carry no hash: revalidate every time (cheap with the ETag).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Some(resp)
}
