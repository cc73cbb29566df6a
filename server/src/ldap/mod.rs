//! LDAP I/O with ldap3: opening connections (servers in order, TLS with the
//! repository's CA), the step-by-step connection test and the preview.

pub mod content_sync;
pub mod entry;
pub mod paged;
pub mod range;
pub mod rootdse;
pub mod tls;

use crate::entry::{Entry, EntryAttributes};
use crate::filter;
use crate::ldap_url::{parse_pem_certificates, ServerUrl};
use app::model::{BindType, Repository, Scope as UserScope, ServerInfo, TestLogin, TestResult, TestStep};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions, StdStream};
use std::time::{Duration, Instant};

/// Secrets of a repository in clear, only in memory and only while used.
#[derive(Clone, Default)]
pub struct Secrets {
    pub bind_password: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(redacted)")
    }
}

/// Why a connection could not be used, and at which stage.
#[derive(Debug, Clone)]
pub enum ConnectFailure {
    Connect(String),
    Tls(String),
}

impl ConnectFailure {
    pub fn into_message(self) -> String {
        match self {
            ConnectFailure::Connect(m) | ConnectFailure::Tls(m) => m,
        }
    }
}

/// An open, not yet bound connection.
pub struct Connected {
    pub ldap: Ldap,
    pub url: String,
    pub tls: Option<String>,
    /// Earlier servers that failed, with the reason.
    pub skipped: Vec<String>,
    pub connect_millis: u64,
    pub tls_millis: u64,
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

pub(crate) fn timeout_of(repo: &Repository) -> Duration {
    Duration::from_secs(repo.connection.timeout_seconds.clamp(1, 300) as u64)
}

async fn tcp_connect(url: &ServerUrl, timeout: Duration) -> Result<std::net::TcpStream, String> {
    let addrs: Vec<_> = tokio::time::timeout(timeout, tokio::net::lookup_host((url.host.as_str(), url.port)))
        .await
        .map_err(|_| format!("resolving {} timed out", url.host))?
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let mut last = format!("{} resolves to no address", url.host);
    for addr in addrs {
        let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() };
        let socket = socket.map_err(|e| e.to_string())?;
        // A large receive buffer avoids stalls when slapd sends faster than we decode.
        let _ = socket.set_recv_buffer_size(4 << 20);
        match tokio::time::timeout(timeout, socket.connect(addr)).await {
            Ok(Ok(stream)) => return stream.into_std().map_err(|e| e.to_string()),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {}s", timeout.as_secs()),
        }
    }
    Err(last)
}

/// Opens one server: TCP, then TLS (LDAPS or StartTLS) when configured.
async fn open_one(repo: &Repository, url_text: &str) -> Result<Connected, ConnectFailure> {
    let c = &repo.connection;
    let timeout = timeout_of(repo);
    let url = ServerUrl::parse(url_text).map_err(|e| ConnectFailure::Connect(format!("{url_text} {e}")))?;
    let started = Instant::now();
    let stream = tcp_connect(&url, timeout).await.map_err(|e| ConnectFailure::Connect(format!("{url_text}: {e}")))?;
    let connect_millis = millis(started);

    let uses_tls = url.tls || c.start_tls;
    let extra_ca = match c.ca_certificate.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(pem) => parse_pem_certificates(pem).map_err(|e| ConnectFailure::Tls(format!("CA certificate: {e}")))?,
        None => Vec::new(),
    };
    let (config, seen) = tls::client_config(&extra_ca, c.verify_tls);
    let settings = LdapConnSettings::new()
        .set_conn_timeout(timeout)
        .set_std_stream(StdStream::Tcp(stream))
        .set_starttls(c.start_tls && !url.tls)
        .set_config(config);
    let tls_started = Instant::now();
    let opened = LdapConnAsync::with_settings(settings, &url.to_url()).await;
    let tls_millis = millis(tls_started);
    let observed = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let summary = observed.certificate.as_deref().and_then(tls::summarize);
    match opened {
        Ok((conn, ldap)) => {
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!(error = %e, "LDAP connection closed with an error");
                }
            });
            let tls = uses_tls.then(|| match (&summary, &observed.error) {
                (Some(s), None) => format!(
                    "{} — certificate {} issued by {}, valid until {}",
                    if url.tls { "LDAPS" } else { "StartTLS" },
                    s.subject,
                    s.issuer,
                    s.not_after
                ),
                (Some(s), Some(e)) => format!(
                    "encrypted but NOT verified (verification is off): {} — certificate {} issued by {}",
                    tls::explain(e, &url.host, Some(s)),
                    s.subject,
                    s.issuer
                ),
                (None, _) => "encrypted".to_string(),
            });
            Ok(Connected { ldap, url: url.to_url(), tls, skipped: Vec::new(), connect_millis, tls_millis })
        }
        Err(e) => {
            if let Some(err) = observed.error {
                return Err(ConnectFailure::Tls(format!(
                    "{}: {}",
                    url.to_url(),
                    tls::explain(&err, &url.host, summary.as_ref())
                )));
            }
            let message = describe_ldap_error(&e);
            if uses_tls {
                Err(ConnectFailure::Tls(format!("{}: TLS could not be established: {message}", url.to_url())))
            } else {
                Err(ConnectFailure::Connect(format!("{}: {message}", url.to_url())))
            }
        }
    }
}

/// Tries each server in order; the failure of the last one is returned with
/// all earlier reasons when none works.
pub async fn connect(repo: &Repository) -> Result<Connected, (ConnectFailure, Vec<String>)> {
    let mut skipped = Vec::new();
    let mut last = ConnectFailure::Connect("no server configured".into());
    for url in &repo.connection.servers {
        match open_one(repo, url).await {
            Ok(mut c) => {
                c.skipped = skipped;
                return Ok(c);
            }
            Err(f) => {
                skipped.push(f.clone().into_message());
                last = f;
            }
        }
    }
    Err((last, skipped))
}

pub fn describe_ldap_error(e: &LdapError) -> String {
    match e {
        LdapError::LdapResult { result } => {
            let what = match result.rc {
                49 => "invalid credentials".to_string(),
                32 => "no such object".to_string(),
                50 => "insufficient access rights".to_string(),
                53 => "the server is unwilling to perform this (e.g. StartTLS required or anonymous bind refused)"
                    .to_string(),
                13 => "the server requires confidentiality (use StartTLS or LDAPS)".to_string(),
                rc => format!("LDAP error {rc}"),
            };
            if result.text.trim().is_empty() {
                format!("{what} (LDAP {})", result.rc)
            } else {
                format!("{what} (LDAP {}: {})", result.rc, result.text.trim())
            }
        }
        LdapError::Timeout { .. } => "the server did not answer in time".to_string(),
        other => other.to_string(),
    }
}

/// Binds with the repository's credentials.
pub async fn bind(ldap: &mut Ldap, repo: &Repository, secrets: &Secrets) -> Result<String, String> {
    match repo.connection.bind_type {
        BindType::None => Ok("anonymous (no bind)".into()),
        BindType::Simple => {
            let dn = repo.connection.bind_dn.clone().unwrap_or_default();
            let password = secrets.bind_password.clone().unwrap_or_default();
            if password.is_empty() {
                return Err("no bind password is set".into());
            }
            ldap.with_timeout(timeout_of(repo))
                .simple_bind(&dn, &password)
                .await
                .and_then(|r| r.success())
                .map(|_| format!("bound as {dn}"))
                .map_err(|e| match &e {
                    LdapError::LdapResult { result } if result.rc == 49 => {
                        format!("the server rejected the bind DN or password for {dn}: {}", describe_ldap_error(&e))
                    }
                    _ => format!("bind as {dn} failed: {}", describe_ldap_error(&e)),
                })
        }
    }
}

pub(crate) fn scope_of(repo: &Repository) -> Scope {
    match repo.users.scope {
        UserScope::Subtree => Scope::Subtree,
        UserScope::One => Scope::OneLevel,
    }
}

/// Attributes to request for users: exactly those mapping reads (the UUID,
/// username, mapped, account status and membership attributes). Not "*": a
/// sync would transfer and decode every attribute of every entry (about
/// twice the values with the presets), password hashes included, and an
/// attribute nobody maps would change entries' fingerprints.
pub fn user_attributes(repo: &Repository) -> Vec<String> {
    let users = &repo.users;
    let mut attrs = vec![users.uuid_attribute.clone(), users.username_attribute.clone()];
    attrs.extend(users.attribute_mappings.iter().map(|m| m.ldap_attribute.clone()));
    attrs.extend(users.account_status_attribute.clone());
    attrs.extend(repo.groups.membership_attribute.clone());
    attrs.retain(|a| !a.trim().is_empty());
    let mut seen = std::collections::HashSet::new();
    attrs.retain(|a| seen.insert(a.to_ascii_lowercase()));
    attrs
}

/// Entries matching the user configuration, at most `limit`; a size-limit
/// result is expected and not an error.
async fn search_users(
    ldap: &mut Ldap,
    repo: &Repository,
    extra: Option<String>,
    limit: i32,
    attrs: Vec<String>,
) -> Result<Vec<Entry>, String> {
    let filter = filter::user_filter(&repo.users.object_classes, &repo.users.filters, extra);
    let result = ldap
        .with_timeout(timeout_of(repo))
        .with_search_options(SearchOptions::new().sizelimit(limit))
        .search(repo.users.effective_users_dn(), scope_of(repo), &filter, attrs)
        .await
        .map_err(|e| describe_ldap_error(&e))?;
    let ldap3::SearchResult(entries, res) = result;
    if res.rc != 0 && res.rc != 4 {
        return Err(describe_ldap_error(&LdapError::LdapResult { result: res }));
    }
    decode_entries(ldap, repo, entries).await
}

/// Decodes search result entries, with the rest of their windowed
/// attributes read (see [`range`]); references are skipped.
async fn decode_entries(
    ldap: &mut Ldap,
    repo: &Repository,
    entries: Vec<ldap3::ResultEntry>,
) -> Result<Vec<Entry>, String> {
    let mut decoded = Vec::with_capacity(entries.len());
    for mut e in entries.into_iter().filter(|e| !e.is_ref() && !e.is_intermediate()) {
        range::complete(ldap, timeout_of(repo), &mut e.0).await?;
        decoded.push(entry::into_entry(e.0)?);
    }
    Ok(decoded)
}

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
    const FIRST_PAGE: i32 = 100;
    match search_users(&mut conn.ldap, repo, None, FIRST_PAGE + 1, vec![repo.users.username_attribute.clone()]).await {
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
            let count = if entries.len() as i32 > FIRST_PAGE {
                format!("more than {FIRST_PAGE}")
            } else {
                entries.len().to_string()
            };
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
        match login_bind(&mut conn.ldap, repo, user, password).await {
            Ok(dn) => steps.push("login", true, millis(t), format!("{user} signed in as {dn}")),
            Err(e) => steps.push("login", false, millis(t), e),
        };
    }
    let _ = conn.ldap.unbind().await;
    steps.done(server)
}

/// Finds a user by username and binds as them; returns their DN.
pub async fn login_bind(ldap: &mut Ldap, repo: &Repository, username: &str, password: &str) -> Result<String, String> {
    if password.is_empty() {
        // An empty password would be an unauthenticated bind that "succeeds".
        return Err("an empty password is never accepted".into());
    }
    let clause = format!("({}={})", repo.users.username_attribute, filter::escape_value(username));
    let found = search_users(ldap, repo, Some(clause), 2, vec!["1.1".into()]).await?;
    let dn = match found.as_slice() {
        [] => return Err(format!("no user '{username}' matches the configuration")),
        [one] => one.dn.clone(),
        _ => return Err(format!("more than one entry matches '{username}'")),
    };
    ldap.with_timeout(timeout_of(repo))
        .simple_bind(&dn, password)
        .await
        .and_then(|r| r.success())
        .map(|_| dn.clone())
        .map_err(|e| format!("bind as {dn} failed: {}", describe_ldap_error(&e)))
}

/// Connects (servers in order) and binds with the repository's credentials.
async fn connect_and_bind(repo: &Repository, secrets: &Secrets) -> Result<Connected, String> {
    let mut conn = connect(repo).await.map_err(|(f, _)| f.into_message())?;
    bind(&mut conn.ldap, repo, secrets).await?;
    Ok(conn)
}

/// The first `limit` user entries the configuration selects (the preview
/// maps them).
pub async fn first_users(repo: &Repository, secrets: &Secrets, limit: usize) -> Result<Vec<Entry>, String> {
    let mut conn = connect_and_bind(repo, secrets).await?;
    let entries = search_users(&mut conn.ldap, repo, None, limit.clamp(1, 1000) as i32, user_attributes(repo)).await?;
    let _ = conn.ldap.unbind().await;
    Ok(entries)
}

/// Reads one user entry: first at its last known DN, then by UUID under the
/// users DN (it may have been renamed or moved). `None` when it is gone.
pub async fn read_user(repo: &Repository, secrets: &Secrets, dn: &str, uuid: &str) -> Result<Option<Entry>, String> {
    let mut conn = connect_and_bind(repo, secrets).await?;
    let wanted = |e: &Entry| crate::entry::uuid_of(e, &repo.users.uuid_attribute).as_deref() == Some(uuid);
    let filter = filter::user_filter(&repo.users.object_classes, &repo.users.filters, None);
    let at_dn = conn.ldap.with_timeout(timeout_of(repo)).search(dn, Scope::Base, &filter, user_attributes(repo)).await;
    if let Ok(ldap3::SearchResult(entries, res)) = at_dn {
        if res.rc == 0 {
            let found = decode_entries(&mut conn.ldap, repo, entries).await?.into_iter().find(wanted);
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    let Some(clause) = crate::entry::uuid_clause(&repo.users.uuid_attribute, uuid) else {
        return Ok(None);
    };
    let found = search_users(&mut conn.ldap, repo, Some(clause), 2, user_attributes(repo)).await?;
    let _ = conn.ldap.unbind().await;
    Ok(found.into_iter().find(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_read_with_the_attributes_mapping_needs_and_no_others() {
        let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        repo.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.dept", "departmentNumber"));
        // The same attribute twice (in another case) is asked for once.
        repo.users.attribute_mappings.push(app::model::AttributeMapping::new("attributes.mail2", "MAIL"));
        let attrs = user_attributes(&repo);
        for wanted in
            ["entryUUID", "uid", "mail", "givenName", "sn", "departmentNumber", "pwdAccountLockedTime", "memberOf"]
        {
            assert!(attrs.iter().any(|a| a == wanted), "{wanted} missing from {attrs:?}");
        }
        assert!(!attrs.iter().any(|a| a == "*" || a.eq_ignore_ascii_case("userPassword")), "{attrs:?}");
        assert_eq!(attrs.iter().filter(|a| a.eq_ignore_ascii_case("mail")).count(), 1, "{attrs:?}");
    }
}
