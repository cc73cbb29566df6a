//! Admin credentials and sessions: argon2 password hashes, random session
//! tokens of which only a SHA-256 is stored; who a request acts as and the
//! permission check (`principal`); the admin password policy.

mod password_policy;
mod principal;

pub use password_policy::check_password;
pub use principal::{Credential, Denied, Principal};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A session's absolute lifetime.
pub const SESSION_SECONDS: u64 = 12 * 3600;
/// A session unused this long ends.
pub const SESSION_IDLE_SECONDS: u64 = 3600;

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes = crate::crypto::random_bytes::<16>().map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A dummy hash to verify against when the user does not exist, so unknown
/// users and wrong passwords take the same time.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("dirbridge-timing-equaliser").unwrap_or_default())
}

pub fn new_token() -> Result<String, String> {
    let bytes = crate::crypto::random_bytes::<32>().map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A printable random password for the generated bootstrap admin.
pub fn generate_password() -> Result<String, String> {
    let bytes = crate::crypto::random_bytes::<18>().map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash_password("correct horse").expect("hash");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
