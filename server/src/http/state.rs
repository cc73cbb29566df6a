//! What every handler is given: a way to the ports of one request (as its
//! credential allows them; the only way to the service, shared with the
//! server functions) and the few server-side operations the HTTP layer
//! needs besides them.

use crate::auth::Principal;
use crate::service::HttpOperations;
use app::port::RequestPorts;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::net::IpAddr;
use std::sync::Arc;

/// Builds the ports a principal may use.
pub type PortsFor = Arc<dyn Fn(Principal, Option<IpAddr>) -> RequestPorts + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub ports_for: PortsFor,
    pub operations: Arc<dyn HttpOperations>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}
