//! The per-tenant compiled index: interned users and objects, tuples as compressed sparse
//! rows per object, roles as permission bitsets, and each user's grants with the
//! subject-set assignments already expanded to users.
//!
//! Everything that grows with the tenant's data lives in a few flat arrays built once per
//! snapshot and sized exactly (no per-entry heap allocation, no spare capacity):
//!
//! - objects and users are interned into dense `u32`s ([`ObjectTable`], [`UuidTable`]);
//! - the tuples of object `o` are `user_edges[user_start[o]..user_start[o + 1]]` (pairs
//!   `(relation, user)`) and `set_edges[set_start[o]..set_start[o + 1]]` (subject sets and
//!   bare objects), each run sorted so a check is a binary search;
//! - user `u`'s grants are runs of `tenant_grants` and `scoped` in the same layout, and
//!   the union of its tenant-wide roles is one of a few shared permission sets.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use uuid::Uuid;

use super::LoadError;
use super::cache::DecisionCache;
use super::eval::{Evaluator, Target, Tri};
use super::intern::{ObjectTable, UuidTable};
use crate::catalog::{Catalog, PermSet};
use crate::model::{
    AssignmentSource, OWNER_ROLE, ObjectRef, Resource, Revision, RoleRecord, Scope, Subject,
    TEAM_TYPE, TenantSnapshot,
};
use crate::schema::{RelationKind, SELF_RELATION, Schema, TupleSubject};

/// The relation id used for a bare-object subject (`folder:a#self_`).
pub(crate) const SELF_REL: u32 = u32::MAX;

/// A fast hasher for keys that are interned indices (never attacker-chosen bytes).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finalizer: every input bit reaches the low bits (the bucket index)
        // and the high bits (hashbrown's control byte).
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// `(object, relation)` packed into one key.
#[inline]
pub(crate) fn node_key(obj: u32, rel: u32) -> u64 {
    (u64::from(obj) << 32) | u64::from(rel)
}

/// Where a compiled assignment applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeC {
    Tenant,
    Team(Uuid),
    Object(u32),
}

/// Who a compiled assignment names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectC {
    User(u32),
    Set(u32, u32),
}

#[derive(Debug)]
pub(crate) struct AssignmentC {
    pub id: Uuid,
    pub subject: SubjectC,
    pub role: u32,
    pub scope: ScopeC,
}

#[derive(Debug)]
pub(crate) struct RoleC {
    pub key: Box<str>,
    pub perms: PermSet,
}

/// One scoped grant of a user: `(scope, role, assignment)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopedGrant {
    pub scope: ScopeC,
    pub role: u32,
    pub assignment: u32,
}

/// A tuple whose subject is a subject set `obj#srel`, or the bare object `obj` (`srel` is
/// [`SELF_REL`]), stored under its object. Ordered by relation, then subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SetEdge {
    pub rel: u32,
    pub obj: u32,
    pub srel: u32,
}

/// One organization's policy at one revision, compiled for checks.
#[derive(Debug)]
pub struct TenantIndex {
    pub(crate) org_id: Uuid,
    pub(crate) revision: Revision,
    /// Object type names: the schema's types first (same ids), then scope-only types.
    pub(crate) kinds: Vec<Box<str>>,
    pub(crate) kind_ids: HashMap<Box<str>, u32>,
    pub(crate) objects: ObjectTable,
    pub(crate) users: UuidTable,
    /// Per object (plus one): where its run of `user_edges` starts.
    pub(crate) user_start: Box<[u32]>,
    /// `(relation, user)` per object, sorted.
    pub(crate) user_edges: Box<[(u32, u32)]>,
    /// Per object (plus one): where its run of `set_edges` starts.
    pub(crate) set_start: Box<[u32]>,
    pub(crate) set_edges: Box<[SetEdge]>,
    pub(crate) roles: Vec<RoleC>,
    pub(crate) assignments: Vec<AssignmentC>,
    /// Per user: index in `perm_sets` of the union of its tenant-scoped roles.
    pub(crate) tenant_set: Box<[u32]>,
    /// Distinct unions of tenant-scoped roles (the first one empty).
    pub(crate) perm_sets: Box<[PermSet]>,
    /// Per user (plus one): where its run of `tenant_grants` starts.
    pub(crate) tenant_start: Box<[u32]>,
    /// The tenant-scoped assignments reaching each user, ascending (for explanations).
    pub(crate) tenant_grants: Box<[u32]>,
    /// Per user (plus one): where its run of `scoped` starts.
    pub(crate) scoped_start: Box<[u32]>,
    /// Team- and object-scoped grants of each user, by assignment.
    pub(crate) scoped: Box<[ScopedGrant]>,
    pub(crate) tuple_count: usize,
    pub(crate) cache: DecisionCache,
    /// Users with a membership (a base-role assignment), sorted.
    pub(crate) members: Vec<Uuid>,
    /// Users assigned the owner role organization-wide, directly, sorted.
    pub(crate) owners: Vec<Uuid>,
    /// The roles as loaded (for escalation checks by key).
    pub(crate) role_records: Vec<RoleRecord>,
}

/// The run of `starts`/`items` of row `row` (empty when out of range).
#[inline]
fn row<'a, T>(starts: &[u32], items: &'a [T], row: u32) -> &'a [T] {
    let r = row as usize;
    match (starts.get(r), starts.get(r + 1)) {
        (Some(&a), Some(&b)) => items.get(a as usize..b as usize).unwrap_or_default(),
        _ => &[],
    }
}

/// Compressed sparse rows from `(row, item)` pairs already sorted by row.
fn csr<T>(rows: usize, pairs: Vec<(u32, T)>) -> (Box<[u32]>, Box<[T]>) {
    let mut starts = Vec::with_capacity(rows + 1);
    let mut items = Vec::with_capacity(pairs.len());
    for (r, item) in pairs {
        while starts.len() <= r as usize {
            starts.push(items.len() as u32);
        }
        items.push(item);
    }
    while starts.len() <= rows {
        starts.push(items.len() as u32);
    }
    (starts.into_boxed_slice(), items.into_boxed_slice())
}

struct Builder<'a> {
    schema: &'a Schema,
    idx: TenantIndex,
}

impl Builder<'_> {
    fn kind(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.idx.kind_ids.get(name) {
            return k;
        }
        let k = self.idx.kinds.len() as u32;
        self.idx.kinds.push(name.into());
        self.idx.kind_ids.insert(name.into(), k);
        k
    }

    fn object(&mut self, o: &ObjectRef) -> Result<u32, LoadError> {
        let k = self.kind(&o.kind);
        self.idx
            .objects
            .intern(k, o.id.as_str())
            .ok_or(LoadError::TooLarge)
    }

    fn user(&mut self, u: Uuid) -> Result<u32, LoadError> {
        self.idx.users.intern(u).ok_or(LoadError::TooLarge)
    }
}

impl TenantIndex {
    /// Compiles `snap`, refusing unknown permissions and roles and tuples that break the
    /// schema.
    pub(crate) fn compile(
        snap: &TenantSnapshot,
        catalog: &Catalog,
        schema: &Schema,
        max_depth: usize,
        cache_capacity: usize,
    ) -> Result<Self, LoadError> {
        let too_many = snap.tuples.len() >= u32::MAX as usize / 2
            || snap.assignments.len() >= u32::MAX as usize / 2
            || snap.roles.len() >= u32::MAX as usize / 2;
        if too_many {
            return Err(LoadError::TooLarge);
        }
        let mut b = Builder {
            schema,
            idx: TenantIndex {
                org_id: snap.org_id,
                revision: snap.revision,
                kinds: Vec::new(),
                kind_ids: HashMap::new(),
                objects: ObjectTable::default(),
                users: UuidTable::default(),
                user_start: Box::default(),
                user_edges: Box::default(),
                set_start: Box::default(),
                set_edges: Box::default(),
                roles: Vec::with_capacity(snap.roles.len()),
                assignments: Vec::with_capacity(snap.assignments.len()),
                tenant_set: Box::default(),
                perm_sets: Box::default(),
                tenant_start: Box::default(),
                tenant_grants: Box::default(),
                scoped_start: Box::default(),
                scoped: Box::default(),
                tuple_count: 0,
                cache: DecisionCache::new(cache_capacity),
                members: Vec::new(),
                owners: Vec::new(),
                role_records: snap.roles.clone(),
            },
        };
        for t in schema.types() {
            b.kind(&t.name);
        }

        // Roles.
        let mut role_ids: HashMap<Uuid, u32> = HashMap::with_capacity(snap.roles.len());
        let mut role_keys: HashMap<&str, ()> = HashMap::with_capacity(snap.roles.len());
        for r in &snap.roles {
            if role_keys.insert(r.key.as_str(), ()).is_some() {
                return Err(LoadError::DuplicateRole { key: r.key.clone() });
            }
            let mut perms = PermSet::with_len(catalog.len());
            for p in &r.permissions {
                let id = catalog
                    .resolve(p)
                    .map_err(|_| LoadError::UnknownPermission {
                        role: r.key.clone(),
                        permission: crate::catalog::UnknownPermission::new(p).name,
                    })?;
                perms.insert(id);
            }
            if r.key == OWNER_ROLE {
                perms = catalog.all();
            }
            if role_ids.insert(r.id, b.idx.roles.len() as u32).is_some() {
                return Err(LoadError::DuplicateRole { key: r.key.clone() });
            }
            b.idx.roles.push(RoleC {
                key: r.key.as_str().into(),
                perms,
            });
        }

        // Tuples, gathered as (object, edge) and laid out per object once every object is
        // interned.
        let mut user_pairs: Vec<(u32, (u32, u32))> = Vec::new();
        let mut set_pairs: Vec<(u32, SetEdge)> = Vec::new();
        for t in &snap.tuples {
            let bad = |why: String| LoadError::InvalidTuple {
                tuple: cut(&t.to_string()),
                why,
            };
            let (rid, subject) = schema.resolve_tuple(t).map_err(bad)?;
            let obj = b.object(&t.object)?;
            match (&t.subject, subject) {
                (Subject::User { id }, _) => {
                    let u = b.user(*id)?;
                    user_pairs.push((obj, (rid.0, u)));
                }
                (Subject::Set { object, .. }, kind) => {
                    let srel = match kind {
                        TupleSubject::Set(r) => r.0,
                        TupleSubject::Object | TupleSubject::User => SELF_REL,
                    };
                    let so = b.object(object)?;
                    set_pairs.push((
                        obj,
                        SetEdge {
                            rel: rid.0,
                            obj: so,
                            srel,
                        },
                    ));
                }
            }
        }

        // Assignments.
        for a in &snap.assignments {
            let Some(&role) = role_ids.get(&a.role_id) else {
                return Err(LoadError::UnknownRole {
                    assignment: a.id,
                    role_id: a.role_id,
                });
            };
            let subject = match &a.subject {
                Subject::User { id } => SubjectC::User(b.user(*id)?),
                Subject::Set { object, relation } => {
                    let rid = schema
                        .type_id(&object.kind)
                        .and_then(|t| schema.relation(t, relation))
                        .filter(|_| object.is_valid());
                    let Some(rid) = rid else {
                        return Err(LoadError::InvalidAssignment {
                            assignment: a.id,
                            why: format!(
                                "subject `{}` names an unknown type or relation",
                                cut(&a.subject.to_string())
                            ),
                        });
                    };
                    SubjectC::Set(b.object(object)?, rid.0)
                }
            };
            let scope = match &a.scope {
                Scope::Tenant => ScopeC::Tenant,
                Scope::Team { id } => ScopeC::Team(*id),
                Scope::Object { object } => {
                    if !object.is_valid() {
                        return Err(LoadError::InvalidAssignment {
                            assignment: a.id,
                            why: "malformed scope object".into(),
                        });
                    }
                    match (object.kind == TEAM_TYPE, Uuid::parse_str(&object.id)) {
                        (true, Ok(id)) => ScopeC::Team(id),
                        _ => ScopeC::Object(b.object(object)?),
                    }
                }
            };
            if let Subject::User { id } = &a.subject {
                if a.source == AssignmentSource::Membership {
                    b.idx.members.push(*id);
                }
                if scope == ScopeC::Tenant && &*b.idx.roles[role as usize].key == OWNER_ROLE {
                    b.idx.owners.push(*id);
                }
            }
            b.idx.assignments.push(AssignmentC {
                id: a.id,
                subject,
                role,
                scope,
            });
        }

        let schema = b.schema;
        let mut idx = b.idx;
        let objects = idx.objects.len();
        user_pairs.sort_unstable();
        user_pairs.dedup();
        set_pairs.sort_unstable();
        set_pairs.dedup();
        idx.tuple_count = user_pairs.len() + set_pairs.len();
        (idx.user_start, idx.user_edges) = csr(objects, user_pairs);
        (idx.set_start, idx.set_edges) = csr(objects, set_pairs);

        // Expand every assignment to the users it reaches.
        let mut tenant_pairs: Vec<(u32, u32)> = Vec::new();
        let mut scoped_pairs: Vec<(u32, ScopedGrant)> = Vec::new();
        for (ai, a) in idx.assignments.iter().enumerate() {
            let users: Vec<u32> = match a.subject {
                SubjectC::User(u) => vec![u],
                SubjectC::Set(o, r) => idx.expand_users(schema, o, r, max_depth)?,
            };
            for u in users {
                match a.scope {
                    ScopeC::Tenant => tenant_pairs.push((u, ai as u32)),
                    scope => scoped_pairs.push((
                        u,
                        ScopedGrant {
                            scope,
                            role: a.role,
                            assignment: ai as u32,
                        },
                    )),
                }
            }
        }
        // Stable sorts: each user's grants stay in assignment order.
        tenant_pairs.sort_by_key(|(u, _)| *u);
        scoped_pairs.sort_by_key(|(u, _)| *u);
        let users = idx.users.ids().len();
        (idx.tenant_start, idx.tenant_grants) = csr(users, tenant_pairs);
        (idx.scoped_start, idx.scoped) = csr(users, scoped_pairs);

        // One permission set per distinct combination of tenant-scoped roles.
        let mut sets = vec![PermSet::with_len(catalog.len())];
        let mut by_roles: HashMap<Vec<u32>, u32> = HashMap::new();
        by_roles.insert(Vec::new(), 0);
        let mut tenant_set = Vec::with_capacity(users);
        for u in 0..users as u32 {
            let mut roles: Vec<u32> = row(&idx.tenant_start, &idx.tenant_grants, u)
                .iter()
                .filter_map(|ai| idx.assignments.get(*ai as usize).map(|a| a.role))
                .collect();
            roles.sort_unstable();
            roles.dedup();
            let next = sets.len() as u32;
            let i = *by_roles.entry(roles).or_insert_with_key(|roles| {
                let mut s = PermSet::with_len(catalog.len());
                for r in roles {
                    if let Some(r) = idx.roles.get(*r as usize) {
                        s.union_with(&r.perms);
                    }
                }
                sets.push(s);
                next
            });
            tenant_set.push(i);
        }
        idx.tenant_set = tenant_set.into_boxed_slice();
        idx.perm_sets = sets.into_boxed_slice();

        for v in [&mut idx.members, &mut idx.owners] {
            v.sort_unstable();
            v.dedup();
            v.shrink_to_fit();
        }
        idx.objects.shrink();
        idx.users.shrink();
        idx.kinds.shrink_to_fit();
        idx.kind_ids.shrink_to_fit();
        Ok(idx)
    }

    /// Whether user `u` holds `rel` on `obj` by a tuple.
    #[inline]
    pub(crate) fn has_user(&self, obj: u32, rel: u32, u: u32) -> bool {
        row(&self.user_start, &self.user_edges, obj)
            .binary_search(&(rel, u))
            .is_ok()
    }

    /// The users holding `rel` on `obj` by a tuple, ascending.
    pub(crate) fn users_of(&self, obj: u32, rel: u32) -> impl Iterator<Item = u32> + '_ {
        let run = row(&self.user_start, &self.user_edges, obj);
        let a = run.partition_point(|e| e.0 < rel);
        let b = run.partition_point(|e| e.0 <= rel);
        run.get(a..b).unwrap_or_default().iter().map(|e| e.1)
    }

    /// Whether `set_obj#set_rel` holds `rel` on `obj` by a tuple.
    #[inline]
    pub(crate) fn has_set(&self, obj: u32, rel: u32, set_obj: u32, set_rel: u32) -> bool {
        let e = SetEdge {
            rel,
            obj: set_obj,
            srel: set_rel,
        };
        row(&self.set_start, &self.set_edges, obj)
            .binary_search(&e)
            .is_ok()
    }

    /// The subject sets and bare objects (`srel == SELF_REL`) holding `rel` on `obj` by a
    /// tuple, sorted.
    #[inline]
    pub(crate) fn sets_of(&self, obj: u32, rel: u32) -> &[SetEdge] {
        let run = row(&self.set_start, &self.set_edges, obj);
        let a = run.partition_point(|e| e.rel < rel);
        let b = run.partition_point(|e| e.rel <= rel);
        run.get(a..b).unwrap_or_default()
    }

    /// The index of `user`, if any tuple or assignment names it.
    #[inline]
    pub(crate) fn user_index(&self, user: Uuid) -> Option<u32> {
        self.users.get(user)
    }

    /// The user ids by index.
    pub(crate) fn user_ids(&self) -> &[Uuid] {
        self.users.ids()
    }

    /// The id of object type `name`, if the schema or the snapshot names it.
    pub(crate) fn kind_id(&self, name: &str) -> Option<u32> {
        self.kind_ids.get(name).copied()
    }

    /// The type of object `i`.
    #[inline]
    pub(crate) fn object_kind(&self, i: u32) -> Option<u32> {
        self.objects.kind(i)
    }

    /// The union of the permissions of user `u`'s tenant-scoped roles.
    #[inline]
    pub(crate) fn tenant_perms(&self, u: u32) -> Option<&PermSet> {
        let i = *self.tenant_set.get(u as usize)?;
        self.perm_sets.get(i as usize)
    }

    /// The tenant-scoped assignments reaching user `u`, ascending.
    #[inline]
    pub(crate) fn tenant_grants(&self, u: u32) -> &[u32] {
        row(&self.tenant_start, &self.tenant_grants, u)
    }

    /// The team- and object-scoped grants of user `u`, by assignment.
    #[inline]
    pub(crate) fn scoped_grants(&self, u: u32) -> &[ScopedGrant] {
        row(&self.scoped_start, &self.scoped, u)
    }

    /// Every user holding `rel` on `obj`.
    fn expand_users(
        &self,
        schema: &Schema,
        obj: u32,
        rel: u32,
        max_depth: usize,
    ) -> Result<Vec<u32>, LoadError> {
        if let Some(v) = self.expand_direct(schema, obj, rel) {
            return Ok(v);
        }
        let mut out = Vec::new();
        for u in 0..self.user_ids().len() as u32 {
            let mut ev = Evaluator::new(self, schema, Target::User(u), max_depth, false);
            match ev.root(obj, rel).tri {
                Tri::Yes => out.push(u),
                Tri::No => {}
                Tri::Unknown => {
                    return Err(LoadError::DepthExceeded {
                        limit: max_depth,
                        subject: self.node_label(schema, obj, rel),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Fast expansion when only stored relations are involved; `None` when a computed one
    /// is reached.
    fn expand_direct(&self, schema: &Schema, obj: u32, rel: u32) -> Option<Vec<u32>> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![(obj, rel)];
        let mut out = Vec::new();
        while let Some((o, r)) = stack.pop() {
            if !seen.insert(node_key(o, r)) {
                continue;
            }
            match schema.relations().get(r as usize).map(|d| &d.kind) {
                Some(RelationKind::Direct(_)) => {}
                _ => return None,
            }
            out.extend(self.users_of(o, r));
            stack.extend(
                self.sets_of(o, r)
                    .iter()
                    .filter(|e| e.srel != SELF_REL)
                    .map(|e| (e.obj, e.srel)),
            );
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// The index of an object, if any tuple or assignment names it.
    pub(crate) fn object_id(&self, o: &ObjectRef) -> Option<u32> {
        let k = self.kind_id(o.kind.as_str())?;
        self.objects.get(k, o.id.as_str())
    }

    /// `type:id` of object `i`.
    pub(crate) fn object_label(&self, i: u32) -> String {
        match (self.object_kind_name(i), self.objects.id(i)) {
            (Some(k), Some(id)) => format!("{k}:{id}"),
            _ => "?".to_owned(),
        }
    }

    pub(crate) fn object_ref(&self, i: u32) -> Option<ObjectRef> {
        Some(ObjectRef::new(
            self.object_kind_name(i)?,
            self.objects.id(i)?,
        ))
    }

    fn object_kind_name(&self, i: u32) -> Option<&str> {
        let k = self.objects.kind(i)?;
        self.kinds.get(k as usize).map(|k| &**k)
    }

    /// `type:id#relation`.
    pub(crate) fn node_label(&self, schema: &Schema, obj: u32, rel: u32) -> String {
        let r = if rel == SELF_REL {
            SELF_RELATION.to_owned()
        } else {
            schema
                .relations()
                .get(rel as usize)
                .map_or_else(|| "?".to_owned(), |d| d.name.clone())
        };
        format!("{}#{}", self.object_label(obj), r)
    }

    /// Whether a scope covers a resource (`res_obj`: the resource object's index).
    pub(crate) fn scope_covers(scope: ScopeC, res: &Resource, res_obj: Option<u32>) -> bool {
        match (scope, res) {
            (ScopeC::Tenant, _) => true,
            (ScopeC::Team(t), Resource::Team(r)) => t == *r,
            (ScopeC::Team(t), Resource::Object { team: Some(r), .. }) => t == *r,
            (ScopeC::Object(o), Resource::Object { .. }) => res_obj == Some(o),
            _ => false,
        }
    }

    pub(crate) fn scope_label(&self, s: ScopeC) -> String {
        match s {
            ScopeC::Tenant => "tenant".to_owned(),
            ScopeC::Team(t) => format!("{TEAM_TYPE}:{t}"),
            ScopeC::Object(o) => self.object_label(o),
        }
    }

    /// Whether `user` is a member of the organization (has a base role).
    pub fn is_member(&self, user: Uuid) -> bool {
        self.members.binary_search(&user).is_ok()
    }

    /// Whether `user` holds the owner role organization-wide (as a member or by an
    /// explicit assignment to the user).
    pub fn is_owner(&self, user: Uuid) -> bool {
        self.owners.binary_search(&user).is_ok()
    }

    /// The roles assigned to the subject set `object#relation` (`relation` a schema
    /// relation id), with their scopes.
    pub(crate) fn roles_of_set(
        &self,
        object: &ObjectRef,
        relation: u32,
    ) -> Vec<(RoleRecord, Scope)> {
        let Some(o) = self.object_id(object) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for a in &self.assignments {
            let SubjectC::Set(so, sr) = a.subject else {
                continue;
            };
            if so != o || sr != relation {
                continue;
            }
            let Some(role) = self.role_records.iter().find(|r| {
                self.roles
                    .get(a.role as usize)
                    .is_some_and(|c| *c.key == *r.key)
            }) else {
                continue;
            };
            let scope = match a.scope {
                ScopeC::Tenant => Scope::Tenant,
                ScopeC::Team(id) => Scope::Team { id },
                ScopeC::Object(i) => match self.object_ref(i) {
                    Some(object) => Scope::Object { object },
                    None => continue,
                },
            };
            out.push((role.clone(), scope));
        }
        out
    }

    /// Every role grant this index holds, keyed by `(user, role key, scope label)`, with
    /// the role and its scope: what a policy change hands out or takes away is the
    /// difference between two of these, however each grant reaches its user (a nested
    /// subject set, a computed relation, a parent, an exclusion).
    pub(crate) fn role_grants(&self) -> BTreeMap<(Uuid, String, String), (RoleRecord, Scope)> {
        let mut out = BTreeMap::new();
        for (u, user) in self.user_ids().iter().enumerate() {
            let Ok(u) = u32::try_from(u) else {
                break;
            };
            let tenant = self
                .tenant_grants(u)
                .iter()
                .filter_map(|a| self.assignments.get(*a as usize))
                .map(|a| (a.role, ScopeC::Tenant));
            let scoped = self.scoped_grants(u).iter().map(|g| (g.role, g.scope));
            for (role, scope) in tenant.chain(scoped) {
                let Some(key) = self.roles.get(role as usize).map(|r| &r.key) else {
                    continue;
                };
                let Some(record) = self.role_records.iter().find(|r| *r.key == **key) else {
                    continue;
                };
                let scope_ref = match scope {
                    ScopeC::Tenant => Scope::Tenant,
                    ScopeC::Team(id) => Scope::Team { id },
                    ScopeC::Object(i) => match self.object_ref(i) {
                        Some(object) => Scope::Object { object },
                        None => continue,
                    },
                };
                out.insert(
                    (*user, record.key.clone(), self.scope_label(scope)),
                    (record.clone(), scope_ref),
                );
            }
        }
        out
    }

    /// The role with `key`, as loaded.
    pub fn role_by_key(&self, key: &str) -> Option<&RoleRecord> {
        self.role_records.iter().find(|r| r.key == key)
    }

    /// The organization.
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// The revision compiled.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Number of distinct tuples held.
    pub fn tuple_count(&self) -> usize {
        self.tuple_count
    }

    /// Decisions currently in this index's cache.
    pub fn cached_decisions(&self) -> usize {
        self.cache.len()
    }

    /// Number of assignments held.
    pub fn assignment_count(&self) -> usize {
        self.assignments.len()
    }

    /// An estimate of the heap and inline bytes this index holds, from container
    /// capacities: the interning tables, the tuple and grant rows, roles, assignments and
    /// members. Not counted: the decision cache and the strings inside the loaded role
    /// records. Each allocation is rounded up to 16 bytes, as the allocator does.
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        fn alloc(n: usize) -> usize {
            if n == 0 { 0 } else { n.div_ceil(16) * 16 }
        }
        fn boxed<T>(v: &[T]) -> usize {
            alloc(std::mem::size_of_val(v))
        }
        let mut b = size_of::<Self>();
        b += alloc(self.kinds.capacity() * size_of::<Box<str>>());
        b += self.kinds.iter().map(|k| alloc(k.len())).sum::<usize>();
        // A small std map: entries plus one control byte per bucket, and its keys.
        b += alloc(self.kind_ids.capacity() * (size_of::<(Box<str>, u32)>() + 1) * 8 / 7);
        b += self.kind_ids.keys().map(|k| alloc(k.len())).sum::<usize>();
        b += self.objects.heap_bytes() + self.users.heap_bytes();
        b += boxed(&self.user_start) + boxed(&self.user_edges);
        b += boxed(&self.set_start) + boxed(&self.set_edges);
        b += alloc(self.roles.capacity() * size_of::<RoleC>());
        b += self
            .roles
            .iter()
            .map(|r| alloc(r.key.len()) + alloc(r.perms.heap_bytes()))
            .sum::<usize>();
        b += alloc(self.assignments.capacity() * size_of::<AssignmentC>());
        b += boxed(&self.tenant_set) + boxed(&self.perm_sets);
        b += self
            .perm_sets
            .iter()
            .map(|s| alloc(s.heap_bytes()))
            .sum::<usize>();
        b += boxed(&self.tenant_start) + boxed(&self.tenant_grants);
        b += boxed(&self.scoped_start) + boxed(&self.scoped);
        b += alloc(self.members.capacity() * 16) + alloc(self.owners.capacity() * 16);
        b += alloc(self.role_records.capacity() * size_of::<RoleRecord>());
        b
    }
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
