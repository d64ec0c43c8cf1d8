//! [`ApiKeyOwners`]: how the host tells helix-auth who owns API keys, without helix-auth
//! knowing tenancy.

use uuid::Uuid;

/// The host's mapping between callers, owner references and organizations. Object-safe:
/// held as `Arc<dyn ApiKeyOwners>` (see `helix_auth::http::AuthState::with_api_keys`).
///
/// The reference server implements it over helix-tenancy: the owner of a user's keys is the
/// active organization (`org:<uuid>`), only its owners and admins manage keys, and a key of
/// `org:<uuid>` acts in that organization.
#[async_trait::async_trait]
pub trait ApiKeyOwners: Send + Sync + 'static {
    /// The owner reference whose keys `account_id` (acting in `active_org`, the session's
    /// organization) manages, or `None` when the caller may not manage keys there (the
    /// management routes then answer 403).
    async fn managed_owner(
        &self,
        account_id: Uuid,
        active_org: Option<Uuid>,
    ) -> Result<Option<String>, helix_core::Error>;

    /// The organization a key of `owner` acts in (the request context's organization), or
    /// `Ok(None)` when the owner maps to none any more: the key is then refused (401
    /// `INVALID_API_KEY`).
    async fn organization_of(&self, owner: &str) -> Result<Option<Uuid>, helix_core::Error>;
}
