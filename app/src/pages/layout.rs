use crate::api::SignOut;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

/// Header and frame of every signed-in page.
#[component]
pub fn Shell(children: Children) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"dirbridge"</A>
            <nav>
                <A href="/">"Repositories"</A>
                <A href="/users">"Users"</A>
                <A href="/groups">"Groups"</A>
            </nav>
            <ActionForm action=sign_out attr:class="signout">
                <button type="submit" class="link">"Sign out"</button>
            </ActionForm>
        </header>
        <main class="page">{children()}</main>
    }
}

/// An error box for anything that is not tied to a single field.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    let title = match &error {
        AppError::Validation { .. } => "Please correct the highlighted fields",
        AppError::NotFound { .. } => "Not found",
        AppError::Conflict { .. } => "Conflict",
        AppError::Unauthorized { .. } => "Not signed in",
        AppError::Unavailable { .. } => "Unavailable",
        _ => "Error",
    };
    view! {
        <div class="alert error" role="alert">
            <strong>{title}</strong>
            <span>{error.to_string()}</span>
        </div>
    }
}

/// Path the sign-out server function posts to; kept here so the router
/// middleware and the form agree.
pub fn sign_out_path() -> &'static str {
    SignOut::PATH
}

/// Previous / next buttons of a paginated list.
#[component]
pub fn Pager(page: RwSignal<u32>, pages: u64) -> impl IntoView {
    view! {
        <div class="pager">
            <button type="button" class="secondary" disabled=move || page.get() <= 1 on:click=move |_| page.update(|p| *p -= 1)>"Previous"</button>
            <span class="small">{move || format!("Page {} of {pages}", page.get())}</span>
            <button type="button" class="secondary" disabled=move || u64::from(page.get()) >= pages on:click=move |_| page.update(|p| *p += 1)>"Next"</button>
        </div>
    }
}

/// The display name of a DN: the value of its first RDN ("cn=Admins,ou=…" → "Admins").
pub fn dn_name(dn: &str) -> String {
    let first = dn.split(',').next().unwrap_or(dn);
    first.split_once('=').map(|(_, v)| v.trim().to_string()).unwrap_or_else(|| dn.to_string())
}

/// A list page's heading with its search box; typing goes back to page 1.
#[component]
pub fn SearchHead(
    title: &'static str,
    input_id: &'static str,
    placeholder: &'static str,
    search: RwSignal<String>,
    page: RwSignal<u32>,
) -> impl IntoView {
    view! {
        <div class="page-head">
            <h1>{title}</h1>
            <input id=input_id type="search" placeholder=placeholder aria-label=placeholder
                prop:value=move || search.get()
                on:input=move |ev| { search.set(event_target_value(&ev)); page.set(1); } />
        </div>
    }
}
