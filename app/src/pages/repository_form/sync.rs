//! The "Synchronisation" fieldset: edit mode, import, schedules and the removal policy.

use super::fields::{check_field, enum_parse, enum_str, number, opt, select_field, text_field, Errors, Form};
use leptos::prelude::*;

#[component]
pub fn SyncFieldset(form: Form, errors: Errors) -> impl IntoView {
    view! {
        <fieldset>
            <legend>"Synchronisation"</legend>
            <div class="grid">
                {select_field(form, "sync.editMode", "Edit mode", &[("READ_ONLY", "Read only"), ("WRITABLE", "Writable"), ("UNSYNCED", "Unsynced")],
                    |r| enum_str(&r.sync.edit_mode), |r, v| if let Some(x) = enum_parse(v) { r.sync.edit_mode = x })}
                {text_field(form, errors, "sync.pageSize", "Page size", "Entries per LDAP page (1–10000).", |r| r.sync.page_size.to_string(), |r, v| r.sync.page_size = number(&v))}
                <div>
                    {check_field(form, "sync.importEnabled", "Import users", |r| r.sync.import_enabled, |r, v| r.sync.import_enabled = v)}
                    {check_field(form, "sync.syncRegistrations", "Sync registrations to LDAP", |r| r.sync.sync_registrations, |r, v| r.sync.sync_registrations = v)}
                    {check_field(form, "sync.fullSync.enabled", "Periodic full sync", |r| r.sync.full_sync.enabled, |r, v| r.sync.full_sync.enabled = v)}
                    {check_field(form, "sync.changedSync.enabled", "Periodic changed-users sync", |r| r.sync.changed_sync.enabled, |r, v| r.sync.changed_sync.enabled = v)}
                </div>
                {text_field(form, errors, "sync.fullSync.cron", "Full sync schedule (cron)", "5, 6 or Quartz 7 fields, e.g. 0 45 1 * * ?", |r| r.sync.full_sync.cron.clone().unwrap_or_default(), |r, v| r.sync.full_sync.cron = opt(v))}
                {text_field(form, errors, "sync.changedSync.cron", "Changed sync schedule (cron)", "Or an interval below.", |r| r.sync.changed_sync.cron.clone().unwrap_or_default(), |r, v| r.sync.changed_sync.cron = opt(v))}
                {text_field(form, errors, "sync.changedSync.intervalSeconds", "Changed sync interval (seconds)", "", |r| r.sync.changed_sync.interval_seconds.map(|s| s.to_string()).unwrap_or_default(), |r, v| r.sync.changed_sync.interval_seconds = opt(v).map(|s| number(&s)))}
                {select_field(form, "sync.deletion.policy", "Users gone from LDAP", &[("disable", "Disable them"), ("delete", "Delete them")],
                    |r| enum_str(&r.sync.deletion.policy), |r, v| if let Some(x) = enum_parse(v) { r.sync.deletion.policy = x })}
                {text_field(form, errors, "sync.deletion.maxDeletePercent", "Max removals per run (%)", "A run that would remove more stops and removes nobody.", |r| r.sync.deletion.max_delete_percent.to_string(), |r, v| r.sync.deletion.max_delete_percent = number(&v))}
            </div>
        </fieldset>
    }
}
