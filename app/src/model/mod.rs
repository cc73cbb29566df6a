//! The shared data model: what the REST API, the server functions and the
//! console exchange. Field names follow docs/api.md (camelCase on the wire).
//!
//! Every field has a serde default so that a partial document deserialises and
//! validation (in the server) can name each missing or wrong field, instead of
//! a single opaque parse error.

/// Declares a wire enum: serialised as (and compared with) today's strings,
/// so a state is never a string literal compared in several places.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

mod access;
mod directory;
mod login;
mod repository;
mod sync;

pub use access::*;
pub use directory::*;
pub use login::*;
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
