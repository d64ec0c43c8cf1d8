//! helix-iam as helix-tenancy's [`Authorizer`]: every tenancy operation is decided by the
//! organization's roles, scoped assignments and relationships instead of the fixed roles.
//!
//! # Deciding inside tenancy's transaction
//!
//! helix-tenancy asks with its own open write transaction. Every decision is made through
//! that transaction only: it reads the organization's revision in it (the only query when
//! the engine already holds that revision or a newer one) and, when the engine is older,
//! loads the policy snapshot through the same transaction. No second connection is taken
//! while tenancy's is open, so many concurrent tenancy writes cannot exhaust the pool
//! waiting for connections they hold themselves (on SQLite the write transaction also
//! holds the single write lock a second transaction would wait for).
//!
//! A read-only operation (tenancy's `tenant_read` transactions: lists and reads) is
//! decided like any other check ([`Iam::check`](crate::Iam::check) with
//! [`Consistency::Fresh`](crate::Consistency::Fresh), the `Require<P>` guard): while the
//! change feed is live and the engine holds the tenant's policy at the newest revision it
//! was told of, that policy decides with no query at all; otherwise the revision is read
//! through the transaction as above, and recorded as current for the feed's stamp taken
//! before that read (as [`Iam::check`](crate::Iam::check) records its own reads), so the
//! reads after it need no query until a notification names a newer revision. A change not
//! made through IAM's own writes (tenancy's membership changes, on this instance or another)
//! reaches those reads through the feed, as it reaches `Require<P>`. Tenancy's read
//! transactions are read-only and run at PostgreSQL's default `READ COMMITTED`, which this
//! relies on (a policy loaded through the transaction is at least as new as the revision
//! trusted before it). Nothing decided for a read-only transaction guards a write.
//!
//! The policy read through the transaction must be committed state, because a snapshot
//! loaded through it is installed in the shared engine. That holds because helix-tenancy
//! asks before it writes anything in the operation's transaction: each operation
//! authorizes first (`change_member_role` and `remove_member` ask, lock the organization
//! row, and ask again), and only then inserts, updates or deletes. Its own changes can
//! therefore never be part of the decision. When tenancy has locked the organization row
//! (the lock IAM's management writes take too), the second decision sees every IAM change
//! committed before the lock and none can commit until tenancy's does; the first decision
//! (before the lock) only turns away actors with no standing early. On SQLite the
//! write transaction is the only writer, so what it reads cannot change under it.
//!
//! # Refused escalations
//!
//! Handing out a role (`authorize_role`) or putting someone into a team whose members are
//! granted roles (`authorize_team_join`) is refused when the actor does not hold what it
//! hands out; such a refusal is recorded as an `iam.escalation_refused` audit event, like
//! the refusals of IAM's management writes. A missing permission is a plain denial and is
//! not recorded. Tenancy's transaction rolls back on the refusal, so the event cannot be
//! written in it; and it must not be written through a second connection by the deciding
//! task while that transaction is open. The authorizer hands it to a detached task that
//! writes it in a transaction of its own: the operation never waits for it (it returns the
//! refusal and rolls back at once, freeing its connection), so the recorder cannot be part
//! of a wait cycle; on SQLite its write starts only after tenancy's transaction has ended.
//! A recorder that fails logs a warning; the caller still gets the refusal.

use async_trait::async_trait;
use helix_core::{TenantContext, TenantTx};
use helix_tenancy::authz::{Authorizer, Target};
use helix_tenancy::{Role, TenancyError};
use uuid::Uuid;

use crate::error::IamError;
use crate::model::Resource;
use crate::service::{Attempt, Iam, InTx, Pinned, lock_organization};
use serde_json::json;

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

impl IamAuthorizer {
    /// Records a refused escalation as an [`crate::service::ESCALATION_REFUSED`] audit event, after the
    /// refusal: see [the module docs](self).
    fn record_later(&self, ctx: &TenantContext, attempt: Attempt, refusal: &IamError) {
        // Only escalations are security events; a missing permission is a plain denial.
        let IamError::Escalation(reason) = refusal else {
            return;
        };
        let iam = self.iam.clone();
        let ctx = ctx.clone();
        let refusal = IamError::Escalation(reason.clone());
        let operation = attempt.operation;
        tokio::spawn(async move {
            if let Err(failure) = iam.record_refusal(&ctx, &attempt, &refusal).await {
                tracing::warn!(
                    tenant.id = %ctx.org_id(),
                    operation,
                    error = %failure,
                    "could not record a refused escalation attempt"
                );
            }
        });
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
        // The operation's own transaction names the revision it sees: decide on that
        // policy or a newer one, read through this transaction when the engine is older.
        // A read-only operation (a list, a read) cannot write, so it is decided like any
        // check (`Require<P>`, `Iam::check`): on the policy this process knows to be
        // current while the change feed is live, with no query.
        // The first read of a tenant after a change reads the revision through the
        // transaction and records it as current for the feed's stamp taken before that read
        // (as `Iam::check` does), so the reads after it need no query.
        let sync = self.iam.sync();
        let stamp = if tx.is_read_only() {
            sync.live_stamp()
        } else {
            None
        };
        let known = stamp.and_then(|_| sync.trusted_now(tx.org_id()));
        let pinned = match known {
            Some(revision) => InTx::known_current(tx, revision),
            None => InTx::pin(tx).await.map_err(tenancy_error)?,
        };
        let resource = match target {
            Target::Organization => Resource::Tenant,
            Target::Team(id) => Resource::Team(id),
        };
        let decided = self
            .iam
            .require_locked(tx.context(), &pinned, permission, &resource)
            .await;
        if known.is_none()
            && let Some(stamp) = stamp
        {
            // The engine now holds the policy at `seen` or later (the decision made sure).
            sync.note_verified(tx.org_id(), stamp, pinned.seen());
        }
        decided.map_err(tenancy_error)
    }

    async fn authorize_team_join(&self, tx: &TenantTx, team: Uuid) -> Result<(), TenancyError> {
        // Serialize with IAM's management writes (and tenancy's owner-set changes) on the
        // organization lock: a role given to the team (or changed) concurrently must not let
        // this hand-out pass a guard that the combination would fail.
        lock_organization(tx).await.map_err(tenancy_error)?;
        let pinned = InTx::pin(tx).await.map_err(tenancy_error)?;
        let ctx = tx.context();
        let decided = self.iam.guard_team_join_in(ctx, &pinned, team).await;
        if let Err(refusal) = &decided {
            let attempt = Attempt::new(
                "tenancy.team.join",
                "team",
                team,
                json!({ "team_id": team }),
            );
            self.record_later(ctx, attempt, refusal);
        }
        decided.map_err(tenancy_error)
    }

    async fn authorize_role(&self, tx: &TenantTx, role: Role) -> Result<(), TenancyError> {
        // Serialize with IAM's management writes (and tenancy's owner-set changes) on the
        // organization lock: a role given to the team (or changed) concurrently must not let
        // this hand-out pass a guard that the combination would fail.
        lock_organization(tx).await.map_err(tenancy_error)?;
        let pinned = InTx::pin(tx).await.map_err(tenancy_error)?;
        let ctx = tx.context();
        let decided = self.iam.guard_builtin_in(ctx, &pinned, role.as_str()).await;
        if let Err(refusal) = &decided {
            let attempt = Attempt::new(
                "tenancy.role.grant",
                "role",
                role.as_str(),
                json!({ "role": role.as_str() }),
            );
            self.record_later(ctx, attempt, refusal);
        }
        decided.map_err(tenancy_error)
    }
}
