//! Users synced into the store: a searchable, paginated list and a user page.

use crate::api::{get_user, list_users, resync_user};
use crate::error::AppError;
use crate::model::User;
use crate::pages::layout::{dn_name, ErrorBox, Shell};
use crate::pages::store_list::{ListNames, StoreList};
use crate::pages::test_login::TestLoginBox;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn UsersPage() -> impl IntoView {
    let names = ListNames {
        title: "Users",
        noun: "users",
        search_id: "user-search",
        placeholder: "Search by username",
        total_id: "users-total",
        table_id: "users",
        headers: &["Username", "Name", "Email", "Enabled", "Repository"],
    };
    view! { <StoreList names fetch=users_page row=user_row /> }
}

async fn users_page(search: String, page: u32) -> Result<(u64, Vec<User>), AppError> {
    list_users(search, page).await.map(|l| (l.total_results, l.users))
}

fn user_row(u: User) -> AnyView {
    view! {
        <tr>
            <td><A href=format!("/users/{}", u.id)>{u.username}</A></td>
            <td>{u.display_name.unwrap_or_default()}</td>
            <td>{u.email.unwrap_or_default()}</td>
            <td>{if u.enabled { "yes" } else { "disabled" }}</td>
            <td>{u.repository_id}</td>
        </tr>
    }
    .into_any()
}

#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let resync = Action::new(move |id: &String| resync_user(id.clone()));
    let user = Resource::new(move || (id(), resync.version().get()), |(id, _)| get_user(id));
    view! {
        <Title text="User · dirbridge" />
        <Shell>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || user.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok(u) => {
                        let (repository_id, username) = (u.repository_id.clone(), u.username.clone());
                        view! {
                        <div class="page-head">
                            <h1 id="user-name">{u.username.clone()}</h1>
                            <button type="button" class="secondary" id="resync-user" disabled=move || resync.pending().get()
                                on:click=move |_| { resync.dispatch(id()); }>
                                {move || if resync.pending().get() { "Re-reading…" } else { "Re-sync from LDAP" }}
                            </button>
                        </div>
                        {move || resync.value().get().map(|r| match r {
                            Ok(_) => view! { <div class="alert ok" role="status">"Re-read from the directory."</div> }.into_any(),
                            Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                        })}
                        <dl class="facts">
                            <dt>"Name"</dt><dd>{u.display_name.clone().unwrap_or_default()}</dd>
                            <dt>"Email"</dt><dd>{u.email.clone().unwrap_or_default()}</dd>
                            <dt>"Enabled"</dt><dd>{if u.enabled { "yes" } else { "no" }}</dd>
                            <dt>"Repository"</dt><dd><A href=format!("/repositories/{}", u.repository_id)>{u.repository_id.clone()}</A></dd>
                            <dt>"LDAP DN"</dt><dd class="mono" id="user-dn">{u.ldap_dn.clone()}</dd>
                            <dt>"LDAP UUID"</dt><dd class="mono">{u.ldap_uuid.clone()}</dd>
                            <dt>"Last synced"</dt><dd>{u.synced_at.clone().unwrap_or_default()}</dd>
                            <dt>"Roles"</dt><dd>{u.roles.join(", ")}</dd>
                            <dt>"User types"</dt><dd>{u.user_types.join(", ")}</dd>
                            <dt>"Groups"</dt><dd><ul class="plain" id="user-groups">{u.groups.iter().map(|g| view! {
                                <li title=g.clone()>{dn_name(g)}" "<span class="mono small muted">{g.clone()}</span></li>
                            }).collect_view()}</ul></dd>
                        </dl>
                        <TestLoginBox repository_id=repository_id username=username />
                        <h2>"Attributes"</h2>
                        <div class="table-wrap">
                            <table class="list" id="user-attributes">
                                <tbody>
                                    {u.attributes.into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td>{v.join(", ")}</td></tr> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                    }
                })}
            </Transition>
        </Shell>
    }
}
