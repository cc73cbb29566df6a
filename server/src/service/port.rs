//! The console's port: every operation the server functions and the REST
//! API share, so the two never diverge.

use super::repositories::{slug_from_name, tidy};
use super::secrets::StoredSecrets;
use super::{internal, start_err, store_err, Service, ServicePort};
use crate::clock::{now_rfc3339, unix_now};
use crate::ldap;
use crate::store::{RepositoryRow, StoreError};
use crate::validate::StoredSecretState;
use app::error::{AppError, FieldError};
use app::model::*;
use app::port::{Backend, SessionToken, UserQuery};

impl Service {
    /// A user's groups: the synchronised groups that list the user as a
    /// member, directly or through nested groups, and the values of the
    /// membership attribute (memberOf) read with the user. DNs, deduplicated.
    /// Roles assigned by group follow from them.
    pub(super) async fn resolve_groups(
        &self,
        tenant: &str,
        repo: &Repository,
        user: &mut User,
    ) -> Result<(), AppError> {
        let keys = crate::mapping::user_member_keys(user);
        let memberships = self.store.memberships(tenant, &user.repository_id, &keys).await.map_err(store_err)?;
        Self::apply_memberships(repo, user, memberships);
        Ok(())
    }

    /// A user's groups and group roles from their synced memberships (see
    /// [`Self::resolve_groups`]).
    pub(super) fn apply_memberships(
        repo: &Repository,
        user: &mut User,
        memberships: Vec<crate::store::groups::Membership>,
    ) {
        let mut seen: std::collections::HashSet<String> =
            memberships.iter().map(|m| crate::dn::normalize(&m.dn)).collect();
        let mut groups: Vec<String> = memberships.into_iter().map(|m| m.dn).collect();
        for dn in std::mem::take(&mut user.groups) {
            if seen.insert(crate::dn::normalize(&dn)) {
                groups.push(dn);
            }
        }
        crate::mapping::add_roles(user, crate::mapping::roles_of_groups(repo, groups.iter().map(String::as_str)));
        user.groups = groups;
    }

    /// [`Self::resolve_groups`] for users of any repositories of a tenant.
    async fn resolve_groups_of(&self, tenant: &str, users: &mut [User]) -> Result<(), AppError> {
        let mut repos: std::collections::HashMap<String, Repository> = std::collections::HashMap::new();
        for user in users {
            if !repos.contains_key(&user.repository_id) {
                let row = self.load_row(tenant, &user.repository_id).await?;
                repos.insert(user.repository_id.clone(), Service::stored_body(&row)?);
            }
            if let Some(repo) = repos.get(&user.repository_id) {
                self.resolve_groups(tenant, repo, user).await?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Backend for ServicePort {
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<SessionToken, AppError> {
        self.0.sign_in(username, password, client).await
    }

    async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        self.0.end_session(token).await
    }

    async fn list_repositories(&self, tenant: &str) -> Result<Vec<Repository>, AppError> {
        self.0.require_tenant(tenant).await?;
        let rows = self.0.store.list_repositories(tenant).await.map_err(store_err)?;
        let mut repos = rows.iter().map(|r| self.0.repository_of(tenant, r)).collect::<Result<Vec<_>, _>>()?;
        repos.sort_by(|a, b| {
            a.priority.cmp(&b.priority).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
        Ok(repos)
    }

    async fn get_repository(&self, tenant: &str, id: &str) -> Result<Repository, AppError> {
        self.0.require_tenant(tenant).await?;
        let row = self.0.load_row(tenant, id).await?;
        self.0.repository_of(tenant, &row)
    }

    async fn create_repository(&self, tenant: &str, mut repo: Repository) -> Result<Repository, AppError> {
        self.0.require_tenant(tenant).await?;
        tidy(&mut repo);
        app::presets::fill_defaults(&mut repo);
        Service::check(&repo, StoredSecretState::default())?;
        if repo.id.is_empty() {
            let base = slug_from_name(&repo.name);
            repo.id = match self.0.store.get_repository(tenant, &base).await {
                Err(StoreError::NotFound) => base,
                _ => {
                    let suffix = crate::crypto::random_bytes::<3>().map_err(|e| internal("random", e))?;
                    format!("{base}-{}", hex::encode(suffix))
                }
            };
        }
        let secrets = Service::merge_secrets(&StoredSecrets::default(), &repo);
        let now = now_rfc3339();
        let row = RepositoryRow {
            id: repo.id.clone(),
            body: Service::body_of(&repo)?,
            secrets: self.0.seal_secrets(tenant, &repo.id, &secrets)?,
            version: 1,
            created: now.clone(),
            changed: now,
            state: "active".into(),
        };
        self.0.store.insert_repository(tenant, &row).await.map_err(|e| match e {
            StoreError::Conflict => AppError::conflict(format!("a repository with id '{}' already exists", repo.id)),
            other => store_err(other),
        })?;
        tracing::info!(tenant, repository = repo.id, "repository created");
        self.0.repository_of(tenant, &row)
    }

    async fn replace_repository(&self, tenant: &str, id: &str, mut repo: Repository) -> Result<Repository, AppError> {
        self.0.require_tenant(tenant).await?;
        let row = self.0.load_row(tenant, id).await?;
        if !repo.id.trim().is_empty() && repo.id.trim() != id {
            return Err(AppError::validation(vec![FieldError {
                field: "id".into(),
                message: format!("'{}' does not match the id in the path ('{id}')", repo.id.trim()),
            }]));
        }
        if row.state == "deleting" {
            return Err(AppError::conflict(format!("repository '{id}' is being deleted")));
        }
        if let Some(expected) = repo.meta.as_ref().map(|m| m.version).filter(|v| *v != 0) {
            if expected as i64 != row.version {
                return Err(AppError::conflict(format!(
                    "meta.version {expected} is not the current version ({}); reload the repository and apply your change again",
                    row.version
                )));
            }
        }
        repo.id = id.to_string();
        tidy(&mut repo);
        app::presets::fill_defaults(&mut repo);
        let old = self.0.open_secrets(tenant, &row)?;
        Service::check(&repo, StoredSecretState { bind_password_stored: old.bind_password.is_some() })?;
        let secrets = Service::merge_secrets(&old, &repo);
        let updated = RepositoryRow {
            id: id.to_string(),
            body: Service::body_of(&repo)?,
            secrets: self.0.seal_secrets(tenant, id, &secrets)?,
            version: row.version + 1,
            created: row.created.clone(),
            changed: now_rfc3339(),
            state: row.state.clone(),
        };
        // The stored cookies stay a place to continue from unless what a run
        // reads, or how it maps, changed (a rename or a schedule does not).
        // The stored body is enough: what a run reads never includes a
        // secret, so the sealed secrets are not opened a second time.
        let before = Service::stored_body(&row)?;
        let reads_changed = crate::sync::fingerprint::reads_differently(&before, &repo);
        self.0.store.update_repository(tenant, &updated, row.version, reads_changed).await.map_err(store_err)?;
        self.0.pools.forget(tenant, id);
        self.0.facts.clear();
        tracing::info!(tenant, repository = id, version = updated.version, "repository replaced");
        self.0.repository_of(tenant, &updated)
    }

    async fn delete_repository(&self, tenant: &str, id: &str) -> Result<(), AppError> {
        self.0.require_tenant(tenant).await?;
        let row = self.0.load_row(tenant, id).await?;
        if self.0.sync.is_running(tenant, id) {
            return Err(AppError::conflict(format!(
                "a sync of repository '{id}' is running; delete it when the run has ended"
            )));
        }
        if row.state != "deleting" {
            self.0.store.set_repository_state(tenant, id, "deleting").await.map_err(store_err)?;
            self.0.pools.forget(tenant, id);
            self.0.facts.clear();
            tracing::info!(tenant, repository = id, "repository deletion started");
            self.0.delete_in_background(tenant.to_string(), id.to_string()).await;
        }
        Ok(())
    }

    async fn test_connection(
        &self,
        tenant: &str,
        draft: Repository,
        stored_id: Option<String>,
        login: TestLogin,
    ) -> Result<TestResult, AppError> {
        let (repo, secrets) = self.0.prepare_draft(tenant, draft, stored_id).await?;
        let result = ldap::connection_test::test_connection(&repo, &secrets, &login).await;
        tracing::info!(tenant, repository = repo.id, ok = result.ok, "connection test");
        Ok(result)
    }

    async fn preview(
        &self,
        tenant: &str,
        draft: Repository,
        stored_id: Option<String>,
        limit: usize,
    ) -> Result<Preview, AppError> {
        let (repo, secrets) = self.0.prepare_draft(tenant, draft, stored_id).await?;
        let entries = ldap::first_users(&repo, &secrets, limit)
            .await
            .map_err(|m| AppError::unavailable(format!("preview failed: {m}")))?;
        let mut preview = Preview::default();
        for entry in &entries {
            match crate::mapping::map_user(&repo, entry, None) {
                Ok(u) => preview.users.push(u),
                Err(e) => preview.errors.push(e.to_string()),
            }
        }
        Ok(preview)
    }

    async fn test_stored(&self, tenant: &str, id: &str, login: TestLogin) -> Result<TestResult, AppError> {
        let repo = self.get_repository(tenant, id).await?;
        self.test_connection(tenant, repo, Some(id.to_string()), login).await
    }

    async fn preview_stored(&self, tenant: &str, id: &str, limit: usize) -> Result<Preview, AppError> {
        let repo = self.get_repository(tenant, id).await?;
        self.preview(tenant, repo, Some(id.to_string()), limit).await
    }

    async fn start_sync(&self, tenant: &str, id: &str, request: SyncRequest) -> Result<String, AppError> {
        self.0.require_tenant(tenant).await?;
        let row = self.0.load_row(tenant, id).await?;
        if row.state == "deleting" {
            return Err(AppError::conflict(format!("repository '{id}' is being deleted")));
        }
        let repo = self.0.repository_of(tenant, &row)?;
        if !repo.enabled {
            return Err(AppError::conflict(format!(
                "repository '{id}' is disabled: it neither syncs nor signs anyone in until it is enabled"
            )));
        }
        let secrets = self.0.open_secrets(tenant, &row)?.for_directory();
        let run = self.0.sync.start(tenant, repo, secrets, request).await.map_err(start_err)?;
        Ok(run.to_string())
    }

    async fn sync_runs(&self, tenant: &str, id: &str) -> Result<Vec<SyncRun>, AppError> {
        self.0.require_tenant(tenant).await?;
        self.0.load_row(tenant, id).await?;
        self.0.store.list_runs(tenant, id, 100).await.map_err(store_err)
    }

    async fn sync_run(&self, tenant: &str, id: &str, run_id: &str) -> Result<SyncRun, AppError> {
        self.0.require_tenant(tenant).await?;
        let not_found = || AppError::not_found(format!("sync run '{run_id}' of repository '{id}' does not exist"));
        let n: i64 = run_id.parse().map_err(|_| not_found())?;
        self.0.store.get_run(tenant, id, n).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => store_err(other),
        })
    }

    async fn list_users(&self, tenant: &str, query: UserQuery) -> Result<UserList, AppError> {
        self.0.require_tenant(tenant).await?;
        let (offset, limit) = paging(&query)?;
        let (total, mut users) =
            self.0.store.list_users(list_filter(tenant, &query), offset, limit).await.map_err(store_err)?;
        self.0.resolve_groups_of(tenant, &mut users).await?;
        Ok(UserList { total_results: total, users })
    }

    async fn list_groups(&self, tenant: &str, query: UserQuery) -> Result<GroupList, AppError> {
        self.0.require_tenant(tenant).await?;
        let (offset, limit) = paging(&query)?;
        let (total, groups) =
            self.0.store.list_groups(list_filter(tenant, &query), offset, limit).await.map_err(store_err)?;
        Ok(GroupList { total_results: total, groups })
    }

    async fn next_runs(&self, tenant: &str, id: &str) -> Result<NextRuns, AppError> {
        let row = self.0.load_row(tenant, id).await?;
        let repo = self.0.repository_of(tenant, &row)?;
        Ok(crate::schedule::next_runs(&self.0.store, tenant, &repo, unix_now()).await)
    }

    async fn resync_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError> {
        if user_id.trim().is_empty() {
            return Err(AppError::bad_request("the user id is empty"));
        }
        let stored = self.get_user(tenant, user_id).await?;
        // One writer of a repository's users at a time: the run re-reads this
        // entry anyway, and an import trusts that only it adds usernames.
        if self.0.sync.is_running(tenant, &stored.repository_id) {
            return Err(AppError::conflict(format!(
                "a sync of repository '{}' is running and re-reads this user; try again when it has ended",
                stored.repository_id
            )));
        }
        let row = self.0.load_row(tenant, &stored.repository_id).await?;
        let repo = self.0.repository_of(tenant, &row)?;
        let secrets = self.0.open_secrets(tenant, &row)?.for_directory();
        let now = now_rfc3339();
        let entry = ldap::read_user(&repo, &secrets, &stored.ldap_dn, &stored.ldap_uuid)
            .await
            .map_err(|m| AppError::unavailable(format!("the directory could not be read: {m}")))?;
        let Some(entry) = entry else {
            let delete = repo.sync.deletion.policy == DeletionPolicyKind::Delete;
            self.0.store.remove_user(tenant, &repo.id, &stored.ldap_uuid, delete, &now).await.map_err(store_err)?;
            tracing::info!(tenant, user = user_id, delete, "user gone from the directory on re-sync");
            return Err(AppError::not_found(format!(
                "the entry of user '{}' is gone from the directory; the user was {}",
                stored.username,
                if delete { "deleted" } else { "disabled" }
            )));
        };
        let user = crate::mapping::map_user(&repo, &entry, None)
            .map_err(|e| AppError::Conflict { message: format!("the entry can no longer be imported: {e}") })?;
        let prepared = crate::store::rows::PreparedUser::of(user);
        if let Some(refused) = self.0.store.upsert_user(tenant, &repo.id, &prepared, &now).await.map_err(store_err)? {
            return Err(AppError::Conflict {
                message: format!("the entry can no longer be imported: {}", refused.message),
            });
        }
        self.get_user(tenant, user_id).await
    }

    async fn login(
        &self,
        tenant: &str,
        request: LoginRequest,
        client: Option<std::net::IpAddr>,
    ) -> Result<LoginSuccess, AppError> {
        let mut attempt = super::login::Attempt::new(false);
        let result = self.0.login(tenant, &request, client, None, &mut attempt).await;
        self.0.record_login(tenant, request.username.trim(), &attempt, super::login::outcome_of(&result));
        result
    }

    async fn test_login(
        &self,
        tenant: &str,
        repository_id: Option<String>,
        request: LoginRequest,
    ) -> Result<LoginTrace, AppError> {
        let mut attempt = super::login::Attempt::new(true);
        let only = repository_id.as_deref().filter(|id| !id.is_empty());
        let result = self.0.login(tenant, &request, None, only, &mut attempt).await;
        self.0.record_login(tenant, request.username.trim(), &attempt, super::login::outcome_of(&result));
        let steps = attempt.steps.unwrap_or_default();
        match result {
            Ok(success) => Ok(LoginTrace { ok: true, steps, success: Some(success), failure: None }),
            // The caller's own mistakes and a missing tenant are errors of
            // the request, not of the login.
            Err(e @ (AppError::BadRequest { .. } | AppError::NotFound { .. } | AppError::Throttled { .. })) => Err(e),
            Err(e) => Ok(LoginTrace { ok: false, steps, success: None, failure: Some(e) }),
        }
    }

    async fn get_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError> {
        self.0.require_tenant(tenant).await?;
        let not_found = || AppError::not_found(format!("user '{user_id}' does not exist"));
        let (repo, uuid) = user_id.split_once(':').ok_or_else(not_found)?;
        let mut user = self.0.store.get_user(tenant, repo, uuid).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => store_err(other),
        })?;
        self.0.resolve_groups_of(tenant, std::slice::from_mut(&mut user)).await?;
        Ok(user)
    }
}

fn list_filter<'a>(tenant: &'a str, query: &'a UserQuery) -> crate::store::ListFilter<'a> {
    crate::store::ListFilter { tenant, repository_id: query.repository_id.as_deref(), search: query.search.as_deref() }
}

/// Offset and limit of a list query (`page` from 1, `pageSize` 1..=1000, 50 by default).
fn paging(query: &UserQuery) -> Result<(i64, i64), AppError> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(50);
    if page == 0 || !(1..=1000).contains(&page_size) {
        return Err(AppError::bad_request("page starts at 1 and pageSize must be between 1 and 1000"));
    }
    Ok((i64::from(page - 1) * i64::from(page_size), i64::from(page_size)))
}
