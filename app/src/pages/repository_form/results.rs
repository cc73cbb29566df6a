//! What the form shows after a connection test or a preview.

use crate::model::*;
use crate::pages::test_login::StepList;
use leptos::prelude::*;

#[component]
pub(super) fn TestReport(result: TestResult) -> impl IntoView {
    view! {
        <div class="test-report" data-ok=result.ok.to_string()>
            <p class=if result.ok { "alert ok" } else { "alert error" }>
                {if result.ok { "All steps passed." } else { "The connection test failed." }}
            </p>
            <StepList steps=result.steps />
            {result.server.map(|info| view! {
                <div class="server-info">
                    <p>
                        "Detected: " <strong data-detected-vendor=info.detected_vendor.as_str()>{info.detected_vendor.label()}</strong>
                        {info.vendor_name.map(|n| format!(" — {n}"))}
                        {info.vendor_version.map(|v| format!(" {v}"))}
                    </p>
                    <p class="small">"Naming contexts: " <span class="mono">{info.naming_contexts.join(", ")}</span></p>
                    <details>
                        <summary>{format!("{} supported controls", info.supported_controls.len())}</summary>
                        <ul class="small mono">{info.supported_controls.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
                    </details>
                </div>
            })}
        </div>
    }
}

#[component]
pub(super) fn PreviewTable(preview: Preview) -> impl IntoView {
    let count = preview.users.len();
    view! {
        <p class="muted small">{format!("First {count} users the configuration would import (nothing stored).")}</p>
        {(!preview.errors.is_empty()).then(|| view! {
            <ul class="alert error">{preview.errors.iter().map(|e| view! { <li>{e.clone()}</li> }).collect_view()}</ul>
        })}
        <div class="table-wrap">
            <table class="list" id="preview-table">
                <thead><tr><th>"Username"</th><th>"Name"</th><th>"Email"</th><th>"Enabled"</th><th>"Roles"</th><th>"DN"</th></tr></thead>
                <tbody>
                    {preview.users.into_iter().map(|u| view! {
                        <tr>
                            <td>{u.username}</td>
                            <td>{u.display_name.or_else(|| Some(format!("{} {}", u.first_name.unwrap_or_default(), u.last_name.unwrap_or_default()))).unwrap_or_default()}</td>
                            <td>{u.email.unwrap_or_default()}</td>
                            <td>{if u.enabled { "yes" } else { "disabled" }}</td>
                            <td>{u.roles.join(", ")}</td>
                            <td class="mono small">{u.ldap_dn}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
