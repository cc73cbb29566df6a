//! The form's field helpers, shared by every fieldset: each field reads and
//! writes one path of the repository signal and shows that path's errors.

use crate::error::AppError;
use crate::model::*;
use leptos::prelude::*;

pub(super) type Errors = RwSignal<Option<AppError>>;
pub(super) type Form = RwSignal<Repository>;

/// Drops blank lines the textareas keep while the admin types.
pub(super) fn cleaned(repo: &Repository) -> Repository {
    let mut r = repo.clone();
    let drop_blank = |v: &mut Vec<String>| v.retain(|s| !s.trim().is_empty());
    drop_blank(&mut r.connection.servers);
    drop_blank(&mut r.users.object_classes);
    drop_blank(&mut r.users.filters);
    drop_blank(&mut r.groups.object_classes);
    r.users.attribute_mappings.retain(|m| !(m.attribute.trim().is_empty() && m.ldap_attribute.trim().is_empty()));
    r
}

pub(super) fn lines(v: &[String]) -> String {
    v.join("\n")
}

pub(super) fn split_lines(s: String) -> Vec<String> {
    s.split('\n').map(|l| l.trim_end_matches('\r').to_string()).collect()
}

pub(super) fn opt(s: String) -> Option<String> {
    if s.trim().is_empty() {
        None
    } else {
        Some(s)
    }
}

#[component]
pub(super) fn FieldError(errors: Errors, path: &'static str, #[prop(optional)] prefix: bool) -> impl IntoView {
    let messages = move || {
        errors.with(|e| match e {
            Some(e) if prefix => e.field_messages_under(path),
            Some(e) => e.field_message(path).into_iter().collect(),
            None => Vec::new(),
        })
    };
    move || messages().into_iter().map(|m| view! { <p class="field-error" data-field=path>{m}</p> }).collect_view()
}

pub(super) fn text_field(
    form: Form,
    errors: Errors,
    path: &'static str,
    label: &'static str,
    help: &'static str,
    get: fn(&Repository) -> String,
    set: fn(&mut Repository, String),
) -> AnyView {
    let invalid = move || errors.with(|e| e.as_ref().and_then(|e| e.field_message(path)).is_some());
    view! {
        <div class="field" class:invalid=invalid>
            <label for=path>{label}</label>
            <input
                id=path
                name=path
                value=move || form.with(get)
                prop:value=move || form.with(get)
                on:input=move |ev| form.update(|r| set(r, event_target_value(&ev)))
            />
            {(!help.is_empty()).then(|| view! { <small class="help">{help}</small> })}
            <FieldError errors path />
        </div>
    }
    .into_any()
}

pub(super) fn password_field(form: Form, errors: Errors, path: &'static str, label: &'static str) -> AnyView {
    let is_set = move || form.with(|r| r.connection.bind_password_set);
    let typed = move || form.with(|r| r.connection.bind_password.clone().flatten().unwrap_or_default());
    let clearing = move || form.with(|r| matches!(r.connection.bind_password, Some(None)));
    view! {
        <div class="field">
            <label for=path>{label}</label>
            <input
                id=path
                name=path
                type="password"
                autocomplete="new-password"
                placeholder=move || if is_set() { "stored — leave empty to keep" } else { "not set" }
                prop:value=typed
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    form.update(|r| r.connection.bind_password = if v.is_empty() { None } else { Some(Some(v)) })
                }
            />
            <Show when=is_set>
                <label class="inline">
                    <input
                        type="checkbox"
                        name="clearBindPassword"
                        prop:checked=clearing
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            form.update(|r| r.connection.bind_password = if on { Some(None) } else { None })
                        }
                    />
                    " Clear the stored password"
                </label>
            </Show>
            <small class="help">"Write-only: stored encrypted, never shown again."</small>
            <FieldError errors path />
        </div>
    }
    .into_any()
}

pub(super) fn lines_field(
    form: Form,
    errors: Errors,
    path: &'static str,
    label: &'static str,
    help: &'static str,
    get: fn(&Repository) -> &Vec<String>,
    set: fn(&mut Repository) -> &mut Vec<String>,
) -> AnyView {
    let text = move || form.with(|r| lines(get(r)));
    view! {
        <div class="field">
            <label for=path>{label}</label>
            <textarea
                id=path
                name=path
                rows="3"
                prop:value=text
                on:input=move |ev| form.update(|r| *set(r) = split_lines(event_target_value(&ev)))
            >
                {text()}
            </textarea>
            <small class="help">{help}</small>
            <FieldError errors path prefix=true />
        </div>
    }
    .into_any()
}

pub(super) fn check_field(
    form: Form,
    path: &'static str,
    label: &'static str,
    get: fn(&Repository) -> bool,
    set: fn(&mut Repository, bool),
) -> AnyView {
    view! {
        <label class="check" for=path>
            <input
                type="checkbox"
                id=path
                name=path
                checked=move || form.with(get)
                prop:checked=move || form.with(get)
                on:change=move |ev| form.update(|r| set(r, event_target_checked(&ev)))
            />
            {label}
        </label>
    }
    .into_any()
}

/// A `<select>` over fixed options given as (wire value, label).
pub(super) fn select_field(
    form: Form,
    path: &'static str,
    label: &'static str,
    options: &'static [(&'static str, &'static str)],
    get: fn(&Repository) -> String,
    set: fn(&mut Repository, &str),
) -> AnyView {
    view! {
        <div class="field">
            <label for=path>{label}</label>
            <select id=path name=path on:change=move |ev| form.update(|r| set(r, &event_target_value(&ev)))>
                {options
                    .iter()
                    .map(|(value, text)| {
                        view! {
                            <option value=*value selected=move || form.with(get) == *value>
                                {*text}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </div>
    }
    .into_any()
}

/// The wire name of a unit enum variant. Goes through the JSON text codec the
/// server functions already link, not `serde_json::Value` (smaller wasm).
pub(super) fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).map(|s| s.trim_matches('"').to_string()).unwrap_or_default()
}

pub(super) fn enum_parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::to_string(s).ok().and_then(|quoted| serde_json::from_str(&quoted).ok())
}

pub(super) fn number(s: &str) -> u32 {
    s.trim().parse().unwrap_or(0)
}

/// Assignments and referral servers are edited as "a | b | c" lines; the text
/// is kept as typed and parsed into the form on every keystroke.
pub(super) fn pipe_lines_field(
    form: Form,
    errors: Errors,
    path: &'static str,
    label: &'static str,
    help: &'static str,
    initial: String,
    parse: fn(&mut Repository, Vec<Vec<String>>),
) -> AnyView {
    view! {
        <div class="field">
            <label for=path>{label}</label>
            <textarea
                id=path
                name=path
                rows="2"
                on:input=move |ev| {
                    let rows = event_target_value(&ev)
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
                        .collect();
                    form.update(|r| parse(r, rows))
                }
            >
                {initial}
            </textarea>
            <small class="help">{help}</small>
            <FieldError errors path prefix=true />
        </div>
    }
    .into_any()
}

pub(super) fn col(row: &[String], i: usize) -> String {
    row.get(i).cloned().unwrap_or_default()
}
