//! "Sync now", live progress, next scheduled runs, a chart and the history
//! of a repository's runs.

use crate::api::{next_runs, start_sync, sync_runs};
use crate::model::{SyncMode, SyncRun};
use crate::pages::layout::ErrorBox;
use leptos::prelude::*;

/// Follows a running run through the server's event stream and puts each
/// state into `live`; `finished` is bumped when it ends. In the browser only:
/// the server-rendered page shows the state it was rendered with.
#[cfg(feature = "hydrate")]
fn follow(repository: &str, run: &str, live: RwSignal<Option<SyncRun>>, finished: RwSignal<u32>) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let url =
        format!("/api/v1/tenants/{}/repositories/{repository}/sync-runs/{run}/events", crate::api::CONSOLE_TENANT);
    let Ok(source) = web_sys::EventSource::new(&url) else {
        finished.update(|n| *n += 1);
        return;
    };
    // The server ends the stream after the final state. Closing it here
    // instead would race that end (the browser reports the request as
    // aborted), so the end is awaited: EventSource reports it as an error,
    // and closing then stops it from reconnecting.
    let done = std::rc::Rc::new(std::cell::Cell::new(false));
    let on_run = {
        let done = done.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else { return };
            let Ok(run) = serde_json::from_str::<SyncRun>(&text) else { return };
            let ended = run.state != "running";
            live.set(Some(run));
            if ended && !done.replace(true) {
                finished.update(|n| *n += 1);
            }
        })
    };
    let on_error = {
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            source.close();
            if !done.get() {
                // The stream broke before the run ended (server restart,
                // proxy): re-read the history instead.
                set_timeout(move || finished.update(|n| *n += 1), std::time::Duration::from_secs(1));
            }
        })
    };
    let _ = source.add_event_listener_with_callback("run", on_run.as_ref().unchecked_ref());
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The listeners live as long as the event source (one run).
    on_run.forget();
    on_error.forget();
}

#[cfg(not(feature = "hydrate"))]
fn follow(_repository: &str, _run: &str, _live: RwSignal<Option<SyncRun>>, _finished: RwSignal<u32>) {}

#[component]
pub fn SyncPanel(id: String) -> impl IntoView {
    let start_id = id.clone();
    let start = Action::new(move |(mode, force): &(SyncMode, bool)| start_sync(start_id.clone(), *mode, *force));
    let finished = RwSignal::new(0u32);
    let runs_id = id.clone();
    let runs = Resource::new(move || (finished.get(), start.version().get()), move |_| sync_runs(runs_id.clone()));
    let next_id = id.clone();
    let next = Resource::new(move || finished.get(), move |_| next_runs(next_id.clone()));
    let live: RwSignal<Option<SyncRun>> = RwSignal::new(None);
    let followed = StoredValue::new(String::new());
    // A run started here is followed by the id "Sync now" returned: a small
    // directory can finish before the history is re-read, and its final
    // state must still reach the bar (the stream sends it, then ends).
    let started_id = id.clone();
    Effect::new(move |_| {
        if let Some(Ok(run)) = start.value().get() {
            if followed.get_value() != run {
                followed.set_value(run.clone());
                follow(&started_id, &run, live, finished);
            }
        }
    });
    // A run started elsewhere (schedule, API, another admin) is followed
    // once the history shows it running.
    Effect::new(move |_| {
        if let Some(Ok(list)) = runs.get() {
            if let Some(run) = list.first().filter(|r| r.state == "running") {
                if followed.get_value() != run.id {
                    followed.set_value(run.id.clone());
                    live.set(Some(run.clone()));
                    follow(&id, &run.id, live, finished);
                }
            }
        }
    });
    let running = move || live.get().is_some_and(|r| r.state == "running") || start.pending().get();
    let button = move |label: &'static str, element: &'static str, mode: SyncMode, force: bool, title: &'static str| {
        view! {
            <button type="button" class=if element == "sync-now" { "primary" } else { "secondary" } id=element title=title
                disabled=running on:click=move |_| { start.dispatch((mode, force)); }>
                {label}
            </button>
        }
    };
    view! {
        <section class="panel" id="sync-panel">
            <h2>"Synchronisation"</h2>
            <div class="actions-inline">
                {button("Sync now (full)", "sync-now", SyncMode::Full, false, "Read the whole directory; users gone from it are disabled or deleted")}
                {button("Sync changes", "sync-changed", SyncMode::Changed, false, "Read only what changed since the last run")}
                {button("Force full sync", "sync-force", SyncMode::Full, true, "Remove users gone from LDAP even beyond the max-delete limit")}
            </div>
            <Transition fallback=|| ()>
                {move || next.get().and_then(|r| r.ok()).map(|n| view! {
                    <p class="small muted" id="next-runs">
                        {format!("Next scheduled full sync: {}", n.full.as_deref().map(readable).unwrap_or_else(|| "not scheduled".into()))}
                        " · "
                        {format!("next changed sync: {}", n.changed.as_deref().map(readable).unwrap_or_else(|| "not scheduled".into()))}
                    </p>
                })}
            </Transition>
            {move || start.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorBox error=e /> })}
            {move || live.get().map(|r| view! { <Progress run=r /> })}
            <Transition fallback=|| view! { <p class="muted">"Loading runs…"</p> }>
                {move || runs.get().map(|result| match result {
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                    Ok(list) => view! { <RunChart runs=list.clone() /> <RunList runs=list /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// "2026-11-23T17:22:32Z" → "2026-11-23 17:22:32 UTC".
fn readable(t: &str) -> String {
    format!("{} UTC", t.replace('T', " ").trim_end_matches('Z'))
}

#[component]
fn Progress(run: SyncRun) -> impl IntoView {
    let done = run.state != "running";
    let total = run.progress.total.unwrap_or(0).max(run.progress.done).max(1);
    let percent = if done { 100 } else { (run.progress.done * 100 / total).min(99) };
    let label = if done {
        format!("{}: {} users read", run.state, run.progress.done)
    } else {
        format!("{} users read", run.progress.done)
    };
    view! {
        <div class=format!("progress {}", run.state) role="progressbar" aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=percent.to_string() data-run=run.id.clone()>
            <div class="bar" style=format!("width: {percent}%")></div>
            <span>{label}</span>
        </div>
    }
}

/// Seconds between two RFC 3339 UTC times of the same or adjacent days.
fn seconds(run: &SyncRun) -> Option<i64> {
    fn secs(t: &str) -> Option<i64> {
        let time = t.get(11..19)?;
        let mut parts = time.split(':').map(|p| p.parse::<i64>().ok());
        Some(parts.next()?? * 3600 + parts.next()?? * 60 + parts.next()??)
    }
    Some((secs(run.finished_at.as_deref()?)? - secs(&run.started_at)?).rem_euclid(86_400))
}

/// Durations of the last runs as bars (newest right), counts in the tooltip.
#[component]
fn RunChart(runs: Vec<SyncRun>) -> impl IntoView {
    let mut recent: Vec<(SyncRun, i64)> =
        runs.into_iter().filter_map(|r| seconds(&r).map(|s| (r, s))).take(30).collect();
    recent.reverse();
    if recent.len() < 2 {
        return ().into_any();
    }
    let longest = recent.iter().map(|(_, s)| *s).max().unwrap_or(1).max(1);
    let (width, height, gap) = (300.0_f64, 60.0_f64, 2.0_f64);
    let bar = width / recent.len() as f64;
    view! {
        <figure class="run-chart">
            <svg id="run-chart" viewBox=format!("0 0 {width} {height}") role="img"
                aria-label=format!("Durations of the last {} runs; longest {longest} s", recent.len())>
                {recent.iter().enumerate().map(|(i, (r, s))| {
                    let h = ((*s as f64 / longest as f64) * (height - 4.0)).max(2.0);
                    let c = r.counts;
                    view! {
                        <rect class=format!("bar {} {}", r.state, if r.mode == SyncMode::Changed { "changed" } else { "full" })
                            x=format!("{:.1}", i as f64 * bar) y=format!("{:.1}", height - h)
                            width=format!("{:.1}", (bar - gap).max(1.0)) height=format!("{h:.1}")>
                            <title>{format!(
                                "{} {} ({}) {} s: seen {}, added {}, updated {}, removed {}",
                                r.started_at, if r.mode == SyncMode::Changed { "changed" } else { "full" },
                                r.state, s, c.seen, c.added, c.updated, c.disabled + c.deleted
                            )}</title>
                        </rect>
                    }
                }).collect_view()}
            </svg>
            <figcaption class="small muted">{format!("Run durations, last {} runs (longest {longest} s); hover a bar for its counts", recent.len())}</figcaption>
        </figure>
    }
    .into_any()
}

#[component]
fn RunList(runs: Vec<SyncRun>) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="muted">"No sync has run yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="list" id="sync-runs">
                <thead><tr>
                    <th>"Started"</th><th>"Mode"</th><th>"State"</th><th>"Seen"</th><th>"Added"</th><th>"Updated"</th>
                    <th>"Unchanged"</th><th>"Disabled"</th><th>"Deleted"</th><th>"Failed"</th><th>"Groups"</th><th>"Took"</th>
                </tr></thead>
                <tbody>
                    {runs.into_iter().map(|r| {
                        let took = seconds(&r).map(|s| format!("{s} s")).unwrap_or_else(|| "…".into());
                        let c = r.counts;
                        let state = r.state.as_str();
                        let mode = if r.mode == SyncMode::Changed { "changed" } else { "full" };
                        let groups = r.group_counts.map(|g| format!("{} ({} changed)", g.seen, g.added + g.updated + g.deleted)).unwrap_or_default();
                        view! {
                            <tr data-run=r.id.clone() data-state=state data-mode=mode>
                                <td class="small">{r.started_at.replace('T', " ").replace('Z', "")}</td>
                                <td class="small">{mode}<div class="muted">{r.method.as_str()}</div></td>
                                <td>
                                    <span class=format!("badge {state}")>{state}</span>
                                    {r.message.map(|m| view! { <div class="small muted">{m}</div> })}
                                    {(!r.errors.is_empty()).then(|| view! {
                                        <details class="small"><summary>{format!("{} errors", r.errors.len())}</summary>
                                            <ul>{r.errors.into_iter().map(|e| view! { <li><span class="mono">{e.dn}</span>": "{e.message}</li> }).collect_view()}</ul>
                                        </details>
                                    })}
                                    {(!r.changes.is_empty()).then(|| view! {
                                        <details class="small"><summary>{format!("{} changes", r.changes.len())}</summary>
                                            <ul>{r.changes.into_iter().map(|c| view! {
                                                <li>{c.kind.as_str()}" "<span class="mono">{c.username}</span>
                                                    {(!c.attributes.is_empty()).then(|| format!(" ({})", c.attributes.join(", ")))}</li>
                                            }).collect_view()}</ul>
                                        </details>
                                    })}
                                </td>
                                <td>{c.seen}</td><td>{c.added}</td><td>{c.updated}</td><td>{c.unchanged}</td>
                                <td>{c.disabled}</td><td>{c.deleted}</td><td>{c.failed}</td><td class="small">{groups}</td><td>{took}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
