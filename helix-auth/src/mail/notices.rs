//! Account notices other features queue: "MFA changed" and invitations.

use helix_core::{PlatformTx, RequestMeta};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::outbox::OutgoingMail;
use super::templates::{INVITATION, MFA_CHANGED};
use crate::accounts::entity::account;
use crate::error::{AuthError, Result};
use crate::service::AuthService;

/// What changed about an account's multi-factor authentication ([`MFA_CHANGED`] mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaChange {
    /// A factor was enrolled (`mfa_enrolled`).
    Enabled,
    /// Multi-factor authentication was turned off (`mfa_disabled`).
    Disabled,
}

impl MfaChange {
    fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "turned on",
            Self::Disabled => "turned off",
        }
    }
}

impl AuthService {
    /// Queues the [`MFA_CHANGED`] notice to `account_id`'s address in `tx`, the transaction
    /// that enrolls or disables the factor (so the mail goes out if and only if the change
    /// commits). Does nothing without a mail queue. An unknown account is
    /// [`AuthError::AccountNotFound`].
    pub async fn queue_mfa_changed_mail(
        &self,
        tx: &PlatformTx,
        meta: &RequestMeta,
        account_id: Uuid,
        change: MfaChange,
    ) -> Result<()> {
        if self.mail().is_none() {
            return Ok(());
        }
        let acc = account::Entity::find_by_id(account_id)
            .one(tx.raw())
            .await?
            .ok_or(AuthError::AccountNotFound)?;
        let mail = OutgoingMail::new(MFA_CHANGED, acc.email)
            .data("change", change.as_str())
            .data("time", self.kernel().now().to_rfc3339());
        self.queue_mail(tx, meta, mail).await
    }
}

/// The [`INVITATION`] mail: `token` is the invitation token (sealed in the outbox),
/// `organization` and `role` are shown, `expires_at` is RFC 3339. Queue it with
/// [`super::MailOutbox::queue_tenant`] in the transaction that issues the invitation (the
/// reference server does it from helix-tenancy's `InvitationNotifier` hook), or with
/// [`super::MailOutbox::queue`] in a platform transaction.
pub fn invitation_mail(
    to: &str,
    organization: &str,
    role: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    token: &str,
) -> OutgoingMail {
    OutgoingMail::new(INVITATION, to)
        .data("organization", organization)
        .data("role", role)
        .data("expires_at", expires_at.to_rfc3339())
        .secret("token", token)
}
