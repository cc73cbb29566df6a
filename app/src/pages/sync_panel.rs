//! "Sync now", live progress and the run history of a repository.

use crate::api::{start_sync, sync_runs};
use crate::model::SyncRun;
use crate::pages::layout::ErrorBox;
use leptos::prelude::*;
use std::time::Duration;

fn is_running(runs: &Option<Result<Vec<SyncRun>, crate::error::AppError>>) -> bool {
    matches!(runs, Some(Ok(list)) if list.first().is_some_and(|r| r.state == "running"))
}

#[component]
pub fn SyncPanel(id: String) -> impl IntoView {
    let start_id = id.clone();
    let start = Action::new(move |force: &bool| start_sync(start_id.clone(), *force));
    let tick = RwSignal::new(0u32);
    let runs = Resource::new(move || (tick.get(), start.version().get()), move |_| sync_runs(id.clone()));
    // While a run goes, re-read it every second: the bar moves on its own.
    Effect::new(move |_| {
        if is_running(&runs.get()) {
            set_timeout(move || tick.update(|t| *t += 1), Duration::from_millis(700));
        }
    });
    let running = move || is_running(&runs.get());
    view! {
        <section class="panel" id="sync-panel">
            <h2>"Synchronisation"</h2>
            <div class="actions-inline">
                <button type="button" class="primary" id="sync-now" disabled=running on:click=move |_| { start.dispatch(false); }>
                    "Sync now (full)"
                </button>
                <button type="button" class="secondary" id="sync-force" disabled=running on:click=move |_| { start.dispatch(true); }
                    title="Remove users gone from LDAP even beyond the max-delete limit">
                    "Force full sync"
                </button>
            </div>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e /> })}
            <Transition fallback=|| view! { <p class="muted">"Loading runs…"</p> }>
                {move || runs.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok(list) => view! { <RunList runs=list /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

fn duration(run: &SyncRun) -> String {
    fn secs(t: &str) -> Option<i64> {
        // RFC 3339 "YYYY-MM-DDTHH:MM:SSZ": seconds within the day are enough for a duration label.
        let time = t.get(11..19)?;
        let mut parts = time.split(':').map(|p| p.parse::<i64>().ok());
        Some(parts.next()?? * 3600 + parts.next()?? * 60 + parts.next()??)
    }
    match (secs(&run.started_at), run.finished_at.as_deref().and_then(secs)) {
        (Some(a), Some(b)) => format!("{} s", (b - a).rem_euclid(86_400)),
        _ => "…".into(),
    }
}

#[component]
fn RunList(runs: Vec<SyncRun>) -> impl IntoView {
    let current = runs.first().filter(|r| r.state == "running").cloned();
    view! {
        {current.map(|r| {
            let total = r.progress.total.unwrap_or(0).max(r.progress.done).max(1);
            let percent = (r.progress.done * 100 / total).min(100);
            view! {
                <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=percent.to_string()>
                    <div class="bar" style=format!("width: {percent}%")></div>
                    <span>{format!("{} users read", r.progress.done)}</span>
                </div>
            }
        })}
        {if runs.is_empty() {
            view! { <p class="muted">"No sync has run yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="list" id="sync-runs">
                        <thead><tr>
                            <th>"Started"</th><th>"State"</th><th>"Seen"</th><th>"Added"</th><th>"Updated"</th>
                            <th>"Unchanged"</th><th>"Disabled"</th><th>"Deleted"</th><th>"Failed"</th><th>"Took"</th>
                        </tr></thead>
                        <tbody>
                            {runs.into_iter().map(|r| {
                                let took = duration(&r);
                                let c = r.counts;
                                let state = r.state.clone();
                                view! {
                                    <tr data-run=r.id.clone() data-state=state.clone()>
                                        <td class="small">{r.started_at.replace('T', " ").replace('Z', "")}</td>
                                        <td>
                                            <span class=format!("badge {state}")>{state.clone()}</span>
                                            {r.message.map(|m| view! { <div class="small muted">{m}</div> })}
                                            {(!r.errors.is_empty()).then(|| view! {
                                                <details class="small"><summary>{format!("{} errors", r.errors.len())}</summary>
                                                    <ul>{r.errors.into_iter().map(|e| view! { <li><span class="mono">{e.dn}</span>": "{e.message}</li> }).collect_view()}</ul>
                                                </details>
                                            })}
                                        </td>
                                        <td>{c.seen}</td><td>{c.added}</td><td>{c.updated}</td><td>{c.unchanged}</td>
                                        <td>{c.disabled}</td><td>{c.deleted}</td><td>{c.failed}</td><td>{took}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}
