//! The authorization engine: per-tenant compiled indexes answering `check`,
//! `check_explained`, `check_relation`, `list_objects` and `lookup_subjects` in memory.
//!
//! The engine holds the [`Catalog`], the [`Schema`] and a map organization ->
//! `Arc<TenantIndex>`. [`Engine::load`] compiles a [`TenantSnapshot`] and swaps it in
//! atomically; a check clones the tenant's `Arc` under a read lock held for one hash
//! lookup and then works on the immutable index, so the request path does not depend on
//! how many tenants are loaded.
//!
//! A user holds permission `P` on a resource when
//! - **RBAC**: an assignment of a role containing `P` names the user (or a subject set the
//!   user belongs to, such as `team:eng#member`) at scope tenant, at the team the resource
//!   is or belongs to, or at the resource object itself; the `owner` role holds every
//!   permission; or
//! - **ReBAC**: the resource is an object whose type binds `P` to a relation, and the user
//!   holds that relation by bounded traversal of the tuples and rewrites.

mod cache;
mod eval;
mod explain;
mod index;
mod intern;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use uuid::Uuid;

use crate::catalog::{Catalog, CatalogError, PermId, UnknownPermission};
use crate::model::{
    ObjectRef, Resource, Revision, RoleRecord, Subject, TenantSnapshot, valid_name,
};
use crate::schema::{RelId, SELF_RELATION, Schema, SchemaError, TypeId};
use eval::{Evaluator, Target, Tri};
pub use explain::{Decision, Explanation, Reason};
pub use index::TenantIndex;
use index::{SELF_REL, ScopeC};

/// Default depth limit of relationship traversal.
pub const DEFAULT_MAX_DEPTH: usize = 25;
/// Default decision cache size per tenant.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Longest chain of relations a relationship check follows before it reports
    /// [`EngineError::DepthExceeded`].
    pub max_depth: usize,
    /// Decisions cached per tenant (0 turns the cache off).
    pub cache_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// The engine could not be set up from the modules' declarations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The permission catalog is invalid.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The relationship schema is invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A snapshot was refused; the tenant keeps its previous index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// A role names a permission the catalog does not hold.
    #[error("role `{role}` names unknown permission `{permission}`")]
    UnknownPermission {
        /// The role key.
        role: String,
        /// The permission.
        permission: String,
    },
    /// Two roles share a key or an id.
    #[error("role `{key}` appears twice")]
    DuplicateRole {
        /// The key.
        key: String,
    },
    /// An assignment names a role the snapshot does not hold.
    #[error("assignment {assignment} names unknown role {role_id}")]
    UnknownRole {
        /// The assignment.
        assignment: Uuid,
        /// The role id.
        role_id: Uuid,
    },
    /// An assignment is malformed.
    #[error("assignment {assignment}: {why}")]
    InvalidAssignment {
        /// The assignment.
        assignment: Uuid,
        /// What is wrong.
        why: String,
    },
    /// A tuple does not fit the schema.
    #[error("tuple `{tuple}` does not fit the schema: {why}")]
    InvalidTuple {
        /// The tuple (cut to 200 bytes).
        tuple: String,
        /// What is wrong.
        why: String,
    },
    /// Expanding a subject-set assignment went deeper than the depth limit.
    #[error("expanding `{subject}` exceeded the depth limit of {limit}")]
    DepthExceeded {
        /// The limit.
        limit: usize,
        /// The subject set.
        subject: String,
    },
    /// The snapshot is older than the loaded index.
    #[error(
        "snapshot revision {offered} of organization {org_id} is older than the loaded {loaded}"
    )]
    Stale {
        /// The organization.
        org_id: Uuid,
        /// The loaded revision.
        loaded: Revision,
        /// The offered one.
        offered: Revision,
    },
    /// More than 2^31 roles, assignments or tuples.
    #[error("the snapshot is too large")]
    TooLarge,
}

impl LoadError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPermission { .. } => "unknown_permission",
            Self::DuplicateRole { .. } => "duplicate_role",
            Self::UnknownRole { .. } => "unknown_role",
            Self::InvalidAssignment { .. } => "invalid_assignment",
            Self::InvalidTuple { .. } => "invalid_tuple",
            Self::DepthExceeded { .. } => "depth_exceeded",
            Self::Stale { .. } => "stale_snapshot",
            Self::TooLarge => "snapshot_too_large",
        }
    }
}

/// A check could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The organization's policy is not loaded: load it, then retry (fail closed).
    #[error("the policy of organization {org_id} is not loaded")]
    TenantNotLoaded {
        /// The organization.
        org_id: Uuid,
    },
    /// The permission is not in the catalog.
    #[error(transparent)]
    UnknownPermission(#[from] UnknownPermission),
    /// The object type is not in the schema.
    #[error("unknown object type `{name}`")]
    UnknownType {
        /// The type.
        name: String,
    },
    /// The relation is not declared on the type.
    #[error("type `{object_type}` has no relation `{relation}`")]
    UnknownRelation {
        /// The type.
        object_type: String,
        /// The relation.
        relation: String,
    },
    /// An object or type name is malformed.
    #[error("malformed object `{object}`")]
    InvalidObject {
        /// The object (cut to 200 bytes).
        object: String,
    },
    /// The relationship traversal reached the depth limit before an answer.
    #[error("checking `{node}` exceeded the depth limit of {limit}")]
    DepthExceeded {
        /// The limit.
        limit: usize,
        /// The `object#relation` being checked.
        node: String,
    },
}

impl EngineError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TenantNotLoaded { .. } => "tenant_not_loaded",
            Self::UnknownPermission(_) => "unknown_permission",
            Self::UnknownType { .. } => "unknown_type",
            Self::UnknownRelation { .. } => "unknown_relation",
            Self::InvalidObject { .. } => "invalid_object",
            Self::DepthExceeded { .. } => "depth_exceeded",
        }
    }
}

/// A permission given by name or by id.
pub trait PermissionRef {
    /// Its id in `catalog`.
    fn resolve_in(&self, catalog: &Catalog) -> Result<PermId, UnknownPermission>;
}

impl PermissionRef for PermId {
    fn resolve_in(&self, catalog: &Catalog) -> Result<PermId, UnknownPermission> {
        match catalog.get(*self) {
            Some(_) => Ok(*self),
            None => Err(UnknownPermission::new(&format!("#{}", self.0))),
        }
    }
}

impl PermissionRef for str {
    fn resolve_in(&self, catalog: &Catalog) -> Result<PermId, UnknownPermission> {
        catalog.resolve(self)
    }
}

impl PermissionRef for String {
    fn resolve_in(&self, catalog: &Catalog) -> Result<PermId, UnknownPermission> {
        catalog.resolve(self)
    }
}

impl<T: PermissionRef + ?Sized> PermissionRef for &T {
    fn resolve_in(&self, catalog: &Catalog) -> Result<PermId, UnknownPermission> {
        (**self).resolve_in(catalog)
    }
}

/// The objects of one type a user may act on, complete: a consumer (such as a SQL
/// filter) must include every object when `all` is set, every object owned by one of
/// `teams`, and each of `objects`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectList {
    /// A tenant-scoped role grants the permission: every object of the type.
    pub all: bool,
    /// Team-scoped roles grant it: every object owned by these teams (sorted).
    pub teams: Vec<Uuid>,
    /// Objects granted one by one (object-scoped roles, relationships), sorted.
    pub objects: Vec<ObjectRef>,
}

/// The in-memory authorization engine. See the [module documentation](self).
#[derive(Debug)]
pub struct Engine {
    catalog: Arc<Catalog>,
    schema: Arc<Schema>,
    config: EngineConfig,
    tenants: RwLock<HashMap<Uuid, Arc<TenantIndex>>>,
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl Engine {
    /// An engine over a built catalog and schema, with no tenant loaded.
    pub fn new(catalog: Catalog, schema: Schema, config: EngineConfig) -> Self {
        Self {
            catalog: Arc::new(catalog),
            schema: Arc::new(schema),
            config,
            tenants: RwLock::new(HashMap::new()),
        }
    }

    /// Builds the catalog and the schema from what the modules declared
    /// (`helix.permissions()`, `helix.authz_schemas()`).
    pub fn build(
        permissions: &[helix_core::DeclaredPermission],
        schemas: &[(&str, &str)],
        config: EngineConfig,
    ) -> Result<Self, SetupError> {
        let catalog = Catalog::build(permissions)?;
        let schema = Schema::build(schemas, &catalog)?;
        Ok(Self::new(catalog, schema, config))
    }

    /// The permission catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The relationship schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The settings.
    pub fn config(&self) -> EngineConfig {
        self.config
    }

    /// Compiles `snapshot` without loading it: an index nobody else sees, to evaluate a
    /// change before it is made.
    pub(crate) fn compile(&self, snapshot: &TenantSnapshot) -> Result<TenantIndex, LoadError> {
        TenantIndex::compile(
            snapshot,
            &self.catalog,
            &self.schema,
            self.config.max_depth,
            self.config.cache_capacity,
        )
    }

    /// Compiles `snapshot` and makes it the organization's index, atomically. Refuses a
    /// snapshot that names an unknown permission or role, holds a tuple that breaks the
    /// schema, or is older than the loaded revision (the loaded index stays).
    pub fn load(&self, snapshot: &TenantSnapshot) -> Result<Revision, LoadError> {
        let idx = TenantIndex::compile(
            snapshot,
            &self.catalog,
            &self.schema,
            self.config.max_depth,
            self.config.cache_capacity,
        )?;
        let mut map = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(cur) = map.get(&snapshot.org_id)
            && cur.revision > snapshot.revision
        {
            return Err(LoadError::Stale {
                org_id: snapshot.org_id,
                loaded: cur.revision,
                offered: snapshot.revision,
            });
        }
        map.insert(snapshot.org_id, Arc::new(idx));
        Ok(snapshot.revision)
    }

    /// Drops the organization's index; returns whether one was loaded.
    pub fn evict(&self, org_id: Uuid) -> bool {
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&org_id)
            .is_some()
    }

    /// The loaded revision of the organization.
    pub fn revision(&self, org_id: Uuid) -> Option<Revision> {
        self.tenant(org_id).map(|t| t.revision)
    }

    /// The organization's compiled index.
    pub fn tenant(&self, org_id: Uuid) -> Option<Arc<TenantIndex>> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&org_id)
            .cloned()
    }

    /// Whether `user` is a member of the organization (false when it is not loaded).
    pub fn is_member(&self, org_id: Uuid, user: Uuid) -> bool {
        self.tenant(org_id).is_some_and(|t| t.is_member(user))
    }

    /// Whether `user` holds the owner role organization-wide (false when not loaded).
    pub fn is_owner(&self, org_id: Uuid, user: Uuid) -> bool {
        self.tenant(org_id).is_some_and(|t| t.is_owner(user))
    }

    /// The organization's role with `key`, as loaded.
    pub fn role_by_key(&self, org_id: Uuid, key: &str) -> Option<RoleRecord> {
        self.tenant(org_id)
            .and_then(|t| t.role_by_key(key).cloned())
    }

    /// The roles the organization assigns to the subject set `object#relation` (such as
    /// `team:<id>#member`), with their scopes: what joining that set hands out.
    pub fn roles_of_set(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
    ) -> Vec<(RoleRecord, crate::model::Scope)> {
        let rel = self
            .schema
            .type_id(&object.kind)
            .and_then(|t| self.schema.relation(t, relation));
        match (self.tenant(org_id), rel) {
            (Some(t), Some(r)) => t.roles_of_set(object, r.0),
            _ => Vec::new(),
        }
    }

    /// Drops every organization's index.
    pub fn evict_all(&self) {
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Every loaded organization with its revision.
    pub fn loaded_tenants(&self) -> Vec<(Uuid, Revision)> {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(org, t)| (*org, t.revision))
            .collect()
    }

    /// Number of organizations loaded.
    pub fn tenant_count(&self) -> usize {
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn loaded(&self, org_id: Uuid) -> Result<Arc<TenantIndex>, EngineError> {
        self.tenant(org_id)
            .ok_or(EngineError::TenantNotLoaded { org_id })
    }

    fn check_resource(res: &Resource) -> Result<(), EngineError> {
        match res {
            Resource::Object { object, .. } if !object.is_valid() => {
                Err(EngineError::InvalidObject {
                    object: cut(&object.to_string()),
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether `user` holds `permission` on `resource` in organization `org_id`, through
    /// a role assignment or a relationship. Cached per tenant revision.
    pub fn check(
        &self,
        org_id: Uuid,
        user: Uuid,
        permission: impl PermissionRef,
        resource: &Resource,
    ) -> Result<Decision, EngineError> {
        let idx = self.loaded(org_id)?;
        let p = permission.resolve_in(&self.catalog)?;
        Self::check_resource(resource)?;
        if let Some(allowed) = idx.cache.get(user, p, resource) {
            return Ok(Decision {
                allowed,
                revision: idx.revision,
            });
        }
        let allowed = self.decide(&idx, user, p, resource)?;
        idx.cache.insert(user, p, resource, allowed);
        Ok(Decision {
            allowed,
            revision: idx.revision,
        })
    }

    fn rbac(idx: &TenantIndex, u: u32, p: PermId, res: &Resource) -> Option<(u32, ScopeC)> {
        if idx.tenant_perms(u).is_some_and(|s| s.contains(p)) {
            let a = idx.tenant_grants(u).iter().copied().find(|a| {
                idx.assignments
                    .get(*a as usize)
                    .and_then(|a| idx.roles.get(a.role as usize))
                    .is_some_and(|r| r.perms.contains(p))
            })?;
            return Some((a, ScopeC::Tenant));
        }
        let scoped = idx.scoped_grants(u);
        if scoped.is_empty() {
            return None;
        }
        let res_obj = match res {
            Resource::Object { object, .. } => idx.object_id(object),
            _ => None,
        };
        scoped
            .iter()
            .find(|sg| {
                idx.roles
                    .get(sg.role as usize)
                    .is_some_and(|r| r.perms.contains(p))
                    && TenantIndex::scope_covers(sg.scope, res, res_obj)
            })
            .map(|sg| (sg.assignment, sg.scope))
    }

    /// ReBAC part: `Some((binding, path))` when a bound relation holds.
    fn rebac(
        &self,
        idx: &TenantIndex,
        u: u32,
        p: PermId,
        object: &ObjectRef,
        trace: bool,
    ) -> Result<Option<(RelId, Vec<String>)>, EngineError> {
        let Some(t) = self.schema.type_id(&object.kind) else {
            return Ok(None);
        };
        let rels = self.schema.bound(t, p);
        if rels.is_empty() {
            return Ok(None);
        }
        let Some(o) = idx.object_id(object) else {
            return Ok(None);
        };
        let mut ev = Evaluator::new(
            idx,
            &self.schema,
            Target::User(u),
            self.config.max_depth,
            trace,
        );
        let mut unknown = None;
        for r in rels {
            let out = ev.root(o, r.0);
            match out.tri {
                Tri::Yes => return Ok(Some((*r, out.path))),
                Tri::No => {}
                Tri::Unknown => unknown = Some(*r),
            }
        }
        match unknown {
            Some(r) => Err(EngineError::DepthExceeded {
                limit: self.config.max_depth,
                node: idx.node_label(&self.schema, o, r.0),
            }),
            None => Ok(None),
        }
    }

    fn decide(
        &self,
        idx: &TenantIndex,
        user: Uuid,
        p: PermId,
        res: &Resource,
    ) -> Result<bool, EngineError> {
        let Some(u) = idx.user_index(user) else {
            return Ok(false);
        };
        if Self::rbac(idx, u, p, res).is_some() {
            return Ok(true);
        }
        if let Resource::Object { object, .. } = res {
            return Ok(self.rebac(idx, u, p, object, false)?.is_some());
        }
        Ok(false)
    }

    /// Like [`check`](Self::check), with the grant chain or tuple path that allowed it, or
    /// why it was denied (never cached). A tenant that is not loaded gives a denial with
    /// [`Reason::TenantNotLoaded`].
    pub fn check_explained(
        &self,
        org_id: Uuid,
        user: Uuid,
        permission: impl PermissionRef,
        resource: &Resource,
    ) -> Result<Explanation, EngineError> {
        let p = permission.resolve_in(&self.catalog)?;
        Self::check_resource(resource)?;
        let resource_text = match resource {
            Resource::Tenant => "tenant".to_owned(),
            Resource::Team(t) => ObjectRef::team(*t).to_string(),
            Resource::Object { object, .. } => object.to_string(),
        };
        let mut ex = Explanation {
            allowed: false,
            revision: None,
            user,
            permission: self.catalog.name(p).to_owned(),
            resource: resource_text,
            reason: Reason::TenantNotLoaded,
        };
        let Some(idx) = self.tenant(org_id) else {
            return Ok(ex);
        };
        ex.revision = Some(idx.revision);
        let bindings: Vec<RelId> = match resource {
            Resource::Object { object, .. } => self
                .schema
                .type_id(&object.kind)
                .map(|t| self.schema.bound(t, p).to_vec())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        ex.reason = Reason::NoGrant {
            bindings: bindings.iter().map(|r| self.schema.rel_name(*r)).collect(),
        };
        let Some(u) = idx.user_index(user) else {
            return Ok(ex);
        };
        if let Some((ai, scope)) = Self::rbac(&idx, u, p, resource) {
            if let Some(a) = idx.assignments.get(ai as usize) {
                ex.allowed = true;
                ex.reason = Reason::Assignment {
                    via: match a.subject {
                        index::SubjectC::User(_) => None,
                        index::SubjectC::Set(o, r) => Some(idx.node_label(&self.schema, o, r)),
                    },
                    assignment_id: a.id,
                    role: idx
                        .roles
                        .get(a.role as usize)
                        .map_or_else(String::new, |r| r.key.to_string()),
                    scope: idx.scope_label(scope),
                };
            }
            return Ok(ex);
        }
        if let Resource::Object { object, .. } = resource
            && let Some((rel, path)) = self.rebac(&idx, u, p, object, true)?
        {
            ex.allowed = true;
            ex.reason = Reason::Relationship {
                binding: self.schema.rel_name(rel),
                path,
            };
        }
        Ok(ex)
    }

    fn relation_of(
        &self,
        object_type: &str,
        relation: &str,
    ) -> Result<(TypeId, RelId), EngineError> {
        let t = self
            .schema
            .type_id(object_type)
            .ok_or_else(|| EngineError::UnknownType {
                name: cut(object_type),
            })?;
        let r = self
            .schema
            .relation(t, relation)
            .ok_or_else(|| EngineError::UnknownRelation {
                object_type: cut(object_type),
                relation: cut(relation),
            })?;
        Ok((t, r))
    }

    /// Whether `subject` (a user, or a subject set such as `team:eng#member`) holds
    /// `relation` on `object` through tuples and rewrites (roles are not consulted).
    pub fn check_relation(
        &self,
        org_id: Uuid,
        subject: &Subject,
        object: &ObjectRef,
        relation: &str,
    ) -> Result<Decision, EngineError> {
        let idx = self.loaded(org_id)?;
        self.check_relation_in(&idx, subject, object, relation)
    }

    /// [`Engine::check_relation`] in a given index (one held across an operation, so an
    /// eviction in the meantime cannot change what it decides on).
    pub(crate) fn check_relation_in(
        &self,
        idx: &TenantIndex,
        subject: &Subject,
        object: &ObjectRef,
        relation: &str,
    ) -> Result<Decision, EngineError> {
        if !object.is_valid() {
            return Err(EngineError::InvalidObject {
                object: cut(&object.to_string()),
            });
        }
        let (_, r) = self.relation_of(&object.kind, relation)?;
        let deny = Decision {
            allowed: false,
            revision: idx.revision,
        };
        let target = match subject {
            Subject::User { id } => match idx.user_index(*id) {
                Some(u) => Target::User(u),
                None => return Ok(deny),
            },
            Subject::Set {
                object: so,
                relation: sr,
            } => {
                let Some(o) = idx.object_id(so) else {
                    return Ok(deny);
                };
                let rel = if sr == SELF_RELATION {
                    SELF_REL
                } else {
                    match self
                        .schema
                        .type_id(&so.kind)
                        .and_then(|t| self.schema.relation(t, sr))
                    {
                        Some(r) => r.0,
                        None => return Ok(deny),
                    }
                };
                Target::Set(o, rel)
            }
        };
        let Some(o) = idx.object_id(object) else {
            return Ok(deny);
        };
        let mut ev = Evaluator::new(idx, &self.schema, target, self.config.max_depth, false);
        match ev.root(o, r.0).tri {
            Tri::Yes => Ok(Decision {
                allowed: true,
                revision: idx.revision,
            }),
            Tri::No => Ok(deny),
            Tri::Unknown => Err(EngineError::DepthExceeded {
                limit: self.config.max_depth,
                node: idx.node_label(&self.schema, o, r.0),
            }),
        }
    }

    /// The objects of `object_type` on which `user` holds `target`: a catalog permission
    /// (a name with dots: roles and relationships) or a relation of the type
    /// (relationships only). Complete: objects are enumerated from the tenant's index and
    /// each one checked; a depth-limit hit anywhere is an error, never a shorter list.
    pub fn list_objects(
        &self,
        org_id: Uuid,
        user: Uuid,
        target: &str,
        object_type: &str,
    ) -> Result<ObjectList, EngineError> {
        let idx = self.loaded(org_id)?;
        if !valid_name(object_type) {
            return Err(EngineError::InvalidObject {
                object: cut(object_type),
            });
        }
        let mut list = ObjectList::default();
        let uidx = idx.user_index(user);
        let kind = idx.kind_id(object_type);
        let rels: Vec<RelId> = if target.contains('.') {
            let p = self.catalog.resolve(target)?;
            if let Some(u) = uidx {
                list.all = idx.tenant_perms(u).is_some_and(|s| s.contains(p));
                for sg in idx.scoped_grants(u) {
                    let grants = idx
                        .roles
                        .get(sg.role as usize)
                        .is_some_and(|r| r.perms.contains(p));
                    if !grants {
                        continue;
                    }
                    match sg.scope {
                        ScopeC::Team(t) => list.teams.push(t),
                        ScopeC::Object(o) => {
                            if idx.object_kind(o) == kind
                                && let Some(r) = idx.object_ref(o)
                            {
                                list.objects.push(r);
                            }
                        }
                        ScopeC::Tenant => list.all = true,
                    }
                }
            }
            self.schema
                .type_id(object_type)
                .map(|t| self.schema.bound(t, p).to_vec())
                .unwrap_or_default()
        } else {
            vec![self.relation_of(object_type, target)?.1]
        };
        if let (Some(u), Some(k), false) = (uidx, kind, rels.is_empty()) {
            let mut ev = Evaluator::new(
                &idx,
                &self.schema,
                Target::User(u),
                self.config.max_depth,
                false,
            );
            for o in idx.objects.of_kind(k) {
                for r in &rels {
                    match ev.root(o, r.0).tri {
                        Tri::Yes => {
                            if let Some(obj) = idx.object_ref(o) {
                                list.objects.push(obj);
                            }
                            break;
                        }
                        Tri::No => {}
                        Tri::Unknown => {
                            return Err(EngineError::DepthExceeded {
                                limit: self.config.max_depth,
                                node: idx.node_label(&self.schema, o, r.0),
                            });
                        }
                    }
                }
            }
        }
        list.teams.sort_unstable();
        list.teams.dedup();
        list.objects.sort_unstable();
        list.objects.dedup();
        Ok(list)
    }

    /// Every user holding `relation` on `object` through tuples and rewrites, sorted.
    /// Complete: every user the tenant's tuples name is checked; a depth-limit hit is an
    /// error.
    pub fn lookup_subjects(
        &self,
        org_id: Uuid,
        object: &ObjectRef,
        relation: &str,
    ) -> Result<Vec<Uuid>, EngineError> {
        let idx = self.loaded(org_id)?;
        if !object.is_valid() {
            return Err(EngineError::InvalidObject {
                object: cut(&object.to_string()),
            });
        }
        let (_, r) = self.relation_of(&object.kind, relation)?;
        let Some(o) = idx.object_id(object) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (u, id) in idx.user_ids().iter().enumerate() {
            let mut ev = Evaluator::new(
                &idx,
                &self.schema,
                Target::User(u as u32),
                self.config.max_depth,
                false,
            );
            match ev.root(o, r.0).tri {
                Tri::Yes => out.push(*id),
                Tri::No => {}
                Tri::Unknown => {
                    return Err(EngineError::DepthExceeded {
                        limit: self.config.max_depth,
                        node: idx.node_label(&self.schema, o, r.0),
                    });
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
