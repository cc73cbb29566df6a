//! A login's directory work: find the user with one search on a service
//! connection, then a simple bind as them on a user-bind connection, with
//! the password policy control. The caller decides what the answer means.

use super::bind_result::{self, Refusal, Verdict};
pub use super::referral::Origin;
use super::referral::{self, Query};
pub use super::DirectoryFailure;
use super::{failure, scope_of, timeout_of, user_attributes, Secrets};
use crate::entry::Entry;
use crate::filter;
use app::model::Repository;
use ldap3::{Ldap, Scope};

/// What a search for a username found.
#[derive(Debug)]
pub enum Found {
    /// The entry, and the server that holds it (where its bind goes).
    One(Box<Entry>, Origin),
    Nobody,
    /// More than one entry matches: never a guess.
    Several,
}

/// The clause matching `username` exactly, every special character escaped (RFC 4515).
pub fn username_clause(repo: &Repository, username: &str) -> String {
    format!("({}={})", repo.users.username_attribute, filter::escape_value(username))
}

fn user_query(repo: &Repository, base: &str, scope: Scope, username: &str) -> Query {
    Query {
        base: base.to_string(),
        scope,
        filter: filter::user_filter(
            &repo.users.object_classes,
            &repo.users.filters,
            Some(username_clause(repo, username)),
        ),
        attrs: user_attributes(repo),
        // Two: enough to tell one match from several.
        size_limit: 2,
        tolerate_unanswered: true,
    }
}

/// Searches the users DN for `username` with the repository's object
/// classes and filters, reading what mapping needs (and following the
/// referrals the repository follows).
pub async fn find_user(
    ldap: &mut Ldap,
    repo: &Repository,
    secrets: &Secrets,
    username: &str,
) -> Result<Found, DirectoryFailure> {
    let query = user_query(repo, repo.users.effective_users_dn(), scope_of(repo), username);
    let mut gathered = referral::search(ldap, repo, secrets, &query).await?;
    if gathered.missing {
        let dn = repo.users.effective_users_dn();
        return Err(DirectoryFailure::Refused(format!("the users DN {dn} does not exist")));
    }
    // The size limit reached: there are at least two.
    if gathered.size_limited {
        return Ok(Found::Several);
    }
    // A referred server that did not answer: a user found elsewhere still
    // signs in (a username the directory holds twice is its own error), but
    // nobody found is not "nobody there".
    if !gathered.unanswered.is_empty() {
        if gathered.entries.is_empty() {
            return Err(DirectoryFailure::Refused(gathered.unanswered.join("; ")));
        }
        tracing::warn!(repository = repo.id, unanswered = ?gathered.unanswered, "login: a referred server did not answer");
    }
    Ok(match gathered.entries.len() {
        0 => Found::Nobody,
        1 => {
            let (entry, origin) = gathered.entries.remove(0);
            Found::One(Box::new(entry), origin)
        }
        _ => Found::Several,
    })
}

/// The user's entry at a DN already known, if it is still there and still
/// matches the configuration and the username (a DN under a referral is
/// read where it leads).
pub async fn entry_at(
    ldap: &mut Ldap,
    repo: &Repository,
    secrets: &Secrets,
    dn: &str,
    username: &str,
) -> Result<Option<(Entry, Origin)>, DirectoryFailure> {
    let query = user_query(repo, dn, Scope::Base, username);
    // No such object (moved, renamed or deleted) is no entry.
    Ok(referral::search(ldap, repo, secrets, &query).await?.entries.into_iter().next())
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

/// A user bind on a new connection to the referred server that holds the
/// entry (the server that refers to it would answer "invalid credentials").
pub async fn bind_referred(
    repo: &Repository,
    hop: &referral::Hop,
    dn: &str,
    password: &str,
) -> Result<Verdict, DirectoryFailure> {
    let mut ldap = referral::connect(repo, hop).await.map_err(DirectoryFailure::Broken)?;
    let verdict = bind_user(&mut ldap, repo, dn, password).await;
    let _ = ldap.unbind().await;
    verdict
}

/// The connection test's login step on the test's own connection: the same
/// search and bind as a login; the user's DN, or what went wrong.
pub async fn try_login(
    ldap: &mut Ldap,
    repo: &Repository,
    secrets: &Secrets,
    username: &str,
    password: &str,
) -> Result<String, String> {
    let (dn, origin) = match find_user(ldap, repo, secrets, username).await.map_err(|e| e.to_string())? {
        Found::One(entry, origin) => (entry.dn, origin),
        Found::Nobody => return Err(format!("no user '{username}' matches the configuration")),
        Found::Several => return Err(format!("more than one entry matches '{username}'")),
    };
    let refused = |why: &str| Err(format!("bind as {dn} refused: {why}"));
    let verdict = match &origin {
        Origin::Home => bind_user(ldap, repo, &dn, password).await,
        Origin::Referred(hop) => bind_referred(repo, hop, &dn, password).await,
    };
    match verdict.map_err(|e| format!("bind as {dn} failed: {e}"))? {
        Verdict::Accepted { must_change: false, .. } => Ok(dn),
        Verdict::Accepted { must_change: true, .. } => refused(Refusal::PasswordMustChange.describe()),
        Verdict::Refused { refusal, .. } => refused(refusal.describe()),
        Verdict::Failed { rc } => refused(&format!("LDAP error {rc}")),
    }
}
