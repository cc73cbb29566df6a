//! The "Test login" box of the repository and user pages: a directory
//! user's username and password, then each step of the login (find user,
//! bind, account state, assignments) with its time, and the user as a
//! login would return them or why it was refused.

use crate::api::try_login;
use crate::model::{LoginTrace, TestStep};
use crate::pages::layout::ErrorBox;
use leptos::prelude::*;

/// Steps with their outcome and time (the connection test shows the same).
#[component]
pub fn StepList(steps: Vec<TestStep>) -> impl IntoView {
    view! {
        <ol class="steps">
            {steps.into_iter().map(|s| { let step = s.name.clone(); view! {
                <li class=if s.ok { "step ok" } else { "step fail" } data-step=step>
                    <span class="icon">{if s.ok { "✔" } else { "✘" }}</span>
                    <strong>{s.name}</strong>
                    <span class="muted small">{format!(" {} ms", s.millis)}</span>
                    <div class="detail">{s.detail}</div>
                </li>
            }}).collect_view()}
        </ol>
    }
}

#[component]
fn LoginReport(trace: LoginTrace) -> impl IntoView {
    view! {
        <div class="login-report" data-ok=trace.ok.to_string()>
            <StepList steps=trace.steps />
            {trace.failure.map(|e| view! { <ErrorBox error=e /> })}
            {trace.success.map(|s| view! {
                <div class="alert ok" role="status">"Signed in through " <strong>{s.repository_id.clone()}</strong></div>
                <dl class="facts" id="test-login-user">
                    <dt>"Username"</dt><dd>{s.user.username.clone()}</dd>
                    <dt>"Email"</dt><dd>{s.user.email.clone().unwrap_or_default()}</dd>
                    <dt>"Roles"</dt><dd id="test-login-roles">{s.user.roles.join(", ")}</dd>
                    <dt>"User types"</dt><dd>{s.user.user_types.join(", ")}</dd>
                    <dt>"User groups"</dt><dd>{s.user.user_groups.join(", ")}</dd>
                    <dt>"Admin"</dt><dd>{if s.user.admin { "yes" } else { "no" }}</dd>
                    <dt>"Groups"</dt><dd class="small mono">{s.user.groups.join("; ")}</dd>
                    {s.password_expires_at.map(|at| view! { <dt>"Password expires"</dt><dd>{at}</dd> })}
                    {s.grace_logins_remaining.map(|n| view! { <dt>"Grace logins left"</dt><dd>{n}</dd> })}
                </dl>
            })}
        </div>
    }
}

/// A login through `repository_id` as the platform would make it.
#[component]
pub fn TestLoginBox(repository_id: String, #[prop(optional, into)] username: String) -> impl IntoView {
    let user = RwSignal::new(username);
    let password = RwSignal::new(String::new());
    let run = Action::new(move |(repository, username, password): &(String, String, String)| {
        try_login(Some(repository.clone()), username.clone(), password.clone())
    });
    let repository = StoredValue::new(repository_id);
    view! {
        <section class="panel" id="test-login">
            <h2>"Test login"</h2>
            <p class="muted small">"Signs a directory user in through this repository as the platform would (the password is checked by the directory; nothing is shown of it)."</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                run.dispatch((repository.get_value(), user.get_untracked(), password.get_untracked()));
            }>
                <div class="grid">
                    <div class="field">
                        <label for="test-login-username">"Username"</label>
                        <input id="test-login-username" autocomplete="off" prop:value=move || user.get() on:input=move |ev| user.set(event_target_value(&ev)) />
                    </div>
                    <div class="field">
                        <label for="test-login-password">"Password"</label>
                        <input id="test-login-password" type="password" autocomplete="off" prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                    </div>
                </div>
                <button type="submit" class="secondary" id="test-login-run" disabled=move || run.pending().get()>
                    {move || if run.pending().get() { "Signing in…" } else { "Test login" }}
                </button>
            </form>
            {move || run.value().get().map(|result| match result {
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                Ok(trace) => view! { <LoginReport trace=trace /> }.into_any(),
            })}
        </section>
    }
}
