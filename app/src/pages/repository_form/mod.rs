//! Create / edit form of a repository, with test connection, preview and delete.
//! One component per fieldset (beside this file), on the shared helpers of
//! `fields`.
//!
//! The whole repository lives in one signal; the form is never reset when the
//! server rejects it, so the admin's input is kept and each field shows its
//! own error next to it.

mod assignments;
mod connection;
mod fields;
mod general;
mod groups;
mod login;
mod mapping;
mod results;
mod sync;
mod users;

use crate::api::{
    create_repository, delete_repository, get_repository, preview_users, replace_repository, test_connection,
};
use crate::model::*;
use crate::pages::layout::{ErrorBox, Shell};
use crate::pages::test_login::TestLoginBox;
use crate::presets::new_repository;
use assignments::AssignmentsFieldset;
use connection::ConnectionFieldset;
use fields::{cleaned, opt, Errors, Form};
use general::GeneralFieldset;
use groups::GroupsFieldset;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use login::LoginFieldset;
use mapping::MappingFieldset;
use results::{PreviewTable, TestReport};
use sync::SyncFieldset;
use users::UsersFieldset;

#[component]
pub fn NewRepositoryPage() -> impl IntoView {
    view! {
        <Title text="New repository · dirbridge" />
        <Shell>
            <h1>"New repository"</h1>
            <RepositoryForm initial=new_repository(Vendor::OpenLdap) stored_id=None />
        </Shell>
    }
}

#[component]
pub fn EditRepositoryPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let repo = Resource::new(id, get_repository);
    view! {
        <Title text="Repository · dirbridge" />
        <Shell>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || repo.get().map(|result| match result {
                    Ok(r) => {
                        let id = r.id.clone();
                        view! {
                            <h1>{r.name.clone()}<span class="muted small">" · "{id.clone()}</span></h1>
                            <crate::pages::sync_panel::SyncPanel id=id.clone() />
                            <RepositoryForm initial=r stored_id=Some(id) />
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                })}
            </Transition>
        </Shell>
    }
}

#[component]
pub fn RepositoryForm(initial: Repository, stored_id: Option<String>) -> impl IntoView {
    let form: Form = RwSignal::new(initial);
    let stored = RwSignal::new(stored_id);
    let errors: Errors = RwSignal::new(None);
    let notice = RwSignal::new(None::<String>);
    let navigate = use_navigate();

    let save = Action::new(move |repo: &Repository| {
        let repo = cleaned(repo);
        let stored = stored.get_untracked();
        async move {
            match stored {
                Some(id) => replace_repository(id, repo).await,
                None => create_repository(repo).await,
            }
        }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(saved) => {
                    errors.set(None);
                    notice
                        .set(Some(format!("Saved (version {})", saved.meta.as_ref().map(|m| m.version).unwrap_or(0))));
                    let was_new = stored.get_untracked().is_none();
                    let id = saved.id.clone();
                    form.set(saved);
                    stored.set(Some(id.clone()));
                    if was_new {
                        navigate(&format!("/repositories/{id}"), Default::default());
                    }
                }
                Err(e) => {
                    notice.set(None);
                    errors.set(Some(e));
                }
            }
        }
    });

    let login_user = RwSignal::new(String::new());
    let login_password = RwSignal::new(String::new());
    let test = Action::new(move |repo: &Repository| {
        let repo = cleaned(repo);
        let stored = stored.get_untracked();
        let login =
            TestLogin { username: opt(login_user.get_untracked()), password: opt(login_password.get_untracked()) };
        test_connection(repo, stored, login)
    });
    let preview = Action::new(move |repo: &Repository| {
        let repo = cleaned(repo);
        let stored = stored.get_untracked();
        preview_users(repo, stored)
    });

    let confirming_delete = RwSignal::new(false);
    let navigate_after_delete = use_navigate();
    let delete = Action::new(move |id: &String| delete_repository(id.clone()));
    Effect::new(move |_| {
        if let Some(result) = delete.value().get() {
            match result {
                Ok(()) => navigate_after_delete("/", Default::default()),
                Err(e) => errors.set(Some(e)),
            }
        }
    });

    let general_error = move || errors.get().map(|e| view! { <ErrorBox error=e /> });

    view! {
        <form class="repo-form" on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(form.get_untracked());
        }>
            {general_error}
            {move || notice.get().map(|n| view! { <div class="alert ok" role="status">{n}</div> })}

            <GeneralFieldset form=form errors=errors stored=stored />

            <ConnectionFieldset form=form errors=errors />

            <UsersFieldset form=form errors=errors />

            <MappingFieldset form=form errors=errors />

            <GroupsFieldset form=form errors=errors />

            <AssignmentsFieldset form=form errors=errors />

            <SyncFieldset form=form errors=errors />

            <LoginFieldset form=form />

            <div class="actions">
                <button type="submit" class="primary" id="save" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save" }}
                </button>
                <button type="button" class="secondary" id="test" on:click=move |_| { test.dispatch(form.get_untracked()); }>
                    {move || if test.pending().get() { "Testing…" } else { "Test connection" }}
                </button>
                <button type="button" class="secondary" id="preview" on:click=move |_| { preview.dispatch(form.get_untracked()); }>
                    {move || if preview.pending().get() { "Loading…" } else { "Preview users" }}
                </button>
                <Show when=move || stored.get().is_some()>
                    <button type="button" class="danger" id="delete" on:click=move |_| confirming_delete.set(true)>"Delete…"</button>
                </Show>
            </div>
        </form>

        <Show when=move || confirming_delete.get()>
            <div class="confirm" role="alertdialog" aria-labelledby="confirm-title">
                <p id="confirm-title">
                    <strong>"Delete this repository?"</strong>
                    " Its users are deprovisioned in the background and can no longer sign in."
                </p>
                <button type="button" class="secondary" on:click=move |_| confirming_delete.set(false)>"Cancel"</button>
                <button type="button" class="danger" id="confirm-delete"
                    on:click=move |_| { if let Some(id) = stored.get_untracked() { delete.dispatch(id); } }>
                    "Delete"
                </button>
            </div>
        </Show>

        <section class="panel">
            <h2>"Test connection"</h2>
            <p class="muted small">"Runs against the form as it is now, saved or not. Optionally try a directory user's login:"</p>
            <div class="grid">
                <div class="field">
                    <label for="test-username">"Test username"</label>
                    <input id="test-username" prop:value=move || login_user.get() on:input=move |ev| login_user.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="test-password">"Test password"</label>
                    <input id="test-password" type="password" autocomplete="off" prop:value=move || login_password.get() on:input=move |ev| login_password.set(event_target_value(&ev)) />
                </div>
            </div>
            {move || test.value().get().map(|result| match result {
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                Ok(t) => view! { <TestReport result=t /> }.into_any(),
            })}
        </section>

        {move || stored.get().map(|id| view! { <TestLoginBox repository_id=id /> })}

        <section class="panel">
            <h2>"Preview"</h2>
            {move || preview.value().get().map(|result| match result {
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                Ok(p) => view! { <PreviewTable preview=p /> }.into_any(),
            })}
        </section>
    }
}
