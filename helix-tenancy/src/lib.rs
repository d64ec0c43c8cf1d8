//! # helix-tenancy
//!
//! Organizations, memberships, teams and invitations, and the tenant-scoped data access every
//! Helix crate uses.
//!
//! - **Organizations** are the tenants. [`TenancyService::create_organization`] runs on the
//!   platform path (a [`helix_core::PlatformContext`]) and creates the organization with its
//!   first owner. The data [`Region`] is pinned at creation; the database refuses to change it.
//! - **Memberships** give users a [`Role`] (`owner`, `admin`, `member`, `read_only`). An
//!   organization always keeps at least one owner (`LAST_OWNER`).
//! - **Teams** group members; slugs are unique per organization.
//! - **Invitations** carry a 256-bit token, returned once ([`IssuedInvitation`]) and stored
//!   only as a SHA-256 hash; they expire after 7 days and work once. A host
//!   [`InvitationNotifier`] receives each new token inside the issuing transaction, to queue
//!   the invitation mail atomically with it.
//!
//! Everything else takes a [`helix_core::TenantContext`]: its `org_id` (never input) scopes
//! every query, and on PostgreSQL Row Level Security enforces the same boundary again. Until
//! helix-iam lands, the actor must be a member: a non-member sees "not found" (no existence
//! leak), a member whose role is insufficient sees "forbidden". Owners and admins manage
//! members, teams and invitations; only owners grant or revoke ownership; `member` and
//! `read_only` read. Every mutation writes an audit entry and a `tenancy.*` outbox event in
//! its own transaction.
//!
//! With the `http` feature (off by default), `http::router()` serves all of this as JSON
//! under `/api/v1` (organization, members, teams, invitations) for any router state that
//! holds a [`TenancyService`]; the caller and the active organization come from the
//! `Tenant` and `Principal` extractors of `helix_core::http::extract`.
//!
//! ```no_run
//! use helix_core::list::ListQuery;
//! use helix_core::{Actor, Db, Helix, Kernel, PlatformContext, PoolOptions, TenantContext};
//! use helix_tenancy::{NewInvitation, NewOrganization, Region, Role, TenancyModule, TenancyService};
//! use uuid::Uuid;
//!
//! # async fn demo() -> Result<(), helix_core::Error> {
//! let db = Db::connect("sqlite:./helix.db", &PoolOptions::default()).await?;
//! Helix::builder(db.clone()).module(TenancyModule).build().await?; // runs the migrations
//! let tenancy = TenancyService::new(Kernel::new(db));
//!
//! let alice = Uuid::now_v7();
//! let platform = PlatformContext::new(Actor::User(alice));
//! let new = NewOrganization {
//!     name: "Acme".into(),
//!     slug: "acme".into(),
//!     region: Region::Eu,
//!     plan: None,
//!     settings: None,
//! };
//! let org = tenancy.create_organization(&platform, new, alice, "alice@acme.test").await?;
//!
//! let ctx = TenantContext::new(org.id, Actor::User(alice));
//! let invite = NewInvitation { email: "bob@acme.test".into(), role: Role::Member, team_ids: vec![] };
//! let issued = tenancy.create_invitation(&ctx, invite).await?;
//! // Send `issued.token.expose()` to Bob; it is never shown again.
//!
//! let bob = Uuid::now_v7();
//! let bob_ctx = PlatformContext::new(Actor::User(bob));
//! tenancy.accept_invitation(&bob_ctx, &issued.token, "Bob@Acme.test").await?;
//! let members = tenancy.list_members(&ctx, &ListQuery::default()).await?;
//! assert_eq!(members.meta.total, 2);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod access;
pub mod authz;
pub mod error;
mod events;
#[cfg(feature = "http")]
pub mod http;
pub mod invitations;
pub mod memberships;
mod migrations;
mod module;
pub mod organizations;
mod service;
pub mod teams;
mod validate;

pub use authz::{Authorizer, RoleAuthorizer, Target};
pub use error::{Result, TenancyError};
pub use helix_core::db::{TenantEntity, TenantTx};
pub use helix_core::rls::TenantTable;
pub use invitations::{
    Invitation, InvitationIssue, InvitationNotice, InvitationNotifier, InvitationStatus,
    InvitationToken, IssuedInvitation, NewInvitation,
};
pub use memberships::{Membership, NewMember, Role};
pub use migrations::migrations;
pub use module::{MODULE_NAME, TenancyModule};
pub use organizations::{NewOrganization, Organization, OrganizationUpdate, Region, UnknownRegion};
pub use service::{DEFAULT_INVITATION_TTL_DAYS, TenancyService};
pub use teams::{NewTeam, Team, TeamMember, TeamUpdate};
