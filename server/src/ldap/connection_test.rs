//! The step-by-step connection test: connect, TLS, bind, base DN, users,
//! and a directory user's login when one is given.

use super::{
    bind, connect, describe_ldap_error, millis, referral, scope_of, timeout_of, users_query, ConnectFailure, Secrets,
};
use crate::entry::EntryAttributes;
use crate::filter;
use crate::ldap::rootdse;
use crate::ldap_url::ServerUrl;
use app::model::{Repository, ServerInfo, TestLogin, TestResult, TestStep};
use ldap3::{Ldap, LdapError, Scope, SearchEntry};
use std::time::Instant;

async fn dn_exists(ldap: &mut Ldap, repo: &Repository, dn: &str) -> Result<(), String> {
    let res = ldap
        .with_timeout(timeout_of(repo))
        .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .map_err(|e| describe_ldap_error(&e))?;
    let ldap3::SearchResult(entries, result) = res;
    if result.rc == 32 {
        let matched = if result.matched.is_empty() {
            String::new()
        } else {
            format!(" (the closest existing entry is {})", result.matched)
        };
        return Err(format!("{dn} does not exist on the server{matched}"));
    }
    if result.rc != 0 {
        return Err(format!("{dn}: {}", describe_ldap_error(&LdapError::LdapResult { result })));
    }
    if entries.is_empty() {
        return Err(format!("{dn} is not visible to the bind user"));
    }
    Ok(())
}

async fn read_root_dse(ldap: &mut Ldap, repo: &Repository, url: &str) -> Option<ServerInfo> {
    let res = ldap
        .with_timeout(timeout_of(repo))
        .search("", Scope::Base, "(objectClass=*)", rootdse::ROOT_DSE_ATTRS.to_vec())
        .await
        .ok()?;
    let entry = res.0.into_iter().next().map(SearchEntry::construct)?;
    let attrs = entry.attrs;
    Some(ServerInfo {
        url: url.to_string(),
        detected_vendor: rootdse::detect_vendor(&attrs),
        vendor_name: rootdse::first(&attrs, "vendorName"),
        vendor_version: rootdse::first(&attrs, "vendorVersion"),
        naming_contexts: rootdse::all(&attrs, "namingContexts"),
        supported_controls: rootdse::all(&attrs, "supportedControl")
            .iter()
            .map(|c| rootdse::control_label(c))
            .collect(),
    })
}

struct Steps(Vec<TestStep>);

impl Steps {
    fn push(&mut self, name: &str, ok: bool, millis: u64, detail: impl Into<String>) -> bool {
        self.0.push(TestStep { name: name.into(), ok, millis, detail: detail.into() });
        ok
    }
    fn done(self, server: Option<ServerInfo>) -> TestResult {
        TestResult { ok: self.0.iter().all(|s| s.ok), steps: self.0, server }
    }
}

/// The connection test of docs/api.md: connect, tls, bind, baseDn, users, login.
pub async fn test_connection(repo: &Repository, secrets: &Secrets, login: &TestLogin) -> TestResult {
    let mut steps = Steps(Vec::new());
    let uses_tls =
        repo.connection.start_tls || repo.connection.servers.iter().any(|s| ServerUrl::parse(s).is_ok_and(|u| u.tls));
    let started = Instant::now();
    let mut conn = match connect(repo).await {
        Ok(c) => c,
        Err((failure, skipped)) => {
            let all = skipped.join("; ");
            match failure {
                ConnectFailure::Connect(_) => {
                    steps.push("connect", false, millis(started), format!("no server could be reached: {all}"));
                }
                ConnectFailure::Tls(m) => {
                    steps.push("connect", true, millis(started), "TCP connection established");
                    steps.push("tls", false, millis(started), m);
                }
            }
            return steps.done(None);
        }
    };
    let connect_detail = if conn.skipped.is_empty() {
        format!("connected to {}", conn.url)
    } else {
        format!("connected to {} after the earlier server(s) failed: {}", conn.url, conn.skipped.join("; "))
    };
    steps.push("connect", true, conn.connect_millis, connect_detail);
    if uses_tls {
        steps.push(
            "tls",
            true,
            conn.tls_millis,
            conn.tls.clone().unwrap_or_else(|| "not encrypted (ldap:// without StartTLS)".into()),
        );
    }

    let t = Instant::now();
    let bound = bind(&mut conn.ldap, repo, secrets).await;
    let bind_ok = match bound {
        Ok(d) => steps.push("bind", true, millis(t), d),
        Err(e) => steps.push("bind", false, millis(t), e),
    };
    let server = read_root_dse(&mut conn.ldap, repo, &conn.url).await;
    if !bind_ok {
        return steps.done(server);
    }

    let t = Instant::now();
    let mut base_check = dn_exists(&mut conn.ldap, repo, &repo.users.base_dn).await;
    let users_dn = repo.users.effective_users_dn().to_string();
    if base_check.is_ok() && crate::dn::normalize(&users_dn) != crate::dn::normalize(&repo.users.base_dn) {
        base_check = dn_exists(&mut conn.ldap, repo, &users_dn).await;
    }
    match base_check {
        Ok(()) => steps.push("baseDn", true, millis(t), format!("{} exists", repo.users.base_dn)),
        Err(e) => {
            return {
                steps.push("baseDn", false, millis(t), e);
                steps.done(server)
            }
        }
    };

    let t = Instant::now();
    const FIRST_PAGE: usize = 100;
    let mut query = users_query(repo, repo.users.effective_users_dn(), scope_of(repo), None, FIRST_PAGE + 1);
    query.attrs = vec![repo.users.username_attribute.clone()];
    let found = referral::search(&mut conn.ldap, repo, secrets, &query).await;
    let found = found.map_err(|e| e.to_string()).map(|g| g.entries.into_iter().map(|(e, _)| e).collect::<Vec<_>>());
    match found {
        Ok(entries) if entries.is_empty() => {
            steps.push(
                "users",
                false,
                millis(t),
                format!(
                    "no entries match {} under {}; check the object classes, filters and users DN",
                    filter::user_filter(&repo.users.object_classes, &repo.users.filters, None),
                    users_dn
                ),
            );
        }
        Ok(entries) => {
            let count =
                if entries.len() > FIRST_PAGE { format!("more than {FIRST_PAGE}") } else { entries.len().to_string() };
            let sample: Vec<String> = entries
                .iter()
                .take(5)
                .map(|e| e.first(&repo.users.username_attribute).unwrap_or(&e.dn).to_string())
                .collect();
            steps.push("users", true, millis(t), format!("{count} users match, e.g. {}", sample.join(", ")));
        }
        Err(e) => {
            steps.push("users", false, millis(t), format!("searching users failed: {e}"));
        }
    }

    if let (Some(user), Some(password)) =
        (login.username.as_deref().filter(|u| !u.is_empty()), login.password.as_deref())
    {
        let t = Instant::now();
        match super::login::try_login(&mut conn.ldap, repo, secrets, user, password).await {
            Ok(dn) => steps.push("login", true, millis(t), format!("{user} signed in as {dn}")),
            Err(e) => steps.push("login", false, millis(t), e),
        };
    }
    let _ = conn.ldap.unbind().await;
    steps.done(server)
}
