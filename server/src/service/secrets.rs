//! A repository's write-only secrets: sealed as one document per
//! repository, bound to it, merged with what a change leaves out.

use super::{internal, Service};
use crate::store::RepositoryRow;
use app::error::AppError;
use app::model::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Secrets of a repository, sealed as one JSON document.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(super) struct StoredSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) bind_password: Option<String>,
    /// Referral server URL -> bind password.
    #[serde(default)]
    pub(super) referral_passwords: BTreeMap<String, String>,
}

impl StoredSecrets {
    /// What the LDAP layer binds with.
    pub(super) fn for_directory(self) -> crate::ldap::Secrets {
        crate::ldap::Secrets { bind_password: self.bind_password, referral_passwords: self.referral_passwords }
    }
}

/// Applies a write-only secret field: absent keeps, null clears, a value replaces.
fn apply_secret(current: Option<String>, update: &Option<Option<String>>) -> Option<String> {
    match update {
        None => current,
        Some(None) => None,
        Some(Some(v)) if v.is_empty() => None,
        Some(Some(v)) => Some(v.clone()),
    }
}

impl Service {
    /// What a repository's sealed secrets are bound to.
    pub fn aad(tenant: &str, id: &str) -> Vec<u8> {
        format!("repository/{tenant}/{id}").into_bytes()
    }

    pub(super) fn open_secrets(&self, tenant: &str, row: &RepositoryRow) -> Result<StoredSecrets, AppError> {
        match &row.secrets {
            None => Ok(StoredSecrets::default()),
            Some(sealed) => {
                let plain = self
                    .secret_box
                    .open(sealed, &Self::aad(tenant, &row.id))
                    .map_err(|e| internal("secret decryption failed", e))?;
                serde_json::from_slice(&plain).map_err(|e| internal("stored secrets are unreadable", e))
            }
        }
    }

    pub(super) fn seal_secrets(
        &self,
        tenant: &str,
        id: &str,
        secrets: &StoredSecrets,
    ) -> Result<Option<Vec<u8>>, AppError> {
        if secrets.bind_password.is_none() && secrets.referral_passwords.is_empty() {
            return Ok(None);
        }
        let plain = serde_json::to_vec(secrets).map_err(|e| internal("secrets could not be encoded", e))?;
        self.secret_box
            .seal(&plain, &Self::aad(tenant, id))
            .map(Some)
            .map_err(|e| internal("secret encryption failed", e))
    }

    pub(super) fn merge_secrets(old: &StoredSecrets, repo: &Repository) -> StoredSecrets {
        let mut referral_passwords = BTreeMap::new();
        for r in &repo.connection.referrals.servers {
            if let Some(p) = apply_secret(old.referral_passwords.get(&r.url).cloned(), &r.bind_password) {
                referral_passwords.insert(r.url.clone(), p);
            }
        }
        StoredSecrets {
            bind_password: apply_secret(old.bind_password.clone(), &repo.connection.bind_password),
            referral_passwords,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_follow_absent_null_value() {
        assert_eq!(apply_secret(Some("a".into()), &None), Some("a".into()));
        assert_eq!(apply_secret(Some("a".into()), &Some(None)), None);
        assert_eq!(apply_secret(Some("a".into()), &Some(Some("b".into()))), Some("b".into()));
        assert_eq!(apply_secret(None, &None), None);
    }
}
