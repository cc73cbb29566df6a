//! Access control on the wire: permissions, tenants, admins, API tokens and
//! who the caller is (docs/api.md, "Access control").

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

wire_enum! {
    /// What a credential may do on one tenant.
    Permission {
        /// Repositories, users, groups, runs and the audit log.
        Read = "read",
        /// Create, change and delete repositories.
        Configure = "configure",
        /// Connection test, preview and test login.
        Test = "test",
        /// Start runs, re-sync single users.
        Sync = "sync",
        /// The login route (for the platform that signs its users in).
        Login = "login",
        /// Admins, tokens and settings of the tenant.
        Admin = "admin",
    }
}

/// Permissions per tenant slug.
pub type Grants = BTreeMap<String, BTreeSet<Permission>>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub created_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Admin {
    #[serde(default)]
    pub username: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub super_admin: bool,
    #[serde(default)]
    pub permissions: Grants,
    /// Write-only: set on create, or to reset it.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    #[serde(default, skip_deserializing)]
    pub created_at: String,
}

fn yes() -> bool {
    true
}

/// A change of one's own password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChange {
    #[serde(default)]
    pub current_password: String,
    #[serde(default)]
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange(redacted)")
    }
}

/// An API token as asked for (POST) and as listed (never with its secret).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    #[serde(default, skip_deserializing)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub permissions: BTreeSet<Permission>,
    /// RFC 3339.
    #[serde(default)]
    pub expires_at: String,
    #[serde(default, skip_deserializing)]
    pub created_at: String,
    /// The admin who made it.
    #[serde(default, skip_deserializing)]
    pub owner: String,
}

/// A token just made: the only answer that carries its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApiToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

impl std::fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiToken").field("token", &self.token).field("secret", &"redacted").finish()
    }
}

/// Who the caller is, as the console shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    pub username: String,
    pub super_admin: bool,
    /// What the caller holds on each tenant it can see.
    pub permissions: Grants,
}

impl Caller {
    pub fn may(&self, tenant: &str, permission: Permission) -> bool {
        self.super_admin || self.permissions.get(tenant).is_some_and(|p| p.contains(&permission))
    }
}

/// One recorded change or sign-in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub address: String,
    /// e.g. `repository.replace`, `admin.sign_in_failed`.
    pub action: String,
    pub target: String,
    /// Changed fields: `{path: {before, after}}`, secrets redacted.
    pub diff: serde_json::Value,
}

/// Filters and paging of the audit log (`page` from 1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// RFC 3339, inclusive.
    #[serde(default)]
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub page: Option<u32>,
    #[serde(default)]
    pub page_size: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub total_results: u64,
    pub entries: Vec<AuditEntry>,
}
