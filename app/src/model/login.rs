//! Login by bind as the platform calls it (`POST .../login`) and as the
//! console's "Test login" box shows it.

use super::{TestStep, User};
use serde::{Deserialize, Serialize};

/// A login attempt. The password never appears in `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("username", &self.username).field("password", &"(redacted)").finish()
    }
}

wire_enum! {
    /// Why a login was refused (the `reason` of a 401). Only
    /// `InvalidCredentials`, `UserDisabled` and `RepositoryDeleted` are said
    /// before the directory has accepted the password.
    LoginReason {
        /// Unknown user or wrong password: the two look the same.
        InvalidCredentials = "INVALID_CREDENTIALS",
        UserDisabled = "USER_DISABLED",
        RepositoryDeleted = "REASON_USER_REPO_DELETED",
        AccountLocked = "ACCOUNT_LOCKED",
        PasswordExpired = "PASSWORD_EXPIRED",
        PasswordMustChange = "PASSWORD_MUST_CHANGE",
    }
}

/// `hid_failure` of a refused login whose repository is being deleted, as
/// the reference repository API has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HidFailure {
    pub reason: u32,
    pub auth_type: String,
}

impl HidFailure {
    pub fn repository_deleted() -> HidFailure {
        HidFailure { reason: 60, auth_type: "AT_LDAP".into() }
    }
}

/// A successful login: the user as the directory has them now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginSuccess {
    pub user: User,
    pub repository_id: String,
    /// From a password-policy warning on the bind (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_logins_remaining: Option<u32>,
}

/// What the console's "Test login" shows: each step with its time, then
/// the user as a login would return them, or why it was refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginTrace {
    pub ok: bool,
    pub steps: Vec<TestStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<LoginSuccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::error::AppError>,
}
