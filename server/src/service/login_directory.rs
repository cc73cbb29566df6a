//! The directory side of a login on the repository's pools: finding the
//! entry and binding as it, once more on a new connection when a pooled one
//! broke (a server restart), and the decoy bind an unknown user costs.

use super::login_candidates::Candidate;
use crate::ldap::bind_result::Verdict;
use crate::ldap::login::{self as directory, DirectoryFailure, Found, Origin};
use crate::ldap::pool::{self, PoolFailure, PoolKind, RepositoryPools};
use app::error::AppError;
use app::model::Repository;

/// Why a repository could not be asked about the user.
pub(super) enum Unasked {
    /// No server answered (their URLs).
    Unreachable(Vec<String>),
    Failed(String),
}

impl From<PoolFailure> for Unasked {
    fn from(f: PoolFailure) -> Self {
        match f {
            PoolFailure::Unreachable(u) => Unasked::Unreachable(u.servers),
            other => Unasked::Failed(other.to_string()),
        }
    }
}

/// The user's entry: at the DN already stored when there is one (then
/// by username, if it is gone from there), otherwise by username.
pub(super) async fn find_entry(
    pools: &RepositoryPools,
    candidate: &Candidate,
    username: &str,
    known_dn: Option<&str>,
) -> Result<Found, Unasked> {
    // A pooled connection may have broken since it was last used (a
    // server restart): one more try on a new one.
    let mut last = String::new();
    for _ in 0..2 {
        let mut conn = pools.get(PoolKind::Service).await?;
        let (repo, secrets) = (&candidate.repo, &candidate.secrets);
        let looked_up = async {
            if let Some(dn) = known_dn {
                if let Some((entry, origin)) = directory::entry_at(&mut conn, repo, secrets, dn, username).await? {
                    return Ok(Found::One(Box::new(entry), origin));
                }
            }
            directory::find_user(&mut conn, repo, secrets, username).await
        }
        .await;
        match looked_up {
            Ok(found) => return Ok(found),
            Err(DirectoryFailure::Broken(m)) => {
                pool::discard(conn);
                last = m;
            }
            Err(DirectoryFailure::Refused(m)) => return Err(Unasked::Failed(m)),
        }
    }
    Err(Unasked::Failed(last))
}

/// A user bind, once more on a new connection if a pooled one broke.
pub(super) async fn bind(
    pools: &RepositoryPools,
    repo: &Repository,
    origin: &Origin,
    dn: &str,
    password: &str,
) -> Result<Verdict, AppError> {
    if let Origin::Referred(hop) = origin {
        // Logins through a referral are rare: a connection of their own.
        return directory::bind_referred(repo, hop, dn, password).await.map_err(|e| AppError::Unavailable {
            message: format!("the referred server did not answer the bind: {e}"),
            servers: vec![hop.server.clone()],
        });
    }
    let mut last = String::new();
    for _ in 0..2 {
        let mut conn = pools.get(PoolKind::UserBind).await.map_err(|f| match f {
            PoolFailure::Unreachable(u) => AppError::Unavailable { message: u.to_string(), servers: u.servers },
            other => AppError::unavailable(other.to_string()),
        })?;
        match directory::bind_user(&mut conn, repo, dn, password).await {
            Ok(v) => return Ok(v),
            Err(DirectoryFailure::Broken(m)) => {
                pool::discard(conn);
                last = m;
            }
            Err(DirectoryFailure::Refused(m)) => last = m,
        }
    }
    Err(AppError::unavailable(format!("the directory did not answer the bind: {last}")))
}

/// A bind as a DN no entry has, with the password given, on a user-bind
/// connection: what a wrong password costs. Its answer is not used.
pub(super) async fn decoy_bind(pools: &RepositoryPools, repo: &Repository, password: &str) {
    if let Ok(mut conn) = pools.get(PoolKind::UserBind).await {
        if let Err(DirectoryFailure::Broken(_)) =
            directory::bind_user(&mut conn, repo, &directory::decoy_dn(repo), password).await
        {
            pool::discard(conn);
        }
    }
}
