//! helix-iam as helix-tenancy's [`Authorizer`]: every tenancy operation is decided by the
//! organization's roles, scoped assignments and relationships instead of the fixed roles.

use async_trait::async_trait;
use helix_core::TenantTx;
use helix_tenancy::authz::{Authorizer, Target};
use helix_tenancy::{Role, TenancyError};
use uuid::Uuid;

use crate::error::IamError;
use crate::model::Resource;
use crate::service::Iam;
use crate::store::current_revision;

/// Decides tenancy operations with helix-iam. Install with
/// `TenancyService::with_authorizer(Arc::new(IamAuthorizer::new(iam)))`.
#[derive(Debug, Clone)]
pub struct IamAuthorizer {
    iam: Iam,
}

impl IamAuthorizer {
    /// An authorizer over `iam`.
    pub fn new(iam: Iam) -> Self {
        Self { iam }
    }
}

fn tenancy_error(e: IamError) -> TenancyError {
    match e {
        IamError::NotFound(what) => TenancyError::NotFound(what),
        IamError::Forbidden(permission) => TenancyError::MissingPermission(permission),
        IamError::Escalation(_) => {
            TenancyError::Forbidden("you may only grant roles whose permissions you hold yourself")
        }
        other => TenancyError::Core(other.into()),
    }
}

#[async_trait]
impl Authorizer for IamAuthorizer {
    async fn authorize(
        &self,
        tx: &TenantTx,
        permission: &'static str,
        target: Target,
    ) -> Result<(), TenancyError> {
        // The operation's own transaction names the revision it sees: decide at least that
        // fresh, so a change committed before this operation began is never missed.
        let seen = current_revision(tx).await.map_err(tenancy_error)?;
        let resource = match target {
            Target::Organization => Resource::Tenant,
            Target::Team(id) => Resource::Team(id),
        };
        let ctx = tx.context();
        let consistency = self
            .iam
            .fresh_at_least(ctx, seen)
            .await
            .map_err(tenancy_error)?;
        let decision = self
            .iam
            .check_at(ctx, permission, &resource, consistency)
            .await
            .map_err(tenancy_error)?;
        if decision.allowed {
            return Ok(());
        }
        if !self.iam.has_standing(ctx) {
            return Err(TenancyError::NotFound("organization"));
        }
        Err(TenancyError::MissingPermission(permission))
    }

    async fn authorize_team_join(&self, tx: &TenantTx, team: Uuid) -> Result<(), TenancyError> {
        let seen = current_revision(tx).await.map_err(tenancy_error)?;
        self.iam
            .guard_team_join(tx.context(), team, seen)
            .await
            .map_err(tenancy_error)
    }

    async fn authorize_role(&self, tx: &TenantTx, role: Role) -> Result<(), TenancyError> {
        let seen = current_revision(tx).await.map_err(tenancy_error)?;
        let ctx = tx.context();
        self.iam
            .guard_builtin(ctx, role.as_str(), seen)
            .await
            .map_err(tenancy_error)
    }
}
