//! Following referrals (which ones, where and with whose credentials is
//! decided in `crate::referral`): a connection to a referred server, bound
//! with the hop's credentials and the repository's TLS settings, and the
//! small searches of logins, previews and re-syncs, gathered from every
//! server their referrals lead to. Paged reads follow in the sync reader.

use super::{decode_entries, failure, open_one, timeout_of, DirectoryFailure, Secrets};
use crate::entry::Entry;
pub use crate::referral::Hop;
use crate::referral::{Itinerary, ReferredBind, UrlScope};
use app::model::Repository;
use ldap3::asn1::PL;
use ldap3::{Ldap, LdapError, Scope, SearchOptions};

/// The URLs of a search result reference (never a panic on a malformed one:
/// ldap3's parser would).
pub fn reference_urls(entry: &ldap3::ResultEntry) -> Vec<String> {
    match &entry.0.payload {
        PL::C(parts) => parts
            .iter()
            .filter_map(|p| match &p.payload {
                PL::P(bytes) => String::from_utf8(bytes.clone()).ok(),
                PL::C(_) => None,
            })
            .collect(),
        PL::P(_) => Vec::new(),
    }
}

/// The scope a hop searches with: the one its URL names, else the search's.
pub fn scope_for(hop: &Hop, scope: Scope) -> Scope {
    match hop.scope {
        Some(UrlScope::Base) => Scope::Base,
        Some(UrlScope::One) => Scope::OneLevel,
        Some(UrlScope::Sub) => Scope::Subtree,
        None => scope,
    }
}

/// Opens the referred server with the repository's TLS settings, not bound.
pub async fn connect(repo: &Repository, hop: &Hop) -> Result<Ldap, String> {
    open_one(repo, &hop.server)
        .await
        .map(|c| c.ldap)
        .map_err(|f| format!("referral to {}: {}", hop.server, f.into_message()))
}

/// Opens the referred server and binds with the hop's credentials.
pub async fn open(repo: &Repository, secrets: &Secrets, hop: &Hop) -> Result<Ldap, String> {
    let mut ldap = connect(repo, hop).await?;
    let bound = match &hop.bind {
        ReferredBind::Repository => super::bind(&mut ldap, repo, secrets).await.map(|_| ()),
        ReferredBind::Listed { url, bind_dn } => {
            let password = secrets.referral_passwords.get(url).map(String::as_str).unwrap_or("");
            match bind_dn.as_deref().filter(|d| !d.trim().is_empty()) {
                // No bind DN: the listed server is read anonymously.
                None => Ok(()),
                Some(_) if password.is_empty() => Err(format!("no bind password is stored for {url}")),
                Some(dn) => ldap
                    .with_timeout(timeout_of(repo))
                    .simple_bind(dn, password)
                    .await
                    .and_then(|r| r.success())
                    .map(|_| ())
                    .map_err(|e| format!("bind as {dn} failed: {}", super::describe_ldap_error(&e))),
            }
        }
    };
    match bound {
        Ok(()) => Ok(ldap),
        Err(m) => {
            let _ = ldap.unbind().await;
            Err(format!("referral to {}: {m}", hop.server))
        }
    }
}

/// A search as logins, previews and re-syncs run it.
pub struct Query {
    pub base: String,
    pub scope: Scope,
    pub filter: String,
    pub attrs: Vec<String>,
    /// At most this many entries, over all servers.
    pub size_limit: usize,
    /// A referred server that fails is noted in `unanswered` instead of
    /// failing the search (a login may still find its user elsewhere).
    pub tolerate_unanswered: bool,
}

/// Where an entry was read: the server a user bind must go to (a server
/// does not take binds for entries it only refers to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Home,
    Referred(Hop),
}

/// What a search found on every server it led to.
#[derive(Debug, Default)]
pub struct Gathered {
    pub entries: Vec<(Entry, Origin)>,
    /// More entries than the size limit exist.
    pub size_limited: bool,
    /// The base does not exist on the repository's own server.
    pub missing: bool,
    /// Referrals not followed, with the reason.
    pub ignored: Vec<String>,
    /// Referred servers that failed (with `tolerate_unanswered`), and why.
    pub unanswered: Vec<String>,
}

/// One server's part of a search; returns the referrals it met.
async fn search_on(
    ldap: &mut Ldap,
    repo: &Repository,
    query: &Query,
    origin: Origin,
    out: &mut Gathered,
) -> Result<Vec<String>, DirectoryFailure> {
    let (base, scope) = match &origin {
        Origin::Home => (query.base.as_str(), query.scope),
        Origin::Referred(hop) => (hop.base.as_deref().unwrap_or(&query.base), scope_for(hop, query.scope)),
    };
    let left = query.size_limit.saturating_sub(out.entries.len()).max(1);
    // Streaming: ldap3's search() drops continuation references.
    let mut stream = ldap
        .with_timeout(timeout_of(repo))
        .with_search_options(SearchOptions::new().sizelimit(i32::try_from(left).unwrap_or(i32::MAX)))
        .streaming_search(base, scope, &query.filter, query.attrs.clone())
        .await
        .map_err(failure)?;
    let mut entries = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => break,
            Err(e) => {
                let _ = stream.finish().await;
                return Err(failure(e));
            }
        }
    }
    let res = stream.finish().await;
    let mut refs: Vec<String> = entries.iter().filter(|e| e.is_ref()).flat_map(reference_urls).collect();
    match res.rc {
        0 => {}
        4 => out.size_limited = true,
        10 => refs.extend(res.refs.iter().cloned()),
        32 if origin == Origin::Home => out.missing = true,
        // A referred base that is not there holds nobody.
        32 => {}
        _ => return Err(failure(LdapError::LdapResult { result: res })),
    }
    let decoded = decode_entries(ldap, repo, entries).await.map_err(DirectoryFailure::Refused)?;
    out.entries.extend(decoded.into_iter().map(|e| (e, origin.clone())));
    Ok(refs)
}

/// Runs `query` on `ldap` (the repository's own server), then on every
/// server its referrals lead to that the repository follows. A referred
/// server that fails fails the search: what it holds is unknown, not absent.
pub async fn search(
    ldap: &mut Ldap,
    repo: &Repository,
    secrets: &Secrets,
    query: &Query,
) -> Result<Gathered, DirectoryFailure> {
    let mut out = Gathered::default();
    let refs = search_on(ldap, repo, query, Origin::Home, &mut out).await?;
    let referrals = &repo.connection.referrals;
    let mut trip = Itinerary::default();
    let mut pending: std::collections::VecDeque<(Hop, usize)> =
        trip.plan(referrals, &refs, 0).map_err(DirectoryFailure::Refused)?.into_iter().map(|h| (h, 1)).collect();
    while let Some((hop, depth)) = pending.pop_front() {
        if out.entries.len() >= query.size_limit {
            out.size_limited = true;
            break;
        }
        let found = match open(repo, secrets, &hop).await {
            Ok(mut referred) => {
                let found = search_on(&mut referred, repo, query, Origin::Referred(hop.clone()), &mut out).await;
                let _ = referred.unbind().await;
                found.map_err(|e| format!("referral to {}: {e}", hop.server))
            }
            Err(m) => Err(m),
        };
        let refs = match found {
            Ok(refs) => refs,
            Err(m) if query.tolerate_unanswered => {
                out.unanswered.push(m);
                continue;
            }
            Err(m) => return Err(DirectoryFailure::Refused(m)),
        };
        let next = trip.plan(referrals, &refs, depth).map_err(DirectoryFailure::Refused)?;
        pending.extend(next.into_iter().map(|h| (h, depth + 1)));
    }
    out.ignored = trip.ignored;
    Ok(out)
}
