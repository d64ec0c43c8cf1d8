//! [`TenancyService`]: the entry point of every tenancy operation.

use chrono::Duration;
use helix_core::{Kernel, TenantContext, TenantTx};

use crate::error::Result;
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
}

impl TenancyService {
    /// A service over `kernel` (database, clock, ids).
    pub fn new(kernel: Kernel) -> Self {
        Self {
            kernel,
            invitation_ttl: Duration::days(DEFAULT_INVITATION_TTL_DAYS),
            default_region: Region::Us,
        }
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

    /// Opens a transaction scoped to the context's organization.
    pub(crate) async fn tenant_tx(&self, ctx: &TenantContext) -> Result<TenantTx> {
        Ok(self.kernel.db().tenant(ctx).await?)
    }

    /// Opens a read-only transaction scoped to the context's organization.
    pub(crate) async fn tenant_read_tx(&self, ctx: &TenantContext) -> Result<TenantTx> {
        Ok(self.kernel.db().tenant_read(ctx).await?)
    }
}
