//! The "Attribute mapping" fieldset: which directory attribute fills which user field.

use super::fields::{Errors, FieldError, Form};
use crate::model::*;
use leptos::prelude::*;

#[component]
pub fn MappingFieldset(form: Form, errors: Errors) -> impl IntoView {
    view! {
        <fieldset>
            <legend>"Attribute mapping"</legend>
            <MappingEditor form errors />
        </fieldset>
    }
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
