//! What every handler is given: the console's port (the one way to the
//! service, shared with the server functions) and the few server-side
//! operations the HTTP layer needs besides it.

use crate::service::HttpOperations;
use app::port::SharedBackend;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub port: SharedBackend,
    pub operations: Arc<dyn HttpOperations>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos_options.clone()
    }
}
