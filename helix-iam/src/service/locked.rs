//! Management writes under the organization lock, decided on the policy as of the locked
//! state, and refused escalations recorded as security events.
//!
//! A management write ([`Iam::create_role`], [`Iam::update_role`], assignments, tuples)
//! runs in one write transaction:
//!
//! 1. open it and lock the organization row (the lock helix-tenancy takes for its own
//!    decisions; on SQLite the write transaction already is the single writer);
//! 2. read the organization's revision in it and make sure the engine holds the policy at
//!    that revision or later, reading the snapshot **through that same transaction** when it
//!    does not: no second transaction is opened while the write transaction holds its
//!    connection (and, on SQLite, the write lock), so many concurrent writers cannot exhaust
//!    the pool or wait for themselves;
//! 3. decide (permission, escalation guards) on that policy;
//! 4. only then write ([`Iam::begin_writing`]), and commit.
//!
//! Two concurrent writes of one organization are serialized by the lock, and the second
//! decides on a policy that includes the first: they can never each pass a guard that
//! their combination would fail.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use helix_core::audit::{self, AuditEntry};
use helix_core::{Actor, TenantContext, TenantTx};
use serde_json::{Value, json};

use super::{Iam, engine_error};
use crate::engine::{EngineError, TenantIndex};
use crate::error::{IamError, Result};
use crate::model::{OWNER_ROLE, Resource, Revision, RoleRecord, Tuple};
use crate::store::TupleWrite;
use crate::store::{ORGANIZATIONS_TABLE, current_revision};

/// The audit action of a refused escalation attempt.
pub const ESCALATION_REFUSED: &str = "iam.escalation_refused";

/// How many times a decision reloads the policy through the locked transaction when a
/// concurrent eviction or an older install replaced it in the engine meanwhile.
const MAX_RELOADS: usize = 3;

/// A write transaction holding the organization lock, before anything was written: the
/// decision phase of a management write. [`Iam::begin_writing`] ends it.
pub(super) struct Locked {
    tx: TenantTx,
    seen: Revision,
}

impl Locked {
    /// The transaction, for reads during the decision phase.
    pub(super) fn tx(&self) -> &TenantTx {
        &self.tx
    }
}

/// A transaction that has written no policy row yet, and the revision it read: what the
/// decision helpers below decide on. A management write's [`Locked`] is one; so is
/// helix-tenancy's own transaction while [`crate::IamAuthorizer`] decides in it ([`InTx`]).
pub(crate) trait Pinned: Sync {
    /// The transaction the policy is read through when the engine holds an older one.
    fn pinned_tx(&self) -> &TenantTx;
    /// The revision the transaction saw: decisions use this policy or a newer one.
    fn seen(&self) -> Revision;
}

impl Pinned for Locked {
    fn pinned_tx(&self) -> &TenantTx {
        &self.tx
    }
    fn seen(&self) -> Revision {
        self.seen
    }
}

/// Another module's open transaction (helix-tenancy's), borrowed for one decision.
///
/// Its caller must not have written a policy row (membership, team member, role,
/// assignment, tuple) in it yet: the policy read through it is then committed state and
/// may be installed in the shared engine. helix-tenancy asks its authorizer before every
/// write of an operation (see [`crate::IamAuthorizer`]).
pub(crate) struct InTx<'a> {
    tx: &'a TenantTx,
    seen: Revision,
}

impl<'a> InTx<'a> {
    /// Reads the revision `tx` sees: the only query when the engine is that fresh.
    pub(crate) async fn pin(tx: &'a TenantTx) -> Result<Self> {
        let seen = current_revision(tx).await?;
        Ok(Self { tx, seen })
    }

    /// `tx` with a revision this process already knows to be current (the change feed is
    /// live: [`crate::IamSync`]), instead of reading it through `tx`. Only for a read-only
    /// `tx`: a decision that guards a write must see the revision its own transaction sees.
    pub(crate) fn known_current(tx: &'a TenantTx, seen: Revision) -> Self {
        Self { tx, seen }
    }
}

impl Pinned for InTx<'_> {
    fn pinned_tx(&self) -> &TenantTx {
        self.tx
    }
    fn seen(&self) -> Revision {
        self.seen
    }
}

/// What a refused management write tried to do, for its security event.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// The operation (`role.create`, `assignment.create`, `tuples.write`, ...).
    pub operation: &'static str,
    /// The kind of entity it targeted (`role`, `assignment`, `tuple`).
    pub entity_type: &'static str,
    /// The targeted entity's id, or a description of it (a new role's key).
    pub entity_id: String,
    /// Further facts (role key, scope, tuples); never secrets.
    pub data: Value,
}

impl Attempt {
    pub(crate) fn new(
        operation: &'static str,
        entity_type: &'static str,
        entity_id: impl ToString,
        data: Value,
    ) -> Self {
        Self {
            operation,
            entity_type,
            entity_id: entity_id.to_string(),
            data,
        }
    }
}

/// Locks the organization row in `tx` (see [`TenantTx::lock_tenant_row`]): the lock IAM's
/// management writes, tenancy's owner-set changes and the authorizer's hand-out guards all
/// serialize on. An organization that does not exist is not found.
pub(crate) async fn lock_organization(tx: &TenantTx) -> Result<()> {
    if tx.lock_tenant_row(ORGANIZATIONS_TABLE).await? {
        Ok(())
    } else {
        Err(IamError::NotFound("organization"))
    }
}

impl Iam {
    /// Opens a management write: write transaction, organization lock, and the engine at
    /// the locked revision (see the module docs). An organization that does not exist is
    /// not found.
    pub(super) async fn lock(&self, ctx: &TenantContext) -> Result<Locked> {
        let tx = self.store.kernel().db().tenant(ctx).await?;
        lock_organization(&tx).await?;
        let seen = current_revision(&tx).await?;
        let locked = Locked { tx, seen };
        self.index_at(&locked).await?;
        Ok(locked)
    }

    /// Ends the decision phase: stores the built-in roles the organization lacks (the first
    /// write of an organization materializes them) and hands over the transaction for the
    /// change itself.
    pub(super) async fn begin_writing(&self, locked: Locked) -> Result<TenantTx> {
        self.store
            .ensure_builtin_roles(&locked.tx, &self.templates)
            .await?;
        Ok(locked.tx)
    }

    /// The engine's index of the organization at the locked revision or later, loaded
    /// through the locked transaction when the engine holds an older one or none. The
    /// transaction has written nothing yet, so what it reads is committed state.
    pub(crate) async fn index_at(&self, locked: &impl Pinned) -> Result<Arc<TenantIndex>> {
        let org = locked.pinned_tx().org_id();
        for _ in 0..MAX_RELOADS {
            if let Some(idx) = self.engine.tenant(org)
                && idx.revision() >= locked.seen()
            {
                return Ok(idx);
            }
            let snapshot = self
                .store
                .load_snapshot(locked.pinned_tx(), &self.templates)
                .await?;
            match self.engine.load(&snapshot) {
                Ok(_) | Err(crate::engine::LoadError::Stale { .. }) => {}
                Err(e) => return Err(IamError::Compile(e.to_string())),
            }
        }
        Err(IamError::Core(helix_core::Error::Unavailable))
    }

    /// Whether the actor holds `permission` on `resource` in the policy as of the lock.
    /// Same rules as [`Iam::check`]: members only, API keys hold the read-only defaults,
    /// a graph deeper than the limit is a deny.
    pub(crate) async fn allowed_locked(
        &self,
        ctx: &TenantContext,
        locked: &impl Pinned,
        permission: &str,
        resource: &Resource,
    ) -> Result<bool> {
        let user = match ctx.actor() {
            Actor::User(user) | Actor::Impersonated { user, .. } => *user,
            Actor::ApiKey(_) => {
                self.engine
                    .catalog()
                    .resolve(permission)
                    .map_err(|e| engine_error(e.into()))?;
                return Ok(self
                    .engine
                    .catalog()
                    .default_permissions("read_only")
                    .contains(&permission));
            }
            Actor::System(_) | Actor::Anonymous => return Ok(false),
        };
        for _ in 0..MAX_RELOADS {
            let idx = self.index_at(locked).await?;
            if !idx.is_member(user) {
                return Ok(false);
            }
            match self.engine.check(ctx.org_id(), user, permission, resource) {
                Ok(d) if d.revision >= locked.seen() => return Ok(d.allowed),
                // Replaced by an older policy or evicted since: load again.
                Ok(_) | Err(EngineError::TenantNotLoaded { .. }) => {}
                Err(EngineError::DepthExceeded { .. }) => return Ok(false),
                Err(e) => return Err(engine_error(e)),
            }
        }
        Err(IamError::Core(helix_core::Error::Unavailable))
    }

    /// [`Iam::require`] in the policy as of the lock.
    pub(crate) async fn require_locked(
        &self,
        ctx: &TenantContext,
        locked: &impl Pinned,
        permission: &'static str,
        resource: &Resource,
    ) -> Result<()> {
        if self
            .allowed_locked(ctx, locked, permission, resource)
            .await?
        {
            return Ok(());
        }
        let member = match ctx.actor() {
            Actor::User(user) | Actor::Impersonated { user, .. } => {
                self.index_at(locked).await?.is_member(*user)
            }
            Actor::ApiKey(_) => true,
            Actor::System(_) | Actor::Anonymous => false,
        };
        if member {
            Err(IamError::Forbidden(permission))
        } else {
            Err(IamError::NotFound("organization"))
        }
    }

    /// Whether the actor holds the owner role in the policy as of the lock.
    pub(crate) async fn is_owner_locked(
        &self,
        ctx: &TenantContext,
        locked: &impl Pinned,
    ) -> Result<bool> {
        Ok(match ctx.actor().user_id() {
            Some(user) => self.index_at(locked).await?.is_owner(user),
            None => false,
        })
    }

    /// The escalation guard in the policy as of the lock: the actor must hold every
    /// permission of `role` on `resource`; the owner role is handed out (or taken away) by
    /// owners only.
    pub(crate) async fn guard_locked(
        &self,
        ctx: &TenantContext,
        locked: &impl Pinned,
        role: &RoleRecord,
        resource: &Resource,
    ) -> Result<()> {
        if role.key == OWNER_ROLE && !self.is_owner_locked(ctx, locked).await? {
            return Err(IamError::Escalation(
                "only owners may grant or take away the owner role".into(),
            ));
        }
        for p in &role.permissions {
            if !self.allowed_locked(ctx, locked, p, resource).await? {
                return Err(IamError::Escalation(format!(
                    "you cannot hand out `{}`: it grants `{p}`, which you do not hold",
                    role.key
                )));
            }
        }
        Ok(())
    }

    /// The escalation guard of a batch of tuple writes:
    ///
    /// - what the batch hands out or takes away is computed, not guessed: the policy as
    ///   locked and the same policy with the batch applied are both compiled, and every role
    ///   grant that differs between them (however it reaches its user: a nested subject set,
    ///   a computed relation, a parent, an exclusion) must pass [`Iam::guard_locked`] at its
    ///   scope;
    /// - a tuple never makes anyone an owner (refused for everyone), and only owners take
    ///   the owner role away through one;
    /// - unless the actor is an owner, the actor must hold each tuple's `relation` on its
    ///   `object` itself.
    ///
    /// Everything is decided before the batch is written.
    pub(super) async fn guard_tuples(
        &self,
        ctx: &TenantContext,
        locked: &Locked,
        write: &TupleWrite,
    ) -> Result<()> {
        let owner = self.is_owner_locked(ctx, locked).await?;
        let before = self
            .store
            .load_snapshot(&locked.tx, &self.templates)
            .await?;
        let mut after = before.clone();
        let deleted: HashSet<&Tuple> = write.delete.iter().collect();
        after.tuples.retain(|t| !deleted.contains(t));
        let mut present: HashSet<Tuple> = after.tuples.iter().cloned().collect();
        for t in &write.insert {
            if present.insert(t.clone()) {
                after.tuples.push(t.clone());
            }
        }
        let compile = |snapshot| {
            self.engine.compile(snapshot).map_err(|e| {
                IamError::Escalation(format!("the change cannot be evaluated safely: {e}"))
            })
        };
        let was = compile(&before)?.role_grants();
        let will = compile(&after)?.role_grants();
        let lost = was
            .iter()
            .filter(|(k, _)| !will.contains_key(*k))
            .map(|(k, v)| (k, v, false));
        let gained = will
            .iter()
            .filter(|(k, _)| !was.contains_key(*k))
            .map(|(k, v)| (k, v, true));
        let mut guarded = BTreeSet::new();
        for ((_, key, scope_label), (role, scope), gaining) in lost.chain(gained) {
            if role.key == OWNER_ROLE {
                if gaining {
                    return Err(IamError::Escalation(
                        "a relationship tuple cannot make anyone an owner".into(),
                    ));
                }
                if !owner {
                    return Err(IamError::Escalation(
                        "only owners may take away the owner role".into(),
                    ));
                }
            }
            if guarded.insert((key.clone(), scope_label.clone())) {
                self.guard_locked(ctx, locked, role, &super::scope_resource(scope))
                    .await?;
            }
        }
        if owner {
            return Ok(());
        }
        let Some(user) = ctx.actor().user_id() else {
            return Err(IamError::Escalation(
                "only users may write relationship tuples".into(),
            ));
        };
        let idx = self.index_at(locked).await?;
        for tuple in write.insert.iter().chain(&write.delete) {
            let holds = match self.engine.check_relation_in(
                &idx,
                &crate::model::Subject::user(user),
                &tuple.object,
                &tuple.relation,
            ) {
                Ok(d) => d.allowed,
                Err(EngineError::DepthExceeded { .. }) => false,
                Err(e) => return Err(engine_error(e)),
            };
            if !holds {
                return Err(IamError::Escalation(format!(
                    "you cannot write `{tuple}`: you do not hold `{}` on `{}` yourself",
                    tuple.relation, tuple.object
                )));
            }
        }
        Ok(())
    }

    /// Runs a management write and, when it was refused as an escalation (or made while
    /// impersonating), records the attempt as a security event: an audit entry
    /// [`ESCALATION_REFUSED`] in its own transaction (the refused write rolled back), with
    /// the actor (and impersonator) the audit log takes from the context, the operation,
    /// its target and the reason. Failing to record is logged; the caller still gets the
    /// refusal.
    pub(super) async fn refusing<T>(
        &self,
        ctx: &TenantContext,
        attempt: Attempt,
        write: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let result = write.await;
        if let Err(e @ (IamError::Escalation(_) | IamError::Impersonation)) = &result
            && let Err(failure) = self.record_refusal(ctx, &attempt, e).await
        {
            tracing::warn!(
                tenant.id = %ctx.org_id(),
                operation = attempt.operation,
                error = %failure,
                "could not record a refused escalation attempt"
            );
        }
        result
    }

    pub(crate) async fn record_refusal(
        &self,
        ctx: &TenantContext,
        attempt: &Attempt,
        refusal: &IamError,
    ) -> Result<()> {
        let data = json!({
            "operation": attempt.operation,
            "reason": refusal.to_string(),
            "code": refusal.code(),
            "target": attempt.data,
        });
        let entry =
            AuditEntry::new(ESCALATION_REFUSED, attempt.entity_type, &attempt.entity_id).data(data);
        let tx = self.store.kernel().db().tenant(ctx).await?;
        audit::record(&tx, self.store.kernel().now(), entry).await?;
        tx.commit().await?;
        tracing::info!(
            tenant.id = %ctx.org_id(),
            operation = attempt.operation,
            "refused an authorization change that would escalate privilege"
        );
        Ok(())
    }
}

/// Decisions for [`crate::IamAuthorizer`], made in helix-tenancy's own transaction.
impl Iam {
    /// The escalation guard for handing out (or taking away) the built-in role `key`, in
    /// the policy `pinned` sees.
    pub(crate) async fn guard_builtin_in(
        &self,
        ctx: &TenantContext,
        pinned: &impl Pinned,
        key: &str,
    ) -> Result<()> {
        let idx = self.index_at(pinned).await?;
        let role = idx
            .role_by_key(key)
            .cloned()
            .ok_or(IamError::NotFound("role"))?;
        self.guard_locked(ctx, pinned, &role, &Resource::Tenant)
            .await
    }

    /// The escalation guard for putting someone into `team`, in the policy `pinned` sees:
    /// the actor must pass [`Iam::guard_locked`] for every role assigned to the team's
    /// members, at its scope.
    pub(crate) async fn guard_team_join_in(
        &self,
        ctx: &TenantContext,
        pinned: &impl Pinned,
        team: uuid::Uuid,
    ) -> Result<()> {
        let idx = self.index_at(pinned).await?;
        let set = crate::model::ObjectRef::team(team);
        let schema = self.engine.schema();
        let carried = match schema
            .type_id(&set.kind)
            .and_then(|t| schema.relation(t, crate::model::MEMBER_RELATION))
        {
            Some(relation) => idx.roles_of_set(&set, relation.0),
            None => Vec::new(),
        };
        for (role, scope) in &carried {
            self.guard_locked(ctx, pinned, role, &super::scope_resource(scope))
                .await?;
        }
        Ok(())
    }
}
