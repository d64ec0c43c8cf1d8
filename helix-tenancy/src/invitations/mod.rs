//! Invitations: an email, a role and teams, with a single-use token that expires after 7
//! days (configurable). The token is returned once and stored only as a SHA-256 hash.

pub mod model;
mod notifier;
mod service;
mod token;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

pub use model::InvitationStatus;
pub(crate) use notifier::Notifier;
pub use notifier::{InvitationIssue, InvitationNotice, InvitationNotifier};
pub use service::NewInvitation;
pub use token::InvitationToken;

use crate::memberships::Role;

/// An invitation as the API shows it: never with its token or token hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Invitation id.
    pub id: Uuid,
    /// The organization.
    pub org_id: Uuid,
    /// Invited email, lowercased.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// Teams joined on acceptance.
    pub team_ids: Vec<Uuid>,
    /// Stored status (a pending invitation may still have expired).
    pub status: InvitationStatus,
    /// Who sent it.
    pub invited_by: Option<Uuid>,
    /// When the current token stops working.
    pub expires_at: DateTime<Utc>,
    /// Who accepted it.
    pub accepted_by: Option<Uuid>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Invitation {
    /// Whether the invitation's token has expired at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

impl From<model::Model> for Invitation {
    fn from(m: model::Model) -> Self {
        let team_ids = serde_json::from_value(m.team_ids).unwrap_or_default();
        Self {
            id: m.id,
            org_id: m.org_id,
            email: m.email,
            role: m.role,
            team_ids,
            status: m.status,
            invited_by: m.invited_by,
            expires_at: m.expires_at,
            accepted_by: m.accepted_by,
            accepted_at: m.accepted_at,
            revoked_at: m.revoked_at,
            created_at: m.created_at,
        }
    }
}

/// A newly created or resent invitation with its token. The token is not retrievable again:
/// deliver it (in a link) and drop it.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// The secret token (redacted in `Debug`).
    pub token: InvitationToken,
}
