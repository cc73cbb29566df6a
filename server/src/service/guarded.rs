//! The port as one caller sees it: every operation of the console's port
//! checks the caller's permission on its tenant here, in one table, before
//! the service runs it. The HTTP layer builds one per request from the
//! request's credential and gives it to REST handlers and server functions
//! alike; neither reads a session itself.

use super::access::denied;
use super::audit_trail::Change;
use super::{Service, ServicePort};
use crate::audit::diff;
use crate::auth::Principal;
use app::error::AppError;
use app::model::*;
use app::port::{AccessPort, Backend, SessionToken, UserQuery};
use serde_json::{json as value, Value};
use std::net::IpAddr;
use std::sync::Arc;

pub struct GuardedPort {
    port: ServicePort,
    who: Principal,
    /// The caller's address, for the audit trail.
    client: Option<IpAddr>,
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl GuardedPort {
    pub fn new(service: Arc<Service>, who: Principal, client: Option<IpAddr>) -> GuardedPort {
        GuardedPort { port: ServicePort(service), who, client }
    }

    /// Records a change that succeeded.
    async fn record(&self, tenant: Option<&str>, action: &str, target: &str, diff: Value) {
        self.port.0.record(&self.who.actor(), self.client, Change { tenant, action, target, diff }).await;
    }

    pub fn principal(&self) -> &Principal {
        &self.who
    }

    fn allow(&self, tenant: &str, permission: Permission) -> Result<(), AppError> {
        self.who.check(tenant, permission).map_err(denied)
    }
}

#[async_trait::async_trait]
impl Backend for GuardedPort {
    // Public: signing in and out need no permission.
    async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<SessionToken, AppError> {
        self.port.sign_in(username, password, client).await
    }

    async fn sign_out(&self, token: &str) -> Result<(), AppError> {
        self.port.sign_out(token).await
    }

    async fn list_repositories(&self, tenant: &str) -> Result<Vec<Repository>, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.list_repositories(tenant).await
    }

    async fn get_repository(&self, tenant: &str, id: &str) -> Result<Repository, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.get_repository(tenant, id).await
    }

    async fn create_repository(&self, tenant: &str, repo: Repository) -> Result<Repository, AppError> {
        self.allow(tenant, Permission::Configure)?;
        let created = self.port.create_repository(tenant, repo).await?;
        self.record(Some(tenant), "repository.create", &created.id, diff(&Value::Null, &json(&created))).await;
        Ok(created)
    }

    async fn replace_repository(&self, tenant: &str, id: &str, repo: Repository) -> Result<Repository, AppError> {
        self.allow(tenant, Permission::Configure)?;
        let before = self.port.get_repository(tenant, id).await.ok();
        let mut after = self.port.replace_repository(tenant, id, repo.clone()).await?;
        let mut changed = diff(&before.as_ref().map(json).unwrap_or(Value::Null), &json(&after));
        // A secret given anew is a change, though neither side shows it.
        if repo.connection.bind_password.is_some() {
            changed["connection.bindPassword"] = value!({"before": null, "after": "[redacted]"});
        }
        self.record(Some(tenant), "repository.replace", id, changed).await;
        after.connection.bind_password = None;
        Ok(after)
    }

    async fn delete_repository(&self, tenant: &str, id: &str) -> Result<(), AppError> {
        self.allow(tenant, Permission::Configure)?;
        let before = self.port.get_repository(tenant, id).await.ok();
        self.port.delete_repository(tenant, id).await?;
        let removed = diff(&before.as_ref().map(json).unwrap_or(Value::Null), &Value::Null);
        self.record(Some(tenant), "repository.delete", id, removed).await;
        Ok(())
    }

    async fn test_connection(
        &self,
        tenant: &str,
        draft: Repository,
        stored_id: Option<String>,
        login: TestLogin,
    ) -> Result<TestResult, AppError> {
        self.allow(tenant, Permission::Test)?;
        self.port.test_connection(tenant, draft, stored_id, login).await
    }

    async fn preview(
        &self,
        tenant: &str,
        draft: Repository,
        stored_id: Option<String>,
        limit: usize,
    ) -> Result<Preview, AppError> {
        self.allow(tenant, Permission::Test)?;
        self.port.preview(tenant, draft, stored_id, limit).await
    }

    async fn test_stored(&self, tenant: &str, id: &str, login: TestLogin) -> Result<TestResult, AppError> {
        self.allow(tenant, Permission::Test)?;
        self.port.test_stored(tenant, id, login).await
    }

    async fn preview_stored(&self, tenant: &str, id: &str, limit: usize) -> Result<Preview, AppError> {
        self.allow(tenant, Permission::Test)?;
        self.port.preview_stored(tenant, id, limit).await
    }

    async fn start_sync(&self, tenant: &str, id: &str, request: SyncRequest) -> Result<String, AppError> {
        self.allow(tenant, Permission::Sync)?;
        let run = self.port.start_sync(tenant, id, request.clone()).await?;
        let what =
            value!({"run": {"before": null, "after": run}, "mode": {"before": null, "after": json(&request.mode)}});
        self.record(Some(tenant), "sync.start", id, what).await;
        Ok(run)
    }

    async fn sync_runs(&self, tenant: &str, id: &str) -> Result<Vec<SyncRun>, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.sync_runs(tenant, id).await
    }

    async fn sync_run(&self, tenant: &str, id: &str, run_id: &str) -> Result<SyncRun, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.sync_run(tenant, id, run_id).await
    }

    async fn list_users(&self, tenant: &str, query: UserQuery) -> Result<UserList, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.list_users(tenant, query).await
    }

    async fn get_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.get_user(tenant, user_id).await
    }

    async fn resync_user(&self, tenant: &str, user_id: &str) -> Result<User, AppError> {
        self.allow(tenant, Permission::Sync)?;
        let user = self.port.resync_user(tenant, user_id).await?;
        self.record(Some(tenant), "user.resync", user_id, value!({})).await;
        Ok(user)
    }

    async fn list_groups(&self, tenant: &str, query: UserQuery) -> Result<GroupList, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.list_groups(tenant, query).await
    }

    async fn login(
        &self,
        tenant: &str,
        request: LoginRequest,
        client: Option<std::net::IpAddr>,
    ) -> Result<LoginSuccess, AppError> {
        self.allow(tenant, Permission::Login)?;
        self.port.login(tenant, request, client).await
    }

    async fn test_login(
        &self,
        tenant: &str,
        repository_id: Option<String>,
        request: LoginRequest,
    ) -> Result<LoginTrace, AppError> {
        self.allow(tenant, Permission::Test)?;
        self.port.test_login(tenant, repository_id, request).await
    }

    async fn next_runs(&self, tenant: &str, id: &str) -> Result<NextRuns, AppError> {
        self.allow(tenant, Permission::Read)?;
        self.port.next_runs(tenant, id).await
    }
}

/// Access control acts as the caller (the rules per operation are in
/// `service/access.rs`).
#[async_trait::async_trait]
impl AccessPort for GuardedPort {
    async fn whoami(&self) -> Result<Caller, AppError> {
        self.port.0.whoami(&self.who)
    }
    async fn list_tenants(&self) -> Result<Vec<Tenant>, AppError> {
        self.port.0.list_tenants(&self.who).await
    }
    async fn get_tenant(&self, slug: &str) -> Result<Tenant, AppError> {
        self.port.0.get_tenant(&self.who, slug).await
    }
    async fn create_tenant(&self, tenant: Tenant) -> Result<Tenant, AppError> {
        let created = self.port.0.create_tenant(&self.who, tenant).await?;
        self.record(Some(&created.slug), "tenant.create", &created.slug, diff(&Value::Null, &json(&created))).await;
        Ok(created)
    }
    async fn rename_tenant(&self, slug: &str, tenant: Tenant) -> Result<Tenant, AppError> {
        let before = self.port.0.get_tenant(&Principal::System, slug).await.ok();
        let after = self.port.0.rename_tenant(&self.who, slug, tenant).await?;
        self.record(Some(slug), "tenant.rename", slug, diff(&json(&before), &json(&after))).await;
        Ok(after)
    }
    async fn delete_tenant(&self, slug: &str) -> Result<(), AppError> {
        self.port.0.delete_tenant(&self.who, slug).await?;
        self.record(None, "tenant.delete", slug, value!({})).await;
        Ok(())
    }
    async fn list_admins(&self) -> Result<Vec<Admin>, AppError> {
        self.port.0.list_admins(&self.who).await
    }
    async fn get_admin(&self, username: &str) -> Result<Admin, AppError> {
        self.port.0.get_admin(&self.who, username).await
    }
    async fn create_admin(&self, admin: Admin) -> Result<Admin, AppError> {
        let created = self.port.0.create_admin(&self.who, admin).await?;
        self.record(None, "admin.create", &created.username, diff(&Value::Null, &json(&created))).await;
        Ok(created)
    }
    async fn update_admin(&self, username: &str, admin: Admin) -> Result<Admin, AppError> {
        let before = self.port.0.get_admin(&Principal::System, username).await.ok();
        let reset = admin.password.is_some();
        let after = self.port.0.update_admin(&self.who, username, admin).await?;
        let mut changed = diff(&json(&before), &json(&after));
        if reset {
            changed["password"] = value!({"before": null, "after": "[redacted]"});
        }
        self.record(None, "admin.update", username, changed).await;
        Ok(after)
    }
    async fn delete_admin(&self, username: &str) -> Result<(), AppError> {
        self.port.0.delete_admin(&self.who, username).await?;
        self.record(None, "admin.delete", username, value!({})).await;
        Ok(())
    }
    async fn change_password(&self, change: PasswordChange) -> Result<(), AppError> {
        self.port.0.change_password(&self.who, change).await?;
        let me = self.who.username().unwrap_or_default().to_string();
        self.record(None, "admin.password_change", &me, value!({})).await;
        Ok(())
    }
    async fn logout(&self) -> Result<(), AppError> {
        self.port.0.logout(&self.who).await
    }
    async fn list_tokens(&self) -> Result<Vec<ApiToken>, AppError> {
        self.port.0.list_tokens(&self.who).await
    }
    async fn create_token(&self, token: ApiToken) -> Result<NewApiToken, AppError> {
        let made = self.port.0.create_token(&self.who, token).await?;
        let (tenant, id) = (made.token.tenant.clone(), made.token.id.clone());
        self.record(Some(&tenant), "token.create", &id, diff(&Value::Null, &json(&made.token))).await;
        Ok(made)
    }
    async fn revoke_token(&self, id: &str) -> Result<(), AppError> {
        self.port.0.revoke_token(&self.who, id).await?;
        self.record(None, "token.revoke", id, value!({})).await;
        Ok(())
    }
    async fn audit(&self, tenant: &str, query: AuditQuery) -> Result<AuditPage, AppError> {
        self.port.0.audit_page(&self.who, tenant, query).await
    }
}
