//! The management service (`Iam`) under concurrency, in one transaction, against
//! escalation: many concurrent writes finish, concurrent guards serialize on the
//! organization lock, a role update is all-or-nothing, reads never write, tuple writes are
//! escalation-checked and refused escalations are recorded as security events.

use std::sync::Arc;
use std::time::Duration;

use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_core::{Actor, Helix, Kernel, Module, PermissionDef, TenantContext, backend_test};
use helix_iam::model::{ObjectRef, Resource, Scope, Subject, Tuple};
use helix_iam::service::RoleUpdate;
use helix_iam::store::entity::role;
use helix_iam::store::{NewAssignment, NewRole, TupleWrite, builtin_role_id};
use helix_iam::{Consistency, EngineConfig, Iam, IamError, IamModule};
use helix_tenancy::{Role, TenancyModule, TenancyService};
use uuid::Uuid;

use crate::common::{
    Org, add_user, as_user, create_org, escalation_refusals, join_within_a_minute, revision,
};

/// A product module with documents: owners edit, viewers view.
struct Docs;

const DOCS_PERMISSIONS: &[PermissionDef] = &[
    PermissionDef {
        name: "docs.documents.read",
        description: "Read documents",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "docs.documents.write",
        description: "Edit documents",
        default_roles: &["admin", "member"],
    },
];

impl Module for Docs {
    fn name(&self) -> &'static str {
        "docs"
    }
    fn permissions(&self) -> &'static [PermissionDef] {
        DOCS_PERMISSIONS
    }
    fn authz_schema(&self) -> &'static str {
        "type document {
            relation owner: user
            relation viewer: user | team#member
            permission edit = owner
            permission view = viewer + edit
            bind docs.documents.read = view
            bind docs.documents.write = edit
        }"
    }
}

struct Env {
    db: helix_core::Db,
    tenancy: TenancyService,
    iam: Iam,
}

async fn env(t: &TestDb) -> Env {
    let helix = Helix::builder(t.db.clone())
        .module(TenancyModule)
        .module(IamModule)
        .module(Docs)
        .build()
        .await
        .expect("migrations");
    let kernel = Kernel::new(t.db.clone());
    let iam = Iam::new(kernel.clone(), &helix, EngineConfig::default()).expect("iam");
    Env {
        db: t.db.clone(),
        tenancy: TenancyService::new(kernel),
        iam,
    }
}

fn doc_tuple(doc: &str, relation: &str, user: Uuid) -> Tuple {
    Tuple::new(
        ObjectRef::new("document", doc),
        relation,
        Subject::user(user),
    )
}

fn escalation<T: std::fmt::Debug>(r: Result<T, IamError>) -> String {
    match r {
        Err(IamError::Escalation(why)) => why,
        other => panic!("expected an escalation refusal, got {other:?}"),
    }
}

async fn stored_roles(e: &Env, org: &Org) -> u64 {
    let tx = e.db.tenant_read(&org.ctx).await.unwrap();
    let n = tx
        .count::<role::Entity>(helix_core::sea_orm::Condition::all())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

async fn custom_role(e: &Env, org: &Org, key: &str, permissions: &[&str]) -> Uuid {
    let (r, _) = e
        .iam
        .create_role(
            &org.ctx,
            NewRole {
                key: key.into(),
                name: key.into(),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            },
        )
        .await
        .expect("create role");
    r.id
}

async fn assign(e: &Env, org: &Org, subject: Subject, role_id: Uuid) -> Uuid {
    let (a, _) = e
        .iam
        .create_assignment(
            &org.ctx,
            NewAssignment {
                subject,
                role_id,
                scope: Scope::Tenant,
            },
        )
        .await
        .expect("assign");
    a.id
}

/// Many concurrent management writes of one organization (more than the pool has
/// connections) all finish: no write waits for a second connection while it holds one.
async fn concurrent_writes_finish(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let users = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(add_user(&e.tenancy, &org, Role::Member).await);
        }
        v
    };
    let iam = Arc::new(e.iam.clone());
    let mut tasks = Vec::new();
    for i in 0..16usize {
        let iam = iam.clone();
        let ctx = org.ctx.clone();
        let user = users[i % users.len()];
        tasks.push(tokio::spawn(async move {
            let key = format!("role_{i}");
            let (role, _) = iam
                .create_role(
                    &ctx,
                    NewRole {
                        key: key.clone(),
                        name: key,
                        permissions: vec!["docs.documents.read".into()],
                    },
                )
                .await?;
            iam.set_role_permissions(
                &ctx,
                role.id,
                vec!["docs.documents.read".into(), "docs.documents.write".into()],
            )
            .await?;
            let (a, _) = iam
                .create_assignment(
                    &ctx,
                    NewAssignment {
                        subject: Subject::user(user),
                        role_id: role.id,
                        scope: Scope::Tenant,
                    },
                )
                .await?;
            iam.write_tuples(
                &ctx,
                TupleWrite {
                    insert: vec![doc_tuple(&format!("d{i}"), "viewer", user)],
                    delete: vec![],
                },
            )
            .await?;
            iam.delete_assignment(&ctx, a.id).await?;
            iam.delete_role(&ctx, role.id).await?;
            Ok::<_, IamError>(())
        }));
    }
    let all = join_within_a_minute(tasks, "concurrent management writes").await;
    for r in all {
        r.expect("write");
    }
    // Every write landed: the 16 tuples, no custom role left, the built-ins stored.
    let page = e
        .iam
        .list_tuples(&org.ctx, &Default::default(), &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.meta.total, 16);
    assert_eq!(stored_roles(&e, &org).await, 4);
    // And the engine decides on the committed policy.
    let viewer = e
        .iam
        .check(
            &as_user(&org, users[0]),
            "docs.documents.read",
            &Resource::Object {
                object: ObjectRef::new("document", "d0"),
                team: None,
            },
            Consistency::Fresh,
        )
        .await
        .unwrap();
    assert!(viewer.allowed);
}
backend_test!(
    many_concurrent_management_writes_finish,
    concurrent_writes_finish
);

/// Two admins who are owners by assignment each take the other's owner role away at the
/// same time. Decided on committed state without the lock, both would pass (each is still
/// an owner when the other's write has not committed) and leave neither an owner; under
/// the organization lock the second decides on the first's result and is refused.
async fn concurrent_owner_removals(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let b = add_user(&e.tenancy, &org, Role::Admin).await;
    let c = add_user(&e.tenancy, &org, Role::Admin).await;
    let owner_role = builtin_role_id(org.id, "owner");
    let b_owner = assign(&e, &org, Subject::user(b), owner_role).await;
    let c_owner = assign(&e, &org, Subject::user(c), owner_role).await;
    let (ctx_b, ctx_c) = (as_user(&org, b), as_user(&org, c));
    let (iam_b, iam_c) = (e.iam.clone(), e.iam.clone());
    let (rb, rc) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(
            tokio::spawn(async move { iam_b.delete_assignment(&ctx_b, c_owner).await }),
            tokio::spawn(async move { iam_c.delete_assignment(&ctx_c, b_owner).await }),
        )
    })
    .await
    .expect("no deadlock");
    let (rb, rc) = (rb.unwrap(), rc.unwrap());
    let wins = [rb.is_ok(), rc.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "exactly one wins: {rb:?} {rc:?}");
    let (winner, loser, loser_result) = if rb.is_ok() { (b, c, rc) } else { (c, b, rb) };
    escalation(loser_result);
    // The loser lost its owner assignment; the winner keeps its own.
    let list = e
        .iam
        .list_assignments(&org.ctx, &Default::default(), &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(list.meta.total, 1);
    assert_eq!(list.data[0].subject, Subject::user(winner));
    let events = escalation_refusals(&e.db, &org).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, format!("user:{loser}"));
}
backend_test!(
    concurrent_owner_removals_one_wins,
    concurrent_owner_removals
);

/// `update_role` is one transaction: a refused permission change does not rename.
async fn update_is_all_or_nothing(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let admin = add_user(&e.tenancy, &org, Role::Admin).await;
    // A built-in role not stored yet is changed like a stored one (the write stores it).
    let member_role = builtin_role_id(org.id, "member");
    let (member, _) = e
        .iam
        .set_role_permissions(&org.ctx, member_role, vec!["docs.documents.read".into()])
        .await
        .unwrap();
    assert_eq!(member.id, member_role);
    assert_eq!(member.permissions, vec!["docs.documents.read".to_owned()]);
    let renamed = e
        .iam
        .rename_role(&org.ctx, member_role, "Staff".into())
        .await;
    assert!(matches!(renamed, Err(IamError::BuiltinRole)), "{renamed:?}");
    let role_id = custom_role(&e, &org, "reviewer", &["docs.documents.read"]).await;
    let ctx = as_user(&org, admin);
    let why = escalation(
        e.iam
            .update_role(
                &ctx,
                role_id,
                RoleUpdate {
                    name: Some("Renamed".into()),
                    permissions: Some(vec![
                        "docs.documents.read".into(),
                        "iam.tuples.manage".into(),
                    ]),
                },
            )
            .await,
    );
    assert!(why.contains("iam.tuples.manage"), "{why}");
    let role = e.iam.get_role(&org.ctx, role_id).await.unwrap();
    assert_eq!(role.name, "reviewer");
    assert_eq!(role.permissions, vec!["docs.documents.read".to_owned()]);
    // Renaming alone is guarded too: an admin cannot relabel a role stronger than its own.
    let strong = custom_role(&e, &org, "sharer", &["iam.tuples.manage"]).await;
    let why = escalation(
        e.iam
            .update_role(
                &ctx,
                strong,
                RoleUpdate {
                    name: Some("Read-only helpers".into()),
                    permissions: None,
                },
            )
            .await,
    );
    assert!(why.contains("iam.tuples.manage"), "{why}");

    // Both parts allowed: both applied, in one revision step sequence.
    let (role, _) = e
        .iam
        .update_role(
            &ctx,
            role_id,
            RoleUpdate {
                name: Some("Reviewer".into()),
                permissions: Some(vec![
                    "docs.documents.read".into(),
                    "docs.documents.write".into(),
                ]),
            },
        )
        .await
        .unwrap();
    assert_eq!(role.name, "Reviewer");
    assert_eq!(role.permissions.len(), 2);

    // Neither part: a validation error.
    let empty = e
        .iam
        .update_role(&ctx, role_id, RoleUpdate::default())
        .await;
    assert!(matches!(empty, Err(IamError::Validation(_))), "{empty:?}");

    // Each refusal is a security event with the actor and the target.
    let events = escalation_refusals(&e.db, &org).await;
    assert_eq!(events.len(), 2);
    for (target, n) in [(role_id, 1), (strong, 1)] {
        let of_target: Vec<_> = events
            .iter()
            .filter(|ev| ev.entity_id.as_deref() == Some(target.to_string().as_str()))
            .collect();
        assert_eq!(of_target.len(), n, "{target}");
        assert_eq!(of_target[0].actor, format!("user:{admin}"));
        assert_eq!(of_target[0].entity_type, "role");
        assert_eq!(of_target[0].data["operation"], "role.update");
    }
}
backend_test!(role_update_is_all_or_nothing, update_is_all_or_nothing);

/// Listing and reading roles on a fresh organization shows the built-in roles from their
/// templates, under the ids they will be stored with, and writes nothing.
async fn reads_never_write(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let before = revision(&e.db, &org.ctx).await;
    let page = e
        .iam
        .list_roles(&org.ctx, &ListQuery::default())
        .await
        .unwrap();
    let keys: Vec<&str> = page.data.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["admin", "member", "owner", "read_only"]);
    assert_eq!(page.meta.total, 4);
    for r in &page.data {
        assert_eq!(r.id, builtin_role_id(org.id, &r.key));
        assert!(r.builtin);
    }
    let names: Vec<&str> = page.data.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Admin", "Member", "Owner", "Read-only"]);
    let owner = e
        .iam
        .get_role(&org.ctx, builtin_role_id(org.id, "owner"))
        .await
        .unwrap();
    assert!(owner.permissions.contains(&"iam.tuples.manage".to_owned()));
    // Filters, search, sort and paging apply to the templates as to stored rows.
    let q = ListQuery::parse("filter[key]=admin").unwrap();
    let page = e.iam.list_roles(&org.ctx, &q).await.unwrap();
    assert_eq!(page.meta.total, 1);
    assert_eq!(page.data[0].key, "admin");
    let q = ListQuery::parse("sort=name:desc&limit=2&page=1").unwrap();
    let page = e.iam.list_roles(&org.ctx, &q).await.unwrap();
    assert_eq!(page.meta.total, 4);
    let keys: Vec<&str> = page.data.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["read_only", "owner"]);
    let q = ListQuery::parse("search=ONLY").unwrap();
    assert_eq!(e.iam.list_roles(&org.ctx, &q).await.unwrap().meta.total, 1);
    // Nothing was written.
    assert_eq!(stored_roles(&e, &org).await, 0);
    assert_eq!(revision(&e.db, &org.ctx).await, before);
    // Another organization's built-in role is not found.
    let other = create_org(&e.tenancy).await;
    let cross = e
        .iam
        .get_role(&org.ctx, builtin_role_id(other.id, "owner"))
        .await;
    assert!(matches!(cross, Err(IamError::NotFound(_))), "{cross:?}");

    // The first write stores them under the same ids; the list reads the same plus the
    // new role.
    custom_role(&e, &org, "auditor", &["docs.documents.read"]).await;
    assert_eq!(stored_roles(&e, &org).await, 5);
    let page = e
        .iam
        .list_roles(&org.ctx, &ListQuery::default())
        .await
        .unwrap();
    let ids: Vec<(String, Uuid)> = page.data.iter().map(|r| (r.key.clone(), r.id)).collect();
    assert_eq!(ids.len(), 5);
    for (key, id) in ids.iter().filter(|(k, _)| k != "auditor") {
        assert_eq!(*id, builtin_role_id(org.id, key));
    }
}
backend_test!(role_reads_never_write, reads_never_write);

/// An admin given `iam.tuples.manage` writes tuples only for relations it holds itself; a
/// tuple never makes anyone an owner.
async fn tuple_writes_checked(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let admin = add_user(&e.tenancy, &org, Role::Admin).await;
    let other = add_user(&e.tenancy, &org, Role::Member).await;
    let tuples_role = custom_role(&e, &org, "tuple_manager", &["iam.tuples.manage"]).await;
    assign(&e, &org, Subject::user(admin), tuples_role).await;
    e.iam
        .write_tuples(
            &org.ctx,
            TupleWrite {
                insert: vec![doc_tuple("d1", "viewer", admin)],
                delete: vec![],
            },
        )
        .await
        .unwrap();
    let ctx = as_user(&org, admin);

    // A relation the admin does not hold on d1 (owner), and one on another document.
    let why = escalation(
        e.iam
            .write_tuples(
                &ctx,
                TupleWrite {
                    insert: vec![doc_tuple("d1", "owner", other)],
                    delete: vec![],
                },
            )
            .await,
    );
    assert!(why.contains("owner"), "{why}");
    escalation(
        e.iam
            .write_tuples(
                &ctx,
                TupleWrite {
                    insert: vec![doc_tuple("d2", "viewer", admin)],
                    delete: vec![],
                },
            )
            .await,
    );
    // A refused batch writes nothing, even its allowed part.
    escalation(
        e.iam
            .write_tuples(
                &ctx,
                TupleWrite {
                    insert: vec![
                        doc_tuple("d1", "viewer", other),
                        doc_tuple("d1", "owner", admin),
                    ],
                    delete: vec![],
                },
            )
            .await,
    );
    let listed = e
        .iam
        .list_tuples(&org.ctx, &Default::default(), &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.meta.total, 1);

    // A relation the admin holds: allowed.
    let (outcome, _) = e
        .iam
        .write_tuples(
            &ctx,
            TupleWrite {
                insert: vec![doc_tuple("d1", "viewer", other)],
                delete: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome.inserted, 1);

    // A subject set that carries the owner role: no tuple joins it, not even an owner's.
    let set = Subject::Set {
        object: ObjectRef::new("document", "d9"),
        relation: "viewer".into(),
    };
    assign(&e, &org, set, builtin_role_id(org.id, "owner")).await;
    let why = escalation(
        e.iam
            .write_tuples(
                &org.ctx,
                TupleWrite {
                    insert: vec![doc_tuple("d9", "viewer", other)],
                    delete: vec![],
                },
            )
            .await,
    );
    assert!(why.contains("owner"), "{why}");

    let events = escalation_refusals(&e.db, &org).await;
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|ev| ev.data["operation"] == "tuples.write")
    );
    assert!(
        events
            .iter()
            .any(|ev| ev.actor == format!("user:{}", org.owner))
    );
}
backend_test!(tuple_writes_are_escalation_checked, tuple_writes_checked);

/// What a tuple hands out is computed from the whole policy, not from the tuple's own
/// `object#relation`: a role assigned to a computed set (`document:d#view`, which `owner`
/// feeds) is handed out by writing `owner`, and an owner role carried that way is refused
/// to everyone.
async fn tuple_grants_through_rewrites(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let other = add_user(&e.tenancy, &org, Role::Member).await;
    let set = Subject::Set {
        object: ObjectRef::new("document", "d8"),
        relation: "view".into(),
    };
    assign(&e, &org, set, builtin_role_id(org.id, "owner")).await;
    let why = escalation(
        e.iam
            .write_tuples(
                &org.ctx,
                TupleWrite {
                    insert: vec![doc_tuple("d8", "owner", other)],
                    delete: vec![],
                },
            )
            .await,
    );
    assert!(why.contains("owner"), "{why}");
    let allowed = e
        .iam
        .check(
            &as_user(&org, other),
            "iam.tuples.manage",
            &Resource::Tenant,
            Consistency::Fresh,
        )
        .await
        .unwrap();
    assert!(!allowed.allowed, "the member must not have become an owner");

    // A tuple on another document grants no role: allowed to the owner.
    let (outcome, _) = e
        .iam
        .write_tuples(
            &org.ctx,
            TupleWrite {
                insert: vec![doc_tuple("d7", "owner", other)],
                delete: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(outcome.inserted, 1);
    let events = escalation_refusals(&e.db, &org).await;
    assert_eq!(events.len(), 1);
}
backend_test!(tuple_grants_are_computed, tuple_grants_through_rewrites);

/// Every kind of refused escalation is recorded: role creation and assignment beyond
/// one's permissions, handing out the owner role, deleting a role one could not create,
/// and a change made while impersonating.
async fn refusals_recorded(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let admin = add_user(&e.tenancy, &org, Role::Admin).await;
    let member = add_user(&e.tenancy, &org, Role::Member).await;
    let ctx = as_user(&org, admin);
    let big = custom_role(&e, &org, "big", &["iam.tuples.manage"]).await;

    escalation(
        e.iam
            .create_role(
                &ctx,
                NewRole {
                    key: "sneaky".into(),
                    name: "Sneaky".into(),
                    permissions: vec!["iam.tuples.manage".into()],
                },
            )
            .await,
    );
    escalation(
        e.iam
            .create_assignment(
                &ctx,
                NewAssignment {
                    subject: Subject::user(member),
                    role_id: builtin_role_id(org.id, "owner"),
                    scope: Scope::Tenant,
                },
            )
            .await,
    );
    escalation(
        e.iam
            .create_assignment(
                &ctx,
                NewAssignment {
                    subject: Subject::user(member),
                    role_id: big,
                    scope: Scope::Tenant,
                },
            )
            .await,
    );
    escalation(e.iam.delete_role(&ctx, big).await);
    let impersonated = TenantContext::new(
        org.id,
        Actor::Impersonated {
            user: org.owner,
            impersonator: Uuid::now_v7(),
        },
    );
    let r = e
        .iam
        .set_role_permissions(&impersonated, big, vec!["docs.documents.read".into()])
        .await;
    assert!(matches!(r, Err(IamError::Impersonation)), "{r:?}");
    // A plain missing permission is a 403, not an escalation event.
    let r = e.iam.delete_role(&as_user(&org, member), big).await;
    assert!(matches!(r, Err(IamError::Forbidden(_))), "{r:?}");

    let events = escalation_refusals(&e.db, &org).await;
    let mut ops: Vec<&str> = events
        .iter()
        .map(|ev| ev.data["operation"].as_str().unwrap_or_default())
        .collect();
    ops.sort_unstable();
    assert_eq!(
        ops,
        [
            "assignment.create",
            "assignment.create",
            "role.create",
            "role.delete",
            "role.update"
        ]
    );
    let impersonation = events
        .iter()
        .find(|ev| ev.data["operation"] == "role.update")
        .unwrap();
    assert!(impersonation.impersonator.is_some());
    assert_eq!(impersonation.data["code"], "IMPERSONATION_FORBIDDEN");
    // Nothing was granted: the member still lacks the role's permission.
    let d = e
        .iam
        .check(
            &as_user(&org, member),
            "iam.tuples.manage",
            &Resource::Tenant,
            Consistency::Fresh,
        )
        .await
        .unwrap();
    assert!(!d.allowed);
}
backend_test!(refused_escalations_are_security_events, refusals_recorded);

/// Explanations and object lists agree with the check: a tuple naming someone who is not a
/// member (never was, or was removed) is inert, and the explanation says so rather than
/// showing the path.
async fn explain_agrees_for_non_members(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let member = add_user(&e.tenancy, &org, Role::ReadOnly).await;
    let stranger = Uuid::now_v7();
    e.iam
        .write_tuples(
            &org.ctx,
            TupleWrite {
                insert: vec![
                    doc_tuple("d1", "viewer", member),
                    doc_tuple("d1", "viewer", stranger),
                ],
                delete: vec![],
            },
        )
        .await
        .unwrap();
    let d1 = Resource::Object {
        object: ObjectRef::new("document", "d1"),
        team: None,
    };
    let member_ex = e
        .iam
        .explain(
            &org.ctx,
            Some(member),
            "docs.documents.read",
            &d1,
            Consistency::Fresh,
        )
        .await
        .unwrap();
    assert!(member_ex.allowed, "{member_ex}");
    for user in [stranger, org.owner] {
        let ex = e
            .iam
            .explain(
                &org.ctx,
                Some(user),
                "docs.documents.read",
                &d1,
                Consistency::Fresh,
            )
            .await
            .unwrap();
        let checked = e
            .iam
            .check(
                &as_user(&org, user),
                "docs.documents.read",
                &d1,
                Consistency::Fresh,
            )
            .await
            .unwrap();
        assert_eq!(ex.allowed, checked.allowed, "{ex}");
    }
    let ex = e
        .iam
        .explain(
            &org.ctx,
            Some(stranger),
            "docs.documents.read",
            &d1,
            Consistency::Fresh,
        )
        .await
        .unwrap();
    assert!(!ex.allowed);
    assert_eq!(ex.reason, helix_iam::engine::Reason::NotAMember);
    assert!(ex.to_string().contains("not a member"), "{ex}");
    // Object lists agree too: the stranger's context lists nothing, the member's the tuple.
    let listed = e
        .iam
        .list_objects(&as_user(&org, stranger), "docs.documents.read", "document")
        .await
        .unwrap();
    assert!(!listed.all && listed.objects.is_empty(), "{listed:?}");
    let listed = e
        .iam
        .list_objects(&as_user(&org, member), "viewer", "document")
        .await
        .unwrap();
    assert_eq!(listed.objects, [ObjectRef::new("document", "d1")]);
}
backend_test!(
    explain_agrees_with_check_for_non_members,
    explain_agrees_for_non_members
);
