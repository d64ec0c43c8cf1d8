//! [`MfaRequirement`]: the hook through which the host (a tenancy layer) requires MFA.

use uuid::Uuid;

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
