//! Differential property tests: random tenants (roles, assignments at tenant, team and
//! object scope, tuple graphs with cycles) and random checks, answered by
//! 1. the engine (`Engine::check`, `check_relation`, `list_objects`),
//! 2. casbin-rs with the RBAC-with-domains model of `helix_iam::oracle` (RBAC part), and
//! 3. a naive evaluator written here: RBAC by scanning every assignment, relationships by
//!    Kleene iteration to the least fixpoint over every (object, relation, user).
//!
//! All three must agree.

use std::collections::{BTreeMap, HashSet};

use casbin::prelude::*;
use helix_iam::model::{
    AssignmentRecord, AssignmentSource, ObjectRef, Resource, Revision, RoleRecord, Scope, Subject,
    TenantSnapshot, Tuple,
};
use helix_iam::{Engine, EngineConfig, Schema, oracle};
use proptest::prelude::*;
use uuid::Uuid;

use crate::catalog;

const SCHEMA: &str = "
type folder {
  relation parent: folder
  relation owner: user
  relation viewer: user | team#member
  permission view = viewer + owner + parent->view
}
type document {
  relation parent: folder
  relation owner: user
  relation editor: user | team#member
  relation viewer: user | team#member | folder#view
  relation banned: user
  permission edit = owner + editor
  permission view = viewer + edit + parent->view - banned
  permission manage = owner & editor
  bind docs.documents.read = view
  bind docs.documents.write = edit
  bind docs.documents.delete = manage
}
";

const USERS: usize = 6;
const TEAMS: usize = 3;
const FOLDERS: usize = 5;
const DOCS: usize = 5;
const PERMS: [&str; 4] = [
    "docs.documents.read",
    "docs.documents.write",
    "docs.documents.delete",
    "billing.invoices.read",
];
const ROLE_KEYS: [&str; 4] = ["owner", "r1", "r2", "r3"];

fn org() -> Uuid {
    Uuid::from_u128(0x0a0a)
}
fn user(i: usize) -> Uuid {
    Uuid::from_u128(0x1000 + i as u128)
}
fn team(i: usize) -> Uuid {
    Uuid::from_u128(0x2000 + i as u128)
}
fn folder(i: usize) -> ObjectRef {
    ObjectRef::new("folder", format!("f{i}"))
}
fn document(i: usize) -> ObjectRef {
    ObjectRef::new("document", format!("d{i}"))
}
fn role_id(i: usize) -> Uuid {
    Uuid::from_u128(0x3000 + i as u128)
}

/// One random tuple: (kind, a, b, c) interpreted by `tuple`.
fn tuple((kind, a, b, c): (usize, usize, usize, usize)) -> Tuple {
    let u = Subject::user(user(a % USERS));
    let tm = Subject::team_members(team(b % TEAMS));
    let f = folder(b % FOLDERS);
    let fs = |i: usize| Subject::Set {
        object: folder(i % FOLDERS),
        relation: "self_".into(),
    };
    let d = document(c % DOCS);
    match kind {
        0 => Tuple::new(ObjectRef::team(team(b % TEAMS)), "member", u),
        // Folder parents are drawn more often (kinds 1 and 13..16), for cycles and diamonds.
        1 | 13.. => Tuple::new(f, "parent", fs(c)),
        2 => Tuple::new(f, "owner", u),
        3 => Tuple::new(f, "viewer", u),
        4 => Tuple::new(f, "viewer", tm),
        5 => Tuple::new(d, "parent", fs(b)),
        6 => Tuple::new(d, "owner", u),
        7 => Tuple::new(d, "editor", u),
        8 => Tuple::new(d, "editor", tm),
        9 => Tuple::new(d, "viewer", u),
        10 => Tuple::new(d, "viewer", tm),
        11 => Tuple::new(
            d,
            "viewer",
            Subject::Set {
                object: folder(b % FOLDERS),
                relation: "view".into(),
            },
        ),
        _ => Tuple::new(d, "banned", u),
    }
}

/// A scope: tenant, a team, a document, or an invoice (a type outside the schema).
fn scope((kind, i): (usize, usize)) -> Scope {
    match kind {
        0 => Scope::Tenant,
        1 => Scope::Team {
            id: team(i % TEAMS),
        },
        2 => Scope::Object {
            object: document(i % DOCS),
        },
        _ => Scope::Object {
            object: ObjectRef::new("invoice", format!("i{}", i % 3)),
        },
    }
}

fn resource((kind, i, t): (usize, usize, Option<usize>)) -> Resource {
    match kind {
        0 => Resource::Tenant,
        1 => Resource::Team(team(i % TEAMS)),
        2 => Resource::Object {
            object: document(i % DOCS),
            team: t.map(|t| team(t % TEAMS)),
        },
        _ => Resource::Object {
            object: ObjectRef::new("invoice", format!("i{}", i % 3)),
            team: t.map(|t| team(t % TEAMS)),
        },
    }
}

#[derive(Debug, Clone)]
struct Case {
    snapshot: TenantSnapshot,
    checks: Vec<(usize, usize, Resource)>,
}

fn case() -> impl Strategy<Value = Case> {
    let tuples = prop::collection::vec((0usize..16, 0usize..8, 0usize..8, 0usize..8), 0..40);
    let roles = prop::collection::vec(prop::collection::vec(any::<bool>(), PERMS.len()), 3);
    let assignments = prop::collection::vec(
        (
            any::<bool>(),
            0usize..8,
            0usize..ROLE_KEYS.len(),
            (0usize..4, 0usize..8),
        ),
        0..10,
    );
    let checks = prop::collection::vec(
        (
            0usize..USERS,
            0usize..PERMS.len(),
            (0usize..4, 0usize..8, prop::option::of(0usize..4)),
        ),
        24,
    );
    (tuples, roles, assignments, checks).prop_map(|(tuples, roles, assignments, checks)| {
        let mut role_records = vec![RoleRecord {
            id: role_id(0),
            key: "owner".into(),
            name: "Owner".into(),
            builtin: true,
            permissions: Vec::new(),
        }];
        for (i, bits) in roles.iter().enumerate() {
            role_records.push(RoleRecord {
                id: role_id(i + 1),
                key: ROLE_KEYS[i + 1].into(),
                name: ROLE_KEYS[i + 1].into(),
                builtin: false,
                permissions: PERMS
                    .iter()
                    .zip(bits)
                    .filter(|(_, b)| **b)
                    .map(|(p, _)| (*p).to_owned())
                    .collect(),
            });
        }
        let assignment_records = assignments
            .into_iter()
            .enumerate()
            .map(|(i, (to_user, s, r, sc))| AssignmentRecord {
                id: Uuid::from_u128(0x4000 + i as u128),
                subject: if to_user {
                    Subject::user(user(s % USERS))
                } else {
                    Subject::team_members(team(s % TEAMS))
                },
                role_id: role_id(r),
                scope: scope(sc),
                source: AssignmentSource::Explicit,
            })
            .collect();
        let mut ts: Vec<Tuple> = tuples.into_iter().map(tuple).collect();
        ts.sort();
        ts.dedup();
        Case {
            snapshot: TenantSnapshot {
                org_id: org(),
                revision: Revision(1),
                roles: role_records,
                assignments: assignment_records,
                tuples: ts,
            },
            checks: checks
                .into_iter()
                .map(|(u, p, r)| (u, p, resource(r)))
                .collect(),
        }
    })
}

/// The naive evaluator.
struct Naive<'a> {
    snap: &'a TenantSnapshot,
    /// (object, relation, user) that hold, at the least fixpoint.
    facts: HashSet<(ObjectRef, String, Uuid)>,
}

impl<'a> Naive<'a> {
    fn new(snap: &'a TenantSnapshot) -> Self {
        let mut n = Naive {
            snap,
            facts: HashSet::new(),
        };
        let mut universe: Vec<(ObjectRef, &str)> = Vec::new();
        for i in 0..TEAMS {
            universe.push((ObjectRef::team(team(i)), "member"));
        }
        for i in 0..FOLDERS {
            for r in ["parent", "owner", "viewer", "view"] {
                universe.push((folder(i), r));
            }
        }
        for i in 0..DOCS {
            for r in [
                "parent", "owner", "editor", "viewer", "banned", "edit", "view", "manage",
            ] {
                universe.push((document(i), r));
            }
        }
        loop {
            let mut next = n.facts.clone();
            for (o, r) in &universe {
                for u in 0..USERS {
                    if n.holds(o, r, user(u)) {
                        next.insert((o.clone(), (*r).to_owned(), user(u)));
                    }
                }
            }
            if next.len() == n.facts.len() {
                break;
            }
            n.facts = next;
        }
        n
    }

    fn fact(&self, o: &ObjectRef, r: &str, u: Uuid) -> bool {
        self.facts.contains(&(o.clone(), r.to_owned(), u))
    }

    /// Direct tuples, following subject sets through the current facts.
    fn direct(&self, o: &ObjectRef, r: &str, u: Uuid) -> bool {
        self.snap.tuples.iter().any(|t| {
            t.object == *o
                && t.relation == r
                && match &t.subject {
                    Subject::User { id } => *id == u,
                    Subject::Set { object, relation } => {
                        relation != "self_" && self.fact(object, relation, u)
                    }
                }
        })
    }

    fn parents(&self, o: &ObjectRef) -> Vec<ObjectRef> {
        self.snap
            .tuples
            .iter()
            .filter(|t| t.object == *o && t.relation == "parent")
            .filter_map(|t| match &t.subject {
                Subject::Set { object, relation } if relation == "self_" => Some(object.clone()),
                _ => None,
            })
            .collect()
    }

    /// One step of the rules, reading the current facts.
    fn holds(&self, o: &ObjectRef, r: &str, u: Uuid) -> bool {
        match (o.kind.as_str(), r) {
            ("folder", "view") => {
                self.fact(o, "viewer", u)
                    || self.fact(o, "owner", u)
                    || self.parents(o).iter().any(|p| self.fact(p, "view", u))
            }
            ("document", "edit") => self.fact(o, "owner", u) || self.fact(o, "editor", u),
            ("document", "view") => {
                (self.fact(o, "viewer", u)
                    || self.fact(o, "edit", u)
                    || self.parents(o).iter().any(|p| self.fact(p, "view", u)))
                    && !self.direct(o, "banned", u)
            }
            ("document", "manage") => self.fact(o, "owner", u) && self.fact(o, "editor", u),
            _ => self.direct(o, r, u),
        }
    }

    fn member(&self, t: Uuid, u: Uuid) -> bool {
        self.snap.tuples.iter().any(|x| {
            x.object == ObjectRef::team(t)
                && x.relation == "member"
                && x.subject == Subject::user(u)
        })
    }

    fn rbac(&self, u: Uuid, perm: &str, res: &Resource) -> bool {
        self.snap.assignments.iter().any(|a| {
            let Some(role) = self.snap.roles.iter().find(|r| r.id == a.role_id) else {
                return false;
            };
            let grants = role.key == "owner" || role.permissions.iter().any(|p| p == perm);
            let subject = match &a.subject {
                Subject::User { id } => *id == u,
                Subject::Set { object, .. } => {
                    Uuid::parse_str(&object.id).is_ok_and(|t| self.member(t, u))
                }
            };
            let covers = match (&a.scope, res) {
                (Scope::Tenant, _) => true,
                (Scope::Team { id }, Resource::Team(t)) => id == t,
                (Scope::Team { id }, Resource::Object { team: Some(t), .. }) => id == t,
                (Scope::Object { object }, Resource::Object { object: o, .. }) => object == o,
                _ => false,
            };
            grants && subject && covers
        })
    }

    fn rebac(&self, u: Uuid, perm: &str, res: &Resource) -> bool {
        let Resource::Object { object, .. } = res else {
            return false;
        };
        if object.kind != "document" {
            return false;
        }
        let rel = match perm {
            "docs.documents.read" => "view",
            "docs.documents.write" => "edit",
            "docs.documents.delete" => "manage",
            _ => return false,
        };
        self.fact(object, rel, u)
    }
}

fn casbin_enforcer(rt: &tokio::runtime::Runtime, snaps: &[&TenantSnapshot]) -> Enforcer {
    let c = catalog();
    rt.block_on(async {
        let m = DefaultModel::from_str(oracle::casbin_model())
            .await
            .unwrap();
        let mut e = Enforcer::new(m, MemoryAdapter::default()).await.unwrap();
        for snap in snaps {
            let (p, g) = oracle::policy_lines(snap, &c);
            if !p.is_empty() {
                e.add_policies(p).await.unwrap();
            }
            if !g.is_empty() {
                e.add_grouping_policies(g).await.unwrap();
            }
        }
        e
    })
}

fn engine() -> Engine {
    let c = catalog();
    let schema = Schema::build(&[("docs", SCHEMA)], &c).unwrap();
    Engine::new(
        c,
        schema,
        EngineConfig {
            max_depth: 64,
            cache_capacity: 64,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn engine_casbin_and_naive_agree(case in case()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let engine = engine();
        engine.load(&case.snapshot).unwrap();
        let naive = Naive::new(&case.snapshot);
        let enforcer = casbin_enforcer(&rt, &[&case.snapshot]);
        for (u, p, res) in &case.checks {
            let (u, perm) = (user(*u), PERMS[*p]);
            let rbac = naive.rbac(u, perm, res);
            let expected = rbac || naive.rebac(u, perm, res);
            // Twice: the second answer comes from the decision cache.
            for _ in 0..2 {
                let got = engine.check(org(), u, perm, res).unwrap().allowed;
                prop_assert_eq!(got, expected, "engine vs naive: {} {} {:?}", u, perm, res);
            }
            let req = oracle::request(org(), u, res, perm).to_vec();
            let cas = enforcer.enforce(req).unwrap();
            prop_assert_eq!(cas, rbac, "casbin vs naive RBAC: {} {} {:?}", u, perm, res);
            let explained = engine.check_explained(org(), u, perm, res).unwrap();
            prop_assert_eq!(explained.allowed, expected);
        }
    }

    #[test]
    fn relations_and_lists_agree_with_the_fixpoint(case in case()) {
        let engine = engine();
        engine.load(&case.snapshot).unwrap();
        let naive = Naive::new(&case.snapshot);
        let mut lists: BTreeMap<(usize, &str), Vec<ObjectRef>> = BTreeMap::new();
        for u in 0..USERS {
            for i in 0..FOLDERS {
                let got = engine
                    .check_relation(org(), &Subject::user(user(u)), &folder(i), "view")
                    .unwrap()
                    .allowed;
                prop_assert_eq!(got, naive.fact(&folder(i), "view", user(u)));
                if got {
                    lists.entry((u, "folder")).or_default().push(folder(i));
                }
            }
            for i in 0..DOCS {
                for r in ["viewer", "edit", "view", "manage"] {
                    let got = engine
                        .check_relation(org(), &Subject::user(user(u)), &document(i), r)
                        .unwrap()
                        .allowed;
                    prop_assert_eq!(got, naive.fact(&document(i), r, user(u)), "{} {}", r, i);
                    if got && r == "view" {
                        lists.entry((u, "document")).or_default().push(document(i));
                    }
                }
            }
        }
        for u in 0..USERS {
            for ty in ["folder", "document"] {
                let got = engine.list_objects(org(), user(u), "view", ty).unwrap().objects;
                let want = lists.get(&(u, ty)).cloned().unwrap_or_default();
                prop_assert_eq!(got, want);
            }
        }
        for i in 0..DOCS {
            let got = engine.lookup_subjects(org(), &document(i), "view").unwrap();
            let mut want: Vec<Uuid> = (0..USERS)
                .map(user)
                .filter(|u| naive.fact(&document(i), "view", *u))
                .collect();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}

/// Many tenants in one casbin enforcer (domains) and one engine: still the same answers,
/// and no tenant sees another's grants.
#[test]
fn many_tenants_stay_isolated() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let engine = engine();
    let mut snaps = Vec::new();
    for t in 0..20u128 {
        let org_id = Uuid::from_u128(0x9000 + t);
        snaps.push(TenantSnapshot {
            org_id,
            revision: Revision(1),
            roles: vec![RoleRecord {
                id: role_id(1),
                key: "reader".into(),
                name: "Reader".into(),
                builtin: false,
                permissions: vec!["billing.invoices.read".into()],
            }],
            assignments: vec![AssignmentRecord {
                id: Uuid::from_u128(0x4000 + t),
                subject: Subject::user(user(t as usize % USERS)),
                role_id: role_id(1),
                scope: Scope::Tenant,
                source: AssignmentSource::Explicit,
            }],
            tuples: Vec::new(),
        });
    }
    for s in &snaps {
        engine.load(s).unwrap();
    }
    let refs: Vec<&TenantSnapshot> = snaps.iter().collect();
    let enforcer = casbin_enforcer(&rt, &refs);
    for (t, s) in snaps.iter().enumerate() {
        for u in 0..USERS {
            let want = u == t % USERS;
            let got = engine
                .check(
                    s.org_id,
                    user(u),
                    "billing.invoices.read",
                    &Resource::Tenant,
                )
                .unwrap()
                .allowed;
            assert_eq!(got, want);
            let req = oracle::request(
                s.org_id,
                user(u),
                &Resource::Tenant,
                "billing.invoices.read",
            );
            assert_eq!(enforcer.enforce(req.to_vec()).unwrap(), want);
        }
    }
}
