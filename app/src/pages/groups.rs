//! Groups synced into the store: a searchable, paginated list.

use crate::api::{list_groups, USERS_PAGE_SIZE};
use crate::pages::layout::{ErrorBox, Pager, SearchHead, Shell};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn GroupsPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let groups = Resource::new(move || (search.get(), page.get()), |(s, p)| list_groups(s, p));
    view! {
        <Title text="Groups · dirbridge" />
        <Shell>
            <SearchHead title="Groups" input_id="group-search" placeholder="Search by name" search=search page=page />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || groups.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok(list) => {
                        let total = list.total_results;
                        let pages = total.div_ceil(u64::from(USERS_PAGE_SIZE)).max(1);
                        view! {
                            <p class="muted small" id="groups-total">{format!("{total} groups")}</p>
                            <div class="table-wrap">
                                <table class="list" id="groups">
                                    <thead><tr><th>"Name"</th><th>"Members"</th><th>"LDAP DN"</th><th>"Repository"</th><th>"Last synced"</th></tr></thead>
                                    <tbody>
                                        {list.groups.into_iter().map(|g| view! {
                                            <tr>
                                                <td>{g.name}</td>
                                                <td>{g.member_count}</td>
                                                <td class="mono small">{g.ldap_dn}</td>
                                                <td>{g.repository_id}</td>
                                                <td class="small">{g.synced_at}</td>
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
