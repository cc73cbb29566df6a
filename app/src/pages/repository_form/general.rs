//! The "General" fieldset: the repository's name, id, priority and vendor preset.

use super::fields::{check_field, text_field, Errors, Form};
use crate::model::*;
use crate::presets::apply_preset;
use leptos::prelude::*;

#[component]
pub fn GeneralFieldset(form: Form, errors: Errors, stored: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <fieldset>
            <legend>"General"</legend>
            <div class="preset-bar">
                <span>"Vendor preset:"</span>
                {Vendor::ALL.into_iter().map(|v| view! {
                    <button type="button" class="chip" class:active=move || form.with(|r| r.vendor == v)
                        data-preset=v.as_str()
                        on:click=move |_| form.update(|r| apply_preset(r, v))>{v.label()}</button>
                }).collect_view()}
            </div>
            <div class="grid">
                {text_field(form, errors, "name", "Name", "Shown to admins.", |r| r.name.clone(), |r, v| r.name = v)}
                {move || stored.get().is_none().then(|| text_field(form, errors, "id", "Id", "Letters, digits, . _ -; generated when empty.", |r| r.id.clone(), |r, v| r.id = v))}
                {text_field(form, errors, "priority", "Priority", "Lower is tried first.", |r| r.priority.to_string(), |r, v| r.priority = v.trim().parse().unwrap_or(0))}
                {check_field(form, "enabled", "Enabled", |r| r.enabled, |r, v| r.enabled = v)}
            </div>
        </fieldset>
    }
}
