//! The invitation hook: the host delivers a newly issued token (by mail, typically) inside
//! the transaction that issues it.
//!
//! helix-tenancy stores only the SHA-256 of an invitation token and its outbox events never
//! carry secrets, so it cannot mail the token itself; nor does it know the host's mail
//! system or sealing keys. [`InvitationNotifier`] closes that gap: when set
//! ([`crate::TenancyService::with_invitation_notifier`]), it is called with the plain token
//! in the same [`TenantTx`] that creates or resends the invitation, before the commit. The
//! host queues its mail there (through the transactional outbox, the token sealed), so the
//! invitation and its mail commit together or not at all. Without a notifier nothing is
//! sent and the token is only returned to the caller.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use helix_core::TenantTx;

use super::{Invitation, InvitationToken};
use crate::error::{Result, TenancyError};
use crate::organizations::model as organization;

/// Why a token was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationIssue {
    /// A new invitation ([`crate::TenancyService::create_invitation`]).
    Created,
    /// A new token for an existing invitation
    /// ([`crate::TenancyService::resend_invitation`]); the previous token is dead.
    Resent,
}

/// What the hook is told about an issued token. `Debug` redacts the token.
#[derive(Debug)]
pub struct InvitationNotice<'a> {
    /// The invitation, as stored by this transaction.
    pub invitation: &'a Invitation,
    /// The organization's display name.
    pub organization_name: &'a str,
    /// The plain token (handle it as a secret: seal it, never log it).
    pub token: &'a InvitationToken,
    /// Created or resent.
    pub issue: InvitationIssue,
    /// The transaction's time (what `created_at`/`updated_at` say).
    pub at: DateTime<Utc>,
}

/// Delivers invitation tokens. Called inside the issuing transaction; an error rolls the
/// invitation back (the caller gets the error), so deliver through something transactional
/// (the outbox), never over the network from here.
#[async_trait::async_trait]
pub trait InvitationNotifier: Send + Sync + 'static {
    /// A token was issued for `notice.invitation`. Write what delivers it in `tx`.
    async fn invitation_issued(
        &self,
        tx: &TenantTx,
        notice: &InvitationNotice<'_>,
    ) -> std::result::Result<(), helix_core::Error>;
}

/// The service's optional notifier (a no-op when unset), with a `Debug` that names no
/// internals.
#[derive(Clone, Default)]
pub(crate) struct Notifier(Option<Arc<dyn InvitationNotifier>>);

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Notifier").field(&self.0.is_some()).finish()
    }
}

impl Notifier {
    pub(crate) fn new(notifier: Arc<dyn InvitationNotifier>) -> Self {
        Self(Some(notifier))
    }

    /// Calls the hook, if any, for `invitation` and its fresh `token`.
    pub(crate) async fn issued(
        &self,
        tx: &TenantTx,
        invitation: &Invitation,
        token: &InvitationToken,
        issue: InvitationIssue,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let Some(hook) = &self.0 else {
            return Ok(());
        };
        let org = tx
            .find_by_id::<organization::Entity, _>(tx.org_id())
            .await?
            .ok_or(TenancyError::NotFound("organization"))?;
        let notice = InvitationNotice {
            invitation,
            organization_name: &org.name,
            token,
            issue,
            at,
        };
        hook.invitation_issued(tx, &notice).await?;
        Ok(())
    }
}
