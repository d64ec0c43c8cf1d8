//! Revisions and the change log, maintained by triggers whatever code writes.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use helix_iam::model::Revision;
use helix_iam::model::{Scope, Subject};
use helix_iam::store::{NewAssignment, NewRole, TupleWrite};
use helix_tenancy::{NewTeam, Role};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

async fn every_write_appends_to_the_changelog(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    // Creating the organization made its owner's membership: revision 1.
    assert_eq!(revision(&fx.db, &org.ctx).await, Revision(1));

    let (role, r) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(
            &tx,
            NewRole {
                key: "viewer".into(),
                name: "Viewer".into(),
                permissions: vec![PERMS[1].into()],
            },
        )
        .await
        .unwrap());
    assert_eq!(r, Revision(3));
    let (a, r) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_assignment(
            &tx,
            NewAssignment {
                subject: Subject::user(Uuid::now_v7()),
                role_id: role.id,
                scope: Scope::Tenant,
            },
        )
        .await
        .unwrap());
    assert_eq!(r, Revision(4));
    let out = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: vec!["document:1#parent@folder:a#self_".parse().unwrap()],
                delete: vec![],
            }
        )
        .await
        .unwrap());
    assert_eq!(out.revision, Revision(5));
    let r = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .delete_assignment(&tx, a.id)
        .await
        .unwrap());
    assert_eq!(r, Revision(6));

    // A rolled-back write leaves no trace.
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    fx.store.delete_role(&tx, role.id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(revision(&fx.db, &org.ctx).await, Revision(6));

    let log = changelog(&fx.db, &org.ctx).await;
    let revisions: Vec<i64> = log.iter().map(|c| c.revision).collect();
    assert_eq!(
        revisions,
        [1, 2, 3, 4, 5, 6],
        "one row per revision, no gaps"
    );
    let entries: Vec<(&str, &str)> = log
        .iter()
        .map(|c| (c.entity.as_str(), c.op.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("membership", "insert"),
            ("role", "insert"),
            ("role_permission", "insert"),
            ("assignment", "insert"),
            ("tuple", "insert"),
            ("assignment", "delete"),
        ]
    );
    assert!(log.iter().all(|c| c.org_id == org.id));
    let detail: serde_json::Value = serde_json::from_str(&log[1].detail).unwrap();
    assert_eq!(detail["key"], "viewer");
    assert_eq!(detail["id"], role.id.to_string());
    let member: serde_json::Value = serde_json::from_str(&log[0].detail).unwrap();
    assert_eq!(member["user_id"], org.owner.to_string());
    assert!(member.get("email").is_none(), "no PII in the change log");
}
backend_test!(
    every_write_appends_to_the_changelog,
    every_write_appends_to_the_changelog
);

async fn tenancy_changes_bump_the_revision(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let r0 = revision(&fx.db, &org.ctx).await;

    let user = add_user(&fx.tenancy, &org, Role::Member).await;
    let r1 = revision(&fx.db, &org.ctx).await;
    assert_eq!(r1.0, r0.0 + 1, "membership insert");

    fx.tenancy
        .change_member_role(&org.ctx, user, Role::Admin)
        .await
        .unwrap();
    let r2 = revision(&fx.db, &org.ctx).await;
    assert_eq!(r2.0, r1.0 + 1, "membership role change");

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
    assert_eq!(
        revision(&fx.db, &org.ctx).await,
        r2,
        "a team alone changes no policy"
    );
    fx.tenancy
        .add_team_member(&org.ctx, team.id, user)
        .await
        .unwrap();
    let r3 = revision(&fx.db, &org.ctx).await;
    assert_eq!(r3.0, r2.0 + 1, "team member insert");
    fx.tenancy
        .remove_team_member(&org.ctx, team.id, user)
        .await
        .unwrap();
    let r4 = revision(&fx.db, &org.ctx).await;
    assert_eq!(r4.0, r3.0 + 1, "team member delete");
    fx.tenancy.remove_member(&org.ctx, user).await.unwrap();
    let r5 = revision(&fx.db, &org.ctx).await;
    assert_eq!(r5.0, r4.0 + 1, "membership delete");

    let log = changelog(&fx.db, &org.ctx).await;
    let tail: Vec<(&str, &str)> = log[log.len() - 5..]
        .iter()
        .map(|c| (c.entity.as_str(), c.op.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            ("membership", "insert"),
            ("membership", "update"),
            ("team_member", "insert"),
            ("team_member", "delete"),
            ("membership", "delete"),
        ]
    );
    let tm: serde_json::Value = serde_json::from_str(&log[log.len() - 3].detail).unwrap();
    assert_eq!(tm["team_id"], team.id.to_string());
    assert_eq!(tm["user_id"], user.to_string());
}
backend_test!(
    tenancy_changes_bump_the_revision,
    tenancy_changes_bump_the_revision
);
