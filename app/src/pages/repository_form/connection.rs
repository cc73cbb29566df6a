//! The "Connection" fieldset: servers, TLS, the bind account and referrals.

use super::fields::{
    check_field, col, enum_parse, enum_str, lines_field, number, opt, password_field, pipe_lines_field, select_field,
    text_field, Errors, FieldError, Form,
};
use crate::model::*;
use leptos::prelude::*;

#[component]
pub fn ConnectionFieldset(form: Form, errors: Errors) -> impl IntoView {
    let referrals_text = form.with_untracked(|initial| {
        initial
            .connection
            .referrals
            .servers
            .iter()
            .map(|s| format!("{} | {}", s.url, s.bind_dn.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("\n")
    });
    view! {
        <fieldset>
            <legend>"Connection"</legend>
            <div class="grid">
                {lines_field(form, errors, "connection.servers", "Servers", "One ldap:// or ldaps:// URL per line, tried in order.", |r| &r.connection.servers, |r| &mut r.connection.servers)}
                <div>
                    {check_field(form, "connection.startTls", "Use StartTLS (ldap:// only)", |r| r.connection.start_tls, |r, v| r.connection.start_tls = v)}
                    {check_field(form, "connection.verifyTls", "Verify the server certificate", |r| r.connection.verify_tls, |r, v| r.connection.verify_tls = v)}
                    <Show when=move || !form.with(|r| r.connection.verify_tls)>
                        <p class="alert error small" id="tls-insecure" role="alert">
                            "Insecure: any server can pose as this directory and read the bind and user passwords sent to it."
                        </p>
                    </Show>
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
                {pipe_lines_field(form, errors, "connection.referrals.servers", "Referral servers", "One per line: url | bind DN (its password below; no bind DN: anonymous)", referrals_text,
                    |r, rows| {
                        let old = std::mem::take(&mut r.connection.referrals.servers);
                        r.connection.referrals.servers = rows.iter().map(|row| {
                            let url = col(row, 0);
                            let kept = old.iter().find(|s| s.url == url);
                            ReferralServer {
                                bind_dn: opt(col(row, 1)),
                                // A password typed below survives edits of the lines.
                                bind_password: kept.and_then(|k| k.bind_password.clone()),
                                bind_password_set: kept.map(|k| k.bind_password_set).unwrap_or(false),
                                url,
                            }
                        }).collect();
                    })}
                <ReferralPasswords form />
            </div>
        </fieldset>
    }
}

/// A write-only password per listed referral server (its own credentials
/// under "Follow listed servers"); empty keeps the stored one.
#[component]
fn ReferralPasswords(form: Form) -> impl IntoView {
    let listed = move || {
        form.with(|r| {
            r.connection
                .referrals
                .servers
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.url.is_empty() && s.bind_dn.is_some())
                .map(|(i, s)| (i, s.url.clone(), s.bind_password_set))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <For each=listed key=|row| row.clone() let:row>
            {
                let (i, url, stored) = row;
                let id = format!("connection.referrals.servers[{i}].bindPassword");
                let label = format!("Bind password for {url}");
                let typed = {
                    let url = url.clone();
                    move || form.with(|r| {
                        r.connection.referrals.servers.iter().find(|s| s.url == url)
                            .and_then(|s| s.bind_password.clone().flatten()).unwrap_or_default()
                    })
                };
                view! {
                    <div class="field">
                        <label for=id.clone()>{label}</label>
                        <input id=id.clone() name=id type="password" autocomplete="new-password"
                            placeholder=if stored { "stored — leave empty to keep" } else { "not set" }
                            prop:value=typed
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                form.update(|r| {
                                    if let Some(s) = r.connection.referrals.servers.iter_mut().find(|s| s.url == url) {
                                        s.bind_password = if v.is_empty() { None } else { Some(Some(v)) };
                                    }
                                })
                            } />
                        <small class="help">"Write-only, like the bind password."</small>
                    </div>
                }
            }
        </For>
    }
}
