#![recursion_limit = "256"]
//! The dirbridge console: components, pages, shared types and server functions.
//! Builds for wasm32 (hydrate) and for the server (ssr); never links ldap3,
//! sqlx or tokio.

pub mod api;
pub mod error;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod port;
pub mod presets;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.ico" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page's Content-Security-Policy: scripts only from the site and the
/// inline hydration scripts carrying this response's nonce, the wasm,
/// nothing framed, no plug-ins, forms and requests to the site only.
/// Inline style attributes stay allowed (the progress bar's width).
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use leptos::server_fn::http_export::{header, HeaderValue};
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, so this flips once hydration is done;
    // end-to-end tests wait for it before clicking.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="leptos" href="/pkg/dirbridge.css" />
        <Title text="dirbridge" />
        <Router>
            <div id="app" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <main class="page"><h1>"Not found"</h1><A href="/">"Back to repositories"</A></main> }>
                    <Route path=path!("/login") view=pages::login::LoginPage />
                    <Route path=path!("/") view=pages::repositories::RepositoriesPage />
                    <Route path=path!("/repositories/new") view=pages::repository_form::NewRepositoryPage />
                    <Route path=path!("/repositories/:id") view=pages::repository_form::EditRepositoryPage />
                    <Route path=path!("/users") view=pages::users::UsersPage />
                    <Route path=path!("/users/:id") view=pages::users::UserPage />
                    <Route path=path!("/groups") view=pages::groups::GroupsPage />
                </Routes>
            </div>
        </Router>
    }
}

/// The session token from a request's cookies.
#[cfg(feature = "ssr")]
pub fn session_from_cookies(headers: &leptos::server_fn::http_export::HeaderMap) -> Option<String> {
    headers
        .get_all(leptos::server_fn::http_export::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == port::SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}
