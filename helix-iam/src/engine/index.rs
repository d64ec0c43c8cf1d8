//! The per-tenant compiled index: interned users, objects and relations, tuples grouped by
//! `(object, relation)`, roles as permission bitsets, and each user's grants with the
//! subject-set assignments already expanded to users.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use uuid::Uuid;

use super::LoadError;
use super::cache::DecisionCache;
use super::eval::{Evaluator, Target, Tri};
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

#[derive(Debug, Default)]
pub(crate) struct UserGrants {
    /// Union of the permissions of every tenant-scoped role.
    pub tenant: PermSet,
    /// The tenant-scoped assignments (for explanations).
    pub tenant_assignments: Vec<u32>,
    /// Team- and object-scoped grants.
    pub scoped: Vec<ScopedGrant>,
}

/// One organization's policy at one revision, compiled for checks.
#[derive(Debug)]
pub struct TenantIndex {
    pub(crate) org_id: Uuid,
    pub(crate) revision: Revision,
    /// Object type names: the schema's types first (same ids), then scope-only types.
    pub(crate) kinds: Vec<Box<str>>,
    pub(crate) kind_ids: HashMap<Box<str>, u32>,
    /// Per kind: object id -> object index.
    pub(crate) objects_by_kind: Vec<HashMap<Box<str>, u32>>,
    /// Object index -> (kind, id).
    pub(crate) objects: Vec<(u32, Box<str>)>,
    pub(crate) users: IdMap<Uuid, u32>,
    pub(crate) user_ids: Vec<Uuid>,
    /// `(object, relation)` -> users holding it directly, sorted.
    pub(crate) direct_users: IdMap<u64, Box<[u32]>>,
    /// `(object, relation)` -> subject sets and bare objects (`SELF_REL`), sorted.
    pub(crate) direct_sets: IdMap<u64, Box<[(u32, u32)]>>,
    pub(crate) roles: Vec<RoleC>,
    pub(crate) assignments: Vec<AssignmentC>,
    pub(crate) grants: IdMap<u32, UserGrants>,
    pub(crate) tuple_count: usize,
    pub(crate) cache: DecisionCache,
    /// Users with a membership (a base-role assignment), sorted.
    pub(crate) members: Vec<Uuid>,
    /// Users assigned the owner role organization-wide, directly, sorted.
    pub(crate) owners: Vec<Uuid>,
    /// The roles as loaded (for escalation checks by key).
    pub(crate) role_records: Vec<RoleRecord>,
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
        self.idx.objects_by_kind.push(HashMap::new());
        k
    }

    fn object(&mut self, o: &ObjectRef) -> u32 {
        let k = self.kind(&o.kind);
        let map = &mut self.idx.objects_by_kind[k as usize];
        if let Some(&i) = map.get(o.id.as_str()) {
            return i;
        }
        let i = self.idx.objects.len() as u32;
        map.insert(o.id.as_str().into(), i);
        self.idx.objects.push((k, o.id.as_str().into()));
        i
    }

    fn user(&mut self, u: Uuid) -> u32 {
        if let Some(&i) = self.idx.users.get(&u) {
            return i;
        }
        let i = self.idx.user_ids.len() as u32;
        self.idx.users.insert(u, i);
        self.idx.user_ids.push(u);
        i
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
                objects_by_kind: Vec::new(),
                objects: Vec::new(),
                users: IdMap::default(),
                user_ids: Vec::new(),
                direct_users: IdMap::default(),
                direct_sets: IdMap::default(),
                roles: Vec::with_capacity(snap.roles.len()),
                assignments: Vec::with_capacity(snap.assignments.len()),
                grants: IdMap::default(),
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

        // Tuples.
        let mut users_acc: IdMap<u64, Vec<u32>> = IdMap::default();
        let mut sets_acc: IdMap<u64, Vec<(u32, u32)>> = IdMap::default();
        for t in &snap.tuples {
            let bad = |why: String| LoadError::InvalidTuple {
                tuple: cut(&t.to_string()),
                why,
            };
            let (rid, subject) = schema.resolve_tuple(t).map_err(bad)?;
            let obj = b.object(&t.object);
            let key = node_key(obj, rid.0);
            match (&t.subject, subject) {
                (Subject::User { id }, _) => {
                    let u = b.user(*id);
                    users_acc.entry(key).or_default().push(u);
                }
                (Subject::Set { object, .. }, kind) => {
                    let srel = match kind {
                        TupleSubject::Set(r) => r.0,
                        TupleSubject::Object | TupleSubject::User => SELF_REL,
                    };
                    let so = b.object(object);
                    sets_acc.entry(key).or_default().push((so, srel));
                }
            }
        }
        let mut count = 0;
        for (k, mut v) in users_acc {
            v.sort_unstable();
            v.dedup();
            count += v.len();
            b.idx.direct_users.insert(k, v.into_boxed_slice());
        }
        for (k, mut v) in sets_acc {
            v.sort_unstable();
            v.dedup();
            count += v.len();
            b.idx.direct_sets.insert(k, v.into_boxed_slice());
        }
        b.idx.tuple_count = count;

        // Assignments.
        for a in &snap.assignments {
            let Some(&role) = role_ids.get(&a.role_id) else {
                return Err(LoadError::UnknownRole {
                    assignment: a.id,
                    role_id: a.role_id,
                });
            };
            let subject = match &a.subject {
                Subject::User { id } => SubjectC::User(b.user(*id)),
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
                    SubjectC::Set(b.object(object), rid.0)
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
                        _ => ScopeC::Object(b.object(object)),
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

        // Expand every assignment to the users it reaches.
        let schema = b.schema;
        let mut idx = b.idx;
        let mut grants: IdMap<u32, UserGrants> = IdMap::default();
        let perm_len = catalog.len();
        for (ai, a) in idx.assignments.iter().enumerate() {
            let users: Vec<u32> = match a.subject {
                SubjectC::User(u) => vec![u],
                SubjectC::Set(o, r) => idx.expand_users(schema, o, r, max_depth)?,
            };
            for u in users {
                let g = grants.entry(u).or_insert_with(|| UserGrants {
                    tenant: PermSet::with_len(perm_len),
                    ..UserGrants::default()
                });
                match a.scope {
                    ScopeC::Tenant => {
                        g.tenant.union_with(&idx.roles[a.role as usize].perms);
                        g.tenant_assignments.push(ai as u32);
                    }
                    scope => g.scoped.push(ScopedGrant {
                        scope,
                        role: a.role,
                        assignment: ai as u32,
                    }),
                }
            }
        }
        idx.grants = grants;
        for v in [&mut idx.members, &mut idx.owners] {
            v.sort_unstable();
            v.dedup();
        }
        Ok(idx)
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
        for u in 0..self.user_ids.len() as u32 {
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
            let k = node_key(o, r);
            if let Some(us) = self.direct_users.get(&k) {
                out.extend_from_slice(us);
            }
            if let Some(sets) = self.direct_sets.get(&k) {
                stack.extend(sets.iter().copied().filter(|(_, sr)| *sr != SELF_REL));
            }
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// The index of an object, if any tuple or assignment names it.
    pub(crate) fn object_id(&self, o: &ObjectRef) -> Option<u32> {
        let k = *self.kind_ids.get(o.kind.as_str())?;
        self.objects_by_kind
            .get(k as usize)?
            .get(o.id.as_str())
            .copied()
    }

    /// `type:id` of object `i`.
    pub(crate) fn object_label(&self, i: u32) -> String {
        match self.objects.get(i as usize) {
            Some((k, id)) => format!("{}:{}", self.kinds[*k as usize], id),
            None => "?".to_owned(),
        }
    }

    pub(crate) fn object_ref(&self, i: u32) -> Option<ObjectRef> {
        let (k, id) = self.objects.get(i as usize)?;
        Some(ObjectRef::new(&*self.kinds[*k as usize], &**id))
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
                ScopeC::Object(i) => match self.objects.get(i as usize) {
                    Some((k, id)) => Scope::Object {
                        object: ObjectRef::new(&*self.kinds[*k as usize], &**id),
                    },
                    None => continue,
                },
            };
            out.push((role.clone(), scope));
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

    /// An estimate of the heap and inline bytes this index holds (excluding the decision
    /// cache), from container capacities: interned strings, hash tables (entries plus one
    /// control byte each), tuple slices, roles, assignments and expanded grants.
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        fn table<K, V>(cap: usize) -> usize {
            // hashbrown: one control byte per bucket plus the group padding; buckets are
            // capacity / 7 * 8 rounded up to a power of two.
            let buckets = if cap == 0 {
                0
            } else {
                (cap * 8 / 7).next_power_of_two()
            };
            buckets * (size_of::<(K, V)>() + 1) + if buckets > 0 { 16 } else { 0 }
        }
        // Allocations are rounded up to 16 bytes by the allocator.
        fn alloc(n: usize) -> usize {
            if n == 0 { 0 } else { n.div_ceil(16) * 16 }
        }
        let mut b = size_of::<Self>();
        b += self
            .kinds
            .iter()
            .map(|k| 16 + alloc(k.len()))
            .sum::<usize>();
        b += table::<Box<str>, u32>(self.kind_ids.capacity())
            + self.kind_ids.keys().map(|k| alloc(k.len())).sum::<usize>();
        for m in &self.objects_by_kind {
            b += size_of::<HashMap<Box<str>, u32>>() + table::<Box<str>, u32>(m.capacity());
            b += m.keys().map(|k| alloc(k.len())).sum::<usize>();
        }
        b += self.objects.capacity() * size_of::<(u32, Box<str>)>();
        b += self
            .objects
            .iter()
            .map(|(_, id)| alloc(id.len()))
            .sum::<usize>();
        b += table::<Uuid, u32>(self.users.capacity());
        b += self.user_ids.capacity() * size_of::<Uuid>();
        b += table::<u64, Box<[u32]>>(self.direct_users.capacity());
        b += self
            .direct_users
            .values()
            .map(|v| alloc(v.len() * 4))
            .sum::<usize>();
        b += table::<u64, Box<[(u32, u32)]>>(self.direct_sets.capacity());
        b += self
            .direct_sets
            .values()
            .map(|v| alloc(v.len() * 8))
            .sum::<usize>();
        b += self.roles.capacity() * size_of::<RoleC>();
        b += self
            .roles
            .iter()
            .map(|r| alloc(r.key.len()) + alloc(r.perms.heap_bytes()))
            .sum::<usize>();
        b += self.assignments.capacity() * size_of::<AssignmentC>();
        b += table::<u32, UserGrants>(self.grants.capacity());
        b += self
            .grants
            .values()
            .map(|g| {
                alloc(g.tenant.heap_bytes())
                    + alloc(g.tenant_assignments.capacity() * 4)
                    + alloc(g.scoped.capacity() * size_of::<ScopedGrant>())
            })
            .sum::<usize>();
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
