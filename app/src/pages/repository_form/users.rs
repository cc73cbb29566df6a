//! The "Users" fieldset: where the users are and how they are recognised.

use super::fields::{enum_parse, enum_str, lines_field, opt, select_field, text_field, Errors, Form};
use leptos::prelude::*;

#[component]
pub fn UsersFieldset(form: Form, errors: Errors) -> impl IntoView {
    view! {
        <fieldset>
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
        </fieldset>
    }
}
