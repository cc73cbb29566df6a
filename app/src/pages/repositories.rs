use crate::api::list_repositories;
use crate::model::RepositoryState;
use crate::pages::layout::{ErrorBox, Shell};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn RepositoriesPage() -> impl IntoView {
    let repos = Resource::new(|| (), |_| list_repositories());
    view! {
        <Title text="Repositories · dirbridge" />
        <Shell>
            <div class="page-head">
                <h1>"User repositories"</h1>
                <A href="/repositories/new" attr:class="button primary">"New repository"</A>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || repos.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">"No repositories yet. Create one to connect a directory."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                        <table class="list" id="repositories">
                            <thead><tr>
                                <th>"Name"</th><th>"Vendor"</th><th>"Servers"</th><th>"State"</th><th>"Enabled"</th><th>"Priority"</th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|r| {
                                    let href = format!("/repositories/{}", r.id);
                                    let state = match r.state { RepositoryState::Active => "active", RepositoryState::Deleting => "deleting" };
                                    let row_id = r.id.clone();
                                    view! {
                                        <tr data-id=row_id>
                                            <td><A href=href>{r.name}</A><div class="muted small">{r.id}</div></td>
                                            <td>{r.vendor.label()}</td>
                                            <td class="mono small">{r.servers.join(", ")}</td>
                                            <td><span class=format!("badge {state}")>{state}</span></td>
                                            <td>{if r.enabled { "yes" } else { "no" }}</td>
                                            <td>{r.priority}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }.into_any(),
                })}
            </Transition>
        </Shell>
    }
}
