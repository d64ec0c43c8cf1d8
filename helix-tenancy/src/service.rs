//! [`TenancyService`]: the entry point of every tenancy operation.

use std::sync::Arc;

use chrono::Duration;
use helix_core::{Kernel, TenantContext, TenantTx};
use uuid::Uuid;

use crate::authz::{Authorizer, RoleAuthorizer, Target};
use crate::error::Result;
use crate::invitations::{InvitationNotifier, Notifier};
use crate::memberships::Role;
use crate::organizations::Region;

/// How long an invitation token stays valid by default: 7 days.
pub const DEFAULT_INVITATION_TTL_DAYS: i64 = 7;

/// Organizations, memberships, teams and invitations, without HTTP.
///
/// Cheap to clone (it holds a [`Kernel`]). Every method takes a context: a
/// [`helix_core::TenantContext`] for work inside one organization, a
/// [`helix_core::PlatformContext`] for the two platform-plane operations (creating an
/// organization, accepting an invitation by token). Each mutation writes its audit entry
/// and outbox event in the same transaction as the change.
#[derive(Clone, Debug)]
pub struct TenancyService {
    kernel: Kernel,
    invitation_ttl: Duration,
    default_region: Region,
    authorizer: Arc<dyn Authorizer>,
    notifier: Notifier,
}

impl TenancyService {
    /// A service over `kernel` (database, clock, ids).
    pub fn new(kernel: Kernel) -> Self {
        Self {
            kernel,
            invitation_ttl: Duration::days(DEFAULT_INVITATION_TTL_DAYS),
            default_region: Region::Us,
            authorizer: Arc::new(RoleAuthorizer),
            notifier: Notifier::default(),
        }
    }

    /// Replaces the authorization decision of every operation (default:
    /// [`RoleAuthorizer`], the built-in roles with the catalog defaults). helix-iam
    /// installs its own here.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// The installed authorization decision.
    pub fn authorizer(&self) -> &Arc<dyn Authorizer> {
        &self.authorizer
    }

    /// Connects the host's [`InvitationNotifier`]: it is called with the plain token inside
    /// the transaction that creates or resends an invitation, so the host can queue the
    /// invitation mail atomically with it. Without one, no mail is sent (the token is only
    /// returned to the caller).
    pub fn with_invitation_notifier(mut self, notifier: Arc<dyn InvitationNotifier>) -> Self {
        self.notifier = Notifier::new(notifier);
        self
    }

    /// Replaces the region new organizations are pinned to when the request names none
    /// (`POST /api/v1/organizations` without `region`); default [`Region::Us`].
    pub fn with_default_region(mut self, region: Region) -> Self {
        self.default_region = region;
        self
    }

    /// The region new organizations get when the request names none.
    pub fn default_region(&self) -> Region {
        self.default_region
    }

    /// Replaces the invitation lifetime (default 7 days).
    pub fn with_invitation_ttl(mut self, ttl: Duration) -> Self {
        self.invitation_ttl = ttl;
        self
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub(crate) fn invitation_ttl(&self) -> Duration {
        self.invitation_ttl
    }

    /// Asks the authorizer whether the actor of `tx` may use `permission` on the
    /// organization.
    pub(crate) async fn require(&self, tx: &TenantTx, permission: &'static str) -> Result<()> {
        self.authorizer
            .authorize(tx, permission, Target::Organization)
            .await
    }

    /// Asks the authorizer whether the actor of `tx` may use `permission` on a team.
    pub(crate) async fn require_on_team(
        &self,
        tx: &TenantTx,
        permission: &'static str,
        team: Uuid,
    ) -> Result<()> {
        self.authorizer
            .authorize(tx, permission, Target::Team(team))
            .await
    }

    /// Asks the authorizer whether the actor of `tx` may hand out or take away each role.
    pub(crate) async fn require_roles(&self, tx: &TenantTx, roles: &[Role]) -> Result<()> {
        for role in roles {
            self.authorizer.authorize_role(tx, *role).await?;
        }
        Ok(())
    }

    pub(crate) fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Opens a transaction scoped to the context's organization.
    pub(crate) async fn tenant_tx(&self, ctx: &TenantContext) -> Result<TenantTx> {
        Ok(self.kernel.db().tenant(ctx).await?)
    }

    /// Opens a read-only transaction scoped to the context's organization.
    pub(crate) async fn tenant_read_tx(&self, ctx: &TenantContext) -> Result<TenantTx> {
        Ok(self.kernel.db().tenant_read(ctx).await?)
    }
}
