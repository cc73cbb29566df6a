//! A login's directory work: find the user with one search on a service
//! connection, then a simple bind as them on a user-bind connection, with
//! the password policy control. The caller decides what the answer means.

use super::bind_result::{self, Refusal, Verdict};
use super::{decode_entries, describe_ldap_error, scope_of, timeout_of, user_attributes};
use crate::entry::Entry;
use crate::filter;
use app::model::Repository;
use ldap3::{Ldap, LdapError, Scope, SearchOptions};

/// What a search for a username found.
#[derive(Debug)]
pub enum Found {
    One(Box<Entry>),
    Nobody,
    /// More than one entry matches: never a guess.
    Several,
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

fn failure(e: LdapError) -> DirectoryFailure {
    match e {
        LdapError::LdapResult { .. } => DirectoryFailure::Refused(describe_ldap_error(&e)),
        other => DirectoryFailure::Broken(describe_ldap_error(&other)),
    }
}

/// The clause matching `username` exactly, every special character escaped (RFC 4515).
pub fn username_clause(repo: &Repository, username: &str) -> String {
    format!("({}={})", repo.users.username_attribute, filter::escape_value(username))
}

/// Searches the users DN for `username` with the repository's object
/// classes and filters, reading what mapping needs.
pub async fn find_user(ldap: &mut Ldap, repo: &Repository, username: &str) -> Result<Found, DirectoryFailure> {
    let filter =
        filter::user_filter(&repo.users.object_classes, &repo.users.filters, Some(username_clause(repo, username)));
    let result = ldap
        .with_timeout(timeout_of(repo))
        .with_search_options(SearchOptions::new().sizelimit(2))
        .search(repo.users.effective_users_dn(), scope_of(repo), &filter, user_attributes(repo))
        .await
        .map_err(failure)?;
    let ldap3::SearchResult(entries, res) = result;
    // 4: the size limit of 2 was reached, so there are at least two.
    if res.rc == 4 {
        return Ok(Found::Several);
    }
    if res.rc != 0 {
        return Err(failure(LdapError::LdapResult { result: res }));
    }
    let mut entries = decode_entries(ldap, repo, entries).await.map_err(DirectoryFailure::Refused)?;
    Ok(match entries.len() {
        0 => Found::Nobody,
        1 => Found::One(Box::new(entries.remove(0))),
        _ => Found::Several,
    })
}

/// The user's entry at a DN already known, if it is still there and still
/// matches the configuration and the username.
pub async fn entry_at(
    ldap: &mut Ldap,
    repo: &Repository,
    dn: &str,
    username: &str,
) -> Result<Option<Entry>, DirectoryFailure> {
    let filter =
        filter::user_filter(&repo.users.object_classes, &repo.users.filters, Some(username_clause(repo, username)));
    let result = ldap.with_timeout(timeout_of(repo)).search(dn, Scope::Base, &filter, user_attributes(repo)).await;
    let ldap3::SearchResult(entries, res) = result.map_err(failure)?;
    match res.rc {
        0 => Ok(decode_entries(ldap, repo, entries).await.map_err(DirectoryFailure::Refused)?.into_iter().next()),
        // No such object: moved, renamed or deleted.
        32 => Ok(None),
        _ => Err(failure(LdapError::LdapResult { result: res })),
    }
}

/// A DN under the users DN that no entry has: an unknown user still costs
/// a bind, so that it takes as long as a wrong password.
pub fn decoy_dn(repo: &Repository) -> String {
    let attribute = if repo.users.rdn_attribute.trim().is_empty() {
        repo.users.username_attribute.as_str()
    } else {
        repo.users.rdn_attribute.as_str()
    };
    format!("{attribute}=dirbridge-no-such-user-7f3a9c,{}", repo.users.effective_users_dn())
}

/// A simple bind as `dn`; never with an empty password (that would be an
/// unauthenticated bind, which servers accept).
pub async fn bind_user(
    ldap: &mut Ldap,
    repo: &Repository,
    dn: &str,
    password: &str,
) -> Result<Verdict, DirectoryFailure> {
    if password.is_empty() {
        return Err(DirectoryFailure::Refused("an empty password is never sent".into()));
    }
    let result = ldap
        .with_timeout(timeout_of(repo))
        .with_controls(super::ppolicy::request())
        .simple_bind(dn, password)
        .await
        .map_err(failure)?;
    Ok(bind_result::verdict(result.rc, &result.text, &result.ctrls))
}

/// The connection test's login step on the test's own connection: the same
/// search and bind as a login; the user's DN, or what went wrong.
pub async fn try_login(ldap: &mut Ldap, repo: &Repository, username: &str, password: &str) -> Result<String, String> {
    let dn = match find_user(ldap, repo, username).await.map_err(|e| e.to_string())? {
        Found::One(entry) => entry.dn,
        Found::Nobody => return Err(format!("no user '{username}' matches the configuration")),
        Found::Several => return Err(format!("more than one entry matches '{username}'")),
    };
    let refused = |why: &str| Err(format!("bind as {dn} refused: {why}"));
    match bind_user(ldap, repo, &dn, password).await.map_err(|e| format!("bind as {dn} failed: {e}"))? {
        Verdict::Accepted { must_change: false, .. } => Ok(dn),
        Verdict::Accepted { must_change: true, .. } => refused(Refusal::PasswordMustChange.describe()),
        Verdict::Refused { refusal, .. } => refused(refusal.describe()),
        Verdict::Failed { rc } => refused(&format!("LDAP error {rc}")),
    }
}
