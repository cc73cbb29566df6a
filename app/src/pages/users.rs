//! Users synced into the store: a searchable, paginated list and a user page.

use crate::api::{get_user, list_users, resync_user, USERS_PAGE_SIZE};
use crate::pages::layout::{dn_name, ErrorBox, Pager, SearchHead, Shell};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

#[component]
pub fn UsersPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let users = Resource::new(move || (search.get(), page.get()), |(s, p)| list_users(s, p));
    view! {
        <Title text="Users · dirbridge" />
        <Shell>
            <SearchHead title="Users" input_id="user-search" placeholder="Search by username" search=search page=page />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || users.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok(list) => {
                        let total = list.total_results;
                        let pages = total.div_ceil(u64::from(USERS_PAGE_SIZE)).max(1);
                        view! {
                            <p class="muted small" id="users-total">{format!("{total} users")}</p>
                            <div class="table-wrap">
                                <table class="list" id="users">
                                    <thead><tr><th>"Username"</th><th>"Name"</th><th>"Email"</th><th>"Enabled"</th><th>"Repository"</th></tr></thead>
                                    <tbody>
                                        {list.users.into_iter().map(|u| view! {
                                            <tr>
                                                <td><A href=format!("/users/{}", u.id)>{u.username}</A></td>
                                                <td>{u.display_name.unwrap_or_default()}</td>
                                                <td>{u.email.unwrap_or_default()}</td>
                                                <td>{if u.enabled { "yes" } else { "disabled" }}</td>
                                                <td>{u.repository_id}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <Pager page=page pages=pages />
                        }.into_any()
                    }
                })}
            </Transition>
        </Shell>
    }
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
                    Ok(u) => view! {
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
                        <h2>"Attributes"</h2>
                        <div class="table-wrap">
                            <table class="list" id="user-attributes">
                                <tbody>
                                    {u.attributes.into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td>{v.join(", ")}</td></tr> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
        </Shell>
    }
}
