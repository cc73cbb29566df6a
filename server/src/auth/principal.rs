//! Who a request acts as, and the one permission check every operation
//! goes through (pure: the service resolves credentials into a principal,
//! the guarded port asks here before each call).

use app::model::{Caller, Grants, Permission};
use std::collections::BTreeSet;

/// The credential behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A console or `/api/v1/auth/token` session (by its token's hash).
    Session(String),
    /// An API token (by its id).
    Token(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No (valid) credential: only public operations.
    Anonymous,
    /// dirbridge itself (the scheduler, tests of the service): all.
    System,
    Admin {
        username: String,
        super_admin: bool,
        grants: Grants,
        credential: Credential,
    },
}

/// Why an operation is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// 401: no valid credential.
    Unauthenticated,
    /// 403: a valid credential without the permission or the tenant.
    Forbidden(String),
}

impl Principal {
    /// The principal of an API token: what the token holds on its tenant,
    /// and never more than its owner holds now.
    pub fn of_token(
        id: &str,
        owner: &str,
        owner_super: bool,
        owner_grants: &Grants,
        tenant: &str,
        permissions: &BTreeSet<Permission>,
    ) -> Principal {
        let held: BTreeSet<Permission> = permissions
            .iter()
            .copied()
            .filter(|p| owner_super || owner_grants.get(tenant).is_some_and(|g| g.contains(p)))
            .collect();
        let mut grants = Grants::new();
        if !held.is_empty() {
            grants.insert(tenant.to_string(), held);
        }
        Principal::Admin {
            username: owner.to_string(),
            super_admin: false,
            grants,
            credential: Credential::Token(id.to_string()),
        }
    }

    pub fn check(&self, tenant: &str, permission: Permission) -> Result<(), Denied> {
        match self {
            Principal::Anonymous => Err(Denied::Unauthenticated),
            Principal::System => Ok(()),
            Principal::Admin { super_admin: true, credential: Credential::Session(_), .. } => Ok(()),
            Principal::Admin { grants, .. } => {
                if grants.get(tenant).is_some_and(|g| g.contains(&permission)) {
                    Ok(())
                } else {
                    Err(Denied::Forbidden(format!(
                        "'{permission}' on tenant '{tenant}' is not granted to this credential"
                    )))
                }
            }
        }
    }

    /// Only super-admins (signed in, not through a token) and dirbridge itself.
    pub fn check_super(&self) -> Result<(), Denied> {
        match self {
            Principal::Anonymous => Err(Denied::Unauthenticated),
            Principal::System | Principal::Admin { super_admin: true, credential: Credential::Session(_), .. } => {
                Ok(())
            }
            Principal::Admin { .. } => Err(Denied::Forbidden("only a super-admin may do this".into())),
        }
    }

    /// Any valid credential.
    pub fn check_signed_in(&self) -> Result<(), Denied> {
        match self {
            Principal::Anonymous => Err(Denied::Unauthenticated),
            _ => Ok(()),
        }
    }

    pub fn is_super(&self) -> bool {
        self.check_super().is_ok()
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Principal::Admin { username, .. } => Some(username),
            _ => None,
        }
    }

    /// The name the audit log and logs give the actor.
    pub fn actor(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::System => "dirbridge".into(),
            Principal::Admin { username, credential: Credential::Token(id), .. } => format!("{username} (token {id})"),
            Principal::Admin { username, .. } => username.clone(),
        }
    }

    /// What the caller holds on `tenant` (all, for a super-admin).
    pub fn held_on(&self, tenant: &str) -> BTreeSet<Permission> {
        Permission::ALL.iter().copied().filter(|p| self.check(tenant, *p).is_ok()).collect()
    }

    pub fn caller(&self) -> Caller {
        match self {
            Principal::Admin { username, grants, .. } => {
                Caller { username: username.clone(), super_admin: self.is_super(), permissions: grants.clone() }
            }
            Principal::System => Caller { username: "dirbridge".into(), super_admin: true, permissions: Grants::new() },
            Principal::Anonymous => Caller::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(tenant: &str, ps: &[Permission]) -> Grants {
        Grants::from([(tenant.to_string(), ps.iter().copied().collect())])
    }

    fn admin(super_admin: bool, g: Grants) -> Principal {
        Principal::Admin { username: "ann".into(), super_admin, grants: g, credential: Credential::Session("h".into()) }
    }

    #[test]
    fn anonymous_is_unauthenticated_everywhere_and_system_allowed_everything() {
        assert_eq!(Principal::Anonymous.check("default", Permission::Read), Err(Denied::Unauthenticated));
        assert_eq!(Principal::Anonymous.check_super(), Err(Denied::Unauthenticated));
        assert!(Principal::System.check("any", Permission::Admin).is_ok());
    }

    #[test]
    fn an_admin_holds_exactly_its_grants_per_tenant() {
        let a = admin(false, grants("acme", &[Permission::Read, Permission::Sync]));
        assert!(a.check("acme", Permission::Read).is_ok());
        assert!(a.check("acme", Permission::Sync).is_ok());
        assert!(matches!(a.check("acme", Permission::Configure), Err(Denied::Forbidden(_))));
        assert!(matches!(a.check("other", Permission::Read), Err(Denied::Forbidden(_))));
        assert!(matches!(a.check_super(), Err(Denied::Forbidden(_))));
        assert!(admin(true, Grants::new()).check("anything", Permission::Admin).is_ok());
    }

    #[test]
    fn a_token_holds_its_permissions_on_its_tenant_capped_by_its_owner_now() {
        let owner = grants("acme", &[Permission::Read, Permission::Login]);
        let asked = [Permission::Read, Permission::Configure].into_iter().collect();
        let t = Principal::of_token("t1", "ann", false, &owner, "acme", &asked);
        assert!(t.check("acme", Permission::Read).is_ok());
        // The owner does not hold it (any more): neither does the token.
        assert!(t.check("acme", Permission::Configure).is_err());
        assert!(t.check("other", Permission::Read).is_err());
        // A super-admin's token is still bound to its tenant and permissions.
        let s = Principal::of_token("t2", "root", true, &Grants::new(), "acme", &asked);
        assert!(s.check("acme", Permission::Configure).is_ok());
        assert!(s.check("acme", Permission::Admin).is_err());
        assert!(s.check("other", Permission::Read).is_err());
        assert!(!s.is_super());
        assert_eq!(t.actor(), "ann (token t1)");
    }
}
