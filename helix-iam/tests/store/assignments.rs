//! Assignments: create, list with filters, delete, and what is refused.

use helix_core::backend_test;
use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_iam::model::{ObjectRef, Scope, Subject};
use helix_iam::store::{AssignmentFilter, NewAssignment, NewRole};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

async fn assignments_crud(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let (role, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(
            &tx,
            NewRole {
                key: "editor".into(),
                name: "Editor".into(),
                permissions: vec![PERMS[2].into()],
            },
        )
        .await
        .unwrap());
    let alice = Uuid::now_v7();
    let team = Uuid::now_v7();
    let scopes = [
        Scope::Tenant,
        Scope::Team { id: team },
        Scope::Object {
            object: ObjectRef::new("document", "42"),
        },
    ];
    let mut created = Vec::new();
    for scope in &scopes {
        let before = revision(&fx.db, &org.ctx).await;
        let (a, rev) = in_tx!(fx.db, &org.ctx, |tx| fx
            .store
            .create_assignment(
                &tx,
                NewAssignment {
                    subject: Subject::user(alice),
                    role_id: role.id,
                    scope: scope.clone(),
                },
            )
            .await
            .unwrap());
        assert_eq!(rev.0, before.0 + 1);
        assert_eq!(&a.scope, scope);
        assert_eq!(a.created_by, format!("user:{}", org.owner));
        created.push(a);
    }
    let (team_a, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_assignment(
            &tx,
            NewAssignment {
                subject: Subject::team_members(team),
                role_id: role.id,
                scope: Scope::Tenant,
            },
        )
        .await
        .unwrap());

    let by_alice = AssignmentFilter {
        subject: Some(Subject::user(alice)),
        role_id: None,
    };
    let page = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_assignments(&tx, &by_alice, &ListQuery::default())
        .await
        .unwrap());
    assert_eq!(page.meta.total, 3);
    assert_eq!(page.data, created);
    let by_role = AssignmentFilter {
        subject: None,
        role_id: Some(role.id),
    };
    let page = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_assignments(&tx, &by_role, &ListQuery::parse("limit=2").unwrap())
        .await
        .unwrap());
    assert_eq!((page.meta.total, page.data.len()), (4, 2));
    assert!(page.meta.has_next);
    let page = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .list_assignments(
            &tx,
            &AssignmentFilter::default(),
            &ListQuery::parse(&format!("filter[subject]=team:{team}%23member")).unwrap(),
        )
        .await
        .unwrap());
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].id, team_a.id);
    assert_eq!(page.data[0].record().subject, Subject::team_members(team));

    // The same assignment twice is a conflict.
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(
        code(
            fx.store
                .create_assignment(
                    &tx,
                    NewAssignment {
                        subject: Subject::user(alice),
                        role_id: role.id,
                        scope: Scope::Tenant,
                    },
                )
                .await
        ),
        "CONFLICT"
    );
    drop(tx);
    // An unknown role is not found; malformed subjects and scopes are refused.
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    let unknown = NewAssignment {
        subject: Subject::user(alice),
        role_id: Uuid::now_v7(),
        scope: Scope::Tenant,
    };
    assert_eq!(
        code(fx.store.create_assignment(&tx, unknown).await),
        "NOT_FOUND"
    );
    let bad_subject = NewAssignment {
        subject: Subject::Set {
            object: ObjectRef::new("Team", "x"),
            relation: "member".into(),
        },
        role_id: role.id,
        scope: Scope::Tenant,
    };
    assert_eq!(
        code(fx.store.create_assignment(&tx, bad_subject).await),
        "VALIDATION_ERROR"
    );
    let bad_scope = NewAssignment {
        subject: Subject::user(alice),
        role_id: role.id,
        scope: Scope::Object {
            object: ObjectRef::new("document", "a b"),
        },
    };
    assert_eq!(
        code(fx.store.create_assignment(&tx, bad_scope).await),
        "VALIDATION_ERROR"
    );
    drop(tx);

    let before = revision(&fx.db, &org.ctx).await;
    let rev = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .delete_assignment(&tx, created[0].id)
        .await
        .unwrap());
    assert_eq!(rev.0, before.0 + 1);
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    assert_eq!(
        code(fx.store.get_assignment(&tx, created[0].id).await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(fx.store.delete_assignment(&tx, created[0].id).await),
        "NOT_FOUND"
    );
}
backend_test!(assignments_crud, assignments_crud);
