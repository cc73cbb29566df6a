//! The HTTP surface: the router (console SSR and server functions, REST,
//! embedded assets, health), with authentication and request logging in
//! front. Handlers reach the service only through the console's port and
//! [`HttpOperations`](crate::service::HttpOperations).

pub mod assets;
pub mod middleware;
pub mod rest;
pub mod rest_access;
pub mod state;

use crate::service::{GuardedPort, Service};
use app::port::RequestPorts;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
pub use state::AppState;
use std::sync::Arc;

pub fn leptos_options(addr: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("dirbridge")
        .site_pkg_dir("pkg")
        .site_root("target/site")
        .site_addr(addr)
        .build()
}

/// The largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// API routes with the methods each answers, kept as they are registered:
/// the authorization test walks this list (and checks the router agrees
/// with it), so a route added without a permission entry fails it.
#[derive(Default)]
pub struct RouteTable {
    router: Router<AppState>,
    listed: Vec<(&'static str, &'static str)>,
}

impl RouteTable {
    /// `methods`: the methods `handler` answers, space-separated ("GET POST").
    pub fn route(
        mut self,
        methods: &'static str,
        path: &'static str,
        handler: axum::routing::MethodRouter<AppState>,
    ) -> RouteTable {
        self.listed.push((methods, path));
        self.router = self.router.route(path, handler);
        self
    }

    fn merge(mut self, other: RouteTable) -> RouteTable {
        self.listed.extend(other.listed);
        self.router = self.router.merge(other.router);
        self
    }
}

fn api_routes() -> RouteTable {
    rest::routes().merge(rest_access::routes())
}

/// Every API route as (methods, path).
pub fn api_route_list() -> Vec<(&'static str, &'static str)> {
    api_routes().listed
}

pub fn router(service: Arc<Service>, options: LeptosOptions) -> Router {
    let guarded = service.clone();
    let ports_for: state::PortsFor = Arc::new(move |who, client| {
        let port = Arc::new(GuardedPort::new(guarded.clone(), who, client));
        RequestPorts { backend: port.clone(), access: port, client }
    });
    let state = AppState { leptos_options: options.clone(), ports_for, operations: service };
    let routes = generate_route_list(app::App);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(api_routes().router)
        .leptos_routes(&state, routes, move || app::shell(options.clone()))
        .fallback(assets::static_or_not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::authenticate))
        // Bodies: a repository is a few kilobytes; nothing needs more.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn(middleware::request_log))
        .with_state(state)
}

/// `/metrics` alone, without credentials, for `--metrics-listen` (an
/// address only the scraper reaches).
pub fn metrics_router(service: Arc<Service>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let service = service.clone();
            async move { rest_access::exposition(service.as_ref()) }
        }),
    )
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.operations.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}
