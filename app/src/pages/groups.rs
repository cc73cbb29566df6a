//! Groups synced into the store: a searchable, paginated list.

use crate::api::list_groups;
use crate::error::AppError;
use crate::model::Group;
use crate::pages::store_list::{ListNames, StoreList};
use leptos::prelude::*;

#[component]
pub fn GroupsPage() -> impl IntoView {
    let names = ListNames {
        title: "Groups",
        noun: "groups",
        search_id: "group-search",
        placeholder: "Search by name",
        total_id: "groups-total",
        table_id: "groups",
        headers: &["Name", "Members", "LDAP DN", "Repository", "Last synced"],
    };
    view! { <StoreList names fetch=groups_page row=group_row /> }
}

async fn groups_page(search: String, page: u32) -> Result<(u64, Vec<Group>), AppError> {
    list_groups(search, page).await.map(|l| (l.total_results, l.groups))
}

fn group_row(g: Group) -> AnyView {
    view! {
        <tr>
            <td>{g.name}</td>
            <td>{g.member_count}</td>
            <td class="mono small">{g.ldap_dn}</td>
            <td>{g.repository_id}</td>
            <td class="small">{g.synced_at}</td>
        </tr>
    }
    .into_any()
}
