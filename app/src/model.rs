//! The shared data model: what the REST API, the server functions and the
//! console exchange. Field names follow docs/api.md (camelCase on the wire).
//!
//! Every field has a serde default so that a partial document deserialises and
//! validation (in the server) can name each missing or wrong field, instead of
//! a single opaque parse error.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn yes() -> bool {
    true
}

/// Write-only secrets distinguish "absent" (keep the stored value), `null`
/// (clear it) and a string (replace it). Responses always carry `None`, which
/// is skipped, so a secret never travels back out.
pub mod secret {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(Some(value)) => s.serialize_str(value),
            _ => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncMode {
    #[default]
    Full,
    Changed,
}

/// Body of `POST .../sync`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    #[serde(default)]
    pub mode: SyncMode,
    /// Removes users even when more than `maxDeletePercent` would go (this run only).
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCounts {
    pub seen: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub disabled: u64,
    pub deleted: u64,
    pub failed: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncProgress {
    pub done: u64,
    pub total: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncError {
    pub dn: String,
    pub message: String,
}

/// One user a run added, changed or removed, with the attributes that changed.
/// Declares a wire enum: serialised as (and compared with) today's strings,
/// so a state is never a string literal compared in several places.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            #[default]
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant whose text is `text`, if any.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

wire_enum! {
    /// Where a sync run stands.
    RunState {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Stopped by a safety rule (the max-delete guard) before removing anyone.
        Aborted = "aborted",
    }
}

wire_enum! {
    /// How a run read the directory.
    RunMethod {
        /// Not chosen yet (the run is connecting).
        Pending = "pending",
        /// A complete paged enumeration.
        Paged = "paged",
        /// RFC 4533 content synchronisation.
        Syncrepl = "syncrepl",
        /// Entries changed since the last run, by modifyTimestamp.
        Timestamps = "timestamps",
    }
}

wire_enum! {
    /// What a run did to a user.
    ChangeKind {
        Added = "added",
        Updated = "updated",
        Disabled = "disabled",
        Deleted = "deleted",
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncChange {
    pub username: String,
    pub ldap_dn: String,
    pub kind: ChangeKind,
    pub attributes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    pub id: String,
    pub repository_id: String,
    pub mode: SyncMode,
    /// How the directory was read.
    pub method: RunMethod,
    pub state: RunState,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub counts: SyncCounts,
    pub progress: SyncProgress,
    /// Why a run failed or was aborted.
    pub message: Option<String>,
    pub errors: Vec<SyncError>,
    pub changes: Vec<SyncChange>,
    /// The groups part of the run (absent when the repository maps no groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_counts: Option<GroupCounts>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCounts {
    pub seen: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
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

/// When each schedule of a repository fires next (RFC 3339, UTC).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextRuns {
    pub full: Option<String>,
    pub changed: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    pub total_results: u64,
    pub users: Vec<User>,
}
