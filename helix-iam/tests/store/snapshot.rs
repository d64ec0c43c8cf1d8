//! `load_snapshot`: everything the engine compiles, at one revision.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use helix_iam::model::{AssignmentSource, BUILTIN_ROLES, ObjectRef, Scope, Subject, Tuple};
use helix_iam::store::{NewAssignment, NewRole, TupleWrite, current_revision};
use helix_tenancy::{NewTeam, Role};

use crate::common::*;
use crate::in_tx;

async fn snapshot_holds_roles_assignments_memberships_and_tuples(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let other = create_org(&fx.tenancy).await;
    let member = add_user(&fx.tenancy, &org, Role::Member).await;
    let reader = add_user(&fx.tenancy, &org, Role::ReadOnly).await;
    let team = fx
        .tenancy
        .create_team(
            &org.ctx,
            NewTeam {
                name: "Eng".into(),
                slug: "eng".into(),
            },
        )
        .await
        .unwrap();
    fx.tenancy
        .add_team_member(&org.ctx, team.id, member)
        .await
        .unwrap();

    // The first load creates the missing built-in roles from the templates.
    let snap = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .load_snapshot(&tx, &templates())
        .await
        .unwrap());
    assert_eq!(snap.org_id, org.id);
    assert_eq!(snap.roles.len(), 4);
    for key in BUILTIN_ROLES {
        assert!(snap.roles.iter().any(|r| r.key == key && r.builtin));
    }
    assert_eq!(snap.revision, revision(&fx.db, &org.ctx).await);

    let (custom, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(
            &tx,
            NewRole {
                key: "docs".into(),
                name: "Docs".into(),
                permissions: vec![PERMS[1].into()],
            },
        )
        .await
        .unwrap());
    let (explicit, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_assignment(
            &tx,
            NewAssignment {
                subject: Subject::team_members(team.id),
                role_id: custom.id,
                scope: Scope::Team { id: team.id },
            },
        )
        .await
        .unwrap());
    let stored: Tuple = format!("document:7#viewer@user:{reader}").parse().unwrap();
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: vec![stored.clone()],
                delete: vec![],
            }
        )
        .await
        .unwrap());
    // Another organization's data never shows up.
    in_tx!(fx.db, &other.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: vec![
                    format!("document:7#viewer@user:{}", other.owner)
                        .parse()
                        .unwrap()
                ],
                delete: vec![],
            }
        )
        .await
        .unwrap());

    // A read-only transaction is enough once the built-in roles exist.
    let tx = fx.db.tenant_read(&org.ctx).await.unwrap();
    let snap = fx.store.load_snapshot(&tx, &templates()).await.unwrap();
    assert_eq!(snap.revision, current_revision(&tx).await.unwrap());
    tx.commit().await.unwrap();

    assert_eq!(snap.roles.len(), 5);
    let role_of = |key: &str| snap.roles.iter().find(|r| r.key == key).unwrap();
    assert_eq!(role_of("docs").permissions, [PERMS[1]]);
    assert_eq!(role_of("owner").permissions.len(), PERMS.len());

    let explicit_rec = snap
        .assignments
        .iter()
        .find(|a| a.source == AssignmentSource::Explicit)
        .unwrap();
    assert_eq!(explicit_rec, &explicit.record());
    let memberships: Vec<_> = snap
        .assignments
        .iter()
        .filter(|a| a.source == AssignmentSource::Membership)
        .collect();
    assert_eq!(memberships.len(), 3);
    for (user, key) in [
        (org.owner, "owner"),
        (member, "member"),
        (reader, "read_only"),
    ] {
        let a = memberships
            .iter()
            .find(|a| a.subject == Subject::user(user))
            .unwrap();
        assert_eq!(a.role_id, role_of(key).id, "{key}");
        assert_eq!(a.scope, Scope::Tenant);
    }

    let team_tuple = Tuple::new(ObjectRef::team(team.id), "member", Subject::user(member));
    assert_eq!(snap.tuples.len(), 2);
    assert!(snap.tuples.contains(&stored));
    assert!(snap.tuples.contains(&team_tuple));
}
backend_test!(
    snapshot_holds_roles_assignments_memberships_and_tuples,
    snapshot_holds_roles_assignments_memberships_and_tuples
);
