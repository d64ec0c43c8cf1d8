//! Security events: every authentication outcome, one append-only row each, plus one log
//! line without any secret, email or IP address.

use helix_core::RequestMeta;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::entity::security_event;
use crate::error::Result;
use crate::service::AuthService;

/// What a security event records. The stored `kind` is [`SecurityEventKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecurityEventKind {
    /// A new account was registered.
    Registered,
    /// Someone tried to register an email that already has an account.
    RegisterExistingEmail,
    /// An email was verified.
    EmailVerified,
    /// A verification token was unknown, expired or already used.
    EmailVerificationFailed,
    /// A verification email was issued again.
    VerificationResent,
    /// A resend was refused (unknown email, already verified, or over the limit; see `data`).
    VerificationResendRefused,
    /// A login succeeded.
    LoginSucceeded,
    /// A login failed: unknown email or wrong password (see `data.reason`).
    LoginFailed,
    /// A login was refused because the account is locked.
    LoginLocked,
    /// The password was right but the email is not verified.
    LoginUnverified,
    /// Too many consecutive failures locked the account.
    AccountLocked,
    /// The stored hash was replaced after a login because the parameters changed.
    PasswordRehashed,
    /// The password was changed.
    PasswordChanged,
    /// A password change was refused (wrong current password).
    PasswordChangeFailed,
    /// A password-reset email was issued.
    PasswordResetRequested,
    /// A password-reset request sent nothing (unknown email, or over the limit; see `data`).
    PasswordResetRefused,
    /// The password was reset with a reset token.
    PasswordReset,
    /// A reset token was unknown, expired, used or invalidated.
    PasswordResetFailed,
    /// An impersonation session started; recorded on the support account (`data.role`:
    /// `impersonator`) and on the impersonated account (`impersonated`), with the reason.
    ImpersonationStarted,
    /// An impersonation session ended (sign-out); recorded on both accounts.
    ImpersonationEnded,
    /// An impersonation was refused (`data.reason`: `not_allowed`, `self`,
    /// `platform_account`, `nested`); recorded on the caller.
    ImpersonationRefused,
    /// The session's active organization was switched (`data.org_id`).
    OrganizationSwitched,
    /// An organization switch was refused: not a member, or no such organization
    /// (`data.org_id`).
    OrganizationSwitchRefused,
    /// A sign-in with an OpenID Connect provider succeeded (`data.provider`).
    OidcSignIn,
    /// A new account was created by an OpenID Connect sign-in.
    OidcAccountCreated,
    /// An external identity was linked to an account (`data.via`: `explicit` or
    /// `verified_email`).
    OidcIdentityLinked,
    /// An OpenID Connect sign-in matched an existing account by e-mail and was refused
    /// (`ACCOUNT_EXISTS_LINK_REQUIRED`; `data` says why linking was not allowed).
    OidcLinkRefused,
    /// An OpenID Connect sign-in failed (`data.reason`: the error code, lowercased).
    OidcSignInFailed,
    /// An API key was created (`data`: key id, owner, name, scopes, expiry).
    ApiKeyCreated,
    /// An API key was revoked (`data`: key id, owner).
    ApiKeyRevoked,
    /// A presented API key was refused (`data.reason`: `malformed`, `unknown`, `mismatch`,
    /// `revoked`, `expired`; never the key).
    ApiKeyRefused,
    /// A TOTP enrolment was started (a pending secret was issued).
    MfaEnrolmentStarted,
    /// A TOTP authenticator was confirmed: multi-factor authentication is on.
    MfaEnrolled,
    /// Multi-factor authentication was turned off.
    MfaDisabled,
    /// A login's MFA challenge was passed.
    MfaChallengeSucceeded,
    /// A login's MFA challenge failed: unknown or dead token, wrong or reused code (see
    /// `data.reason`).
    MfaChallengeFailed,
    /// A backup code was used (`data.remaining` says how many are left).
    BackupCodeUsed,
    /// New backup codes replaced the old ones.
    BackupCodesRegenerated,
    /// A re-authentication for an MFA change failed (wrong password or code).
    MfaReauthFailed,
    /// A one-time code was sent (`data`: channel, purpose).
    OtpSent,
    /// A one-time code was not sent: locked or over the hourly limit (`data.reason`).
    OtpSendRefused,
    /// A one-time code was verified (`data.purpose`).
    OtpVerified,
    /// A one-time code was wrong, expired or used, or codes are locked (`data.reason`).
    OtpFailed,
    /// Too many verification attempts locked one-time codes (`data.until`).
    OtpLocked,
    /// The account's phone number was set or changed (unverified).
    PhoneChanged,
}

impl SecurityEventKind {
    /// The stable text stored in `auth_security_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::RegisterExistingEmail => "register_existing_email",
            Self::EmailVerified => "email_verified",
            Self::EmailVerificationFailed => "email_verification_failed",
            Self::VerificationResent => "verification_resent",
            Self::VerificationResendRefused => "verification_resend_refused",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::LoginLocked => "login_locked",
            Self::LoginUnverified => "login_unverified",
            Self::AccountLocked => "account_locked",
            Self::PasswordRehashed => "password_rehashed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordChangeFailed => "password_change_failed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordResetRefused => "password_reset_refused",
            Self::PasswordReset => "password_reset",
            Self::PasswordResetFailed => "password_reset_failed",
            Self::ImpersonationStarted => "impersonation_started",
            Self::ImpersonationEnded => "impersonation_ended",
            Self::ImpersonationRefused => "impersonation_refused",
            Self::OrganizationSwitched => "organization_switched",
            Self::OrganizationSwitchRefused => "organization_switch_refused",
            Self::OidcSignIn => "oidc_sign_in",
            Self::OidcAccountCreated => "oidc_account_created",
            Self::OidcIdentityLinked => "oidc_identity_linked",
            Self::OidcLinkRefused => "oidc_link_refused",
            Self::OidcSignInFailed => "oidc_sign_in_failed",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeyRefused => "api_key_refused",
            Self::MfaEnrolmentStarted => "mfa_enrolment_started",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaChallengeSucceeded => "mfa_challenge_succeeded",
            Self::MfaChallengeFailed => "mfa_challenge_failed",
            Self::BackupCodeUsed => "backup_code_used",
            Self::BackupCodesRegenerated => "backup_codes_regenerated",
            Self::MfaReauthFailed => "mfa_reauth_failed",
            Self::OtpSent => "otp_sent",
            Self::OtpSendRefused => "otp_send_refused",
            Self::OtpVerified => "otp_verified",
            Self::OtpFailed => "otp_failed",
            Self::OtpLocked => "otp_locked",
            Self::PhoneChanged => "phone_changed",
        }
    }

    /// Kinds that count as a failed login for the progressive delay.
    pub(crate) fn counts_as_failure(self) -> bool {
        matches!(self, Self::LoginFailed | Self::LoginLocked)
    }
}

/// One event to record.
pub(crate) struct Event {
    pub kind: SecurityEventKind,
    pub account_id: Option<Uuid>,
    pub email_key: Option<String>,
    pub data: Value,
}

impl Event {
    pub(crate) fn new(kind: SecurityEventKind) -> Self {
        Self {
            kind,
            account_id: None,
            email_key: None,
            data: Value::Object(Default::default()),
        }
    }

    pub(crate) fn account(mut self, id: Uuid) -> Self {
        self.account_id = Some(id);
        self
    }

    pub(crate) fn email_key(mut self, key: impl Into<String>) -> Self {
        self.email_key = Some(key.into());
        self
    }

    pub(crate) fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

impl AuthService {
    /// Appends `event` on `conn` (the operation's transaction) and logs it.
    pub(crate) async fn record_event<C: ConnectionTrait>(
        &self,
        conn: &C,
        meta: &RequestMeta,
        event: Event,
    ) -> Result<()> {
        let row = security_event::ActiveModel {
            id: Set(self.kernel().new_id()),
            account_id: Set(event.account_id),
            kind: Set(event.kind.as_str().to_owned()),
            email_hash: Set(event.email_key),
            ip: Set(meta.ip.map(|ip| ip.to_string())),
            user_agent: Set(meta.user_agent.clone()),
            correlation_id: Set(meta.correlation_id.clone()),
            occurred_at: Set(self.kernel().now()),
            data: Set(event.data),
        };
        security_event::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        tracing::info!(
            security_event.kind = event.kind.as_str(),
            account.id = event.account_id.map(|id| id.to_string()),
            correlation_id = %meta.correlation_id,
            "security event"
        );
        Ok(())
    }
}

impl AuthService {
    /// Appends `event` in its own platform transaction (for outcomes that change nothing
    /// else: refusals, session-level changes).
    pub(crate) async fn record_standalone_event(
        &self,
        meta: &RequestMeta,
        event: Event,
    ) -> Result<()> {
        let ctx = helix_core::PlatformContext::system("helix-auth");
        let tx = self.kernel().db().platform(&ctx).await?;
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl AuthService {
    /// The security events of `account_id`, oldest first (at most `limit`).
    pub async fn security_events(
        &self,
        account_id: Uuid,
        limit: u64,
    ) -> Result<Vec<security_event::Model>> {
        self.events_where(security_event::Column::AccountId.eq(account_id), limit)
            .await
    }

    /// The security events that named `email` (known account or not), oldest first.
    pub async fn security_events_for_email(
        &self,
        email: &str,
        limit: u64,
    ) -> Result<Vec<security_event::Model>> {
        let normalized =
            super::normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
        let key = super::email::email_key(&normalized);
        self.events_where(security_event::Column::EmailHash.eq(key), limit)
            .await
    }

    async fn events_where(
        &self,
        cond: sea_orm::sea_query::SimpleExpr,
        limit: u64,
    ) -> Result<Vec<security_event::Model>> {
        let ctx = helix_core::PlatformContext::system("helix-auth");
        let tx = self.kernel().db().platform_read(&ctx).await?;
        let rows = security_event::Entity::find()
            .filter(cond)
            .order_by_asc(security_event::Column::OccurredAt)
            .order_by_asc(security_event::Column::Id)
            .limit(limit)
            .all(tx.raw())
            .await?;
        tx.rollback().await?;
        Ok(rows)
    }
}
