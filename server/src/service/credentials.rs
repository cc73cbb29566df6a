//! Whose a credential is: admin sessions (console cookie or the bearer
//! token of `/api/v1/auth/token`) and API tokens resolved into a
//! [`Principal`], remembered until they expire, go idle, or any admin,
//! token or session changes; admin sign-in (throttled) and the bootstrap
//! admin.

use super::audit_trail::Change;
use super::{internal, store_err, Service};
use crate::auth::{self, Credential, Principal};
use crate::clock::{now_rfc3339, unix_now};
use crate::store::admins::AdminRow;
use app::error::AppError;
use app::port::SessionToken;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// API token secrets start with this (sessions are bare), so a credential
/// is looked up in one table only.
pub const TOKEN_PREFIX: &str = "dbt_";

/// How often a session's last use is written (idle expiry needs no write per request).
const TOUCH_EVERY: i64 = 60;

struct Remembered {
    principal: Principal,
    /// Absolute expiry (unix seconds).
    expires_at: i64,
    /// Last use as stored (sessions), for idle expiry.
    last_seen: Option<i64>,
}

/// Credentials already looked up, by their hash.
#[derive(Default)]
pub struct CredentialCache {
    by_hash: Mutex<HashMap<String, Remembered>>,
}

impl CredentialCache {
    /// A remembered, still valid principal, and whether its session's last
    /// use is due to be written.
    fn recall(&self, hash: &str, now: i64, idle: i64) -> Option<(Principal, bool)> {
        let mut m = self.by_hash.lock().ok()?;
        let r = m.get_mut(hash)?;
        let idle_out = r.last_seen.is_some_and(|seen| seen + idle <= now);
        if r.expires_at <= now || idle_out {
            m.remove(hash);
            return None;
        }
        let touch = r.last_seen.is_some_and(|seen| now - seen >= TOUCH_EVERY);
        if touch {
            r.last_seen = Some(now);
        }
        Some((r.principal.clone(), touch))
    }

    /// Forgets every credential: after any change of admins, tokens or sessions.
    pub(super) fn clear(&self) {
        if let Ok(mut m) = self.by_hash.lock() {
            m.clear();
        }
    }
}

impl Service {
    /// The principal of a credential as sent (bearer token or cookie);
    /// Anonymous for a missing, malformed, expired, idle or revoked one.
    pub async fn principal(&self, secret: &str) -> Principal {
        if secret.is_empty() || secret.len() > 200 {
            return Principal::Anonymous;
        }
        let hash = auth::token_hash(secret);
        let now = unix_now();
        let idle = auth::SESSION_IDLE_SECONDS as i64;
        if let Some((principal, touch)) = self.credentials.recall(&hash, now, idle) {
            if touch {
                let _ = self.store.touch_session(&hash, now).await;
            }
            return principal;
        }
        let looked_up = if secret.starts_with(TOKEN_PREFIX) {
            self.token_principal(&hash, now).await
        } else {
            self.session_principal(&hash, now, idle).await
        };
        match looked_up {
            Ok(Some(found)) => {
                let principal = found.principal.clone();
                if let Ok(mut m) = self.credentials.by_hash.lock() {
                    if m.len() >= 10_000 {
                        m.clear();
                    }
                    m.insert(hash, found);
                }
                principal
            }
            Ok(None) => Principal::Anonymous,
            Err(e) => {
                tracing::error!(error = %e, "credential lookup failed");
                Principal::Anonymous
            }
        }
    }

    async fn session_principal(&self, hash: &str, now: i64, idle: i64) -> Result<Option<Remembered>, AppError> {
        let Some(session) = self.store.session(hash, now).await.map_err(store_err)? else {
            return Ok(None);
        };
        if session.last_seen + idle <= now {
            let _ = self.store.delete_session(hash).await;
            return Ok(None);
        }
        let Some(admin) = self.store.admin(&session.username).await.map_err(store_err)?.filter(|a| a.enabled) else {
            return Ok(None);
        };
        if now - session.last_seen >= TOUCH_EVERY {
            let _ = self.store.touch_session(hash, now).await;
        }
        Ok(Some(Remembered {
            principal: Principal::Admin {
                username: admin.username,
                super_admin: admin.super_admin,
                grants: admin.permissions,
                credential: Credential::Session(hash.to_string()),
            },
            expires_at: session.expires_at,
            last_seen: Some(now),
        }))
    }

    async fn token_principal(&self, hash: &str, now: i64) -> Result<Option<Remembered>, AppError> {
        let Some(token) = self.store.live_token(hash, now).await.map_err(store_err)? else {
            return Ok(None);
        };
        let Some(owner) = self.store.admin(&token.owner).await.map_err(store_err)?.filter(|a| a.enabled) else {
            return Ok(None);
        };
        let principal = Principal::of_token(
            &token.id,
            &owner.username,
            owner.super_admin,
            &owner.permissions,
            &token.tenant,
            &token.permissions,
        );
        Ok(Some(Remembered { principal, expires_at: token.expires_at, last_seen: None }))
    }

    /// Signs an admin in: a new session. Throttled per account and per
    /// address before the password is checked; never locks the account for
    /// good (the refusal lasts the throttle's window).
    pub(super) async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<SessionToken, AppError> {
        let account = ("admin".to_string(), username.to_lowercase());
        let now = unix_now();
        if let Some(wait) = self.admin_throttle.check(&account, client, now) {
            tracing::warn!(username, "admin sign-in throttled");
            return Err(AppError::Throttled {
                message: format!("too many failed sign-ins; try again in {wait} s"),
                retry_after: wait,
            });
        }
        let admin = self.store.admin(username).await.map_err(store_err)?;
        let hash = admin.as_ref().map_or(auth::dummy_hash(), |a| a.password_hash.as_str());
        let verified = auth::verify_password(password, hash) && admin.is_some();
        let signed = |action| Change { tenant: None, action, target: username, diff: serde_json::json!({}) };
        let Some(admin) = admin.filter(|_| verified) else {
            self.admin_throttle.failed(&account, client, now);
            tracing::warn!(username, client = ?client, "admin sign-in failed");
            self.record(username, client, signed("admin.sign_in_failed")).await;
            return Err(AppError::unauthorized("wrong username or password"));
        };
        if !admin.enabled {
            tracing::warn!(username, "admin sign-in refused: disabled");
            self.record(username, client, signed("admin.sign_in_refused_disabled")).await;
            return Err(AppError::forbidden("this admin account is disabled"));
        }
        self.admin_throttle.succeeded(&account);
        let token = auth::new_token().map_err(|e| internal("token generation failed", e))?;
        let expires_at = now + auth::SESSION_SECONDS as i64;
        self.store
            .insert_session(&auth::token_hash(&token), &admin.username, expires_at, now)
            .await
            .map_err(store_err)?;
        let _ = self.store.delete_expired_sessions(now, auth::SESSION_IDLE_SECONDS as i64).await;
        tracing::info!(username, "admin signed in");
        self.record(username, client, signed("admin.sign_in")).await;
        Ok(SessionToken { token, expires_in_seconds: auth::SESSION_SECONDS })
    }

    /// Ends a session by its secret (sign-out from the console).
    pub(super) async fn end_session(&self, secret: &str) -> Result<(), AppError> {
        self.store.delete_session(&auth::token_hash(secret)).await.map_err(store_err)?;
        self.credentials.clear();
        Ok(())
    }

    /// Creates the bootstrap admin, a super-admin, on first start; returns
    /// the generated password, if one was generated.
    pub async fn ensure_admin(&self, password_from_env: Option<String>) -> Result<Option<String>, String> {
        if self.store.admin_count().await.map_err(|e| e.to_string())? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password_from_env.filter(|p| !p.is_empty()) {
            Some(p) => (p, false),
            None => (auth::generate_password()?, true),
        };
        let admin = AdminRow {
            username: "admin".into(),
            password_hash: auth::hash_password(&password)?,
            enabled: true,
            super_admin: true,
            permissions: Default::default(),
            created: now_rfc3339(),
        };
        self.store.insert_admin(&admin).await.map_err(|e| e.to_string())?;
        Ok(generated.then_some(password))
    }
}
