//! [`Iam`]: the authorization service every module asks, and the management operations on
//! roles, assignments and tuples with their escalation guards.
//!
//! Checks are answered from the in-memory [`Engine`]; [`IamSync`] keeps each tenant's
//! compiled policy fresh (loaded on first use, evicted on every committed change in this
//! process and, on PostgreSQL, on every change any instance commits). A write returns a
//! [`RevisionToken`]; a check given that token is never answered from an older policy.

mod locked;

use std::sync::Arc;

use helix_core::list::{ListQuery, Page};
use helix_core::{Actor, Kernel, TenantContext, TenantTx};
use serde_json::json;
use uuid::Uuid;

pub use locked::ESCALATION_REFUSED;
pub(crate) use locked::{Attempt, InTx, Pinned, lock_organization};

use crate::catalog::DEFAULT_ROLE_KEYS;
use crate::engine::{Decision, Engine, EngineConfig, EngineError, Explanation, ObjectList};
use crate::error::{IamError, Result};
use crate::model::{OWNER_ROLE, Resource, Revision, RoleRecord, Scope, Subject, TenantSnapshot};
use crate::store::{
    Assignment, AssignmentFilter, IamStore, NewAssignment, NewRole, RoleTemplate, TupleFilter,
    TupleWrite, TupleWriteOutcome,
};
use crate::sync::{IamSync, PolicyCache, RevisionToken};

/// Reading the permission catalog.
pub const CATALOG_READ: &str = "iam.catalog.read";
/// Listing and reading roles.
pub const ROLES_READ: &str = "iam.roles.read";
/// Creating, renaming, re-permissioning and deleting roles.
pub const ROLES_MANAGE: &str = "iam.roles.manage";
/// Listing assignments.
pub const ASSIGNMENTS_READ: &str = "iam.assignments.read";
/// Granting and removing assignments.
pub const ASSIGNMENTS_MANAGE: &str = "iam.assignments.manage";
/// Reading relationship tuples.
pub const TUPLES_READ: &str = "iam.tuples.read";
/// Writing relationship tuples.
pub const TUPLES_MANAGE: &str = "iam.tuples.manage";
/// Explaining other users' decisions.
pub const EXPLAIN: &str = "iam.explain";

/// A change to a role: a new name, new permissions, or both ([`Iam::update_role`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleUpdate {
    /// The new display name (custom roles only).
    pub name: Option<String>,
    /// The new permission set, replacing the old one.
    pub permissions: Option<Vec<String>>,
}

impl RoleUpdate {
    /// A rename only.
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            permissions: None,
        }
    }

    /// A permission change only.
    pub fn permissions(permissions: Vec<String>) -> Self {
        Self {
            name: None,
            permissions: Some(permissions),
        }
    }
}

/// How fresh a check must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consistency {
    /// The newest policy this process knows to be current (the change feed is live), or
    /// the database's current revision when it cannot know.
    #[default]
    Fresh,
    /// At least this revision (from a write's [`RevisionToken`]): read-your-writes.
    AtLeast(Revision),
}

/// How fresh a decision must be, inside the crate: a client's [`Consistency`], or a
/// revision this process verified itself (read through the caller's own transaction, or
/// just refreshed), which a policy loaded at that revision or later may answer from memory.
/// A client's token never gets that shortcut: a low or forged token must not lower the
/// freshness floor below [`Consistency::Fresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Client(Consistency),
    Verified(Revision),
}

impl From<Consistency> for Freshness {
    fn from(c: Consistency) -> Self {
        Self::Client(c)
    }
}

/// The engine as the sync layer's policy cache.
#[derive(Debug)]
struct EngineCache(Arc<Engine>);

impl PolicyCache for EngineCache {
    fn loaded_revision(&self, org: Uuid) -> Option<Revision> {
        self.0.revision(org)
    }

    fn install(&self, snapshot: TenantSnapshot) -> Result<(), IamError> {
        match self.0.load(&snapshot) {
            Ok(_) | Err(crate::engine::LoadError::Stale { .. }) => Ok(()),
            Err(e) => Err(IamError::Compile(e.to_string())),
        }
    }

    fn evict(&self, org: Uuid) {
        self.0.evict(org);
    }

    fn evict_all(&self) {
        self.0.evict_all();
    }

    fn loaded_tenants(&self) -> Vec<(Uuid, Revision)> {
        self.0.loaded_tenants()
    }
}

/// The authorization service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Iam {
    engine: Arc<Engine>,
    store: IamStore,
    sync: IamSync,
    templates: Arc<Vec<RoleTemplate>>,
    accounts: Option<Arc<dyn crate::platform::AccountDirectory>>,
}

impl Iam {
    /// Builds the catalog and schema from what the registered modules declared
    /// (`helix.permissions()`, `helix.authz_schemas()`; the [`crate::IamModule`] adds
    /// helix-iam's own), and the sync over the kernel's database. An unknown permission in
    /// a schema binding, a malformed schema, or a permission declared twice is an error
    /// here, at startup.
    pub fn new(kernel: Kernel, helix: &helix_core::Helix, config: EngineConfig) -> Result<Self> {
        let engine = Arc::new(
            Engine::build(helix.permissions(), helix.authz_schemas(), config)
                .map_err(|e| IamError::Core(helix_core::Error::Config(e.to_string())))?,
        );
        let mut templates = vec![RoleTemplate::new(
            OWNER_ROLE,
            "Owner",
            engine.catalog().entries().iter().map(|e| e.name.clone()),
        )];
        for key in DEFAULT_ROLE_KEYS {
            let name = match key {
                "admin" => "Admin",
                "member" => "Member",
                _ => "Read-only",
            };
            templates.push(RoleTemplate::new(
                key,
                name,
                engine.catalog().default_permissions(key),
            ));
        }
        let store = IamStore::new(kernel);
        let sync = IamSync::new(
            store.clone(),
            Arc::new(EngineCache(engine.clone())),
            templates.clone(),
        );
        Ok(Self {
            engine,
            store,
            sync,
            templates: Arc::new(templates),
            accounts: None,
        })
    }

    /// The directory platform role grants ask whether the account exists and has a
    /// verified e-mail address ([`crate::platform`]). helix-iam cannot see the accounts (they
    /// belong to the identity layer), so the host supplies it; without one, every platform
    /// role grant is refused (fail closed).
    pub fn with_account_directory(
        mut self,
        accounts: Arc<dyn crate::platform::AccountDirectory>,
    ) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// The account directory, when the host supplied one.
    pub(crate) fn account_directory(&self) -> Option<&Arc<dyn crate::platform::AccountDirectory>> {
        self.accounts.as_ref()
    }

    /// The engine (catalog, schema, compiled tenants).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The sync layer: run [`IamSync::follow_changes`] in a background task on PostgreSQL
    /// so other instances' changes reach this one within milliseconds.
    pub fn sync(&self) -> &IamSync {
        &self.sync
    }

    /// The data access layer.
    pub fn store(&self) -> &IamStore {
        &self.store
    }

    async fn fresh(
        &self,
        ctx: &TenantContext,
        freshness: impl Into<Freshness>,
    ) -> Result<Revision> {
        match freshness.into() {
            Freshness::Client(Consistency::Fresh) => self.sync.ensure_fresh(ctx, None).await,
            // Fresh, and at least the client's revision.
            Freshness::Client(Consistency::AtLeast(r)) => {
                self.sync.ensure_fresh(ctx, Some(r)).await
            }
            Freshness::Verified(r) => match self.engine.revision(ctx.org_id()) {
                Some(loaded) if loaded >= r => Ok(loaded),
                _ => self.sync.ensure_seen(ctx, r).await,
            },
        }
    }

    /// Whether the context's actor holds `permission` on `resource`.
    ///
    /// Users (and impersonated users) are checked against the organization's policy. An
    /// API key holds what the catalog grants the built-in `read_only` role by default
    /// (the host resolved the key to this organization and checked its scopes). Other
    /// actors hold nothing.
    pub async fn check(
        &self,
        ctx: &TenantContext,
        permission: &str,
        resource: &Resource,
        consistency: Consistency,
    ) -> Result<Decision> {
        self.check_at(ctx, permission, resource, consistency.into())
            .await
    }

    pub(crate) async fn check_at(
        &self,
        ctx: &TenantContext,
        permission: &str,
        resource: &Resource,
        consistency: Freshness,
    ) -> Result<Decision> {
        let user = match ctx.actor() {
            Actor::User(user) | Actor::Impersonated { user, .. } => *user,
            Actor::ApiKey(_) => {
                let revision = self.fresh(ctx, consistency).await?;
                self.engine
                    .catalog()
                    .resolve(permission)
                    .map_err(|e| engine_error(e.into()))?;
                let allowed = self
                    .engine
                    .catalog()
                    .default_permissions("read_only")
                    .contains(&permission);
                return Ok(Decision { allowed, revision });
            }
            Actor::System(_) | Actor::Anonymous => {
                let revision = self.fresh(ctx, consistency).await?;
                return Ok(Decision {
                    allowed: false,
                    revision,
                });
            }
        };
        // A change committed by another request can evict the tenant between the refresh
        // and the check; refresh again (a few times at most) rather than fail.
        let mut attempts = 0;
        loop {
            let revision = self.fresh(ctx, consistency).await?;
            // Only members hold anything: grants left behind by a removed member (an
            // explicit assignment, a tuple) stay inert.
            if !self.engine.is_member(ctx.org_id(), user)
                && self.engine.revision(ctx.org_id()).is_some()
            {
                self.engine
                    .catalog()
                    .resolve(permission)
                    .map_err(|e| engine_error(e.into()))?;
                return Ok(Decision {
                    allowed: false,
                    revision,
                });
            }
            match self.engine.check(ctx.org_id(), user, permission, resource) {
                Err(EngineError::TenantNotLoaded { .. }) if attempts < 3 => attempts += 1,
                // A relationship graph deeper than the limit is a deny (fail closed), logged
                // for the operator; never a 500 for the caller.
                Err(e @ EngineError::DepthExceeded { .. }) => {
                    tracing::warn!(tenant.id = %ctx.org_id(), error = %e, "authorization check hit the depth limit; denied");
                    return Ok(Decision {
                        allowed: false,
                        revision,
                    });
                }
                other => return other.map_err(engine_error),
            }
        }
    }

    /// Like [`Iam::check`], failing with [`IamError::NotFound`]`("organization")` for an
    /// actor with no standing in the organization (no existence leak) and
    /// [`IamError::Forbidden`] for a member lacking the permission.
    pub async fn require(
        &self,
        ctx: &TenantContext,
        permission: &'static str,
        resource: &Resource,
    ) -> Result<Revision> {
        self.require_with(ctx, permission, resource, Consistency::Fresh)
            .await
    }

    /// [`Iam::require`] at a chosen consistency.
    pub async fn require_with(
        &self,
        ctx: &TenantContext,
        permission: &'static str,
        resource: &Resource,
        consistency: Consistency,
    ) -> Result<Revision> {
        let decision = self.check(ctx, permission, resource, consistency).await?;
        if decision.allowed {
            return Ok(decision.revision);
        }
        if !self.has_standing(ctx) {
            return Err(IamError::NotFound("organization"));
        }
        Err(IamError::Forbidden(permission))
    }

    /// Whether the actor belongs to the organization (a member, or an API key the host
    /// resolved to it). Call after a check made the tenant fresh.
    pub(crate) fn has_standing(&self, ctx: &TenantContext) -> bool {
        match ctx.actor() {
            Actor::User(user) | Actor::Impersonated { user, .. } => {
                self.engine.is_member(ctx.org_id(), *user)
            }
            Actor::ApiKey(_) => true,
            Actor::System(_) | Actor::Anonymous => false,
        }
    }

    /// The decision with the grant chain or tuple path behind it. Explaining someone
    /// else's decision needs `iam.explain`; anyone may explain their own. It agrees with
    /// [`Iam::check`]: a user who is not a member is denied ([`crate::engine::Reason::NotAMember`])
    /// whatever the organization's tuples still name.
    pub async fn explain(
        &self,
        ctx: &TenantContext,
        user: Option<Uuid>,
        permission: &str,
        resource: &Resource,
        consistency: Consistency,
    ) -> Result<Explanation> {
        let me = ctx.actor().user_id();
        let subject = match (user, me) {
            (Some(u), Some(m)) if u == m => u,
            (None, Some(m)) => m,
            (Some(u), _) => {
                self.require(ctx, EXPLAIN, &Resource::Tenant).await?;
                u
            }
            (None, None) => return Err(IamError::NotFound("organization")),
        };
        self.fresh(ctx, consistency).await?;
        if !self.has_standing(ctx) {
            return Err(IamError::NotFound("organization"));
        }
        let mut ex = self
            .engine
            .check_explained(ctx.org_id(), subject, permission, resource)
            .map_err(engine_error)?;
        // As `check_at` decides: a non-member holds nothing, whatever the organization's
        // tuples or assignments still name. An index evicted in between cannot vouch for the
        // membership: the answer is then a denial too (fail closed).
        let not_a_member = ex.revision.is_some()
            && self
                .engine
                .tenant(ctx.org_id())
                .is_none_or(|idx| !idx.is_member(subject));
        if not_a_member {
            ex.allowed = false;
            ex.reason = crate::engine::Reason::NotAMember;
        }
        Ok(ex)
    }

    /// Every catalog permission the actor holds on `resource`, sorted.
    pub async fn my_permissions(
        &self,
        ctx: &TenantContext,
        resource: &Resource,
        consistency: Consistency,
    ) -> Result<Vec<String>> {
        let consistency = Freshness::Verified(self.fresh(ctx, consistency).await?);
        if !self.has_standing(ctx) {
            return Err(IamError::NotFound("organization"));
        }
        let mut out = Vec::new();
        for entry in self.engine.catalog().entries() {
            if self
                .check_at(ctx, &entry.name, resource, consistency)
                .await?
                .allowed
            {
                out.push(entry.name.clone());
            }
        }
        Ok(out)
    }

    /// The objects of `object_type` the actor may use `permission` on: every object when
    /// `all`, the objects of `teams`, and `objects`. Complete, never truncated: list
    /// endpoints turn it into their SQL filter. Empty for an actor who is not a member, as
    /// [`Iam::check`] decides.
    pub async fn list_objects(
        &self,
        ctx: &TenantContext,
        permission: &str,
        object_type: &str,
    ) -> Result<ObjectList> {
        self.fresh(ctx, Consistency::Fresh).await?;
        let Some(user) = ctx.actor().user_id() else {
            return Ok(ObjectList::default());
        };
        let list = self
            .engine
            .list_objects(ctx.org_id(), user, permission, object_type)
            .map_err(engine_error)?;
        // As `check_at` decides: a non-member (a removed member whose token is still
        // valid) holds nothing, whatever the organization's tuples still name. An index
        // evicted since the list was made cannot vouch for the membership: nothing then.
        if self
            .engine
            .tenant(ctx.org_id())
            .is_none_or(|idx| !idx.is_member(user))
        {
            return Ok(ObjectList::default());
        }
        Ok(list)
    }

    fn committed(&self, ctx: &TenantContext, revision: Revision) -> RevisionToken {
        self.sync.on_committed(ctx.org_id(), revision);
        RevisionToken::new(ctx.org_id(), revision)
    }

    async fn read_tx(&self, ctx: &TenantContext) -> Result<TenantTx> {
        Ok(self.store.kernel().db().tenant_read(ctx).await?)
    }

    /// The organization's roles, one page of the standard list query. Built-in roles the
    /// organization has not stored yet are listed from their templates under the ids they
    /// will be stored with; a read never writes.
    pub async fn list_roles(
        &self,
        ctx: &TenantContext,
        query: &ListQuery,
    ) -> Result<Page<RoleRecord>> {
        self.require(ctx, ROLES_READ, &Resource::Tenant).await?;
        let tx = self.read_tx(ctx).await?;
        let page = self
            .store
            .list_roles_with_templates(&tx, query, &self.templates)
            .await?;
        tx.commit().await?;
        Ok(page)
    }

    /// One role (a built-in role not stored yet from its template; a read never writes).
    pub async fn get_role(&self, ctx: &TenantContext, id: Uuid) -> Result<RoleRecord> {
        self.require(ctx, ROLES_READ, &Resource::Tenant).await?;
        let tx = self.read_tx(ctx).await?;
        let role = self
            .store
            .get_role_or_template(&tx, id, &self.templates)
            .await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Creates a custom role. Every permission must be in the catalog and held by the
    /// actor.
    pub async fn create_role(
        &self,
        ctx: &TenantContext,
        new: NewRole,
    ) -> Result<(RoleRecord, RevisionToken)> {
        let attempt = Attempt::new(
            "role.create",
            "role",
            bounded(&new.key),
            json!({
                "key": bounded(&new.key),
                "permissions": new.permissions.iter().take(50).map(|p| bounded(p)).collect::<Vec<_>>(),
                "permission_count": new.permissions.len(),
            }),
        );
        self.refusing(ctx, attempt, async {
            not_impersonated(ctx)?;
            self.require(ctx, ROLES_MANAGE, &Resource::Tenant).await?;
            self.known_permissions(&new.permissions)?;
            let locked = self.lock(ctx).await?;
            self.require_locked(ctx, &locked, ROLES_MANAGE, &Resource::Tenant)
                .await?;
            let probe = RoleRecord {
                id: Uuid::nil(),
                key: new.key.clone(),
                name: new.name.clone(),
                builtin: false,
                permissions: new.permissions.clone(),
            };
            self.guard_locked(ctx, &locked, &probe, &Resource::Tenant)
                .await?;
            let tx = self.begin_writing(locked).await?;
            let (role, revision) = self.store.create_role(&tx, new).await?;
            tx.commit().await?;
            Ok((role, self.committed(ctx, revision)))
        })
        .await
    }

    /// Changes a custom role's name and/or permissions in one transaction: all of it or
    /// nothing (a refused permission change leaves the name as it was). The actor must hold
    /// every permission the role has before and after the change; built-in roles keep their
    /// names, and the owner role always holds the whole catalog. An update naming neither
    /// is a validation error.
    pub async fn update_role(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        update: RoleUpdate,
    ) -> Result<(RoleRecord, RevisionToken)> {
        let attempt = Attempt::new(
            "role.update",
            "role",
            id,
            json!({
                "role_id": id,
                "rename": update.name.is_some(),
                "permissions": update.permissions.as_ref().map(|ps| {
                    ps.iter().take(50).map(|p| bounded(p)).collect::<Vec<_>>()
                }),
            }),
        );
        self.refusing(ctx, attempt, self.update_role_locked(ctx, id, update))
            .await
    }

    async fn update_role_locked(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        update: RoleUpdate,
    ) -> Result<(RoleRecord, RevisionToken)> {
        not_impersonated(ctx)?;
        if update.name.is_none() && update.permissions.is_none() {
            return Err(IamError::invalid(
                "body",
                "required",
                "name or permissions is required",
            ));
        }
        self.require(ctx, ROLES_MANAGE, &Resource::Tenant).await?;
        if let Some(permissions) = &update.permissions {
            self.known_permissions(permissions)?;
        }
        let locked = self.lock(ctx).await?;
        self.require_locked(ctx, &locked, ROLES_MANAGE, &Resource::Tenant)
            .await?;
        let current = self
            .store
            .get_role_or_template(locked.tx(), id, &self.templates)
            .await?;
        if update.name.is_some() && current.builtin {
            return Err(IamError::BuiltinRole);
        }
        // Renaming a role is changing it too: nobody relabels a role stronger than their own.
        self.guard_locked(ctx, &locked, &current, &Resource::Tenant)
            .await?;
        if let Some(permissions) = &update.permissions {
            if current.key == OWNER_ROLE && current.builtin {
                return Err(IamError::BuiltinRole);
            }
            let next = RoleRecord {
                permissions: permissions.clone(),
                ..current.clone()
            };
            self.guard_locked(ctx, &locked, &next, &Resource::Tenant)
                .await?;
        }
        let tx = self.begin_writing(locked).await?;
        let mut out = None;
        if let Some(name) = &update.name {
            out = Some(self.store.rename_role(&tx, id, name).await?);
        }
        if let Some(permissions) = &update.permissions {
            out = Some(
                self.store
                    .set_role_permissions(&tx, id, permissions)
                    .await?,
            );
        }
        let Some((role, revision)) = out else {
            return Err(IamError::Core(helix_core::Error::internal_msg(
                "a role update changed nothing",
            )));
        };
        tx.commit().await?;
        Ok((role, self.committed(ctx, revision)))
    }

    /// Renames a custom role ([`Iam::update_role`] with a name only).
    pub async fn rename_role(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        name: String,
    ) -> Result<(RoleRecord, RevisionToken)> {
        self.update_role(ctx, id, RoleUpdate::name(name)).await
    }

    /// Replaces a role's permissions ([`Iam::update_role`] with permissions only).
    pub async fn set_role_permissions(
        &self,
        ctx: &TenantContext,
        id: Uuid,
        permissions: Vec<String>,
    ) -> Result<(RoleRecord, RevisionToken)> {
        self.update_role(ctx, id, RoleUpdate::permissions(permissions))
            .await
    }

    /// Deletes a custom role that nobody holds. The actor must hold every permission of it.
    pub async fn delete_role(&self, ctx: &TenantContext, id: Uuid) -> Result<RevisionToken> {
        let attempt = Attempt::new("role.delete", "role", id, json!({ "role_id": id }));
        self.refusing(ctx, attempt, async {
            not_impersonated(ctx)?;
            self.require(ctx, ROLES_MANAGE, &Resource::Tenant).await?;
            let locked = self.lock(ctx).await?;
            self.require_locked(ctx, &locked, ROLES_MANAGE, &Resource::Tenant)
                .await?;
            let role = self
                .store
                .get_role_or_template(locked.tx(), id, &self.templates)
                .await?;
            if role.builtin {
                return Err(IamError::BuiltinRole);
            }
            self.guard_locked(ctx, &locked, &role, &Resource::Tenant)
                .await?;
            let tx = self.begin_writing(locked).await?;
            let revision = self.store.delete_role(&tx, id).await?;
            tx.commit().await?;
            Ok(self.committed(ctx, revision))
        })
        .await
    }

    /// The organization's explicit assignments, one page.
    pub async fn list_assignments(
        &self,
        ctx: &TenantContext,
        filter: &AssignmentFilter,
        query: &ListQuery,
    ) -> Result<Page<Assignment>> {
        self.require(ctx, ASSIGNMENTS_READ, &Resource::Tenant)
            .await?;
        let tx = self.read_tx(ctx).await?;
        let page = self.store.list_assignments(&tx, filter, query).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Grants a role at a scope. The actor needs `iam.assignments.manage` on that scope and
    /// every permission of the role there; a role of another organization is not found.
    pub async fn create_assignment(
        &self,
        ctx: &TenantContext,
        new: NewAssignment,
    ) -> Result<(Assignment, RevisionToken)> {
        let attempt = Attempt::new(
            "assignment.create",
            "role",
            new.role_id,
            json!({
                "role_id": new.role_id,
                "subject": new.subject.to_string(),
                "scope": format!("{:?}", new.scope),
            }),
        );
        self.refusing(ctx, attempt, async {
            not_impersonated(ctx)?;
            let at = scope_resource(&new.scope);
            self.require(ctx, ASSIGNMENTS_MANAGE, &at).await?;
            let locked = self.lock(ctx).await?;
            self.require_locked(ctx, &locked, ASSIGNMENTS_MANAGE, &at)
                .await?;
            self.valid_subject(ctx, &new.subject)?;
            let role = self
                .store
                .get_role_or_template(locked.tx(), new.role_id, &self.templates)
                .await?;
            self.guard_locked(ctx, &locked, &role, &at).await?;
            let tx = self.begin_writing(locked).await?;
            let (assignment, revision) = self.store.create_assignment(&tx, new).await?;
            tx.commit().await?;
            Ok((assignment, self.committed(ctx, revision)))
        })
        .await
    }

    /// Removes an assignment, under the same rules as granting it.
    pub async fn delete_assignment(&self, ctx: &TenantContext, id: Uuid) -> Result<RevisionToken> {
        let attempt = Attempt::new(
            "assignment.delete",
            "assignment",
            id,
            json!({ "assignment_id": id }),
        );
        self.refusing(ctx, attempt, async {
            not_impersonated(ctx)?;
            // A caller without standing never takes the write lock.
            self.fresh(ctx, Consistency::Fresh).await?;
            if !self.has_standing(ctx) {
                return Err(IamError::NotFound("organization"));
            }
            let locked = self.lock(ctx).await?;
            let assignment = self.store.get_assignment(locked.tx(), id).await?;
            let at = scope_resource(&assignment.scope);
            self.require_locked(ctx, &locked, ASSIGNMENTS_MANAGE, &at)
                .await?;
            let role = self
                .store
                .get_role_or_template(locked.tx(), assignment.role_id, &self.templates)
                .await?;
            self.guard_locked(ctx, &locked, &role, &at).await?;
            let tx = self.begin_writing(locked).await?;
            let revision = self.store.delete_assignment(&tx, id).await?;
            tx.commit().await?;
            Ok(self.committed(ctx, revision))
        })
        .await
    }

    /// Tuples matching `filter`, one page.
    pub async fn list_tuples(
        &self,
        ctx: &TenantContext,
        filter: &TupleFilter,
        query: &ListQuery,
    ) -> Result<Page<crate::model::Tuple>> {
        self.require(ctx, TUPLES_READ, &Resource::Tenant).await?;
        let tx = self.read_tx(ctx).await?;
        let page = self.store.list_tuples(&tx, filter, query).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Applies a batch of tuple changes atomically. Each tuple must fit the schema (a
    /// declared type and relation, an allowed subject type), and the actor may write it:
    /// holding `iam.tuples.manage` is not enough to hand out more than one holds (see
    /// the escalation rule of tuples in the book: the actor must hold the tuple's relation
    /// on its object, unless an owner, and a tuple never makes anyone an owner).
    pub async fn write_tuples(
        &self,
        ctx: &TenantContext,
        write: TupleWrite,
    ) -> Result<(TupleWriteOutcome, RevisionToken)> {
        let attempt = Attempt::new(
            "tuples.write",
            "tuple",
            "batch",
            json!({
                "insert": write.insert.iter().take(20).map(|t| bounded(&t.to_string())).collect::<Vec<_>>(),
                "delete": write.delete.iter().take(20).map(|t| bounded(&t.to_string())).collect::<Vec<_>>(),
                "inserted_count": write.insert.len(),
                "deleted_count": write.delete.len(),
            }),
        );
        self.refusing(ctx, attempt, async {
            not_impersonated(ctx)?;
            self.require(ctx, TUPLES_MANAGE, &Resource::Tenant).await?;
            for t in write.insert.iter() {
                self.engine.schema().resolve_tuple(t).map_err(|why| {
                    IamError::invalid("insert", "schema", format!("`{t}`: {why}"))
                })?;
            }
            let locked = self.lock(ctx).await?;
            self.require_locked(ctx, &locked, TUPLES_MANAGE, &Resource::Tenant)
                .await?;
            self.guard_tuples(ctx, &locked, &write).await?;
            let tx = self.begin_writing(locked).await?;
            let outcome = self.store.write_tuples(&tx, &write).await?;
            tx.commit().await?;
            let token = self.committed(ctx, outcome.revision);
            Ok((outcome, token))
        })
        .await
    }

    /// An assignment's subject must be a member of the organization, or a subject set the
    /// schema declares (a set naming an unknown type or relation would make the whole
    /// organization's policy fail to load).
    fn valid_subject(&self, ctx: &TenantContext, subject: &Subject) -> Result<()> {
        match subject {
            Subject::User { id } => {
                if self.engine.is_member(ctx.org_id(), *id) {
                    Ok(())
                } else {
                    Err(IamError::invalid(
                        "subject",
                        "not_a_member",
                        "the user is not a member of this organization",
                    ))
                }
            }
            Subject::Set { object, relation } => {
                let known = self
                    .engine
                    .schema()
                    .type_id(&object.kind)
                    .and_then(|t| self.engine.schema().relation(t, relation))
                    .is_some();
                if known {
                    Ok(())
                } else {
                    Err(IamError::invalid(
                        "subject",
                        "unknown_relation",
                        format!("the schema declares no `{}#{relation}`", object.kind),
                    ))
                }
            }
        }
    }

    fn known_permissions(&self, permissions: &[String]) -> Result<()> {
        for p in permissions {
            self.engine.catalog().resolve(p).map_err(|e| {
                IamError::invalid("permissions", "unknown_permission", e.to_string())
            })?;
        }
        Ok(())
    }
}

/// At most 100 characters of caller input, for a security event's record: the input is not
/// validated yet when the attempt is refused, and must not bloat (or break) the audit log.
fn bounded(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Refuses policy changes made while impersonating: a support session must not leave grants
/// behind that outlive it.
fn not_impersonated(ctx: &TenantContext) -> Result<()> {
    match ctx.actor() {
        Actor::Impersonated { .. } => Err(IamError::Impersonation),
        _ => Ok(()),
    }
}

/// The resource an assignment's scope stands for.
pub fn scope_resource(scope: &Scope) -> Resource {
    match scope {
        Scope::Tenant => Resource::Tenant,
        Scope::Team { id } => Resource::Team(*id),
        Scope::Object { object } => Resource::Object {
            object: object.clone(),
            team: None,
        },
    }
}

/// An engine error as an IAM error: a bad name from the caller is a 400; a tenant that is
/// not loaded right after a refresh is an internal error.
pub(crate) fn engine_error(e: EngineError) -> IamError {
    match e {
        EngineError::TenantNotLoaded { .. } | EngineError::DepthExceeded { .. } => {
            IamError::Compile(e.to_string())
        }
        other => IamError::invalid("permission", other.code(), other.to_string()),
    }
}
