//! The casbin adapter over helix-iam's tables: a per-organization enforcer loaded from the
//! database agrees with the engine loaded from the same snapshot, holds no line of another
//! organization, and refuses writes.

use casbin::Adapter;
use casbin::prelude::*;
use helix_core::testing::TestDb;
use helix_core::{DeclaredPermission, PermissionDef, backend_test};
use helix_iam::casbin_adapter::{CasbinAdapterError, SeaOrmAdapter, domain_filter, enforcer_for};
use helix_iam::model::{ObjectRef, Resource, Scope, Subject, Tuple};
use helix_iam::store::{NewAssignment, NewRole, TupleWrite};
use helix_iam::{Catalog, Engine, EngineConfig, Schema, oracle};
use helix_tenancy::{NewTeam, Role};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

const DECLARED: &[PermissionDef] = &[
    PermissionDef {
        name: "tenancy.members.manage",
        description: "Manage members.",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "docs.documents.read",
        description: "Read documents.",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "docs.documents.write",
        description: "Write documents.",
        default_roles: &["admin", "member"],
    },
    PermissionDef {
        name: "billing.invoices.read",
        description: "Read invoices.",
        default_roles: &["admin"],
    },
];

/// Object types for the stored tuples, with no `bind`: relationships grant no catalog
/// permission, so the engine's answers are the RBAC answers casbin models.
const SCHEMA: &str = "
type document {
  relation viewer: user | team#member
}
type group {
  relation member: user | team#member | group#member
}
";

fn catalog() -> Catalog {
    let declared: Vec<DeclaredPermission> = DECLARED
        .iter()
        .map(|def| DeclaredPermission {
            module: "test",
            def: *def,
        })
        .collect();
    Catalog::build(&declared).unwrap()
}

fn engine() -> Engine {
    let c = catalog();
    let schema = Schema::build(&[("test", SCHEMA)], &c).unwrap();
    Engine::new(c, schema, EngineConfig::default())
}

async fn custom_role(fx: &Fixture, org: &Org, key: &str, permissions: &[&str]) -> Uuid {
    let (role, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(
            &tx,
            NewRole {
                key: key.into(),
                name: key.into(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            },
        )
        .await
        .unwrap());
    role.id
}

async fn assign(fx: &Fixture, org: &Org, subject: Subject, role_id: Uuid, scope: Scope) {
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_assignment(
            &tx,
            NewAssignment {
                subject,
                role_id,
                scope,
            },
        )
        .await
        .unwrap());
}

async fn write_tuples(fx: &Fixture, org: &Org, insert: Vec<Tuple>) {
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert,
                delete: vec![]
            }
        )
        .await
        .unwrap());
}

async fn team(fx: &Fixture, org: &Org, slug: &str, members: &[Uuid]) -> Uuid {
    let team = fx
        .tenancy
        .create_team(
            &org.ctx,
            NewTeam {
                name: slug.into(),
                slug: slug.into(),
            },
        )
        .await
        .unwrap();
    for m in members {
        fx.tenancy
            .add_team_member(&org.ctx, team.id, *m)
            .await
            .unwrap();
    }
    team.id
}

/// Organization A: memberships of every built-in role, custom roles assigned at tenant,
/// team and object scope, to users, to a team's members and (through a stored tuple) to a
/// group that contains a team.
struct World {
    users: Vec<Uuid>,
    teams: Vec<Uuid>,
}

async fn populate(fx: &Fixture, org: &Org, tag: &str) -> World {
    let admin = add_user(&fx.tenancy, org, Role::Admin).await;
    let member = add_user(&fx.tenancy, org, Role::Member).await;
    let reader = add_user(&fx.tenancy, org, Role::ReadOnly).await;
    let editor = add_user(&fx.tenancy, org, Role::Member).await;
    let auditor = add_user(&fx.tenancy, org, Role::ReadOnly).await;
    let t1 = team(fx, org, &format!("eng-{tag}"), &[member, editor]).await;
    let t2 = team(fx, org, &format!("ops-{tag}"), &[admin, reader]).await;

    let billing = custom_role(fx, org, "billing", &["billing.invoices.read"]).await;
    let docs_editor = custom_role(
        fx,
        org,
        "docs_editor",
        &["docs.documents.read", "docs.documents.write"],
    )
    .await;
    let members_admin = custom_role(fx, org, "members_admin", &["tenancy.members.manage"]).await;

    // A team's members at tenant scope.
    assign(fx, org, Subject::team_members(t1), billing, Scope::Tenant).await;
    // A user at team scope.
    assign(
        fx,
        org,
        Subject::user(editor),
        docs_editor,
        Scope::Team { id: t1 },
    )
    .await;
    // A user at object scope.
    assign(
        fx,
        org,
        Subject::user(auditor),
        billing,
        Scope::Object {
            object: ObjectRef::new("invoice", "42"),
        },
    )
    .await;
    // A group (containing team 2's members through a stored tuple) at object scope.
    let group = ObjectRef::new("group", "g1");
    assign(
        fx,
        org,
        Subject::Set {
            object: group.clone(),
            relation: "member".into(),
        },
        docs_editor,
        Scope::Object {
            object: ObjectRef::new("document", "d1"),
        },
    )
    .await;
    // A user at team scope on team 2 with a permission of no built-in default.
    assign(
        fx,
        org,
        Subject::user(auditor),
        members_admin,
        Scope::Team { id: t2 },
    )
    .await;
    write_tuples(
        fx,
        org,
        vec![
            Tuple::new(group, "member", Subject::team_members(t2)),
            // Relationship tuples that grant nothing here (no `bind`).
            Tuple::new(
                ObjectRef::new("document", "d1"),
                "viewer",
                Subject::user(reader),
            ),
            Tuple::new(
                ObjectRef::new("document", "d2"),
                "viewer",
                Subject::team_members(t1),
            ),
        ],
    )
    .await;
    World {
        users: vec![org.owner, admin, member, reader, editor, auditor],
        teams: vec![t1, t2],
    }
}

fn resources(teams: &[Uuid]) -> Vec<Resource> {
    let mut out = vec![Resource::Tenant];
    for t in teams {
        out.push(Resource::Team(*t));
    }
    let objects = [
        ObjectRef::new("document", "d1"),
        ObjectRef::new("document", "d2"),
        ObjectRef::new("invoice", "42"),
        ObjectRef::new("invoice", "43"),
    ];
    for object in objects {
        out.push(Resource::Object {
            object: object.clone(),
            team: None,
        });
        for t in teams {
            out.push(Resource::Object {
                object: object.clone(),
                team: Some(*t),
            });
        }
    }
    out
}

fn sorted(mut v: Vec<Vec<String>>) -> Vec<Vec<String>> {
    v.sort();
    v
}

async fn enforcer_agrees_with_the_engine(t: TestDb) {
    let fx = setup(&t).await;
    let a = create_org(&fx.tenancy).await;
    let b = create_org(&fx.tenancy).await;
    let world = populate(&fx, &a, "a").await;
    let other = populate(&fx, &b, "b").await;

    // The adapter creates the missing built-in roles from the templates, as the engine's
    // loader does, then loads organization A only.
    let kernel = fx.store.kernel();
    let enforcer = enforcer_for(kernel, a.id, catalog(), &templates())
        .await
        .unwrap();
    let snap = in_tx!(fx.db, &a.ctx, |tx| fx
        .store
        .load_snapshot(&tx, &templates())
        .await
        .unwrap());

    // Exactly the oracle's lines of A's snapshot.
    let (p, g) = oracle::policy_lines(&snap, &catalog());
    assert!(!p.is_empty() && !g.is_empty());
    assert_eq!(sorted(enforcer.get_policy()), p);
    assert_eq!(sorted(enforcer.get_grouping_policy()), g);

    let engine = engine();
    engine.load(&snap).unwrap();
    let c = catalog();
    let mut users = world.users.clone();
    users.push(Uuid::now_v7()); // not a member
    users.push(b.owner); // a member of the other organization only
    users.extend(other.users.iter().copied());
    let mut teams = world.teams.clone();
    teams.extend(other.teams.iter().copied());
    let (mut checks, mut allowed) = (0, 0);
    for user in &users {
        for entry in c.entries() {
            for res in resources(&teams) {
                let want = engine
                    .check(a.id, *user, entry.name.as_str(), &res)
                    .unwrap();
                let req = oracle::request(a.id, *user, &res, &entry.name);
                let got = enforcer.enforce(req.to_vec()).unwrap();
                assert_eq!(
                    got, want.allowed,
                    "user {user} permission {} on {res:?}",
                    entry.name
                );
                checks += 1;
                allowed += usize::from(got);
            }
        }
    }
    // The grid exercises both answers, through every kind of grant.
    assert!(allowed > 0 && allowed < checks, "{allowed}/{checks}");
    let [owner, admin, member, reader, editor, auditor] = world.users[..] else {
        unreachable!()
    };
    let [t1, t2] = world.teams[..] else {
        unreachable!()
    };
    let ask = |user: Uuid, perm: &str, res: &Resource| {
        enforcer
            .enforce(oracle::request(a.id, user, res, perm).to_vec())
            .unwrap()
    };
    let doc = |id: &str, team: Option<Uuid>| Resource::Object {
        object: ObjectRef::new("document", id),
        team,
    };
    let invoice = |id: &str| Resource::Object {
        object: ObjectRef::new("invoice", id),
        team: None,
    };
    // Owner: every catalog permission, including helix-iam's own.
    assert!(ask(owner, "iam.roles.manage", &Resource::Tenant));
    // Memberships grant the built-in roles' permissions.
    assert!(ask(admin, "tenancy.members.manage", &Resource::Tenant));
    assert!(ask(reader, "docs.documents.read", &Resource::Tenant));
    assert!(!ask(reader, "docs.documents.write", &Resource::Tenant));
    // Team 1's members hold `billing` at tenant scope.
    assert!(ask(member, "billing.invoices.read", &Resource::Tenant));
    // Team scope: the editor writes documents of team 1, not of team 2.
    assert!(ask(editor, "docs.documents.write", &doc("d9", Some(t1))));
    assert!(ask(editor, "docs.documents.write", &Resource::Team(t1)));
    assert!(ask(editor, "docs.documents.write", &Resource::Tenant)); // as a member
    assert!(!ask(auditor, "docs.documents.write", &doc("d9", Some(t1))));
    // Object scope: invoice 42 only.
    assert!(ask(auditor, "billing.invoices.read", &invoice("42")));
    assert!(!ask(auditor, "billing.invoices.read", &invoice("43")));
    assert!(ask(auditor, "tenancy.members.manage", &Resource::Team(t2)));
    assert!(!ask(auditor, "tenancy.members.manage", &Resource::Tenant));
    // Group g1 (team 2 through a stored tuple) on document d1 only.
    assert!(ask(reader, "docs.documents.write", &doc("d1", None)));
    assert!(!ask(reader, "docs.documents.write", &doc("d2", None)));
    // Nobody of organization B holds anything in A.
    for user in &other.users {
        assert!(!ask(*user, "docs.documents.read", &Resource::Tenant));
    }
}
backend_test!(
    enforcer_agrees_with_the_engine,
    enforcer_agrees_with_the_engine
);

async fn filtered_load_holds_one_organization_only(t: TestDb) {
    let fx = setup(&t).await;
    let a = create_org(&fx.tenancy).await;
    let b = create_org(&fx.tenancy).await;
    let world_a = populate(&fx, &a, "a").await;
    let world_b = populate(&fx, &b, "b").await;
    let kernel = fx.store.kernel();

    let ea = enforcer_for(kernel, a.id, catalog(), &templates())
        .await
        .unwrap();
    let eb = enforcer_for(kernel, b.id, catalog(), &templates())
        .await
        .unwrap();
    let b_marks: Vec<String> = std::iter::once(b.id.to_string())
        .chain(world_b.users.iter().map(|u| u.to_string()))
        .chain(world_b.teams.iter().map(|t| t.to_string()))
        .collect();
    let a_marks: Vec<String> = std::iter::once(a.id.to_string())
        .chain(world_a.users.iter().map(|u| u.to_string()))
        .chain(world_a.teams.iter().map(|t| t.to_string()))
        .collect();
    let lines = |e: &Enforcer| {
        let mut all = e.get_policy();
        all.extend(e.get_grouping_policy());
        all
    };
    let la = lines(&ea);
    let lb = lines(&eb);
    assert!(!la.is_empty() && !lb.is_empty());
    for (mine, theirs, org) in [(&la, &b_marks, a.id), (&lb, &a_marks, b.id)] {
        for line in mine {
            assert!(line.contains(&org.to_string()), "{line:?}");
            for field in line {
                for mark in theirs {
                    assert!(!field.contains(mark.as_str()), "{line:?} leaks {mark}");
                }
            }
        }
    }
    // The same data, keyed by organization: the same request answers per domain.
    let res = Resource::Tenant;
    assert!(
        ea.enforce(oracle::request(a.id, a.owner, &res, "docs.documents.read").to_vec())
            .unwrap()
    );
    assert!(
        !ea.enforce(oracle::request(b.id, b.owner, &res, "docs.documents.read").to_vec())
            .unwrap()
    );
    assert!(
        !ea.enforce(oracle::request(a.id, b.owner, &res, "docs.documents.read").to_vec())
            .unwrap()
    );

    // An unfiltered load lists the organizations in a platform transaction and reads
    // each in its own tenant transaction: A's lines plus B's, nothing else.
    let adapter = SeaOrmAdapter::new(kernel.clone(), catalog(), &templates());
    let (pa, ga) = adapter.organization_lines(a.id).await.unwrap().unwrap();
    let (pb, gb) = adapter.organization_lines(b.id).await.unwrap().unwrap();
    let model = DefaultModel::from_str(oracle::casbin_model())
        .await
        .unwrap();
    let all = Enforcer::new(model, adapter).await.unwrap();
    assert!(!all.get_adapter().is_filtered());
    assert_eq!(
        sorted(all.get_policy()),
        sorted(pa.iter().chain(&pb).cloned().collect())
    );
    assert_eq!(
        sorted(all.get_grouping_policy()),
        sorted(ga.iter().chain(&gb).cloned().collect())
    );

    // A filter is checked: a domain that is not an organization id, an unknown
    // organization.
    let mut adapter = SeaOrmAdapter::new(kernel.clone(), catalog(), &templates());
    let mut model = DefaultModel::from_str(oracle::casbin_model())
        .await
        .unwrap();
    let err = adapter
        .load_filtered_policy(&mut model, domain_filter("acme"))
        .await
        .unwrap_err();
    let ours = CasbinAdapterError::from_casbin(&err).unwrap();
    assert!(
        matches!(ours, CasbinAdapterError::InvalidFilter(_)),
        "{ours:?}"
    );
    assert_eq!(ours.code(), "VALIDATION_ERROR");
    let nobody = Uuid::now_v7();
    let Err(err) = enforcer_for(kernel, nobody, catalog(), &templates()).await else {
        panic!("an enforcer for an organization that does not exist");
    };
    assert_eq!(err.code(), "NOT_FOUND", "{err:?}");
    // Filtering other fields keeps casbin's meaning: one role's lines of A only.
    let a_id = a.id.to_string();
    adapter
        .load_filtered_policy(
            &mut model,
            Filter {
                p: vec!["role:billing@tenant", &a_id],
                g: vec!["", "role:billing@tenant", &a_id],
            },
        )
        .await
        .unwrap();
    assert!(adapter.is_partial());
    let p = model.get_policy("p", "p");
    let g = model.get_policy("g", "g");
    assert_eq!(
        p,
        vec![vec![
            "role:billing@tenant".to_owned(),
            a_id.clone(),
            "tenant".into(),
            "billing.invoices.read".into()
        ]]
    );
    assert_eq!(
        g,
        vec![vec![
            Subject::team_members(world_a.teams[0]).to_string(),
            "role:billing@tenant".to_owned(),
            a_id.clone()
        ]]
    );
}
backend_test!(
    filtered_load_holds_one_organization_only,
    filtered_load_holds_one_organization_only
);

fn refused(err: casbin::Error, operation: &str) {
    match CasbinAdapterError::from_casbin(&err) {
        Some(e @ CasbinAdapterError::ReadOnly { operation: op }) => {
            assert_eq!(*op, operation);
            assert_eq!(e.code(), "POLICY_READ_ONLY");
            assert!(e.to_string().contains("IAM service"), "{e}");
        }
        other => panic!("expected a read-only refusal of {operation}, got {other:?} ({err})"),
    }
}

async fn adapter_writes_are_refused(t: TestDb) {
    let fx = setup(&t).await;
    let a = create_org(&fx.tenancy).await;
    populate(&fx, &a, "a").await;
    let kernel = fx.store.kernel();
    let mut e = enforcer_for(kernel, a.id, catalog(), &templates())
        .await
        .unwrap();
    let before = revision(&fx.db, &a.ctx).await;
    let (p0, g0) = (sorted(e.get_policy()), sorted(e.get_grouping_policy()));
    let org = a.id.to_string();
    let intruder = format!("user:{}", Uuid::now_v7());
    let p_line = vec![
        "role:owner@tenant".to_owned(),
        org.clone(),
        "tenant".into(),
        "billing.invoices.read".into(),
    ];
    let g_line = vec![intruder.clone(), "role:owner@tenant".into(), org.clone()];

    refused(
        e.add_policy(p_line.clone()).await.unwrap_err(),
        "add_policy",
    );
    refused(
        e.add_grouping_policy(g_line.clone()).await.unwrap_err(),
        "add_policy",
    );
    refused(
        e.add_policies(vec![p_line.clone()]).await.unwrap_err(),
        "add_policies",
    );
    refused(
        e.add_role_for_user(&intruder, "role:owner@tenant", Some(&org))
            .await
            .unwrap_err(),
        "add_policy",
    );
    refused(
        e.remove_policy(p0[0].clone()).await.unwrap_err(),
        "remove_policy",
    );
    refused(
        e.remove_policies(vec![p0[0].clone()]).await.unwrap_err(),
        "remove_policies",
    );
    refused(
        e.remove_filtered_policy(1, vec![org.clone()])
            .await
            .unwrap_err(),
        "remove_filtered_policy",
    );
    // No panic from casbin's "cannot save filtered policy" assertion: a typed refusal.
    refused(e.save_policy().await.unwrap_err(), "save_policy");
    refused(e.clear_policy().await.unwrap_err(), "clear_policy");

    // Nothing changed, in the enforcer or in the database.
    assert_eq!(sorted(e.get_policy()), p0);
    assert_eq!(sorted(e.get_grouping_policy()), g0);
    assert!(
        !e.enforce(
            oracle::request(
                a.id,
                Uuid::parse_str(intruder.trim_start_matches("user:")).unwrap(),
                &Resource::Tenant,
                "billing.invoices.read"
            )
            .to_vec()
        )
        .unwrap()
    );
    assert_eq!(revision(&fx.db, &a.ctx).await, before);

    // The adapter itself refuses, whatever the caller.
    let mut adapter = SeaOrmAdapter::new(kernel.clone(), catalog(), &templates());
    refused(
        adapter
            .add_policy("p", "p", p_line.clone())
            .await
            .unwrap_err(),
        "add_policy",
    );
    refused(
        adapter.remove_policy("g", "g", g_line).await.unwrap_err(),
        "remove_policy",
    );
    refused(adapter.clear_policy().await.unwrap_err(), "clear_policy");
    let mut model = DefaultModel::from_str(oracle::casbin_model())
        .await
        .unwrap();
    refused(
        adapter.save_policy(&mut model).await.unwrap_err(),
        "save_policy",
    );
    assert_eq!(revision(&fx.db, &a.ctx).await, before);
}
backend_test!(adapter_writes_are_refused, adapter_writes_are_refused);
