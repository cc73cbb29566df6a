//! The one error type the console, the server functions and the REST API share.
//! Serialised as `{"error": "<kind>", "message": ..., ...}`, which is also the
//! REST error body (docs/api.md); the server maps each kind to its HTTP status.

use crate::model::{HidFailure, LoginReason};
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field in the resource, e.g. `connection.servers[0]`.
    pub field: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AppError {
    #[error("{message}")]
    Validation { message: String, fields: Vec<FieldError> },
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    Unavailable {
        message: String,
        /// The directory servers tried, when a login found none answering.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        servers: Vec<String>,
    },
    /// A refused login (401 `invalid_grant`).
    #[error("{message}")]
    InvalidGrant {
        reason: LoginReason,
        message: String,
        /// The same text, under the name OAuth-style clients read.
        error_description: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hid_failure: Option<HidFailure>,
    },
    /// A request body over the limit: 413.
    #[error("{message}")]
    TooLarge { message: String },
    /// Too many failures: 429 with `Retry-After`.
    #[error("{message}")]
    Throttled {
        message: String,
        #[serde(rename = "retryAfter")]
        retry_after: u64,
    },
    #[error("{message}")]
    Internal { message: String },
}

impl AppError {
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        AppError::Validation { message, fields }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        AppError::BadRequest { message: m.into() }
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        AppError::Unauthorized { message: m.into() }
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        AppError::Forbidden { message: m.into() }
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        AppError::NotFound { message: m.into() }
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        AppError::Conflict { message: m.into() }
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        AppError::Unavailable { message: m.into(), servers: Vec::new() }
    }
    pub fn login_refused(reason: LoginReason, m: impl Into<String>) -> Self {
        let message = m.into();
        let hid_failure = (reason == LoginReason::RepositoryDeleted).then(HidFailure::repository_deleted);
        AppError::InvalidGrant { reason, error_description: message.clone(), message, hid_failure }
    }
    pub fn internal(m: impl Into<String>) -> Self {
        AppError::Internal { message: m.into() }
    }

    /// The HTTP status this error answers with, in the API and for server functions.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Validation { .. } | AppError::BadRequest { .. } => 400,
            AppError::Unauthorized { .. } | AppError::InvalidGrant { .. } => 401,
            AppError::Forbidden { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Conflict { .. } => 409,
            AppError::TooLarge { .. } => 413,
            AppError::Throttled { .. } => 429,
            AppError::Unavailable { .. } => 503,
            AppError::Internal { .. } => 500,
        }
    }

    /// The message for one field (form display), if this is a validation error naming it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Validation { fields, .. } => fields.iter().find(|f| f.field == field).map(|f| f.message.clone()),
            _ => None,
        }
    }

    /// Field messages whose path starts with `prefix` (e.g. `connection.servers`).
    pub fn field_messages_under(&self, prefix: &str) -> Vec<String> {
        match self {
            AppError::Validation { fields, .. } => fields
                .iter()
                .filter(|f| f.field.starts_with(prefix))
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => AppError::BadRequest { message: m },
            ServerFnErrorErr::Request(m) => AppError::unavailable(format!("the server could not be reached: {m}")),
            other => AppError::Internal { message: other.to_string() },
        }
    }
}
