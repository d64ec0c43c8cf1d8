//! Invitation mail: helix-tenancy calls [`InvitationMail`] (its `InvitationNotifier` hook)
//! with the plain token inside the transaction that creates or resends an invitation, and
//! this queues helix-auth's `invitation` mail in that same transaction, as an event of the
//! organization with the token sealed by the key ring. The invitation and its mail commit
//! together; the dispatcher's mail subscriber sends it after the commit, with the link
//! `<auth.mail.base_url>/invitations/accept?token=...`.

use helix_auth::mail::{MailOutbox, invitation_mail};
use helix_core::TenantTx;
use helix_tenancy::{InvitationNotice, InvitationNotifier};

/// Queues the invitation mail of every issued invitation token.
#[derive(Debug, Clone)]
pub struct InvitationMail {
    outbox: MailOutbox,
}

impl InvitationMail {
    /// Mails through `outbox` (sealing with its key ring).
    pub fn new(outbox: MailOutbox) -> Self {
        Self { outbox }
    }
}

#[async_trait::async_trait]
impl InvitationNotifier for InvitationMail {
    async fn invitation_issued(
        &self,
        tx: &TenantTx,
        notice: &InvitationNotice<'_>,
    ) -> Result<(), helix_core::Error> {
        let invitation = notice.invitation;
        let mail = invitation_mail(
            &invitation.email,
            notice.organization_name,
            invitation.role.as_str(),
            invitation.expires_at,
            notice.token.expose(),
        );
        self.outbox.queue_tenant(tx, notice.at, mail).await?;
        Ok(())
    }
}
