//! The "Groups" fieldset: where the groups are and how members are named.

use super::fields::{enum_parse, lines_field, opt, select_field, text_field, Errors, Form};
use leptos::prelude::*;

#[component]
pub fn GroupsFieldset(form: Form, errors: Errors) -> impl IntoView {
    view! {
        <fieldset>
            <legend>"Groups"</legend>
            <div class="grid">
                {text_field(form, errors, "groups.groupsDn", "Groups DN", "Leave empty to skip groups.", |r| r.groups.groups_dn.clone().unwrap_or_default(), |r, v| r.groups.groups_dn = opt(v))}
                {lines_field(form, errors, "groups.objectClasses", "Group object classes", "One per line.", |r| &r.groups.object_classes, |r| &mut r.groups.object_classes)}
                {text_field(form, errors, "groups.nameAttribute", "Group name attribute", "", |r| r.groups.name_attribute.clone(), |r, v| r.groups.name_attribute = v)}
                {select_field(form, "groups.memberAttribute", "Member attribute", &[("member", "member (DN)"), ("uniqueMember", "uniqueMember (DN)"), ("memberUid", "memberUid (username)")],
                    |r| r.groups.member_attribute.as_str().to_string(), |r, v| if let Some(x) = enum_parse(v) { r.groups.member_attribute = x })}
                {text_field(form, errors, "groups.membershipAttribute", "Membership attribute on users", "e.g. memberOf (optional).", |r| r.groups.membership_attribute.clone().unwrap_or_default(), |r, v| r.groups.membership_attribute = opt(v))}
            </div>
        </fieldset>
    }
}
