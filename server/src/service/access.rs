//! Tenants, admins and API tokens, each operation allowed or refused by
//! the caller's principal (the permission rules are in `auth::principal`;
//! who may manage what is decided here, once per operation).

use super::{internal, store_err, Service};
use crate::auth::{self, Credential, Denied, Principal};
use crate::clock::{now_rfc3339, parse_rfc3339, rfc3339_at, unix_now};
use crate::store::admins::AdminRow;
use crate::store::tokens::TokenRow;
use crate::store::StoreError;
use crate::validate;
use app::error::{AppError, FieldError};
use app::model::{Admin, ApiToken, Caller, NewApiToken, PasswordChange, Permission, Tenant};

/// Tokens live at most this long.
const MAX_TOKEN_SECONDS: i64 = 366 * 24 * 3600;

pub(super) fn denied(d: Denied) -> AppError {
    match d {
        Denied::Unauthenticated => AppError::unauthorized("sign in first, or send a valid bearer token"),
        Denied::Forbidden(m) => AppError::forbidden(m),
    }
}

fn field(field: &str, message: impl Into<String>) -> AppError {
    AppError::validation(vec![FieldError { field: field.into(), message: message.into() }])
}

fn admin_view(row: AdminRow) -> Admin {
    Admin {
        username: row.username,
        enabled: row.enabled,
        super_admin: row.super_admin,
        permissions: row.permissions,
        password: None,
        created_at: row.created,
    }
}

fn token_view(row: TokenRow) -> ApiToken {
    ApiToken {
        id: row.id,
        name: row.name,
        tenant: row.tenant,
        permissions: row.permissions,
        expires_at: rfc3339_at(row.expires_at),
        created_at: row.created_at,
        owner: row.owner,
    }
}

fn not_found(what: &str, e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found(format!("{what} does not exist")),
        other => store_err(other),
    }
}

impl Service {
    pub(super) fn whoami(&self, who: &Principal) -> Result<Caller, AppError> {
        who.check_signed_in().map_err(denied)?;
        Ok(who.caller())
    }

    pub(super) async fn list_tenants(&self, who: &Principal) -> Result<Vec<Tenant>, AppError> {
        who.check_signed_in().map_err(denied)?;
        let all = self.store.tenants().await.map_err(store_err)?;
        Ok(all.into_iter().filter(|t| !who.held_on(&t.slug).is_empty()).collect())
    }

    pub(super) async fn get_tenant(&self, who: &Principal, slug: &str) -> Result<Tenant, AppError> {
        who.check(slug, Permission::Read).map_err(denied)?;
        self.store
            .tenant(slug)
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::not_found(format!("tenant '{slug}' does not exist")))
    }

    pub(super) async fn create_tenant(&self, who: &Principal, tenant: Tenant) -> Result<Tenant, AppError> {
        who.check_super().map_err(denied)?;
        if !validate::is_tenant_slug(&tenant.slug) {
            return Err(field("slug", "1-63 lower-case letters, digits and '-', starting with a letter or digit"));
        }
        let name = tenant.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(field("name", "is required (at most 200 characters)"));
        }
        let created = Tenant { slug: tenant.slug, name: name.to_string(), created_at: now_rfc3339() };
        self.store.insert_tenant(&created).await.map_err(|e| match e {
            StoreError::Conflict => AppError::conflict(format!("tenant '{}' already exists", created.slug)),
            other => store_err(other),
        })?;
        tracing::info!(actor = who.actor(), tenant = created.slug, "tenant created");
        Ok(created)
    }

    pub(super) async fn rename_tenant(&self, who: &Principal, slug: &str, tenant: Tenant) -> Result<Tenant, AppError> {
        who.check(slug, Permission::Admin).map_err(denied)?;
        if !tenant.slug.is_empty() && tenant.slug != slug {
            return Err(field("slug", "cannot change"));
        }
        let name = tenant.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(field("name", "is required (at most 200 characters)"));
        }
        self.store.rename_tenant(slug, name).await.map_err(|e| not_found(&format!("tenant '{slug}'"), e))?;
        tracing::info!(actor = who.actor(), tenant = slug, "tenant renamed");
        self.get_tenant(&Principal::System, slug).await
    }

    pub(super) async fn delete_tenant(&self, who: &Principal, slug: &str) -> Result<(), AppError> {
        who.check_super().map_err(denied)?;
        if slug == "default" {
            return Err(AppError::conflict("the default tenant cannot be deleted"));
        }
        self.store.delete_tenant(slug).await.map_err(|e| match e {
            StoreError::Conflict => {
                AppError::conflict(format!("tenant '{slug}' still has repositories; delete them first"))
            }
            other => not_found(&format!("tenant '{slug}'"), other),
        })?;
        tracing::info!(actor = who.actor(), tenant = slug, "tenant deleted");
        Ok(())
    }

    pub(super) async fn list_admins(&self, who: &Principal) -> Result<Vec<Admin>, AppError> {
        who.check_super().map_err(denied)?;
        Ok(self.store.admins().await.map_err(store_err)?.into_iter().map(admin_view).collect())
    }

    pub(super) async fn get_admin(&self, who: &Principal, username: &str) -> Result<Admin, AppError> {
        if who.username() != Some(username) {
            who.check_super().map_err(denied)?;
        }
        who.check_signed_in().map_err(denied)?;
        self.store
            .admin(username)
            .await
            .map_err(store_err)?
            .map(admin_view)
            .ok_or_else(|| AppError::not_found(format!("admin '{username}' does not exist")))
    }

    /// Tenants and permissions an admin is given: every tenant must exist.
    async fn check_grants(&self, admin: &Admin) -> Result<(), AppError> {
        for tenant in admin.permissions.keys() {
            if self.store.tenant(tenant).await.map_err(store_err)?.is_none() {
                return Err(field(&format!("permissions.{tenant}"), "no such tenant"));
            }
        }
        Ok(())
    }

    pub(super) async fn create_admin(&self, who: &Principal, admin: Admin) -> Result<Admin, AppError> {
        who.check_super().map_err(denied)?;
        let username = admin.username.trim().to_string();
        let valid = |c: char| c.is_ascii_alphanumeric() || "._-@".contains(c);
        if username.is_empty() || username.len() > 64 || !username.chars().all(valid) {
            return Err(field("username", "1-64 letters, digits and . _ - @"));
        }
        let password = admin.password.clone().unwrap_or_default();
        auth::check_password(&username, &password).map_err(|m| field("password", m))?;
        self.check_grants(&admin).await?;
        let row = AdminRow {
            username: username.clone(),
            password_hash: auth::hash_password(&password).map_err(|e| internal("password hashing failed", e))?,
            enabled: admin.enabled,
            super_admin: admin.super_admin,
            permissions: admin.permissions,
            created: now_rfc3339(),
        };
        self.store.insert_admin(&row).await.map_err(|e| match e {
            StoreError::Conflict => AppError::conflict(format!("admin '{username}' already exists")),
            other => store_err(other),
        })?;
        tracing::info!(actor = who.actor(), admin = username, "admin created");
        Ok(admin_view(row))
    }

    pub(super) async fn update_admin(&self, who: &Principal, username: &str, admin: Admin) -> Result<Admin, AppError> {
        who.check_super().map_err(denied)?;
        let mut row = self
            .store
            .admin(username)
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::not_found(format!("admin '{username}' does not exist")))?;
        if !admin.username.is_empty() && admin.username != username {
            return Err(field("username", "cannot change"));
        }
        if who.username() == Some(username) && (!admin.enabled || !admin.super_admin) {
            return Err(AppError::conflict("you cannot disable yourself or take away your own super-admin"));
        }
        self.check_grants(&admin).await?;
        let ends_credentials = (row.enabled && !admin.enabled) || admin.password.is_some();
        if let Some(password) = &admin.password {
            auth::check_password(username, password).map_err(|m| field("password", m))?;
            row.password_hash = auth::hash_password(password).map_err(|e| internal("password hashing failed", e))?;
        }
        row.enabled = admin.enabled;
        row.super_admin = admin.super_admin;
        row.permissions = admin.permissions;
        self.store.update_admin(&row).await.map_err(store_err)?;
        if ends_credentials {
            self.store.end_admin_credentials(username, None, &now_rfc3339()).await.map_err(store_err)?;
        }
        // Sessions and tokens act with what their admin holds now.
        self.credentials.clear();
        tracing::info!(actor = who.actor(), admin = username, "admin changed");
        Ok(admin_view(row))
    }

    pub(super) async fn delete_admin(&self, who: &Principal, username: &str) -> Result<(), AppError> {
        who.check_super().map_err(denied)?;
        if who.username() == Some(username) {
            return Err(AppError::conflict("you cannot delete yourself"));
        }
        self.store.delete_admin(username).await.map_err(|e| not_found(&format!("admin '{username}'"), e))?;
        self.credentials.clear();
        tracing::info!(actor = who.actor(), admin = username, "admin deleted");
        Ok(())
    }

    pub(super) async fn change_password(&self, who: &Principal, change: PasswordChange) -> Result<(), AppError> {
        who.check_signed_in().map_err(denied)?;
        let Principal::Admin { username, credential: Credential::Session(session), .. } = who else {
            return Err(AppError::forbidden("sign in with a password to change it (a token cannot)"));
        };
        let mut row =
            self.store.admin(username).await.map_err(store_err)?.ok_or_else(|| AppError::unauthorized("signed out"))?;
        if !auth::verify_password(&change.current_password, &row.password_hash) {
            return Err(field("currentPassword", "is not your current password"));
        }
        auth::check_password(username, &change.new_password).map_err(|m| field("newPassword", m))?;
        row.password_hash =
            auth::hash_password(&change.new_password).map_err(|e| internal("password hashing failed", e))?;
        self.store.update_admin(&row).await.map_err(store_err)?;
        self.store.end_admin_credentials(username, Some(session), &now_rfc3339()).await.map_err(store_err)?;
        self.credentials.clear();
        tracing::info!(admin = %username, "admin changed their password; other sessions and tokens ended");
        Ok(())
    }

    pub(super) async fn logout(&self, who: &Principal) -> Result<(), AppError> {
        match who {
            Principal::Admin { credential: Credential::Session(hash), .. } => {
                self.store.delete_session(hash).await.map_err(store_err)?
            }
            Principal::Admin { credential: Credential::Token(id), .. } => {
                self.store.revoke_token(id, &now_rfc3339()).await.map_err(store_err)?
            }
            other => other.check_signed_in().map_err(denied)?,
        }
        self.credentials.clear();
        Ok(())
    }

    fn may_see_token(who: &Principal, token: &TokenRow) -> bool {
        who.is_super()
            || who.username() == Some(token.owner.as_str())
            || who.check(&token.tenant, Permission::Admin).is_ok()
    }

    pub(super) async fn list_tokens(&self, who: &Principal) -> Result<Vec<ApiToken>, AppError> {
        who.check_signed_in().map_err(denied)?;
        let all = self.store.tokens(unix_now()).await.map_err(store_err)?;
        Ok(all.into_iter().filter(|t| t.revoked_at.is_none() && Self::may_see_token(who, t)).map(token_view).collect())
    }

    pub(super) async fn create_token(&self, who: &Principal, asked: ApiToken) -> Result<NewApiToken, AppError> {
        who.check_signed_in().map_err(denied)?;
        let Principal::Admin { username, credential: Credential::Session(_), .. } = who else {
            return Err(AppError::forbidden("tokens are made by a signed-in admin, not by another token"));
        };
        let name = asked.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(field("name", "is required (at most 100 characters)"));
        }
        if self.store.tenant(&asked.tenant).await.map_err(store_err)?.is_none() {
            return Err(field("tenant", format!("tenant '{}' does not exist", asked.tenant)));
        }
        if asked.permissions.is_empty() {
            return Err(field("permissions", "name at least one permission"));
        }
        let held = who.held_on(&asked.tenant);
        if let Some(p) = asked.permissions.iter().find(|p| !held.contains(p)) {
            return Err(AppError::forbidden(format!("you do not hold '{p}' on tenant '{}' yourself", asked.tenant)));
        }
        let now = unix_now();
        let expires_at =
            parse_rfc3339(&asked.expires_at).ok_or_else(|| field("expiresAt", "an RFC 3339 time is required"))?;
        if expires_at <= now || expires_at > now + MAX_TOKEN_SECONDS {
            return Err(field("expiresAt", "must be in the future and within a year"));
        }
        let id = format!("tok_{}", hex::encode(crate::crypto::random_bytes::<8>().map_err(|e| internal("random", e))?));
        let secret = format!(
            "{}{}",
            super::credentials::TOKEN_PREFIX,
            auth::new_token().map_err(|e| internal("token generation failed", e))?
        );
        let row = TokenRow {
            id,
            name: name.to_string(),
            owner: username.clone(),
            tenant: asked.tenant,
            permissions: asked.permissions,
            expires_at,
            created_at: now_rfc3339(),
            revoked_at: None,
        };
        self.store.insert_token(&row, &auth::token_hash(&secret)).await.map_err(store_err)?;
        tracing::info!(actor = who.actor(), token = row.id, tenant = row.tenant, "API token created");
        Ok(NewApiToken { token: token_view(row), secret })
    }

    pub(super) async fn revoke_token(&self, who: &Principal, id: &str) -> Result<(), AppError> {
        who.check_signed_in().map_err(denied)?;
        let token = self.store.token(id).await.map_err(store_err)?;
        // Another's token is as absent as one that never was.
        let Some(token) = token.filter(|t| Self::may_see_token(who, t)) else {
            return Err(AppError::not_found(format!("token '{id}' does not exist")));
        };
        self.store.revoke_token(&token.id, &now_rfc3339()).await.map_err(store_err)?;
        self.credentials.clear();
        tracing::info!(actor = who.actor(), token = id, "API token revoked");
        Ok(())
    }
}
