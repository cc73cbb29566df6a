//! What dirbridge holds or reads of a directory: users and groups (with
//! their lists), connection tests and previews.

use super::Vendor;
use serde::{Deserialize, Serialize};

/// The user representation of docs/api.md.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub repository_id: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    pub enabled: bool,
    pub email_verified: bool,
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub required_actions: Vec<String>,
    pub admin: bool,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub user_types: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub ldap_dn: String,
    pub ldap_uuid: String,
    #[serde(default)]
    pub synced_at: Option<String>,
}

/// Body of a test-connection request: an optional directory user to try a login with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestLogin {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStep {
    pub name: String,
    pub ok: bool,
    pub millis: u64,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub url: String,
    pub detected_vendor: Vendor,
    pub vendor_name: Option<String>,
    pub vendor_version: Option<String>,
    pub naming_contexts: Vec<String>,
    /// Supported controls as "name (OID)" or the bare OID when unknown.
    pub supported_controls: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub ok: bool,
    pub steps: Vec<TestStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub users: Vec<User>,
    /// Entries that could not be mapped, with their DN and why.
    #[serde(default)]
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub ok: bool,
}

/// A group synchronised from the directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// `{repositoryId}:{ldapUuid}`
    pub id: String,
    pub repository_id: String,
    pub name: String,
    pub ldap_dn: String,
    pub ldap_uuid: String,
    /// Direct member values (users and groups).
    pub member_count: u64,
    pub synced_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    pub total_results: u64,
    pub groups: Vec<Group>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    pub total_results: u64,
    pub users: Vec<User>,
}
