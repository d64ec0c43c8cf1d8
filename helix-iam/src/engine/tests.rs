use super::*;
use crate::model::{AssignmentRecord, AssignmentSource, RoleRecord, Scope, Tuple};
use helix_core::{DeclaredPermission, PermissionDef};

const PERMS: &[PermissionDef] = &[
    PermissionDef {
        name: "docs.documents.read",
        description: "",
        default_roles: &[],
    },
    PermissionDef {
        name: "docs.documents.write",
        description: "",
        default_roles: &[],
    },
    PermissionDef {
        name: "docs.documents.publish",
        description: "",
        default_roles: &[],
    },
    PermissionDef {
        name: "billing.invoices.read",
        description: "",
        default_roles: &[],
    },
];

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
  relation approved: user
  permission edit = owner + editor
  permission view = viewer + edit + parent->view - banned
  permission publish = edit & approved
  bind docs.documents.read = view
  bind docs.documents.write = edit
  bind docs.documents.publish = publish
}
type chain {
  relation next: chain
  relation holder: user
  permission reach = holder + next->reach
}
";

fn engine_with(config: EngineConfig) -> Engine {
    let d: Vec<_> = PERMS
        .iter()
        .map(|def| DeclaredPermission {
            module: "docs",
            def: *def,
        })
        .collect();
    Engine::build(&d, &[("docs", SCHEMA)], config).unwrap()
}

fn engine() -> Engine {
    engine_with(EngineConfig::default())
}

const ORG: Uuid = Uuid::from_u128(0x0100);
const ALICE: Uuid = Uuid::from_u128(0xa1);
const BOB: Uuid = Uuid::from_u128(0xb0);
const CAROL: Uuid = Uuid::from_u128(0xca);
const DAVE: Uuid = Uuid::from_u128(0xda);
const EVE: Uuid = Uuid::from_u128(0xe0);
const TEAM: Uuid = Uuid::from_u128(0x7e);
const OTHER_TEAM: Uuid = Uuid::from_u128(0x7f);

#[derive(Default)]
struct Snap(TenantSnapshot);

impl Snap {
    fn new(rev: u64) -> Self {
        Snap(TenantSnapshot {
            org_id: ORG,
            revision: Revision(rev),
            ..TenantSnapshot::default()
        })
    }

    fn role(mut self, key: &str, perms: &[&str]) -> Self {
        let id = Uuid::from_u128(0x1000 + self.0.roles.len() as u128);
        self.0.roles.push(RoleRecord {
            id,
            key: key.into(),
            name: key.into(),
            builtin: false,
            permissions: perms.iter().map(|p| (*p).to_owned()).collect(),
        });
        self
    }

    fn assign(mut self, subject: Subject, role: &str, scope: Scope) -> Self {
        let role_id = self
            .0
            .roles
            .iter()
            .find(|r| r.key == role)
            .map_or(Uuid::max(), |r| r.id);
        self.0.assignments.push(AssignmentRecord {
            id: Uuid::from_u128(0x2000 + self.0.assignments.len() as u128),
            subject,
            role_id,
            scope,
            source: AssignmentSource::Explicit,
        });
        self
    }

    fn tuple(mut self, t: &str) -> Self {
        self.0.tuples.push(
            t.replace("ALICE", &ALICE.to_string())
                .replace("BOB", &BOB.to_string())
                .replace("CAROL", &CAROL.to_string())
                .replace("DAVE", &DAVE.to_string())
                .replace("OTHERTEAM", &OTHER_TEAM.to_string())
                .replace("TEAM", &TEAM.to_string())
                .parse()
                .unwrap(),
        );
        self
    }
}

fn doc(id: &str) -> Resource {
    Resource::Object {
        object: ObjectRef::new("document", id),
        team: None,
    }
}

fn allowed(e: &Engine, user: Uuid, perm: &str, res: &Resource) -> bool {
    e.check(ORG, user, perm, res).unwrap().allowed
}

#[test]
fn rbac_scopes_tenant_team_object() {
    let e = engine();
    e.load(
        &Snap::new(1)
            .role("writer", &["docs.documents.write"])
            .assign(Subject::user(ALICE), "writer", Scope::Tenant)
            .assign(Subject::user(BOB), "writer", Scope::Team { id: TEAM })
            .assign(
                Subject::user(CAROL),
                "writer",
                Scope::Object {
                    object: ObjectRef::new("document", "9"),
                },
            )
            .0,
    )
    .unwrap();
    let w = "docs.documents.write";
    let in_team = Resource::Object {
        object: ObjectRef::new("document", "1"),
        team: Some(TEAM),
    };
    let other_team = Resource::Object {
        object: ObjectRef::new("document", "1"),
        team: Some(OTHER_TEAM),
    };
    for r in [
        &Resource::Tenant,
        &Resource::Team(TEAM),
        &in_team,
        &doc("9"),
    ] {
        assert!(allowed(&e, ALICE, w, r), "{r:?}");
    }
    assert!(allowed(&e, BOB, w, &Resource::Team(TEAM)));
    assert!(allowed(&e, BOB, w, &in_team));
    assert!(!allowed(&e, BOB, w, &other_team));
    assert!(!allowed(&e, BOB, w, &Resource::Team(OTHER_TEAM)));
    assert!(!allowed(&e, BOB, w, &Resource::Tenant));
    assert!(!allowed(&e, BOB, w, &doc("9")));
    assert!(allowed(&e, CAROL, w, &doc("9")));
    assert!(!allowed(&e, CAROL, w, &doc("1")));
    assert!(!allowed(&e, CAROL, w, &Resource::Tenant));
    // A role only grants its own permissions.
    assert!(!allowed(
        &e,
        ALICE,
        "docs.documents.read",
        &Resource::Tenant
    ));
    // Unknown users are denied; unknown permissions are errors.
    assert!(!allowed(&e, EVE, w, &Resource::Tenant));
    let err = e
        .check(ORG, ALICE, "docs.nope.read", &Resource::Tenant)
        .unwrap_err();
    assert_eq!(err.code(), "unknown_permission");
    let id = e.catalog().resolve(w).unwrap();
    assert!(e.check(ORG, ALICE, id, &Resource::Tenant).unwrap().allowed);
    assert!(
        e.check(ORG, ALICE, PermId(10_000), &Resource::Tenant)
            .is_err()
    );
}

#[test]
fn owner_holds_every_permission_and_team_subjects_expand() {
    let e = engine();
    e.load(
        &Snap::new(1)
            .role("owner", &[])
            .role("reader", &["billing.invoices.read"])
            .assign(Subject::user(ALICE), "owner", Scope::Tenant)
            .assign(Subject::team_members(TEAM), "reader", Scope::Tenant)
            .tuple("team:TEAM#member@user:DAVE")
            .0,
    )
    .unwrap();
    for p in e.catalog().entries() {
        assert!(allowed(&e, ALICE, &p.name, &Resource::Tenant), "{}", p.name);
    }
    assert!(allowed(
        &e,
        DAVE,
        "billing.invoices.read",
        &Resource::Tenant
    ));
    assert!(!allowed(&e, DAVE, "iam.explain", &Resource::Tenant));
    assert!(!allowed(
        &e,
        BOB,
        "billing.invoices.read",
        &Resource::Tenant
    ));
}

#[test]
fn every_rewrite_kind() {
    let e = engine();
    e.load(
        &Snap::new(1)
            // direct
            .tuple("document:1#viewer@user:ALICE")
            // subject set
            .tuple("document:1#viewer@team:TEAM#member")
            .tuple("team:TEAM#member@user:BOB")
            // computed userset: editor -> edit -> view
            .tuple("document:1#editor@user:CAROL")
            // tuple-to-userset: parent->view
            .tuple("document:2#parent@folder:f#self_")
            .tuple("folder:f#parent@folder:root#self_")
            .tuple("folder:root#owner@user:DAVE")
            // exclusion
            .tuple("document:2#banned@user:DAVE")
            // intersection: publish = edit & approved
            .tuple("document:1#approved@user:CAROL")
            .tuple("document:1#approved@user:ALICE")
            // subject set of a computed relation: folder#view
            .tuple("document:3#viewer@folder:root#view")
            .0,
    )
    .unwrap();
    let r = "docs.documents.read";
    assert!(allowed(&e, ALICE, r, &doc("1")), "direct");
    assert!(allowed(&e, BOB, r, &doc("1")), "through team#member");
    assert!(allowed(&e, CAROL, r, &doc("1")), "computed edit -> view");
    assert!(allowed(&e, CAROL, "docs.documents.write", &doc("1")));
    assert!(!allowed(&e, ALICE, "docs.documents.write", &doc("1")));
    assert!(
        !allowed(&e, DAVE, r, &doc("2")),
        "banned excludes parent->view"
    );
    assert!(allowed(&e, DAVE, r, &doc("3")), "folder#view subject set");
    assert!(
        allowed(&e, CAROL, "docs.documents.publish", &doc("1")),
        "edit & approved"
    );
    assert!(
        !allowed(&e, ALICE, "docs.documents.publish", &doc("1")),
        "approved only"
    );
    assert!(!allowed(&e, EVE, r, &doc("1")));
    assert!(!allowed(&e, ALICE, r, &doc("404")));
    // Relations directly.
    let rel = |s: Subject, o: &str, r: &str| {
        e.check_relation(ORG, &s, &o.parse().unwrap(), r)
            .unwrap()
            .allowed
    };
    assert!(
        rel(Subject::user(DAVE), "folder:f", "view"),
        "arrow through two folders"
    );
    assert!(!rel(Subject::user(DAVE), "folder:f", "owner"));
    assert!(rel(Subject::team_members(TEAM), "document:1", "viewer"));
    assert!(!rel(Subject::team_members(TEAM), "document:2", "viewer"));
    assert!(rel(Subject::user(BOB), &format!("team:{TEAM}"), "member"));
    let err = e
        .check_relation(
            ORG,
            &Subject::user(BOB),
            &ObjectRef::new("document", "1"),
            "nope",
        )
        .unwrap_err();
    assert_eq!(err.code(), "unknown_relation");
}

#[test]
fn cycles_terminate_with_the_least_fixpoint() {
    let e = engine();
    e.load(
        &Snap::new(1)
            .tuple("folder:a#parent@folder:b#self_")
            .tuple("folder:b#parent@folder:c#self_")
            .tuple("folder:c#parent@folder:a#self_")
            .tuple("document:1#parent@folder:a#self_")
            .tuple("document:2#parent@folder:x#self_")
            .tuple("folder:x#parent@folder:x#self_")
            .tuple("folder:c#viewer@user:ALICE")
            // A subject-set cycle: document viewers through folder views and back.
            .tuple("folder:x#viewer@team:TEAM#member")
            .0,
    )
    .unwrap();
    assert!(allowed(&e, ALICE, "docs.documents.read", &doc("1")));
    assert!(!allowed(&e, BOB, "docs.documents.read", &doc("1")));
    assert!(!allowed(&e, ALICE, "docs.documents.read", &doc("2")));
    let objs = e.list_objects(ORG, ALICE, "view", "folder").unwrap();
    let ids: Vec<&str> = objs.objects.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
}

#[test]
fn depth_limit_is_reported_not_allowed() {
    let mut s = Snap::new(1);
    for i in 0..30 {
        s = s.tuple(&format!("chain:{i}#next@chain:{}#self_", i + 1));
    }
    s = s.tuple("chain:30#holder@user:ALICE");
    let snap = s.0;
    let e = engine_with(EngineConfig {
        max_depth: 25,
        cache_capacity: 16,
    });
    e.load(&snap).unwrap();
    let err = e
        .check_relation(
            ORG,
            &Subject::user(ALICE),
            &ObjectRef::new("chain", "0"),
            "reach",
        )
        .unwrap_err();
    assert!(
        matches!(err, EngineError::DepthExceeded { limit: 25, .. }),
        "{err}"
    );
    assert!(e.list_objects(ORG, ALICE, "reach", "chain").is_err());
    assert!(
        e.lookup_subjects(ORG, &ObjectRef::new("chain", "0"), "reach")
            .is_err()
    );
    // Close to the end it is within the limit.
    assert!(
        e.check_relation(
            ORG,
            &Subject::user(ALICE),
            &ObjectRef::new("chain", "25"),
            "reach"
        )
        .unwrap()
        .allowed
    );
    let deep = engine_with(EngineConfig {
        max_depth: 100,
        cache_capacity: 16,
    });
    deep.load(&snap).unwrap();
    assert!(
        deep.check_relation(
            ORG,
            &Subject::user(ALICE),
            &ObjectRef::new("chain", "0"),
            "reach"
        )
        .unwrap()
        .allowed
    );
    assert_eq!(
        deep.list_objects(ORG, ALICE, "reach", "chain")
            .unwrap()
            .objects
            .len(),
        31
    );
    // A denial that stays within the limit is a plain denial.
    assert!(
        !deep
            .check_relation(
                ORG,
                &Subject::user(BOB),
                &ObjectRef::new("chain", "0"),
                "reach"
            )
            .unwrap()
            .allowed
    );
}

#[test]
fn explanations() {
    let e = engine();
    let snap = Snap::new(7)
        .role("billing_admin", &["billing.invoices.read"])
        .role("writer", &["docs.documents.write"])
        .assign(Subject::user(ALICE), "billing_admin", Scope::Tenant)
        .assign(
            Subject::team_members(TEAM),
            "writer",
            Scope::Team { id: TEAM },
        )
        .tuple("team:TEAM#member@user:BOB")
        .tuple("document:1#viewer@team:TEAM#member")
        .0;
    e.load(&snap).unwrap();

    let ex = e
        .check_explained(ORG, ALICE, "billing.invoices.read", &Resource::Tenant)
        .unwrap();
    assert!(ex.allowed);
    assert_eq!(ex.revision, Some(Revision(7)));
    let s = ex.to_string();
    assert!(
        s.contains(&format!("user:{ALICE} -> assignment"))
            && s.contains("(role billing_admin, scope tenant) -> billing.invoices.read"),
        "{s}"
    );

    let ex = e
        .check_explained(ORG, BOB, "docs.documents.write", &Resource::Team(TEAM))
        .unwrap();
    assert!(ex.allowed);
    let s = ex.to_string();
    assert!(
        s.contains(&format!("-> team:{TEAM}#member -> assignment")),
        "{s}"
    );
    assert!(s.contains(&format!("scope team:{TEAM}")), "{s}");

    let ex = e
        .check_explained(ORG, BOB, "docs.documents.read", &doc("1"))
        .unwrap();
    assert!(ex.allowed);
    assert_eq!(
        ex.reason,
        Reason::Relationship {
            binding: "document#view".into(),
            path: vec![
                format!("user:{BOB}"),
                format!("team:{TEAM}#member"),
                "document:1#viewer".into(),
                "document:1#view".into(),
            ],
        }
    );
    let s = ex.to_string();
    assert!(
        s.contains(&format!(
            "document:1#view <- document:1#viewer <- team:{TEAM}#member <- user:{BOB}"
        )),
        "{s}"
    );

    let ex = e
        .check_explained(ORG, CAROL, "docs.documents.read", &doc("1"))
        .unwrap();
    assert!(!ex.allowed);
    assert_eq!(
        ex.reason,
        Reason::NoGrant {
            bindings: vec!["document#view".into()]
        }
    );
    assert!(
        ex.to_string()
            .contains("no relationship path reaches document#view")
    );
    let ex = e
        .check_explained(ORG, BOB, "billing.invoices.read", &Resource::Tenant)
        .unwrap();
    assert!(!ex.allowed);
    assert!(ex.to_string().contains("no role of"), "{ex}");

    let ex = e
        .check_explained(
            Uuid::max(),
            ALICE,
            "billing.invoices.read",
            &Resource::Tenant,
        )
        .unwrap();
    assert!(!ex.allowed);
    assert_eq!(ex.reason, Reason::TenantNotLoaded);
    assert_eq!(
        e.check(
            Uuid::max(),
            ALICE,
            "billing.invoices.read",
            &Resource::Tenant
        )
        .unwrap_err()
        .code(),
        "tenant_not_loaded"
    );
}

#[test]
fn a_new_revision_makes_cached_decisions_unreachable() {
    let e = engine();
    let with = Snap::new(1)
        .role("reader", &["billing.invoices.read"])
        .assign(Subject::user(ALICE), "reader", Scope::Tenant)
        .0;
    e.load(&with).unwrap();
    let p = "billing.invoices.read";
    assert!(allowed(&e, ALICE, p, &Resource::Tenant));
    assert!(allowed(&e, ALICE, p, &Resource::Tenant));
    assert_eq!(e.tenant(ORG).unwrap().cached_decisions(), 1);
    let d = e.check(ORG, ALICE, p, &Resource::Tenant).unwrap();
    assert_eq!(d.revision, Revision(1));

    let without = Snap::new(2).role("reader", &["billing.invoices.read"]).0;
    e.load(&without).unwrap();
    assert_eq!(e.revision(ORG), Some(Revision(2)));
    let d = e.check(ORG, ALICE, p, &Resource::Tenant).unwrap();
    assert!(!d.allowed);
    assert_eq!(d.revision, Revision(2));

    // An older snapshot is refused and the newer index stays.
    let err = e.load(&with).unwrap_err();
    assert_eq!(err.code(), "stale_snapshot");
    assert!(!allowed(&e, ALICE, p, &Resource::Tenant));

    // Tenants are isolated: another organization's index does not answer for this one.
    let mut other = with.clone();
    other.org_id = Uuid::from_u128(0x0200);
    e.load(&other).unwrap();
    assert!(!allowed(&e, ALICE, p, &Resource::Tenant));
    assert!(
        e.check(other.org_id, ALICE, p, &Resource::Tenant)
            .unwrap()
            .allowed
    );
    assert_eq!(e.tenant_count(), 2);
    assert!(e.evict(other.org_id));
    assert!(!e.evict(other.org_id));
    assert!(e.check(other.org_id, ALICE, p, &Resource::Tenant).is_err());
}

#[test]
fn cache_off_gives_the_same_answers() {
    let e = engine_with(EngineConfig {
        max_depth: 25,
        cache_capacity: 0,
    });
    e.load(&Snap::new(1).tuple("document:1#viewer@user:ALICE").0)
        .unwrap();
    assert!(allowed(&e, ALICE, "docs.documents.read", &doc("1")));
    assert_eq!(e.tenant(ORG).unwrap().cached_decisions(), 0);
}

#[test]
fn load_refuses_bad_snapshots() {
    let e = engine();
    let cases: Vec<(TenantSnapshot, &str)> = vec![
        (
            Snap::new(1).role("r", &["docs.nope.read"]).0,
            "unknown_permission",
        ),
        (
            Snap::new(1).role("r", &[]).role("r", &[]).0,
            "duplicate_role",
        ),
        (
            Snap::new(1)
                .assign(Subject::user(ALICE), "missing", Scope::Tenant)
                .0,
            "unknown_role",
        ),
        (
            Snap::new(1).tuple("invoice:1#viewer@user:ALICE").0,
            "invalid_tuple",
        ),
        (
            Snap::new(1).tuple("document:1#nope@user:ALICE").0,
            "invalid_tuple",
        ),
        (
            Snap::new(1).tuple("document:1#view@user:ALICE").0,
            "invalid_tuple",
        ),
        (
            Snap::new(1).tuple("document:1#parent@user:ALICE").0,
            "invalid_tuple",
        ),
        (
            Snap::new(1).tuple("document:1#viewer@folder:a#self_").0,
            "invalid_tuple",
        ),
        (
            Snap::new(1).tuple("document:1#banned@team:TEAM#member").0,
            "invalid_tuple",
        ),
        (
            Snap::new(1)
                .role("r", &[])
                .assign(
                    Subject::Set {
                        object: ObjectRef::new("nosuch", "1"),
                        relation: "member".into(),
                    },
                    "r",
                    Scope::Tenant,
                )
                .0,
            "invalid_assignment",
        ),
    ];
    for (snap, code) in cases {
        let err = e.load(&snap).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }
    assert_eq!(e.tenant_count(), 0);
}

#[test]
fn list_objects_and_lookup_subjects_are_complete() {
    let e = engine();
    e.load(
        &Snap::new(1)
            .role("reader", &["docs.documents.read"])
            .assign(Subject::user(BOB), "reader", Scope::Team { id: TEAM })
            .assign(
                Subject::user(BOB),
                "reader",
                Scope::Object {
                    object: ObjectRef::new("document", "7"),
                },
            )
            .assign(Subject::user(CAROL), "reader", Scope::Tenant)
            .tuple("document:1#viewer@user:ALICE")
            .tuple("document:2#parent@folder:f#self_")
            .tuple("folder:f#viewer@team:TEAM#member")
            .tuple("team:TEAM#member@user:ALICE")
            .tuple("team:TEAM#member@user:DAVE")
            .tuple("document:2#banned@user:DAVE")
            .tuple("document:3#owner@user:BOB")
            .0,
    )
    .unwrap();
    let r = "docs.documents.read";
    let a = e.list_objects(ORG, ALICE, r, "document").unwrap();
    assert!(!a.all && a.teams.is_empty());
    assert_eq!(
        a.objects,
        vec![
            ObjectRef::new("document", "1"),
            ObjectRef::new("document", "2")
        ]
    );
    let b = e.list_objects(ORG, BOB, r, "document").unwrap();
    assert_eq!(b.teams, vec![TEAM]);
    assert_eq!(
        b.objects,
        vec![
            ObjectRef::new("document", "3"),
            ObjectRef::new("document", "7")
        ]
    );
    let c = e.list_objects(ORG, CAROL, r, "document").unwrap();
    assert!(c.all);
    let d = e.list_objects(ORG, DAVE, "view", "document").unwrap();
    assert!(d.objects.is_empty(), "banned from document:2: {d:?}");
    assert_eq!(
        e.list_objects(ORG, DAVE, "view", "folder").unwrap().objects,
        vec![ObjectRef::new("folder", "f")]
    );
    // An RBAC-only type is fine for permissions; unknown relations are errors.
    assert!(e.list_objects(ORG, CAROL, r, "invoice").unwrap().all);
    assert_eq!(
        e.list_objects(ORG, CAROL, "view", "invoice")
            .unwrap_err()
            .code(),
        "unknown_type"
    );
    assert_eq!(
        e.list_objects(ORG, CAROL, "nope", "document")
            .unwrap_err()
            .code(),
        "unknown_relation"
    );

    let mut users = vec![ALICE];
    assert_eq!(
        e.lookup_subjects(ORG, &ObjectRef::new("document", "1"), "view")
            .unwrap(),
        users
    );
    users = vec![ALICE];
    assert_eq!(
        e.lookup_subjects(ORG, &ObjectRef::new("document", "2"), "view")
            .unwrap(),
        users,
        "dave is banned"
    );
    let mut team = vec![ALICE, DAVE];
    team.sort();
    assert_eq!(
        e.lookup_subjects(ORG, &ObjectRef::team(TEAM), "member")
            .unwrap(),
        team
    );
    assert!(
        e.lookup_subjects(ORG, &ObjectRef::new("document", "404"), "view")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn memory_per_tuple_is_bounded() {
    let e = engine();
    let mut snap = Snap::new(1).0;
    for i in 0..20_000u128 {
        snap.tuples.push(Tuple::new(
            ObjectRef::new("document", format!("{}", 100_000 + i)),
            "viewer",
            Subject::user(Uuid::from_u128(i % 2_000)),
        ));
    }
    e.load(&snap).unwrap();
    let idx = e.tenant(ORG).unwrap();
    let per = idx.approx_bytes() / idx.tuple_count();
    assert!(per <= 200, "{per} bytes per tuple");
    // The compact layout: no allocation per tuple or per object.
    assert!(per <= 64, "{per} bytes per tuple");
}

#[test]
fn memory_per_assignment_is_bounded() {
    let e = engine();
    let mut snap = Snap::new(1)
        .role("reader", &["docs.documents.read"])
        .role("biller", &["billing.invoices.read"])
        .0;
    let (reader, biller) = (snap.roles[0].id, snap.roles[1].id);
    let team = |i: u128| Uuid::from_u128(1 << 90 | (i % 50));
    // Each of 4,000 users gets five assignments: tenant-wide (biller), on a team and on
    // an invoice (reader).
    for i in 0..20_000u128 {
        let (role_id, scope) = match i % 3 {
            0 => (biller, Scope::Tenant),
            1 => (reader, Scope::Team { id: team(i) }),
            _ => (
                reader,
                Scope::Object {
                    object: ObjectRef::new("invoice", format!("{}", 100_000 + i)),
                },
            ),
        };
        snap.assignments.push(AssignmentRecord {
            id: Uuid::from_u128(1 << 100 | i),
            subject: Subject::user(Uuid::from_u128(i % 4_000)),
            role_id,
            scope,
            source: AssignmentSource::Explicit,
        });
    }
    e.load(&snap).unwrap();
    let idx = e.tenant(ORG).unwrap();
    let per = idx.approx_bytes() / idx.assignment_count();
    assert!(per <= 200, "{per} bytes per assignment");

    // The compact per-user rows still answer every scope.
    let (read, bill) = ("docs.documents.read", "billing.invoices.read");
    let (u1, u5, u6) = (Uuid::from_u128(1), Uuid::from_u128(5), Uuid::from_u128(6));
    let invoice = Resource::Object {
        object: ObjectRef::new("invoice", "100005"),
        team: None,
    };
    assert!(allowed(&e, u5, read, &invoice));
    assert!(!allowed(&e, u6, read, &invoice));
    assert!(allowed(&e, u5, bill, &Resource::Tenant));
    assert!(!allowed(
        &e,
        Uuid::from_u128(999_999),
        bill,
        &Resource::Tenant
    ));
    assert!(allowed(&e, u1, read, &Resource::Team(team(1))));
    assert!(!allowed(&e, u1, read, &Resource::Team(team(2))));
    let ex = e.check_explained(ORG, u5, read, &invoice).unwrap();
    match ex.reason {
        Reason::Assignment { assignment_id, .. } => {
            assert_eq!(assignment_id, Uuid::from_u128(1 << 100 | 5));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn denials_that_depend_on_a_cycle_cut_are_not_memoized() {
    // a has parents b and c; b's parent is a; c is viewable. While a is being evaluated,
    // b looks false (its only way is a, which is on the path); it must not stay false.
    let e = engine();
    e.load(
        &Snap::new(1)
            .tuple("folder:a#parent@folder:b#self_")
            .tuple("folder:a#parent@folder:c#self_")
            .tuple("folder:b#parent@folder:a#self_")
            .tuple("folder:c#viewer@user:ALICE")
            .0,
    )
    .unwrap();
    let objs = e.list_objects(ORG, ALICE, "view", "folder").unwrap();
    let ids: Vec<&str> = objs.objects.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
}
