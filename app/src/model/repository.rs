//! A user repository as the API and the console exchange it: connection,
//! users and groups selection, mapping, assignments, sync and login options.

use super::{secret, yes};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vendor {
    #[serde(rename = "activeDirectory")]
    ActiveDirectory,
    #[serde(rename = "openldap")]
    OpenLdap,
    #[serde(rename = "389ds")]
    Ds389,
    #[default]
    #[serde(rename = "other")]
    Other,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [Vendor::ActiveDirectory, Vendor::OpenLdap, Vendor::Ds389, Vendor::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::ActiveDirectory => "activeDirectory",
            Vendor::OpenLdap => "openldap",
            Vendor::Ds389 => "389ds",
            Vendor::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Vendor::ActiveDirectory => "Active Directory",
            Vendor::OpenLdap => "OpenLDAP",
            Vendor::Ds389 => "389-DS / RHDS",
            Vendor::Other => "Other",
        }
    }

    pub fn parse(s: &str) -> Option<Vendor> {
        Vendor::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Repository {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub vendor: Vendor,
    #[serde(default)]
    pub connection: Connection,
    #[serde(default)]
    pub users: UsersConfig,
    #[serde(default)]
    pub groups: GroupsConfig,
    #[serde(default)]
    pub assignments: Assignments,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub login: LoginOptions,
    /// Read-only.
    #[serde(default)]
    pub state: RepositoryState,
    /// Read-only except `version`, which PUT checks for optimistic locking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RepositoryState {
    #[default]
    Active,
    Deleting,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub changed: String,
    #[serde(default)]
    pub resource_owner: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BindType {
    #[default]
    Simple,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(default)]
    pub servers: Vec<String>,
    #[serde(default)]
    pub start_tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
    #[serde(default = "yes")]
    pub verify_tls: bool,
    #[serde(default)]
    pub bind_type: BindType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret")]
    pub bind_password: Option<Option<String>>,
    /// Read-only: whether a bind password is stored.
    #[serde(default)]
    pub bind_password_set: bool,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    #[serde(default)]
    pub referrals: Referrals,
}

fn default_timeout() -> u32 {
    10
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            servers: Vec::new(),
            start_tls: false,
            ca_certificate: None,
            verify_tls: true,
            bind_type: BindType::Simple,
            bind_dn: None,
            bind_password: None,
            bind_password_set: false,
            timeout_seconds: default_timeout(),
            referrals: Referrals::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReferralStrategy {
    #[default]
    FollowNone,
    FollowAll,
    FollowListed,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrals {
    #[serde(default)]
    pub strategy: ReferralStrategy,
    #[serde(default)]
    pub servers: Vec<ReferralServer>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferralServer {
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secret")]
    pub bind_password: Option<Option<String>>,
    #[serde(default)]
    pub bind_password_set: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    #[default]
    Subtree,
    One,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersConfig {
    #[serde(default)]
    pub base_dn: String,
    /// Defaults to `baseDn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_dn: Option<String>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub object_classes: Vec<String>,
    #[serde(default)]
    pub filters: Vec<String>,
    #[serde(default)]
    pub username_attribute: String,
    #[serde(default)]
    pub rdn_attribute: String,
    #[serde(default)]
    pub uuid_attribute: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status_attribute: Option<String>,
    #[serde(default)]
    pub attribute_mappings: Vec<AttributeMapping>,
}

impl UsersConfig {
    pub fn effective_users_dn(&self) -> &str {
        match self.users_dn.as_deref() {
            Some(dn) if !dn.trim().is_empty() => dn,
            _ => &self.base_dn,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMapping {
    #[serde(default)]
    pub attribute: String,
    #[serde(default)]
    pub ldap_attribute: String,
}

impl AttributeMapping {
    pub fn new(attribute: &str, ldap_attribute: &str) -> Self {
        AttributeMapping { attribute: attribute.into(), ldap_attribute: ldap_attribute.into() }
    }
}

/// The user-representation attributes a mapping may target, besides
/// `attributes.NAME` for custom ones.
pub const MAPPABLE_ATTRIBUTES: [&str; 12] = [
    "username",
    "email",
    "emailVerified",
    "firstName",
    "lastName",
    "displayName",
    "nickName",
    "phone",
    "phoneVerified",
    "preferredLanguage",
    "avatarUrl",
    "profile",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberAttribute {
    #[default]
    #[serde(rename = "member")]
    Member,
    #[serde(rename = "uniqueMember")]
    UniqueMember,
    #[serde(rename = "memberUid")]
    MemberUid,
}

impl MemberAttribute {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberAttribute::Member => "member",
            MemberAttribute::UniqueMember => "uniqueMember",
            MemberAttribute::MemberUid => "memberUid",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_dn: Option<String>,
    #[serde(default)]
    pub object_classes: Vec<String>,
    #[serde(default)]
    pub name_attribute: String,
    #[serde(default)]
    pub member_attribute: MemberAttribute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_attribute: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignments {
    #[serde(default)]
    pub user_types: Vec<GroupAssignment>,
    #[serde(default)]
    pub user_groups: Vec<GroupAssignment>,
    #[serde(default)]
    pub roles: Vec<RoleAssignment>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupAssignment {
    #[serde(default)]
    pub group_id: String,
    #[serde(default)]
    pub root_node_dn: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MappingType {
    #[default]
    Ou,
    Group,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    #[serde(default)]
    pub role_id: String,
    #[serde(default)]
    pub mapping_type: MappingType,
    #[serde(default)]
    pub group_dn_or_ou: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EditMode {
    #[default]
    ReadOnly,
    Writable,
    Unsynced,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncConfig {
    #[serde(default)]
    pub edit_mode: EditMode,
    #[serde(default = "yes")]
    pub import_enabled: bool,
    #[serde(default)]
    pub sync_registrations: bool,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default)]
    pub full_sync: Schedule,
    #[serde(default)]
    pub changed_sync: Schedule,
    #[serde(default)]
    pub deletion: DeletionPolicy,
}

fn default_page_size() -> u32 {
    1000
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            edit_mode: EditMode::ReadOnly,
            import_enabled: true,
            sync_registrations: false,
            page_size: default_page_size(),
            full_sync: Schedule::default(),
            changed_sync: Schedule::default(),
            deletion: DeletionPolicy::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeletionPolicyKind {
    #[default]
    Disable,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionPolicy {
    #[serde(default)]
    pub policy: DeletionPolicyKind,
    #[serde(default = "default_max_delete")]
    pub max_delete_percent: u32,
}

fn default_max_delete() -> u32 {
    10
}

impl Default for DeletionPolicy {
    fn default() -> Self {
        DeletionPolicy { policy: DeletionPolicyKind::Disable, max_delete_percent: default_max_delete() }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AutoLinking {
    #[default]
    AutoLinkingOptionUnspecified,
    AutoLinkingOptionUsername,
    AutoLinkingOptionEmail,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginOptions {
    #[serde(default = "yes")]
    pub is_linking_allowed: bool,
    #[serde(default = "yes")]
    pub is_creation_allowed: bool,
    #[serde(default = "yes")]
    pub is_auto_creation: bool,
    #[serde(default = "yes")]
    pub is_auto_update: bool,
    #[serde(default)]
    pub auto_linking: AutoLinking,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            is_linking_allowed: true,
            is_creation_allowed: true,
            is_auto_creation: true,
            is_auto_update: true,
            auto_linking: AutoLinking::default(),
        }
    }
}

/// A row of the repositories list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySummary {
    pub id: String,
    pub name: String,
    pub vendor: Vendor,
    pub servers: Vec<String>,
    pub state: RepositoryState,
    pub enabled: bool,
    pub priority: i32,
}

impl From<&Repository> for RepositorySummary {
    fn from(r: &Repository) -> Self {
        RepositorySummary {
            id: r.id.clone(),
            name: r.name.clone(),
            vendor: r.vendor,
            servers: r.connection.servers.clone(),
            state: r.state,
            enabled: r.enabled,
            priority: r.priority,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryList {
    pub total_results: usize,
    pub resources: Vec<Repository>,
}
