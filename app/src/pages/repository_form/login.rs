//! The "Login options" fieldset: what a login through this repository may do.

use super::fields::{check_field, enum_parse, enum_str, select_field, Form};
use leptos::prelude::*;

#[component]
pub fn LoginFieldset(form: Form) -> impl IntoView {
    view! {
        <fieldset>
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
        </fieldset>
    }
}
