//! The "Assignments" fieldset: user types, user groups and roles by OU or group.

use super::fields::{col, enum_parse, enum_str, pipe_lines_field, Errors, Form};
use crate::model::*;
use leptos::prelude::*;

#[component]
pub fn AssignmentsFieldset(form: Form, errors: Errors) -> impl IntoView {
    let user_types_text = form.with_untracked(|initial| {
        initial
            .assignments
            .user_types
            .iter()
            .map(|a| format!("{} | {}", a.group_id, a.root_node_dn))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let user_groups_text = form.with_untracked(|initial| {
        initial
            .assignments
            .user_groups
            .iter()
            .map(|a| format!("{} | {}", a.group_id, a.root_node_dn))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let roles_text = form.with_untracked(|initial| {
        initial
            .assignments
            .roles
            .iter()
            .map(|a| format!("{} | {} | {}", a.role_id, enum_str(&a.mapping_type), a.group_dn_or_ou))
            .collect::<Vec<_>>()
            .join("\n")
    });
    view! {
        <fieldset>
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
        </fieldset>
    }
}
