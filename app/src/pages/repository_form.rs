//! Create / edit form of a repository, with test connection, preview and delete.
//!
//! The whole repository lives in one signal; the form is never reset when the
//! server rejects it, so the admin's input is kept and each field shows its
//! own error next to it.

use crate::api::{
    create_repository, delete_repository, get_repository, preview_users, replace_repository, test_connection,
};
use crate::error::AppError;
use crate::model::*;
use crate::pages::layout::{ErrorBox, Shell};
use crate::presets::{apply_preset, new_repository};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn NewRepositoryPage() -> impl IntoView {
    view! {
        <Title text="New repository · dirbridge" />
        <Shell>
            <h1>"New repository"</h1>
            <RepositoryForm initial=new_repository(Vendor::OpenLdap) stored_id=None />
        </Shell>
    }
}

#[component]
pub fn EditRepositoryPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let repo = Resource::new(id, get_repository);
    view! {
        <Title text="Repository · dirbridge" />
        <Shell>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || repo.get().map(|result| match result {
                    Ok(r) => {
                        let id = r.id.clone();
                        view! {
                            <h1>{r.name.clone()}<span class="muted small">" · "{id.clone()}</span></h1>
                            <crate::pages::sync_panel::SyncPanel id=id.clone() />
                            <RepositoryForm initial=r stored_id=Some(id) />
                        }.into_any()
                    }
                    Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                })}
            </Transition>
        </Shell>
    }
}

type Errors = RwSignal<Option<AppError>>;
type Form = RwSignal<Repository>;

/// Drops blank lines the textareas keep while the admin types.
fn cleaned(repo: &Repository) -> Repository {
    let mut r = repo.clone();
    let drop_blank = |v: &mut Vec<String>| v.retain(|s| !s.trim().is_empty());
    drop_blank(&mut r.connection.servers);
    drop_blank(&mut r.users.object_classes);
    drop_blank(&mut r.users.filters);
    drop_blank(&mut r.groups.object_classes);
    r.users.attribute_mappings.retain(|m| !(m.attribute.trim().is_empty() && m.ldap_attribute.trim().is_empty()));
    r
}

fn lines(v: &[String]) -> String {
    v.join("\n")
}

fn split_lines(s: String) -> Vec<String> {
    s.split('\n').map(|l| l.trim_end_matches('\r').to_string()).collect()
}

fn opt(s: String) -> Option<String> {
    if s.trim().is_empty() {
        None
    } else {
        Some(s)
    }
}

#[component]
fn FieldError(errors: Errors, path: &'static str, #[prop(optional)] prefix: bool) -> impl IntoView {
    let messages = move || {
        errors.with(|e| match e {
            Some(e) if prefix => e.field_messages_under(path),
            Some(e) => e.field_message(path).into_iter().collect(),
            None => Vec::new(),
        })
    };
    move || messages().into_iter().map(|m| view! { <p class="field-error" data-field=path>{m}</p> }).collect_view()
}

fn text_field(
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

fn password_field(form: Form, errors: Errors, path: &'static str, label: &'static str) -> AnyView {
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

fn lines_field(
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

fn check_field(
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
fn select_field(
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
fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).map(|s| s.trim_matches('"').to_string()).unwrap_or_default()
}

fn enum_parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::to_string(s).ok().and_then(|quoted| serde_json::from_str(&quoted).ok())
}

fn number(s: &str) -> u32 {
    s.trim().parse().unwrap_or(0)
}

/// Assignments and referral servers are edited as "a | b | c" lines; the text
/// is kept as typed and parsed into the form on every keystroke.
fn pipe_lines_field(
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

fn col(row: &[String], i: usize) -> String {
    row.get(i).cloned().unwrap_or_default()
}

#[component]
fn MappingEditor(form: Form, errors: Errors) -> impl IntoView {
    let count = move || form.with(|r| r.users.attribute_mappings.len());
    let cell = move |i: usize, ldap: bool| {
        move || {
            form.with(|r| {
                r.users
                    .attribute_mappings
                    .get(i)
                    .map(|m| if ldap { m.ldap_attribute.clone() } else { m.attribute.clone() })
                    .unwrap_or_default()
            })
        }
    };
    let set_cell = move |i: usize, ldap: bool, v: String| {
        form.update(|r| {
            if let Some(m) = r.users.attribute_mappings.get_mut(i) {
                if ldap {
                    m.ldap_attribute = v
                } else {
                    m.attribute = v
                }
            }
        })
    };
    view! {
        <datalist id="mappable-attributes">
            {MAPPABLE_ATTRIBUTES.iter().map(|a| view! { <option value=*a /> }).collect_view()}
            <option value="attributes." />
        </datalist>
        <div class="table-wrap">
            <table class="mappings">
                <thead><tr><th>"User attribute"</th><th>"LDAP attribute"</th><th></th></tr></thead>
                <tbody>
                    {move || {
                        (0..count())
                            .map(|i| {
                                let path_a = format!("users.attributeMappings[{i}].attribute");
                                let path_l = format!("users.attributeMappings[{i}].ldapAttribute");
                                view! {
                                    <tr>
                                        <td>
                                            <input list="mappable-attributes" name=path_a.clone() aria-label="User attribute"
                                                value=cell(i, false) prop:value=cell(i, false)
                                                on:input=move |ev| set_cell(i, false, event_target_value(&ev)) />
                                        </td>
                                        <td>
                                            <input name=path_l.clone() aria-label="LDAP attribute"
                                                value=cell(i, true) prop:value=cell(i, true)
                                                on:input=move |ev| set_cell(i, true, event_target_value(&ev)) />
                                        </td>
                                        <td>
                                            <button type="button" class="link" on:click=move |_| form.update(|r| {
                                                if i < r.users.attribute_mappings.len() { r.users.attribute_mappings.remove(i); }
                                            })>"Remove"</button>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </div>
        <button type="button" class="secondary" on:click=move |_| form.update(|r| r.users.attribute_mappings.push(AttributeMapping::default()))>
            "Add mapping"
        </button>
        <FieldError errors path="users.attributeMappings" prefix=true />
    }
}

#[component]
pub fn RepositoryForm(initial: Repository, stored_id: Option<String>) -> impl IntoView {
    let user_types_text = initial
        .assignments
        .user_types
        .iter()
        .map(|a| format!("{} | {}", a.group_id, a.root_node_dn))
        .collect::<Vec<_>>()
        .join("\n");
    let user_groups_text = initial
        .assignments
        .user_groups
        .iter()
        .map(|a| format!("{} | {}", a.group_id, a.root_node_dn))
        .collect::<Vec<_>>()
        .join("\n");
    let roles_text = initial
        .assignments
        .roles
        .iter()
        .map(|a| format!("{} | {} | {}", a.role_id, enum_str(&a.mapping_type), a.group_dn_or_ou))
        .collect::<Vec<_>>()
        .join("\n");
    let referrals_text = initial
        .connection
        .referrals
        .servers
        .iter()
        .map(|s| format!("{} | {}", s.url, s.bind_dn.clone().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n");

    let form: Form = RwSignal::new(initial);
    let stored = RwSignal::new(stored_id);
    let errors: Errors = RwSignal::new(None);
    let notice = RwSignal::new(None::<String>);
    let navigate = use_navigate();

    let save = Action::new(move |repo: &Repository| {
        let repo = cleaned(repo);
        let stored = stored.get_untracked();
        async move {
            match stored {
                Some(id) => replace_repository(id, repo).await,
                None => create_repository(repo).await,
            }
        }
    });
    Effect::new(move |_| {
        if let Some(result) = save.value().get() {
            match result {
                Ok(saved) => {
                    errors.set(None);
                    notice
                        .set(Some(format!("Saved (version {})", saved.meta.as_ref().map(|m| m.version).unwrap_or(0))));
                    let was_new = stored.get_untracked().is_none();
                    let id = saved.id.clone();
                    form.set(saved);
                    stored.set(Some(id.clone()));
                    if was_new {
                        navigate(&format!("/repositories/{id}"), Default::default());
                    }
                }
                Err(e) => {
                    notice.set(None);
                    errors.set(Some(e));
                }
            }
        }
    });

    let login_user = RwSignal::new(String::new());
    let login_password = RwSignal::new(String::new());
    let test = Action::new(move |repo: &Repository| {
        let repo = cleaned(repo);
        let stored = stored.get_untracked();
        let login =
            TestLogin { username: opt(login_user.get_untracked()), password: opt(login_password.get_untracked()) };
        test_connection(repo, stored, login)
    });
    let preview = Action::new(move |repo: &Repository| {
        let repo = cleaned(repo);
        let stored = stored.get_untracked();
        preview_users(repo, stored)
    });

    let confirming_delete = RwSignal::new(false);
    let navigate_after_delete = use_navigate();
    let delete = Action::new(move |id: &String| delete_repository(id.clone()));
    Effect::new(move |_| {
        if let Some(result) = delete.value().get() {
            match result {
                Ok(()) => navigate_after_delete("/", Default::default()),
                Err(e) => errors.set(Some(e)),
            }
        }
    });

    let general_error = move || errors.get().map(|e| view! { <ErrorBox error=e /> });

    view! {
        <form class="repo-form" on:submit=move |ev| {
            ev.prevent_default();
            save.dispatch(form.get_untracked());
        }>
            {general_error}
            {move || notice.get().map(|n| view! { <div class="alert ok" role="status">{n}</div> })}

            {view! { <fieldset>
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
            </fieldset> }.into_any()}

            {view! { <fieldset>
                <legend>"Connection"</legend>
                <div class="grid">
                    {lines_field(form, errors, "connection.servers", "Servers", "One ldap:// or ldaps:// URL per line, tried in order.", |r| &r.connection.servers, |r| &mut r.connection.servers)}
                    <div>
                        {check_field(form, "connection.startTls", "Use StartTLS (ldap:// only)", |r| r.connection.start_tls, |r, v| r.connection.start_tls = v)}
                        {check_field(form, "connection.verifyTls", "Verify the server certificate", |r| r.connection.verify_tls, |r, v| r.connection.verify_tls = v)}
                        <FieldError errors path="connection.startTls" />
                    </div>
                    <div class="field wide">
                        <label for="connection.caCertificate">"CA certificate (PEM)"</label>
                        <textarea id="connection.caCertificate" name="connection.caCertificate" rows="3" placeholder="-----BEGIN CERTIFICATE-----"
                            prop:value=move || form.with(|r| r.connection.ca_certificate.clone().unwrap_or_default())
                            on:input=move |ev| form.update(|r| r.connection.ca_certificate = opt(event_target_value(&ev)))>
                            {form.with_untracked(|r| r.connection.ca_certificate.clone().unwrap_or_default())}
                        </textarea>
                        <small class="help">"Trusted in addition to the system roots, for LDAPS and StartTLS."</small>
                        <FieldError errors path="connection.caCertificate" />
                    </div>
                    {select_field(form, "connection.bindType", "Bind type", &[("simple", "Simple (DN and password)"), ("none", "Anonymous")],
                        |r| enum_str(&r.connection.bind_type), |r, v| if let Some(x) = enum_parse(v) { r.connection.bind_type = x })}
                    {text_field(form, errors, "connection.bindDn", "Bind DN", "e.g. cn=admin,dc=example,dc=org", |r| r.connection.bind_dn.clone().unwrap_or_default(), |r, v| r.connection.bind_dn = opt(v))}
                    {password_field(form, errors, "connection.bindPassword", "Bind password")}
                    {text_field(form, errors, "connection.timeoutSeconds", "Timeout (seconds)", "", |r| r.connection.timeout_seconds.to_string(), |r, v| r.connection.timeout_seconds = number(&v))}
                    {select_field(form, "connection.referrals.strategy", "Referrals", &[("followNone", "Do not follow"), ("followAll", "Follow all"), ("followListed", "Follow listed servers")],
                        |r| enum_str(&r.connection.referrals.strategy), |r, v| if let Some(x) = enum_parse(v) { r.connection.referrals.strategy = x })}
                    {pipe_lines_field(form, errors, "connection.referrals.servers", "Referral servers", "One per line: url | bind DN", referrals_text,
                        |r, rows| {
                            let old = std::mem::take(&mut r.connection.referrals.servers);
                            r.connection.referrals.servers = rows.iter().map(|row| {
                                let url = col(row, 0);
                                let kept = old.iter().find(|s| s.url == url);
                                ReferralServer { bind_dn: opt(col(row, 1)), bind_password: None, bind_password_set: kept.map(|k| k.bind_password_set).unwrap_or(false), url }
                            }).collect();
                        })}
                </div>
            </fieldset> }.into_any()}

            {view! { <fieldset>
                <legend>"Users"</legend>
                <div class="grid">
                    {text_field(form, errors, "users.baseDn", "Base DN", "e.g. dc=example,dc=org", |r| r.users.base_dn.clone(), |r, v| r.users.base_dn = v)}
                    {text_field(form, errors, "users.usersDn", "Users DN", "Where users live; defaults to the base DN.", |r| r.users.users_dn.clone().unwrap_or_default(), |r, v| r.users.users_dn = opt(v))}
                    {select_field(form, "users.scope", "Search scope", &[("subtree", "Subtree"), ("one", "One level")],
                        |r| enum_str(&r.users.scope), |r, v| if let Some(x) = enum_parse(v) { r.users.scope = x })}
                    {lines_field(form, errors, "users.objectClasses", "User object classes", "One per line; all must match.", |r| &r.users.object_classes, |r| &mut r.users.object_classes)}
                    {lines_field(form, errors, "users.filters", "Additional filters", "One LDAP filter per line, e.g. (department=Sales); ANDed.", |r| &r.users.filters, |r| &mut r.users.filters)}
                    {text_field(form, errors, "users.usernameAttribute", "Username attribute", "", |r| r.users.username_attribute.clone(), |r, v| r.users.username_attribute = v)}
                    {text_field(form, errors, "users.rdnAttribute", "RDN attribute", "", |r| r.users.rdn_attribute.clone(), |r, v| r.users.rdn_attribute = v)}
                    {text_field(form, errors, "users.uuidAttribute", "UUID attribute", "Stable id: entryUUID, objectGUID, nsUniqueId.", |r| r.users.uuid_attribute.clone(), |r, v| r.users.uuid_attribute = v)}
                    {text_field(form, errors, "users.accountStatusAttribute", "Account status attribute", "Marks disabled accounts (optional).", |r| r.users.account_status_attribute.clone().unwrap_or_default(), |r, v| r.users.account_status_attribute = opt(v))}
                </div>
            </fieldset> }.into_any()}

            {view! { <fieldset>
                <legend>"Attribute mapping"</legend>
                <MappingEditor form errors />
            </fieldset> }.into_any()}

            {view! { <fieldset>
                <legend>"Groups"</legend>
                <div class="grid">
                    {text_field(form, errors, "groups.groupsDn", "Groups DN", "Leave empty to skip groups.", |r| r.groups.groups_dn.clone().unwrap_or_default(), |r, v| r.groups.groups_dn = opt(v))}
                    {lines_field(form, errors, "groups.objectClasses", "Group object classes", "One per line.", |r| &r.groups.object_classes, |r| &mut r.groups.object_classes)}
                    {text_field(form, errors, "groups.nameAttribute", "Group name attribute", "", |r| r.groups.name_attribute.clone(), |r, v| r.groups.name_attribute = v)}
                    {select_field(form, "groups.memberAttribute", "Member attribute", &[("member", "member (DN)"), ("uniqueMember", "uniqueMember (DN)"), ("memberUid", "memberUid (username)")],
                        |r| r.groups.member_attribute.as_str().to_string(), |r, v| if let Some(x) = enum_parse(v) { r.groups.member_attribute = x })}
                    {text_field(form, errors, "groups.membershipAttribute", "Membership attribute on users", "e.g. memberOf (optional).", |r| r.groups.membership_attribute.clone().unwrap_or_default(), |r, v| r.groups.membership_attribute = opt(v))}
                </div>
            </fieldset> }.into_any()}

            {view! { <fieldset>
                <legend>"Assignments"</legend>
                <div class="grid">
                    {pipe_lines_field(form, errors, "assignments.userTypes", "User types", "One per line: user type id | root node DN", user_types_text,
                        |r, rows| r.assignments.user_types = rows.iter().map(|row| GroupAssignment { group_id: col(row, 0), root_node_dn: col(row, 1) }).collect())}
                    {pipe_lines_field(form, errors, "assignments.userGroups", "User groups", "One per line: user group id | root node DN", user_groups_text,
                        |r, rows| r.assignments.user_groups = rows.iter().map(|row| GroupAssignment { group_id: col(row, 0), root_node_dn: col(row, 1) }).collect())}
                    {pipe_lines_field(form, errors, "assignments.roles", "Roles", "One per line: role id | OU or GROUP | DN. Role id admin marks admins.", roles_text,
                        |r, rows| r.assignments.roles = rows.iter().map(|row| RoleAssignment {
                            role_id: col(row, 0),
                            mapping_type: enum_parse(&col(row, 1).to_uppercase()).unwrap_or_default(),
                            group_dn_or_ou: col(row, 2),
                        }).collect())}
                </div>
            </fieldset> }.into_any()}

            {view! { <fieldset>
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
            </fieldset> }.into_any()}

            {view! { <fieldset>
                <legend>"Login options"</legend>
                <div class="grid">
                    <div>
                        {check_field(form, "login.isLinkingAllowed", "Linking allowed", |r| r.login.is_linking_allowed, |r, v| r.login.is_linking_allowed = v)}
                        {check_field(form, "login.isCreationAllowed", "Creation allowed", |r| r.login.is_creation_allowed, |r, v| r.login.is_creation_allowed = v)}
                        {check_field(form, "login.isAutoCreation", "Create users on first login", |r| r.login.is_auto_creation, |r, v| r.login.is_auto_creation = v)}
                        {check_field(form, "login.isAutoUpdate", "Update users on login", |r| r.login.is_auto_update, |r, v| r.login.is_auto_update = v)}
                    </div>
                    {select_field(form, "login.autoLinking", "Auto-linking", &[("AUTO_LINKING_OPTION_UNSPECIFIED", "Unspecified"), ("AUTO_LINKING_OPTION_USERNAME", "By username"), ("AUTO_LINKING_OPTION_EMAIL", "By email")],
                        |r| enum_str(&r.login.auto_linking), |r, v| if let Some(x) = enum_parse(v) { r.login.auto_linking = x })}
                </div>
            </fieldset> }.into_any()}

            <div class="actions">
                <button type="submit" class="primary" id="save" disabled=move || save.pending().get()>
                    {move || if save.pending().get() { "Saving…" } else { "Save" }}
                </button>
                <button type="button" class="secondary" id="test" on:click=move |_| { test.dispatch(form.get_untracked()); }>
                    {move || if test.pending().get() { "Testing…" } else { "Test connection" }}
                </button>
                <button type="button" class="secondary" id="preview" on:click=move |_| { preview.dispatch(form.get_untracked()); }>
                    {move || if preview.pending().get() { "Loading…" } else { "Preview users" }}
                </button>
                <Show when=move || stored.get().is_some()>
                    <button type="button" class="danger" id="delete" on:click=move |_| confirming_delete.set(true)>"Delete…"</button>
                </Show>
            </div>
        </form>

        <Show when=move || confirming_delete.get()>
            <div class="confirm" role="alertdialog" aria-labelledby="confirm-title">
                <p id="confirm-title">
                    <strong>"Delete this repository?"</strong>
                    " Its users are deprovisioned in the background and can no longer sign in."
                </p>
                <button type="button" class="secondary" on:click=move |_| confirming_delete.set(false)>"Cancel"</button>
                <button type="button" class="danger" id="confirm-delete"
                    on:click=move |_| { if let Some(id) = stored.get_untracked() { delete.dispatch(id); } }>
                    "Delete"
                </button>
            </div>
        </Show>

        <section class="panel">
            <h2>"Test connection"</h2>
            <p class="muted small">"Runs against the form as it is now, saved or not. Optionally try a directory user's login:"</p>
            <div class="grid">
                <div class="field">
                    <label for="test-username">"Test username"</label>
                    <input id="test-username" prop:value=move || login_user.get() on:input=move |ev| login_user.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="test-password">"Test password"</label>
                    <input id="test-password" type="password" autocomplete="off" prop:value=move || login_password.get() on:input=move |ev| login_password.set(event_target_value(&ev)) />
                </div>
            </div>
            {move || test.value().get().map(|result| match result {
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                Ok(t) => view! { <TestReport result=t /> }.into_any(),
            })}
        </section>

        <section class="panel">
            <h2>"Preview"</h2>
            {move || preview.value().get().map(|result| match result {
                Err(e) => view! { <ErrorBox error=e /> }.into_any(),
                Ok(p) => view! { <PreviewTable preview=p /> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn TestReport(result: TestResult) -> impl IntoView {
    view! {
        <div class="test-report" data-ok=result.ok.to_string()>
            <p class=if result.ok { "alert ok" } else { "alert error" }>
                {if result.ok { "All steps passed." } else { "The connection test failed." }}
            </p>
            <ol class="steps">
                {result.steps.into_iter().map(|s| { let step = s.name.clone(); view! {
                    <li class=if s.ok { "step ok" } else { "step fail" } data-step=step>
                        <span class="icon">{if s.ok { "✔" } else { "✘" }}</span>
                        <strong>{s.name}</strong>
                        <span class="muted small">{format!(" {} ms", s.millis)}</span>
                        <div class="detail">{s.detail}</div>
                    </li>
                }}).collect_view()}
            </ol>
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
fn PreviewTable(preview: Preview) -> impl IntoView {
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
