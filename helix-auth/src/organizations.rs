//! [`OrganizationDirectory`]: how helix-auth learns about organizations without depending on
//! a tenancy crate.
//!
//! helix-auth knows nothing of organizations; the host that composes it with a tenancy layer
//! implements this trait over that layer and gives it to
//! [`crate::http::AuthState::with_organizations`]. With a directory:
//!
//! - login puts the account's [`default_organization`](OrganizationDirectory::default_organization)
//!   into the new session (`active_org_id`) and into the access token's `org` claim;
//! - refresh keeps the session's active organization;
//! - `POST /api/v1/auth/organization` switches it after checking
//!   [`is_member`](OrganizationDirectory::is_member);
//! - `verify-email` calls [`on_email_verified`](OrganizationDirectory::on_email_verified)
//!   (the host creates a personal organization there).
//!
//! Without one, tokens carry no organization and switching answers 404.
//!
//! The `org` claim is a selection, not an authorization: the tenancy layer must still check
//! membership on every tenant request (helix-tenancy does), so a claim made stale by a
//! removed membership grants nothing.

use uuid::Uuid;

/// The host's view of the organizations an account belongs to. Object-safe: held as
/// `Arc<dyn OrganizationDirectory>`.
#[async_trait::async_trait]
pub trait OrganizationDirectory: Send + Sync + 'static {
    /// The organization a new session of `account_id` starts in, if any (for example its
    /// oldest membership).
    async fn default_organization(
        &self,
        account_id: Uuid,
    ) -> Result<Option<Uuid>, helix_core::Error>;

    /// Whether `account_id` belongs to `org_id`. An unknown organization is `Ok(false)`.
    async fn is_member(&self, account_id: Uuid, org_id: Uuid) -> Result<bool, helix_core::Error>;

    /// Called once `account_id` has verified `email` (the address is normalized, lowercase).
    /// The default does nothing; a host typically creates a personal organization here. It
    /// runs after the verification committed: an error is logged and does not undo it, so
    /// make it idempotent (a retried verification of another outstanding token calls it
    /// again).
    async fn on_email_verified(
        &self,
        account_id: Uuid,
        email: &str,
    ) -> Result<(), helix_core::Error> {
        let _ = (account_id, email);
        Ok(())
    }
}
