//! Login by bind: the tenant's repositories in order (a user's own first),
//! one search for the entry on a pooled service connection, one bind as it
//! on a user-bind connection, then the account's state, the login options
//! and the assignments. Throttled before any bind; every outcome logged and
//! counted (never the password).

use super::login_candidates::Candidate;
use super::login_directory::{self, Unasked};
use super::{store_err, Service};
use crate::clock::{now_rfc3339, unix_now};
use crate::entry::Entry;
use crate::ldap::bind_result::{Refusal, Verdict};
use crate::ldap::login::{Found, Origin};
use crate::ldap::pool::RepositoryPools;
use app::error::AppError;
use app::model::{AutoLinking, LoginReason, LoginRequest, LoginSuccess, Repository, TestStep, User};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// One login as it goes: what the log line and the console's trace show.
pub(super) struct Attempt {
    started: Instant,
    pub(super) repository: Option<String>,
    /// What happened, for the log (never shown to the caller when it would
    /// say more than the answer may).
    pub(super) cause: String,
    /// The steps, when the console asked for a trace.
    pub(super) steps: Option<Vec<TestStep>>,
}

impl Attempt {
    pub(super) fn new(traced: bool) -> Attempt {
        Attempt { started: Instant::now(), repository: None, cause: String::new(), steps: traced.then(Vec::new) }
    }

    fn step(&mut self, name: &str, ok: bool, since: Instant, detail: impl Into<String>) {
        if let Some(steps) = &mut self.steps {
            steps.push(TestStep {
                name: name.into(),
                ok,
                millis: since.elapsed().as_millis() as u64,
                detail: detail.into(),
            });
        }
    }
}

fn refused(reason: LoginReason, message: &str) -> AppError {
    AppError::login_refused(reason, message)
}

const INVALID: &str = "invalid username or password";

impl Service {
    /// A login through the tenant's repositories (or only `only`).
    pub(super) async fn login(
        &self,
        tenant: &str,
        request: &LoginRequest,
        client: Option<IpAddr>,
        only: Option<&str>,
        attempt: &mut Attempt,
    ) -> Result<LoginSuccess, AppError> {
        let candidates = self.tenant_candidates(tenant).await?;
        let username = request.username.trim();
        if username.is_empty() {
            return Err(AppError::bad_request("username is empty"));
        }
        let account = (tenant.to_string(), username.to_lowercase());
        let now = unix_now();
        if let Some(wait) = self.login_throttle.check(&account, client, now) {
            attempt.cause = "throttled".into();
            return Err(AppError::Throttled {
                message: format!("too many failed logins; try again in {wait} s"),
                retry_after: wait,
            });
        }
        // An empty simple bind is an anonymous bind, which servers accept.
        if request.password.is_empty() {
            attempt.cause = "empty password".into();
            return Err(refused(LoginReason::InvalidCredentials, INVALID));
        }
        let result = self.sign_in_directory_user(tenant, &candidates, username, &request.password, only, attempt).await;
        match &result {
            Ok(_) => self.login_throttle.succeeded(&account),
            Err(AppError::InvalidGrant { reason: LoginReason::InvalidCredentials, .. }) => {
                self.login_throttle.failed(&account, client, now)
            }
            Err(_) => {}
        }
        result
    }

    async fn sign_in_directory_user(
        &self,
        tenant: &str,
        all: &[Candidate],
        username: &str,
        password: &str,
        only: Option<&str>,
        attempt: &mut Attempt,
    ) -> Result<LoginSuccess, AppError> {
        let mut candidates: Vec<&Candidate> = all.iter().filter(|c| only.is_none_or(|id| c.repo.id == id)).collect();
        if let Some(id) = only.filter(|_| candidates.is_empty()) {
            return Err(AppError::not_found(format!("repository '{id}' does not exist")));
        }
        // Users already stored are tried in their own repository first. With
        // one active repository there is no order to choose, and no lookup.
        let known = match candidates.as_slice() {
            [one] if !one.deleting => Vec::new(),
            _ => self.store.users_named(tenant, username).await.map_err(store_err)?,
        };
        let holds = |c: &Candidate| known.iter().any(|u| u.repository_id == c.repo.id);
        candidates.sort_by_key(|c| !holds(c));
        let mut unreachable: Vec<String> = Vec::new();
        let mut decoy: Option<Arc<RepositoryPools>> = None;
        for candidate in &candidates {
            let repo = &candidate.repo;
            let known_here = known.iter().find(|u| u.repository_id == repo.id);
            if candidate.deleting {
                if known_here.is_some() {
                    attempt.repository = Some(repo.id.clone());
                    attempt.cause = "repository being deleted".into();
                    return Err(refused(LoginReason::RepositoryDeleted, "the user's repository is being deleted"));
                }
                continue;
            }
            if !repo.enabled {
                continue;
            }
            let pools =
                self.pools.of(tenant, repo, &candidate.secrets).map_err(|e| super::internal("connection pools", e))?;
            decoy.get_or_insert_with(|| pools.clone());
            let since = Instant::now();
            let known_dn = known_here.map(|u| u.ldap_dn.as_str());
            let found = match login_directory::find_entry(&pools, candidate, username, known_dn).await {
                Ok(found) => found,
                Err(Unasked::Unreachable(servers)) => {
                    attempt.step("find user", false, since, format!("{}: no server answered", repo.id));
                    tracing::warn!(tenant, repository = repo.id, servers = ?servers, "login: no server answered");
                    unreachable.extend(servers);
                    continue;
                }
                Err(Unasked::Failed(m)) => {
                    attempt.step("find user", false, since, format!("{}: {m}", repo.id));
                    tracing::warn!(tenant, repository = repo.id, error = %m, "login: the search failed");
                    unreachable.extend(repo.connection.servers.iter().cloned());
                    continue;
                }
            };
            match found {
                Found::Nobody => attempt.step("find user", true, since, format!("{}: no matching entry", repo.id)),
                Found::Several => {
                    attempt.step("find user", false, since, format!("{}: more than one entry matches", repo.id));
                    attempt.repository = Some(repo.id.clone());
                    attempt.cause = "more than one entry matches".into();
                    login_directory::decoy_bind(&pools, repo, password).await;
                    return Err(refused(LoginReason::InvalidCredentials, INVALID));
                }
                Found::One(entry, origin) => {
                    let at = match &origin {
                        Origin::Home => String::new(),
                        Origin::Referred(hop) => format!(" (referred to {})", hop.server),
                    };
                    attempt.step("find user", true, since, format!("{}: {}{at}", repo.id, entry.dn));
                    attempt.repository = Some(repo.id.clone());
                    return self.bind_and_admit(tenant, repo, &pools, (*entry, origin), password, attempt).await;
                }
            }
        }
        if !unreachable.is_empty() {
            attempt.cause = "no server answered".into();
            return Err(AppError::Unavailable {
                message: "no directory server of the tenant's repositories answered".into(),
                servers: unreachable,
            });
        }
        // Nobody has this username: a bind anyway, so that an unknown user
        // takes as long as a wrong password.
        if let Some((pools, c)) = decoy.zip(candidates.iter().find(|c| c.repo.enabled && !c.deleting)) {
            login_directory::decoy_bind(&pools, &c.repo, password).await;
        }
        attempt.cause = "no such user".into();
        Err(refused(LoginReason::InvalidCredentials, INVALID))
    }

    async fn bind_and_admit(
        &self,
        tenant: &str,
        repo: &Repository,
        pools: &RepositoryPools,
        // The entry and the server holding it.
        (entry, origin): (Entry, Origin),
        password: &str,
        attempt: &mut Attempt,
    ) -> Result<LoginSuccess, AppError> {
        let since = Instant::now();
        let verdict = match login_directory::bind(pools, repo, &origin, &entry.dn, password).await {
            Ok(v) => v,
            Err(e) => {
                attempt.step("bind", false, since, e.to_string());
                attempt.cause = e.to_string();
                return Err(e);
            }
        };
        let (expires_in, grace_logins_remaining) = match verdict {
            Verdict::Accepted { must_change: true, .. } => {
                attempt.step("bind", false, since, "accepted, but the password must be changed first");
                attempt.cause = "password must change".into();
                return Err(refused(LoginReason::PasswordMustChange, "the password must be changed before signing in"));
            }
            Verdict::Accepted { expires_in, grace_logins_remaining, .. } => (expires_in, grace_logins_remaining),
            Verdict::Refused { refusal, password_confirmed: false } => {
                // The caller hears "invalid"; the log and the console's
                // trace (admins only) say what the directory reported.
                attempt.cause = match refusal {
                    Refusal::InvalidCredentials => "wrong password".into(),
                    other => format!("{other:?}, reported without checking the password"),
                };
                attempt.step("bind", false, since, format!("invalid credentials ({})", attempt.cause));
                return Err(refused(LoginReason::InvalidCredentials, INVALID));
            }
            Verdict::Refused { refusal, password_confirmed: true } => {
                let reason = match refusal {
                    Refusal::AccountLocked => LoginReason::AccountLocked,
                    Refusal::PasswordExpired => LoginReason::PasswordExpired,
                    Refusal::PasswordMustChange => LoginReason::PasswordMustChange,
                    Refusal::AccountDisabled | Refusal::AccountExpired | Refusal::LogonRestricted => {
                        LoginReason::UserDisabled
                    }
                    Refusal::InvalidCredentials => LoginReason::InvalidCredentials,
                };
                let message = if reason == LoginReason::InvalidCredentials { INVALID } else { refusal.describe() };
                attempt.step("bind", false, since, message);
                attempt.cause = message.into();
                return Err(refused(reason, message));
            }
            Verdict::Failed { rc } => {
                attempt.step("bind", false, since, format!("LDAP error {rc}"));
                attempt.cause = format!("bind answered LDAP error {rc}");
                return Err(AppError::unavailable(format!("the directory answered the bind with LDAP error {rc}")));
            }
        };
        attempt.step("bind", true, since, format!("bound as {}", entry.dn));

        let since = Instant::now();
        if !crate::mapping::is_enabled(&entry, repo.users.account_status_attribute.as_deref()) {
            attempt.step("account state", false, since, "disabled");
            attempt.cause = "account disabled".into();
            return Err(refused(LoginReason::UserDisabled, "the account is disabled"));
        }
        attempt.step("account state", true, since, "enabled");

        let since = Instant::now();
        let now = now_rfc3339();
        let mut user = crate::mapping::map_user(repo, &entry, Some(now.clone())).map_err(|e| {
            attempt.cause = format!("entry cannot be mapped: {e}");
            AppError::conflict(format!("the directory accepted the password, but the entry cannot be used: {e}"))
        })?;
        let keys = crate::mapping::user_member_keys(&user);
        let facts = self.stored_facts(tenant, &repo.id, &user.ldap_uuid, keys).await?;
        self.admit(tenant, repo, &mut user, facts.stored.clone(), &now, attempt).await?;
        Self::apply_memberships(repo, &mut user, facts.memberships.clone());
        attempt.step(
            "assignments",
            true,
            since,
            format!(
                "roles: {}; user types: {}; user groups: {}",
                list(&user.roles),
                list(&user.user_types),
                list(&user.user_groups)
            ),
        );
        let password_expires_at = expires_in.map(|s| crate::clock::rfc3339_at(unix_now() + i64::from(s)));
        Ok(LoginSuccess { user, repository_id: repo.id.clone(), password_expires_at, grace_logins_remaining })
    }

    /// The repository's login options: whether a user it has not stored may
    /// sign in, whether the login stores or refreshes them.
    async fn admit(
        &self,
        tenant: &str,
        repo: &Repository,
        user: &mut User,
        stored: Option<(Vec<u8>, String)>,
        now: &str,
        attempt: &mut Attempt,
    ) -> Result<(), AppError> {
        let options = &repo.login;
        if stored.is_none() {
            if let Some(linked) = self.linked_user(tenant, repo, user, now, attempt).await? {
                // The entry answers as the user it is linked to; it is not
                // stored a second time.
                user.id = linked;
                user.synced_at = None;
                return Ok(());
            }
        }
        let prepared = crate::store::rows::PreparedUser::of(user.clone());
        let write = match &stored {
            None if !options.is_creation_allowed => {
                attempt.cause = "not imported, and the repository admits only imported users".into();
                return Err(refused(
                    LoginReason::InvalidCredentials,
                    "the directory accepted the password, but this repository admits only users it has imported",
                ));
            }
            None => options.is_auto_creation,
            // Only a changed entry is written: most logins change nothing.
            Some((hash, _)) => options.is_auto_update && hash[..] != prepared.hash[..],
        };
        if write {
            let written = self.store.upsert_user(tenant, &repo.id, &prepared, now).await.map_err(store_err);
            // After the write: a login between the two cannot keep the old facts.
            self.facts.forget(tenant, &repo.id, &user.ldap_uuid);
            if let Some(refused) = written? {
                // Another entry holds the username: the login still answers
                // with the fresh entry, the store keeps what it had.
                tracing::warn!(
                    tenant,
                    repository = repo.id,
                    dn = user.ldap_dn,
                    reason = refused.message,
                    "login: user not stored"
                );
            }
        } else {
            // Not written: the store's time, or none for a user it does not hold.
            user.synced_at = stored.map(|(_, at)| at);
        }
        Ok(())
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl Service {
    /// The user of the tenant an entry this repository has not stored
    /// answers as: one it was linked to before, or, with linking allowed,
    /// the one user from another repository with the same username or
    /// e-mail address (`autoLinking`), linked now. Several candidates link
    /// none.
    async fn linked_user(
        &self,
        tenant: &str,
        repo: &Repository,
        user: &User,
        now: &str,
        attempt: &mut Attempt,
    ) -> Result<Option<String>, AppError> {
        if let Some(id) = self.store.linked_user(tenant, &repo.id, &user.ldap_uuid).await.map_err(store_err)? {
            return Ok(Some(id));
        }
        let options = &repo.login;
        if !options.is_linking_allowed {
            return Ok(None);
        }
        let found = match (options.auto_linking, user.email.as_deref()) {
            (AutoLinking::AutoLinkingOptionUsername, _) => self.store.users_named(tenant, &user.username).await,
            (AutoLinking::AutoLinkingOptionEmail, Some(email)) => self.store.users_with_email(tenant, email).await,
            _ => return Ok(None),
        }
        .map_err(store_err)?;
        let others: Vec<&User> = found.iter().filter(|u| u.repository_id != repo.id).collect();
        let [other] = others.as_slice() else {
            if others.len() > 1 {
                tracing::warn!(
                    tenant,
                    repository = repo.id,
                    dn = user.ldap_dn,
                    "login: several users to link to; none linked"
                );
            }
            return Ok(None);
        };
        self.store.link_user(tenant, &repo.id, &user.ldap_uuid, &other.id, now).await.map_err(store_err)?;
        tracing::info!(
            tenant,
            repository = repo.id,
            dn = user.ldap_dn,
            linked = other.id,
            "login: entry linked to a user of another repository"
        );
        attempt.cause = format!("linked to {}", other.id);
        Ok(Some(other.id.clone()))
    }
}

/// The outcome's name in the log and the counts.
pub(super) fn outcome_of(result: &Result<LoginSuccess, AppError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(AppError::InvalidGrant { reason, .. }) => reason.as_str(),
        Err(AppError::Throttled { .. }) => "throttled",
        Err(AppError::Unavailable { .. }) => "unavailable",
        Err(_) => "error",
    }
}

impl Service {
    /// Logs and counts a finished login.
    pub(super) fn record_login(&self, tenant: &str, username: &str, attempt: &Attempt, outcome: &'static str) {
        self.login_counts.count(outcome);
        let millis = attempt.started.elapsed().as_millis() as u64;
        let repository = attempt.repository.as_deref().unwrap_or("-");
        crate::metrics::global().login(outcome, repository, attempt.started.elapsed());
        if outcome == "success" {
            tracing::info!(tenant, username, repository, outcome, millis, "login");
        } else {
            tracing::warn!(tenant, username, repository, outcome, cause = attempt.cause, millis, "login refused");
        }
    }
}
