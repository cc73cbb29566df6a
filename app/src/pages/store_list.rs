//! The one list page of what the store holds (users, groups): a search box,
//! the total, a table of one page and the pager. Each list says how to fetch
//! a page and how to draw a row.

use crate::api::USERS_PAGE_SIZE;
use crate::error::AppError;
use crate::pages::layout::{ErrorBox, Pager, SearchHead, Shell};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// Element ids and words of one list (the end-to-end tests find them).
pub struct ListNames {
    pub title: &'static str,
    pub noun: &'static str,
    pub search_id: &'static str,
    pub placeholder: &'static str,
    pub total_id: &'static str,
    pub table_id: &'static str,
    pub headers: &'static [&'static str],
}

#[component]
pub fn StoreList<T, Fut>(
    names: ListNames,
    /// One page of items for a search: the total and the page's items.
    fetch: fn(String, u32) -> Fut,
    row: fn(T) -> AnyView,
) -> impl IntoView
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = Result<(u64, Vec<T>), AppError>> + Send + 'static,
{
    let search = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let items = Resource::new(move || (search.get(), page.get()), move |(s, p)| fetch(s, p));
    let ListNames { title, noun, search_id, placeholder, total_id, table_id, headers } = names;
    view! {
        <Title text=format!("{title} · dirbridge") />
        <Shell>
            <SearchHead title=title input_id=search_id placeholder=placeholder search=search page=page />
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || items.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok((total, list)) => {
                        let pages = total.div_ceil(u64::from(USERS_PAGE_SIZE)).max(1);
                        view! {
                            <p class="muted small" id=total_id>{format!("{total} {noun}")}</p>
                            <div class="table-wrap">
                                <table class="list" id=table_id>
                                    <thead><tr>{headers.iter().map(|h| view! { <th>{*h}</th> }).collect_view()}</tr></thead>
                                    <tbody>{list.into_iter().map(row).collect_view()}</tbody>
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
