//! Impersonation for platform support: a support account acts as a user, for an explicit
//! reason, in a 30-minute session that cannot be renewed.
//!
//! - Who may impersonate is the host's decision, through [`PlatformRoles`] (platform roles
//!   belong to an authorization layer, not to identity). [`NoPlatformRoles`] lets nobody.
//! - [`ImpersonationService::start`] checks, in order: the caller is not itself
//!   impersonating ([`AuthError::ImpersonationForbidden`]); the caller may impersonate
//!   ([`AuthError::Forbidden`]); the reason is given, not blank and at most
//!   [`MAX_REASON_CHARS`] characters (`VALIDATION_ERROR` on `reason`); the target is not the
//!   caller and not a platform account ([`AuthError::ImpersonationForbidden`]); the target
//!   exists ([`AuthError::AccountNotFound`]). It then starts a
//!   [`SessionKind::Impersonation`](crate::sessions::SessionKind::Impersonation) session of
//!   the target with the caller as its actor (no refresh token: it cannot be renewed, and it
//!   ends at its absolute lifetime, 30 minutes by default), and records an
//!   `impersonation_started` security event on both accounts and a platform audit entry
//!   `auth.impersonation.started`, each with the reason.
//! - [`ImpersonationService::end`] revokes the session and records `impersonation_ended`
//!   on both accounts and `auth.impersonation.ended`.
//! - Every refusal records an `impersonation_refused` security event on the caller.
//!
//! Access tokens of the session carry the actor in their `act` claim (RFC 8693), and the
//! HTTP layer turns it into [`helix_core::Actor::Impersonated`], so every audit row written
//! under the session names the impersonator. Sensitive routes refuse impersonation sessions
//! with `IMPERSONATION_FORBIDDEN` (see [`crate::http::Authenticated::deny_impersonation`]).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, RequestMeta};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::SecurityEventKind;
use crate::accounts::events::Event;
use crate::error::{AuthError, Result};
use crate::service::AuthService;
use crate::sessions::{RevokeReason, Session, SessionKind, SessionMeta, SessionService};

/// The longest accepted reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The host's platform roles, as far as impersonation needs them. Object-safe: held as
/// `Arc<dyn PlatformRoles>`.
#[async_trait::async_trait]
pub trait PlatformRoles: Send + Sync + 'static {
    /// Whether `account_id` (a platform-support account) may impersonate users.
    async fn may_impersonate(&self, account_id: Uuid) -> Result<bool, helix_core::Error>;

    /// Whether `account_id` is a platform (support or administrator) account, which nobody
    /// may impersonate. The default is [`PlatformRoles::may_impersonate`].
    async fn is_platform_account(&self, account_id: Uuid) -> Result<bool, helix_core::Error> {
        self.may_impersonate(account_id).await
    }
}

/// No platform roles: nobody may impersonate.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPlatformRoles;

#[async_trait::async_trait]
impl PlatformRoles for NoPlatformRoles {
    async fn may_impersonate(&self, _: Uuid) -> Result<bool, helix_core::Error> {
        Ok(false)
    }

    async fn is_platform_account(&self, _: Uuid) -> Result<bool, helix_core::Error> {
        Ok(false)
    }
}

/// Starts and ends impersonation sessions. Cheap to clone.
#[derive(Clone)]
pub struct ImpersonationService {
    auth: AuthService,
    sessions: SessionService,
    roles: Arc<dyn PlatformRoles>,
}

impl fmt::Debug for ImpersonationService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImpersonationService")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// What to start an impersonation session with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpersonationRequest {
    /// The account to act as.
    pub account_id: Uuid,
    /// Why (required, not blank, at most [`MAX_REASON_CHARS`] characters). Recorded in the
    /// security events and the audit entry.
    pub reason: Option<String>,
    /// The organization the session starts in (the access token's `org`), if any.
    pub active_org_id: Option<Uuid>,
}

impl ImpersonationService {
    /// The service over the account and session services, with the host's `roles`.
    pub fn new(auth: AuthService, sessions: SessionService, roles: Arc<dyn PlatformRoles>) -> Self {
        Self {
            auth,
            sessions,
            roles,
        }
    }

    /// The platform roles.
    pub fn roles(&self) -> &dyn PlatformRoles {
        self.roles.as_ref()
    }

    /// Starts an impersonation session of `request.account_id` for `caller` (see the
    /// [module docs](self) for the checks). `caller` is the authenticated principal:
    /// [`Actor::User`] of the support account; an [`Actor::Impersonated`] caller is refused.
    pub async fn start(
        &self,
        meta: &RequestMeta,
        caller: &Actor,
        request: &ImpersonationRequest,
    ) -> Result<Session> {
        let support = match caller {
            Actor::User(id) => *id,
            Actor::Impersonated { impersonator, .. } => {
                self.refused(meta, Some(*impersonator), request.account_id, "nested")
                    .await?;
                return Err(AuthError::ImpersonationForbidden(
                    "an impersonation session cannot start another impersonation",
                ));
            }
            _ => return Err(AuthError::Forbidden("only users may impersonate")),
        };
        if !self.roles.may_impersonate(support).await? {
            self.refused(meta, Some(support), request.account_id, "not_allowed")
                .await?;
            return Err(AuthError::Forbidden(
                "this account may not impersonate users",
            ));
        }
        let reason = validate_reason(request.reason.as_deref())?;
        let target = request.account_id;
        if target == support {
            self.refused(meta, Some(support), target, "self").await?;
            return Err(AuthError::ImpersonationForbidden(
                "an account cannot impersonate itself",
            ));
        }
        if self.roles.is_platform_account(target).await? {
            self.refused(meta, Some(support), target, "platform_account")
                .await?;
            return Err(AuthError::ImpersonationForbidden(
                "platform accounts cannot be impersonated",
            ));
        }
        // The target must exist (the caller named it; a support user may learn that).
        self.auth.account(target).await?;

        let session_meta = SessionMeta::from_request(meta).in_organization(request.active_org_id);
        let session = self
            .sessions
            .start_impersonation(target, support, session_meta)
            .await
            .map_err(|e| AuthError::Core(e.into()))?;
        let record = self
            .record(
                meta,
                support,
                target,
                SecurityEventKind::ImpersonationStarted,
                "auth.impersonation.started",
                json!({
                    "session_id": session.id,
                    "reason": reason,
                    "expires_at": session.absolute_expires_at,
                }),
            )
            .await;
        if let Err(err) = record {
            // Never leave an unrecorded impersonation behind.
            let _ = self
                .sessions
                .revoke(session.id, RevokeReason::Revoked)
                .await;
            return Err(err);
        }
        Ok(session)
    }

    /// Ends the impersonation session `session_id` (sign-out of the support user). Returns
    /// whether it was active until now. A session that is not an impersonation is
    /// [`AuthError::NotImpersonating`].
    pub async fn end(&self, meta: &RequestMeta, session_id: Uuid) -> Result<bool> {
        let session = self
            .sessions
            .get(session_id)
            .await
            .map_err(|e| AuthError::Core(e.into()))?;
        let Some(session) = session.filter(|s| s.kind == SessionKind::Impersonation) else {
            return Err(AuthError::NotImpersonating);
        };
        let Some(support) = session.actor_account_id else {
            return Err(AuthError::NotImpersonating);
        };
        let ended = self
            .sessions
            .revoke(session.id, RevokeReason::Logout)
            .await
            .map_err(|e| AuthError::Core(e.into()))?;
        if ended {
            self.record(
                meta,
                support,
                session.account_id,
                SecurityEventKind::ImpersonationEnded,
                "auth.impersonation.ended",
                json!({ "session_id": session.id }),
            )
            .await?;
        }
        Ok(ended)
    }

    /// Security events on both accounts and a platform audit entry, in one transaction.
    async fn record(
        &self,
        meta: &RequestMeta,
        support: Uuid,
        target: Uuid,
        kind: SecurityEventKind,
        action: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        let now: DateTime<Utc> = self.auth.kernel().now();
        let ctx = self.auth.platform_ctx(Actor::User(support), meta);
        let tx = self.auth.kernel().db().platform(&ctx).await?;
        let with = |role: &str, other: Uuid| {
            let mut d = data.clone();
            if let Some(obj) = d.as_object_mut() {
                obj.insert("role".into(), json!(role));
                obj.insert("other_account_id".into(), json!(other));
            }
            d
        };
        let support_event = Event::new(kind)
            .account(support)
            .data(with("impersonator", target));
        self.auth
            .record_event(tx.raw(), meta, support_event)
            .await?;
        let target_event = Event::new(kind)
            .account(target)
            .data(with("impersonated", support));
        self.auth.record_event(tx.raw(), meta, target_event).await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new(action, "account", target).data(data),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an `impersonation_refused` event on the caller.
    async fn refused(
        &self,
        meta: &RequestMeta,
        caller: Option<Uuid>,
        target: Uuid,
        why: &str,
    ) -> Result<()> {
        let mut event = Event::new(SecurityEventKind::ImpersonationRefused)
            .data(json!({ "reason": why, "other_account_id": target }));
        if let Some(id) = caller {
            event = event.account(id);
        }
        self.auth.record_standalone_event(meta, event).await
    }
}

/// The trimmed reason, or a `VALIDATION_ERROR` on `reason`.
fn validate_reason(reason: Option<&str>) -> Result<String> {
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        return Err(AuthError::invalid(
            "reason",
            "required",
            "a reason is required to impersonate a user",
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AuthError::invalid(
            "reason",
            "too_long",
            format!("the reason must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    if reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AuthError::invalid(
            "reason",
            "invalid",
            "the reason must not contain control characters",
        ));
    }
    Ok(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_required_bounded_and_trimmed() {
        assert_eq!(validate_reason(Some("  ticket 42 ")).unwrap(), "ticket 42");
        for bad in [None, Some(""), Some("   \n ")] {
            let err: helix_core::Error = validate_reason(bad).unwrap_err().into();
            assert_eq!(err.details()[0].code, "required");
        }
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        let err: helix_core::Error = validate_reason(Some(&long)).unwrap_err().into();
        assert_eq!(err.details()[0].code, "too_long");
        assert!(validate_reason(Some(&"é".repeat(MAX_REASON_CHARS))).is_ok());
        let err: helix_core::Error = validate_reason(Some("a\u{0}b")).unwrap_err().into();
        assert_eq!(err.details()[0].code, "invalid");
    }
}
