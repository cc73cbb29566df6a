//! A repository's stored form: tidying and checking a draft, its row body,
//! reading it back, and deleting it in the background.

use super::secrets::StoredSecrets;
use super::{internal, Service};
use crate::ldap::Secrets;
use crate::store::RepositoryRow;
use crate::validate::{self, StoredSecretState};
use app::error::AppError;
use app::model::*;
use std::sync::Arc;

/// Trims what admins paste with stray spaces, without changing meaning.
pub(super) fn tidy(repo: &mut Repository) {
    repo.id = repo.id.trim().to_string();
    repo.name = repo.name.trim().to_string();
    for list in [
        &mut repo.connection.servers,
        &mut repo.users.object_classes,
        &mut repo.users.filters,
        &mut repo.groups.object_classes,
    ] {
        for s in list.iter_mut() {
            *s = s.trim().to_string();
        }
        list.retain(|s| !s.is_empty());
    }
    repo.users.base_dn = repo.users.base_dn.trim().to_string();
    for opt in [
        &mut repo.users.users_dn,
        &mut repo.connection.bind_dn,
        &mut repo.connection.ca_certificate,
        &mut repo.users.account_status_attribute,
        &mut repo.groups.groups_dn,
        &mut repo.groups.membership_attribute,
        &mut repo.sync.full_sync.cron,
        &mut repo.sync.changed_sync.cron,
    ] {
        *opt = opt.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    }
    for m in &mut repo.users.attribute_mappings {
        m.attribute = m.attribute.trim().to_string();
        m.ldap_attribute = m.ldap_attribute.trim().to_string();
    }
}

pub(super) fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "repository".into()
    } else {
        slug
    }
}

impl Service {
    /// The resource as stored (no secrets, no read-only parts).
    pub(super) fn body_of(repo: &Repository) -> Result<String, AppError> {
        let mut clean = repo.clone();
        clean.connection.bind_password = None;
        clean.connection.bind_password_set = false;
        for r in &mut clean.connection.referrals.servers {
            r.bind_password = None;
            r.bind_password_set = false;
        }
        clean.meta = None;
        clean.state = RepositoryState::Active;
        serde_json::to_string(&clean).map_err(|e| internal("repository could not be encoded", e))
    }

    /// The repository as its row's body stores it, without what is only
    /// known from the row's other columns and sealed secrets.
    pub(super) fn stored_body(row: &RepositoryRow) -> Result<Repository, AppError> {
        let mut repo: Repository =
            serde_json::from_str(&row.body).map_err(|e| internal("stored repository is unreadable", e))?;
        repo.id = row.id.clone();
        Ok(repo)
    }

    pub(super) fn repository_of(&self, tenant: &str, row: &RepositoryRow) -> Result<Repository, AppError> {
        let mut repo = Self::stored_body(row)?;
        let secrets = self.open_secrets(tenant, row)?;
        repo.connection.bind_password = None;
        repo.connection.bind_password_set = secrets.bind_password.is_some();
        for r in &mut repo.connection.referrals.servers {
            r.bind_password = None;
            r.bind_password_set = secrets.referral_passwords.contains_key(&r.url);
        }
        repo.state = if row.state == "deleting" { RepositoryState::Deleting } else { RepositoryState::Active };
        repo.meta = Some(Meta {
            version: row.version as u64,
            created: row.created.clone(),
            changed: row.changed.clone(),
            resource_owner: tenant.to_string(),
        });
        Ok(repo)
    }

    pub(super) fn check(repo: &Repository, stored: StoredSecretState) -> Result<(), AppError> {
        let errors = validate::validate(repo, stored);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::validation(errors))
        }
    }

    /// A draft prepared for LDAP work: defaults filled, validated, secrets resolved.
    pub(super) async fn prepare_draft(
        &self,
        tenant: &str,
        mut draft: Repository,
        stored_id: Option<String>,
    ) -> Result<(Repository, Secrets), AppError> {
        self.require_tenant(tenant).await?;
        tidy(&mut draft);
        app::presets::fill_defaults(&mut draft);
        let old = match stored_id.as_deref().filter(|s| !s.is_empty()) {
            Some(id) => {
                let row = self.load_row(tenant, id).await?;
                self.open_secrets(tenant, &row)?
            }
            None => StoredSecrets::default(),
        };
        Self::check(&draft, StoredSecretState { bind_password_stored: old.bind_password.is_some() })?;
        let merged = Self::merge_secrets(&old, &draft);
        Ok((draft, merged.for_directory()))
    }

    pub(super) async fn delete_in_background(self: &Arc<Self>, tenant: String, id: String) {
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                match service.store.delete_users_batch(&tenant, &id, 1000).await {
                    Ok(0) => break,
                    Ok(n) => tracing::info!(tenant, repository = id, deprovisioned = n, "deprovisioning users"),
                    Err(e) => {
                        // The repository stays in `deleting`; the next start resumes.
                        tracing::error!(tenant, repository = id, error = %e, "deprovisioning failed");
                        return;
                    }
                }
            }
            match service.store.delete_repository_row(&tenant, &id).await {
                Ok(()) => tracing::info!(tenant, repository = id, "repository deleted"),
                Err(e) => tracing::error!(tenant, repository = id, error = %e, "repository row could not be deleted"),
            }
        });
    }

    pub async fn resume_deletions(self: &Arc<Self>) {
        match self.store.repositories_being_deleted().await {
            Ok(list) => {
                for (tenant, id) in list {
                    self.delete_in_background(tenant, id).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "could not list repositories being deleted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from_name("Corp AD (EU)"), "corp-ad-eu");
        assert_eq!(slug_from_name("   "), "repository");
        assert_eq!(slug_from_name("Müller"), "m-ller");
    }
}
