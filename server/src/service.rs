//! The one service behind the console (server functions) and the REST API.

use crate::auth;
pub use crate::clock::{now_rfc3339, unix_now};
use crate::crypto::SecretBox;
use crate::ldap::{self, Secrets};
use crate::store::{RepositoryRow, Store, StoreError};
use crate::validate::{self, StoredSecretState};
use app::error::{AppError, FieldError};
use app::model::*;
use app::port::{Backend, SessionToken, UserQuery};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Service {
    store: Store,
    secret_box: SecretBox,
    sync: Arc<crate::sync::SyncEngine>,
}

/// Secrets of a repository, sealed as one JSON document.
#[derive(Clone, Default, Serialize, Deserialize)]
struct StoredSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bind_password: Option<String>,
    /// Referral server URL -> bind password.
    #[serde(default)]
    referral_passwords: BTreeMap<String, String>,
}

fn internal(context: &str, e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "{context}");
    AppError::internal(format!("{context}; see the server log"))
}

fn store_err(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("not found"),
        StoreError::Conflict => AppError::conflict("already exists"),
        StoreError::StaleVersion => AppError::conflict("the repository was changed meanwhile; reload and try again"),
        other => internal("store error", other),
    }
}

/// Applies a write-only secret field: absent keeps, null clears, a value replaces.
fn apply_secret(current: Option<String>, update: &Option<Option<String>>) -> Option<String> {
    match update {
        None => current,
        Some(None) => None,
        Some(Some(v)) if v.is_empty() => None,
        Some(Some(v)) => Some(v.clone()),
    }
}

/// Trims what admins paste with stray spaces, without changing meaning.
fn tidy(repo: &mut Repository) {
    repo.id = repo.id.trim().to_string();
    repo.name = repo.name.trim().to_string();
    for list in [
        &mut repo.connection.servers,
        &mut repo.users.object_classes,
        &mut repo.users.filters,
        &mut repo.groups.object_classes,
    ] {
        for s in list.iter_mut() {
            *s = s.trim().to_string();
        }
        list.retain(|s| !s.is_empty());
    }
    repo.users.base_dn = repo.users.base_dn.trim().to_string();
    for opt in [
        &mut repo.users.users_dn,
        &mut repo.connection.bind_dn,
        &mut repo.connection.ca_certificate,
        &mut repo.users.account_status_attribute,
        &mut repo.groups.groups_dn,
        &mut repo.groups.membership_attribute,
        &mut repo.sync.full_sync.cron,
        &mut repo.sync.changed_sync.cron,
    ] {
        *opt = opt.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    }
    for m in &mut repo.users.attribute_mappings {
        m.attribute = m.attribute.trim().to_string();
        m.ldap_attribute = m.ldap_attribute.trim().to_string();
    }
}

fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "repository".into()
    } else {
        slug
    }
}

impl Service {
    pub fn new(store: Store, secret_box: SecretBox) -> Arc<Service> {
        let sync = crate::sync::SyncEngine::new(store.clone());
        Arc::new(Service { store, secret_box, sync })
    }

    /// Changes whenever a sync run's end has been stored (see
    /// [`crate::sync::SyncEngine::run_ends`]).
    pub fn sync_run_ends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sync.run_ends()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The admin behind a session token, if the session is live.
    pub async fn authenticate(&self, token: &str) -> Option<String> {
        match self.store.session_user(&auth::token_hash(token), unix_now()).await {
            Ok(user) => user,
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                None
            }
        }
    }

    /// Creates the bootstrap admin on first start; returns the generated password, if one was generated.
    pub async fn ensure_admin(&self, password_from_env: Option<String>) -> Result<Option<String>, String> {
        if self.store.admin_count().await.map_err(|e| e.to_string())? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password_from_env.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (auth::generate_password()?, true),
        };
        let hash = auth::hash_password(&password)?;
        self.store.create_admin("admin", &hash, &now_rfc3339()).await.map_err(|e| e.to_string())?;
        Ok(generated.then_some(password))
    }

    async fn require_tenant(&self, tenant: &str) -> Result<(), AppError> {
        if validate::is_tenant_slug(tenant) && self.store.tenant_exists(tenant).await.map_err(store_err)? {
            Ok(())
        } else {
            Err(AppError::not_found(format!("tenant '{tenant}' does not exist")))
        }
    }

    /// The stored row of a repository; 404 when there is none.
    async fn load_row(&self, tenant: &str, id: &str) -> Result<RepositoryRow, AppError> {
        self.store.get_repository(tenant, id).await.map_err(|e| match e {
            StoreError::NotFound => AppError::not_found(format!("repository '{id}' does not exist")),
            other => store_err(other),
        })
    }

    fn aad(tenant: &str, id: &str) -> Vec<u8> {
        format!("repository/{tenant}/{id}").into_bytes()
    }

    fn open_secrets(&self, tenant: &str, row: &RepositoryRow) -> Result<StoredSecrets, AppError> {
        match &row.secrets {
            None => Ok(StoredSecrets::default()),
            Some(sealed) => {
                let plain = self
                    .secret_box
                    .open(sealed, &Self::aad(tenant, &row.id))
                    .map_err(|e| internal("secret decryption failed", e))?;
                serde_json::from_slice(&plain).map_err(|e| internal("stored secrets are unreadable", e))
            }
        }
    }

    fn seal_secrets(&self, tenant: &str, id: &str, secrets: &StoredSecrets) -> Result<Option<Vec<u8>>, AppError> {
        if secrets.bind_password.is_none() && secrets.referral_passwords.is_empty() {
            return Ok(None);
        }
        let plain = serde_json::to_vec(secrets).map_err(|e| internal("secrets could not be encoded", e))?;
        self.secret_box
            .seal(&plain, &Self::aad(tenant, id))
            .map(Some)
            .map_err(|e| internal("secret encryption failed", e))
    }

    /// The resource as stored (no secrets, no read-only parts).
    fn body_of(repo: &Repository) -> Result<String, AppError> {
        let mut clean = repo.clone();
        clean.connection.bind_password = None;
        clean.connection.bind_password_set = false;
        for r in &mut clean.connection.referrals.servers {
            r.bind_password = None;
            r.bind_password_set = false;
        }
        clean.meta = None;
        clean.state = RepositoryState::Active;
        serde_json::to_string(&clean).map_err(|e| internal("repository could not be encoded", e))
    }

    fn repository_of(&self, tenant: &str, row: &RepositoryRow) -> Result<Repository, AppError> {
        let mut repo: Repository =
            serde_json::from_str(&row.body).map_err(|e| internal("stored repository is unreadable", e))?;
        let secrets = self.open_secrets(tenant, row)?;
        repo.id = row.id.clone();
        repo.connection.bind_password = None;
        repo.connection.bind_password_set = secrets.bind_password.is_some();
        for r in &mut repo.connection.referrals.servers {
            r.bind_password = None;
            r.bind_password_set = secrets.referral_passwords.contains_key(&r.url);
        }
        repo.state = if row.state == "deleting" { RepositoryState::Deleting } else { RepositoryState::Active };
        repo.meta = Some(Meta {
            version: row.version as u64,
            created: row.created.clone(),
            changed: row.changed.clone(),
            resource_owner: tenant.to_string(),
        });
        Ok(repo)
    }

    fn merge_secrets(old: &StoredSecrets, repo: &Repository) -> StoredSecrets {
        let mut referral_passwords = BTreeMap::new();
        for r in &repo.connection.referrals.servers {
            if let Some(p) = apply_secret(old.referral_passwords.get(&r.url).cloned(), &r.bind_password) {
                referral_passwords.insert(r.url.clone(), p);
            }
        }
        StoredSecrets {
            bind_password: apply_secret(old.bind_password.clone(), &repo.connection.bind_password),
            referral_passwords,
        }
    }

    fn check(repo: &Repository, stored: StoredSecretState) -> Result<(), AppError> {
        let errors = validate::validate(repo, stored);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::validation(errors))
        }
    }

    /// A draft prepared for LDAP work: defaults filled, validated, secrets resolved.
    async fn prepare_draft(
        &self,
        tenant: &str,
        mut draft: Repository,
        stored_id: Option<String>,
    ) -> Result<(Repository, Secrets), AppError> {
        self.require_tenant(tenant).await?;
        tidy(&mut draft);
        app::presets::fill_defaults(&mut draft);
        let old = match stored_id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => {
                let row = self.load_row(tenant, id).await?;
                self.open_secrets(tenant, &row)?
            }
            None => StoredSecrets::default(),
        };
        Self::check(&draft, StoredSecretState { bind_password_stored: old.bind_password.is_some() })?;
        let merged = Self::merge_secrets(&old, &draft);
        Ok((draft, Secrets { bind_password: merged.bind_password }))
    }

    async fn delete_in_background(self: &Arc<Self>, tenant: String, id: String) {
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                match service.store.delete_users_batch(&tenant, &id, 1000).await {
                    Ok(0) => break,
                    Ok(n) => tracing::info!(tenant, repository = id, deprovisioned = n, "deprovisioning users"),
                    Err(e) => {
                        // The repository stays in `deleting`; the next start resumes.
                        tracing::error!(tenant, repository = id, error = %e, "deprovisioning failed");
                        return;
                    }
                }
            }
            match service.store.delete_repository_row(&tenant, &id).await {
                Ok(()) => tracing::info!(tenant, repository = id, "repository deleted"),
                Err(e) => tracing::error!(tenant, repository = id, error = %e, "repository row could not be deleted"),
            }
        });
    }

    /// Resumes deletions a previous process left unfinished.
    /// A user's groups: the synchronised groups that list the user as a
    /// member, directly or through nested groups, and the values of the
    /// membership attribute (memberOf) read with the user. DNs, deduplicated.
    async fn resolve_groups(&self, tenant: &str, user: &mut User) -> Result<(), AppError> {
        let keys = crate::mapping::user_member_keys(user);
        let memberships = self.store.memberships(tenant, &user.repository_id, &keys).await.map_err(store_err)?;
        let mut seen: std::collections::HashSet<String> =
            memberships.iter().map(|m| crate::dn::normalize(&m.dn)).collect();
        let mut groups: Vec<String> = memberships.into_iter().map(|m| m.dn).collect();
        for dn in std::mem::take(&mut user.groups) {
            if seen.insert(crate::dn::normalize(&dn)) {
                groups.push(dn);
            }
        }
        user.groups = groups;
        Ok(())
    }

    pub async fn resume_deletions(self: &Arc<Self>) {
        match self.store.repositories_being_deleted().await {
            Ok(list) => {
                for (tenant, id) in list {
                    self.delete_in_background(tenant, id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "could not list repositories being deleted"),
        }
    }
}

/// The service as the port; an `Arc<Service>` so background work can outlive a request.
pub struct ServicePort(pub Arc<Service>);

/// What the HTTP layer needs of the service besides the console's port
/// (which the server functions share): readiness, whose a session or token
/// is, and when sync runs end (a run's event stream sends its end at once).
#[async_trait::async_trait]
pub trait HttpOperations: Send + Sync {
    async fn ready(&self) -> Result<(), String>;
    async fn authenticate(&self, token: &str) -> Option<String>;
    fn sync_run_ends(&self) -> tokio::sync::watch::Receiver<u64>;
}

#[async_trait::async_trait]
impl HttpOperations for Service {
    async fn ready(&self) -> Result<(), String> {
        self.store.ping().await.map_err(|e| e.to_string())
    }

    async fn authenticate(&self, token: &str) -> Option<String> {
        Service::authenticate(self, token).await
    }

    fn sync_run_ends(&self) -> tokio::sync::watch::Receiver<u64> {
        Service::sync_run_ends(self)
    }
}

#[async_trait::async_trait]
impl Backend for ServicePort {
    async fn sign_in(&self, username: &str, password: &str) -> Result<SessionToken, AppError> {
        let store = &self.0.store;
        let hash = store.admin_password_hash(username).await.map_err(store_err)?;
        let ok = auth::verify_password(password, hash.as_deref().unwrap_or(auth::dummy_hash())) && hash.is_some();
        if !ok {
            tracing::warn!(username, "admin sign-in failed");
            return Err(AppError::unauthorized("wrong username or password"));
        }
        let token = auth::new_token().map_err(|e| internal("token generation failed", e))?;
        store
            .insert_session(&auth::token_hash(&token), username, unix_now() + auth::SESSION_SECONDS as i64)
            .await
            .map_err(store_err)?;
        let _ = store.delete_expired_sessions(unix_now()).await;
        tracing::info!(username, "admin signed in");
        Ok(SessionToken { token, expires_in_seconds: auth::SESSION_SECONDS })
    }

    async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        self.0.store.delete_session(&auth::token_hash(token)).await.map_err(store_err)
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
        let before = self.0.repository_of(tenant, &row)?;
        let reads_changed = crate::sync::fingerprint::reads_differently(&before, &repo);
        self.0.store.update_repository(tenant, &updated, row.version, reads_changed).await.map_err(store_err)?;
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
        let result = ldap::test_connection(&repo, &secrets, &login).await;
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

    async fn start_sync(&self, tenant: &str, id: &str, request: SyncRequest) -> Result<String, AppError> {
        self.0.require_tenant(tenant).await?;
        let row = self.0.load_row(tenant, id).await?;
        if row.state == "deleting" {
            return Err(AppError::conflict(format!("repository '{id}' is being deleted")));
        }
        let repo = self.0.repository_of(tenant, &row)?;
        let secrets = Secrets { bind_password: self.0.open_secrets(tenant, &row)?.bind_password };
        let run = self.0.sync.start(tenant, repo, secrets, request).await?;
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
        for user in &mut users {
            self.0.resolve_groups(tenant, user).await?;
        }
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
        let secrets = Secrets { bind_password: self.0.open_secrets(tenant, &row)?.bind_password };
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

    async fn get_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError> {
        self.0.require_tenant(tenant).await?;
        let not_found = || AppError::not_found(format!("user '{user_id}' does not exist"));
        let (repo, uuid) = user_id.split_once(':').ok_or_else(not_found)?;
        let mut user = self.0.store.get_user(tenant, repo, uuid).await.map_err(|e| match e {
            StoreError::NotFound => not_found(),
            other => store_err(other),
        })?;
        self.0.resolve_groups(tenant, &mut user).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_follow_absent_null_value() {
        assert_eq!(apply_secret(Some("a".into()), &None), Some("a".into()));
        assert_eq!(apply_secret(Some("a".into()), &Some(None)), None);
        assert_eq!(apply_secret(Some("a".into()), &Some(Some("b".into()))), Some("b".into()));
        assert_eq!(apply_secret(None, &None), None);
    }

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Corp AD (EU)"), "corp-ad-eu");
        assert_eq!(slug_from_name("   "), "repository");
        assert_eq!(slug_from_name("Müller"), "m-ller");
    }
}
