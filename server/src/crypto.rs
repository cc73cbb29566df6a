//! Secrets at rest: XChaCha20-Poly1305 with a 32-byte key kept in the data
//! dir (mode 0600). Each ciphertext is bound to its owner through the
//! associated data, so a ciphertext copied to another row does not decrypt.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::io::Write;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("key file {0} must hold exactly 32 bytes")]
    KeyLength(String),
    #[error("key file {0} is readable or writable by others: chmod 600 it (and check who could have read it)")]
    KeyFileOpen(String),
    #[error("a key rotation was interrupted: {0} exists; see docs/operations.md (rotate-key) before starting")]
    RotationPending(String),
    #[error("random number generator failed")]
    Random,
    #[error("a stored secret could not be decrypted (wrong key or tampered data)")]
    Decrypt,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(buf)
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        SecretBox { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// Loads the key file, creating it (0600) with a fresh random key on
    /// first start. Refuses a key file others may read or write, and a
    /// data dir where a key rotation did not finish.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, CryptoError> {
        let err = |source| CryptoError::KeyFile { path: path.display().to_string(), source };
        let pending = pending_key_path(path);
        if pending.exists() {
            return Err(CryptoError::RotationPending(pending.display().to_string()));
        }
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(CryptoError::KeyFileOpen(path.display().to_string()));
            }
        }
        match std::fs::read(path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::KeyLength(path.display().to_string()))?;
                Ok(SecretBox::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>()?;
                write_key(path, &key)?;
                Ok(SecretBox::from_key(&key))
            }
            Err(e) => Err(err(e)),
        }
    }

    /// A fresh key written to the pending key file next to `path` (0600):
    /// what `rotate-key` seals under before it commits.
    pub fn create_pending(path: &Path) -> Result<SecretBox, CryptoError> {
        let key = random_bytes::<32>()?;
        write_key(&pending_key_path(path), &key)?;
        Ok(SecretBox::from_key(&key))
    }

    /// Makes the pending key the key (after the store holds secrets sealed under it).
    pub fn commit_pending(path: &Path) -> Result<(), CryptoError> {
        let err = |source| CryptoError::KeyFile { path: path.display().to_string(), source };
        std::fs::rename(pending_key_path(path), path).map_err(err)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        }
        Ok(())
    }

    /// nonce (24 bytes) || ciphertext+tag
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_bytes::<24>()?;
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| CryptoError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 24 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(24);
        self.cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad }).map_err(|_| CryptoError::Decrypt)
    }
}

/// Where a rotation's new key waits until the store is re-sealed.
pub fn pending_key_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("key.new")
}

fn write_key(path: &Path, key: &[u8; 32]) -> Result<(), CryptoError> {
    let err = |source| CryptoError::KeyFile { path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(err)?;
    file.write_all(key).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_to_the_owner() {
        let b = SecretBox::from_key(&[7; 32]);
        let sealed = b.seal(b"hunter2", b"default/corp").expect("seal");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(b.open(&sealed, b"default/corp").expect("open"), b"hunter2");
        assert!(b.open(&sealed, b"default/other").is_err());
        assert!(SecretBox::from_key(&[8; 32]).open(&sealed, b"default/corp").is_err());
    }

    #[test]
    fn creates_the_key_file_private_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.key");
        let a = SecretBox::load_or_create(&path).expect("create");
        let sealed = a.seal(b"x", b"").expect("seal");
        let b = SecretBox::load_or_create(&path).expect("load");
        assert_eq!(b.open(&sealed, b"").expect("same key"), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_or_a_pending_rotation_refuses_to_load() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.key");
        SecretBox::load_or_create(&path).expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(SecretBox::load_or_create(&path), Err(CryptoError::KeyFileOpen(_))));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        SecretBox::create_pending(&path).expect("pending");
        assert!(matches!(SecretBox::load_or_create(&path), Err(CryptoError::RotationPending(_))));
        SecretBox::commit_pending(&path).expect("commit");
        SecretBox::load_or_create(&path).expect("loads after the rotation");
    }
}
