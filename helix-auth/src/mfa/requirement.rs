//! [`MfaRequirement`]: the hook through which the host (a tenancy layer) requires MFA.

use uuid::Uuid;

/// The channel on which a host announces that an organization's MFA policy changed
/// (PostgreSQL `NOTIFY`, payload: the organization id), so that every server instance drops
/// what [`MfaRequirement::policy`] told it. Announce from a trigger, in the transaction that
/// makes the change; [`crate::sessions::SessionService::follow_revocations`] listens to it.
pub const MFA_POLICY_CHANNEL: &str = "helix_auth_mfa_policy_changed";

/// An answer of [`MfaRequirement::policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaPolicy {
    /// The organization's own policy, the same for every account, whose every change the
    /// host announces on [`MFA_POLICY_CHANNEL`]: helix-auth may answer it from memory for any
    /// account of the organization until a change is announced (see
    /// [`crate::sessions::SessionService::organization_requires_mfa`]).
    Organization {
        /// Whether the organization requires MFA.
        required: bool,
    },
    /// An answer for this account only (for example, it cannot read the organization):
    /// never cached.
    Account {
        /// Whether MFA is required of this account in the organization.
        required: bool,
    },
}

impl MfaPolicy {
    /// Whether MFA is required.
    pub fn required(self) -> bool {
        match self {
            Self::Organization { required } | Self::Account { required } => required,
        }
    }
}

/// Whether an organization requires multi-factor authentication. helix-auth knows nothing
/// of organizations: the host implements this over its tenancy layer and gives it to
/// [`crate::http::AuthState::with_mfa_requirement`]. It is consulted wherever a token is
/// issued for an organization (login, organization switch, refresh); a session that did not
/// use a second factor gets no token for an organization that requires one (see the
/// [HTTP docs](crate::http) for the exact answers). Object-safe: held as
/// `Arc<dyn MfaRequirement>`.
#[async_trait::async_trait]
pub trait MfaRequirement: Send + Sync + 'static {
    /// Whether `org_id` requires MFA of its members; `account_id` is the member asking (the
    /// caller has already checked the membership). An unknown organization is `Ok(false)`.
    async fn required_for(&self, org_id: Uuid, account_id: Uuid)
    -> Result<bool, helix_core::Error>;

    /// The policy as helix-auth consults it: [`MfaPolicy::Organization`] lets it cache the
    /// answer per organization (only return it when the answer does not depend on
    /// `account_id` and every change is announced on [`MFA_POLICY_CHANNEL`]). The default
    /// asks [`MfaRequirement::required_for`] every time ([`MfaPolicy::Account`]).
    async fn policy(&self, org_id: Uuid, account_id: Uuid) -> Result<MfaPolicy, helix_core::Error> {
        Ok(MfaPolicy::Account {
            required: self.required_for(org_id, account_id).await?,
        })
    }
}

/// No organization requires MFA (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMfaRequirement;

#[async_trait::async_trait]
impl MfaRequirement for NoMfaRequirement {
    async fn required_for(&self, _: Uuid, _: Uuid) -> Result<bool, helix_core::Error> {
        Ok(false)
    }
}
