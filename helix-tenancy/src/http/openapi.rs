//! The OpenAPI 3.1 description of the tenancy routes (feature `openapi`): [`TenancyApi`], for
//! the host to merge into its own document.
//!
//! ```
//! use utoipa::OpenApi;
//! let doc = helix_tenancy::http::openapi::TenancyApi::openapi();
//! assert!(doc.paths.paths.contains_key("/api/v1/organization"));
//! ```

use chrono::{DateTime, Utc};
use helix_core::list::PageMeta;
use utoipa::OpenApi;
use uuid::Uuid;

use super::{invitations, members, organizations, teams};
use crate::{
    Invitation, InvitationStatus, Membership, NewInvitation, NewMember, NewTeam, Organization,
    OrganizationUpdate, Region, Role, Team, TeamMember, TeamUpdate,
};

/// The tenancy routes under `/api/v1` and their schemas. The routes require the host's
/// `bearer` security scheme (helix-auth's access token, which carries the active
/// organization).
#[derive(OpenApi)]
#[openapi(
    paths(
        organizations::get,
        organizations::update,
        organizations::create,
        members::list,
        members::add,
        members::get,
        members::change_role,
        members::remove,
        teams::list,
        teams::create,
        teams::get,
        teams::update,
        teams::delete,
        teams::list_members,
        teams::put_member,
        teams::remove_member,
        invitations::list,
        invitations::create,
        invitations::get,
        invitations::revoke,
        invitations::resend,
        invitations::accept,
    ),
    components(schemas(
        Organization,
        OrganizationUpdate,
        organizations::CreateOrganization,
        Region,
        Membership,
        NewMember,
        members::RoleChange,
        Role,
        Team,
        NewTeam,
        TeamUpdate,
        TeamMember,
        Invitation,
        InvitationStatus,
        NewInvitation,
        IssuedInvitation,
        invitations::Accept,
        MembershipPage,
        TeamPage,
        TeamMemberPage,
        InvitationPage,
        PageMeta,
    )),
    tags((name = "tenancy", description = "Organizations, members, teams and invitations"))
)]
pub struct TenancyApi;

/// A page of memberships (the standard list answer).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the routes answer `Page<Membership>`
pub(crate) struct MembershipPage {
    /// The rows of this page.
    data: Vec<Membership>,
    /// Paging facts.
    meta: PageMeta,
}

/// A page of teams (the standard list answer).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the routes answer `Page<Team>`
pub(crate) struct TeamPage {
    /// The rows of this page.
    data: Vec<Team>,
    /// Paging facts.
    meta: PageMeta,
}

/// A page of team members (the standard list answer).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the routes answer `Page<TeamMember>`
pub(crate) struct TeamMemberPage {
    /// The rows of this page.
    data: Vec<TeamMember>,
    /// Paging facts.
    meta: PageMeta,
}

/// A page of invitations (the standard list answer).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the routes answer `Page<Invitation>`
pub(crate) struct InvitationPage {
    /// The rows of this page.
    data: Vec<Invitation>,
    /// Paging facts.
    meta: PageMeta,
}

/// An invitation with its token, answered once by create and resend.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the routes flatten `Invitation` and add `token`
pub(crate) struct IssuedInvitation {
    /// Invitation id.
    id: Uuid,
    /// The organization.
    org_id: Uuid,
    /// Invited email, lowercased.
    email: String,
    /// Role granted on acceptance.
    role: Role,
    /// Teams joined on acceptance.
    team_ids: Vec<Uuid>,
    /// Stored status.
    status: InvitationStatus,
    /// Who sent it.
    invited_by: Option<Uuid>,
    /// When the token stops working.
    expires_at: DateTime<Utc>,
    /// Who accepted it.
    accepted_by: Option<Uuid>,
    /// When it was accepted.
    accepted_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    revoked_at: Option<DateTime<Utc>>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// The invitation token: shown once, never stored (only its hash).
    token: String,
}
