//! LDAP I/O with ldap3: opening connections (servers in order, TLS with the
//! repository's CA), binding, and the searches the service runs (the first
//! users for a preview, one user for a re-sync); the connection test is in
//! `connection_test`, paging and content sync in `paged` and `content_sync`,
//! logins in `login` over the pooled connections of `pool` (servers that
//! failed are skipped for a while: `failover`).

pub mod bind_result;
pub mod connection_test;
pub mod content_sync;
pub mod entry;
pub mod failover;
pub mod login;
pub mod paged;
pub mod pool;
pub mod ppolicy;
pub mod range;
pub mod referral;
pub mod rootdse;
pub mod tls;

use crate::entry::Entry;
use crate::filter;
use crate::ldap_url::{parse_pem_certificates, ServerUrl};
use app::model::{BindType, Repository, Scope as UserScope};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, StdStream};
use std::time::{Duration, Instant};

/// Secrets of a repository in clear, only in memory and only while used.
#[derive(Clone, Default)]
pub struct Secrets {
    pub bind_password: Option<String>,
    /// Bind passwords of the listed referral servers, by configured URL.
    pub referral_passwords: std::collections::BTreeMap<String, String>,
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
pub(crate) async fn open_one(repo: &Repository, url_text: &str) -> Result<Connected, ConnectFailure> {
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

/// A directory operation that did not get an answer about the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryFailure {
    /// The connection broke or timed out: drop it, the server may be down.
    Broken(String),
    /// The server answered with an error (access, limits, busy).
    Refused(String),
}

impl std::fmt::Display for DirectoryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectoryFailure::Broken(m) | DirectoryFailure::Refused(m) => f.write_str(m),
        }
    }
}

pub(crate) fn failure(e: LdapError) -> DirectoryFailure {
    match e {
        LdapError::LdapResult { .. } => DirectoryFailure::Refused(describe_ldap_error(&e)),
        other => DirectoryFailure::Broken(describe_ldap_error(&other)),
    }
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

/// Decodes search result entries, with the rest of their windowed
/// attributes read (see [`range`]); references are skipped.
pub(crate) async fn decode_entries(
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

/// Connects (servers in order) and binds with the repository's credentials.
async fn connect_and_bind(repo: &Repository, secrets: &Secrets) -> Result<Connected, String> {
    let mut conn = connect(repo).await.map_err(|(f, _)| f.into_message())?;
    bind(&mut conn.ldap, repo, secrets).await?;
    Ok(conn)
}

pub(crate) fn users_query(
    repo: &Repository,
    base: &str,
    scope: Scope,
    extra: Option<String>,
    limit: usize,
) -> referral::Query {
    referral::Query {
        base: base.to_string(),
        scope,
        filter: filter::user_filter(&repo.users.object_classes, &repo.users.filters, extra),
        attrs: user_attributes(repo),
        size_limit: limit,
        tolerate_unanswered: false,
    }
}

/// The first `limit` user entries the configuration selects (the preview
/// maps them), with those of the referrals the repository follows.
pub async fn first_users(repo: &Repository, secrets: &Secrets, limit: usize) -> Result<Vec<Entry>, String> {
    let mut conn = connect_and_bind(repo, secrets).await?;
    let query = users_query(repo, repo.users.effective_users_dn(), scope_of(repo), None, limit.clamp(1, 1000));
    let gathered = referral::search(&mut conn.ldap, repo, secrets, &query).await;
    let _ = conn.ldap.unbind().await;
    let gathered = gathered.map_err(|e| e.to_string())?;
    if gathered.missing {
        return Err(format!("the users DN {} does not exist", repo.users.effective_users_dn()));
    }
    Ok(gathered.entries.into_iter().map(|(e, _)| e).collect())
}

/// Reads one user entry: first at its last known DN, then by UUID under the
/// users DN (it may have been renamed or moved), wherever the referrals the
/// repository follows lead. `None` when it is gone.
pub async fn read_user(repo: &Repository, secrets: &Secrets, dn: &str, uuid: &str) -> Result<Option<Entry>, String> {
    let mut conn = connect_and_bind(repo, secrets).await?;
    let found = read_user_on(&mut conn.ldap, repo, secrets, dn, uuid).await;
    let _ = conn.ldap.unbind().await;
    found
}

async fn read_user_on(
    ldap: &mut Ldap,
    repo: &Repository,
    secrets: &Secrets,
    dn: &str,
    uuid: &str,
) -> Result<Option<Entry>, String> {
    let wanted = |e: &Entry| crate::entry::uuid_of(e, &repo.users.uuid_attribute).as_deref() == Some(uuid);
    // A failure at the old DN is no answer yet: the search by UUID decides.
    if let Ok(at_dn) = referral::search(ldap, repo, secrets, &users_query(repo, dn, Scope::Base, None, 1)).await {
        if let Some((entry, _)) = at_dn.entries.into_iter().find(|(e, _)| wanted(e)) {
            return Ok(Some(entry));
        }
    }
    let Some(clause) = crate::entry::uuid_clause(&repo.users.uuid_attribute, uuid) else {
        return Ok(None);
    };
    let query = users_query(repo, repo.users.effective_users_dn(), scope_of(repo), Some(clause), 2);
    let found = referral::search(ldap, repo, secrets, &query).await.map_err(|e| e.to_string())?;
    if found.missing {
        return Err(format!("the users DN {} does not exist", repo.users.effective_users_dn()));
    }
    Ok(found.entries.into_iter().map(|(e, _)| e).find(wanted))
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
