//! The shared data model: what the REST API, the server functions and the
//! console exchange. Field names follow docs/api.md (camelCase on the wire).
//!
//! Every field has a serde default so that a partial document deserialises and
//! validation (in the server) can name each missing or wrong field, instead of
//! a single opaque parse error.

mod directory;
mod repository;
mod sync;

pub use directory::*;
pub use repository::*;
pub use sync::*;

use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn yes() -> bool {
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
