use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_tenancy::{NewTeam, Role, TeamUpdate};
use uuid::Uuid;

use crate::common::*;

fn team(slug: &str) -> NewTeam {
    NewTeam {
        name: format!("Team {slug}"),
        slug: slug.into(),
    }
}

async fn crud(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let eng = fx.svc.create_team(&org.ctx, team("eng")).await.unwrap();
    assert_eq!(
        code(fx.svc.create_team(&org.ctx, team("eng")).await),
        "TEAM_SLUG_TAKEN"
    );
    assert_eq!(
        code(fx.svc.create_team(&org.ctx, team("E")).await),
        "VALIDATION_ERROR"
    );
    let ops = fx.svc.create_team(&org.ctx, team("ops")).await.unwrap();
    let slugs: Vec<_> = fx
        .svc
        .list_teams(&org.ctx, &ListQuery::default())
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(slugs, ["eng", "ops"]);

    let renamed = fx
        .svc
        .update_team(
            &org.ctx,
            eng.id,
            TeamUpdate {
                name: Some("Engineering".into()),
                slug: Some("engineering".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.slug.as_str()),
        ("Engineering", "engineering")
    );
    let clash = TeamUpdate {
        slug: Some("ops".into()),
        ..Default::default()
    };
    assert_eq!(
        code(fx.svc.update_team(&org.ctx, eng.id, clash).await),
        "TEAM_SLUG_TAKEN"
    );
    assert_eq!(
        fx.svc.get_team(&org.ctx, eng.id).await.unwrap().slug,
        "engineering"
    );

    // Another organization may use the same slug: uniqueness is per tenant.
    let other = create_org(&fx.svc).await;
    fx.svc.create_team(&other.ctx, team("ops")).await.unwrap();

    fx.svc.delete_team(&org.ctx, ops.id).await.unwrap();
    assert_eq!(code(fx.svc.get_team(&org.ctx, ops.id).await), "NOT_FOUND");
    assert_eq!(
        code(fx.svc.delete_team(&org.ctx, ops.id).await),
        "NOT_FOUND"
    );
}
helix_core::backend_test!(team_crud, crud);

async fn members(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let eng = fx.svc.create_team(&org.ctx, team("eng")).await.unwrap();
    let bob = add_user(&fx.svc, &org, Role::Member).await;
    fx.svc.add_team_member(&org.ctx, eng.id, bob).await.unwrap();
    assert_eq!(
        code(fx.svc.add_team_member(&org.ctx, eng.id, bob).await),
        "ALREADY_TEAM_MEMBER"
    );
    // Only organization members join teams.
    assert_eq!(
        code(
            fx.svc
                .add_team_member(&org.ctx, eng.id, Uuid::now_v7())
                .await
        ),
        "NOT_FOUND"
    );
    fx.svc
        .add_team_member(&org.ctx, eng.id, org.owner)
        .await
        .unwrap();
    assert_eq!(
        fx.svc
            .list_team_members(&org.ctx_of(bob), eng.id, &ListQuery::default())
            .await
            .unwrap()
            .data
            .len(),
        2
    );
    // Members cannot manage teams.
    assert_eq!(
        code(fx.svc.create_team(&org.ctx_of(bob), team("mine")).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            fx.svc
                .remove_team_member(&org.ctx_of(bob), eng.id, org.owner)
                .await
        ),
        "FORBIDDEN"
    );

    fx.svc
        .remove_team_member(&org.ctx, eng.id, org.owner)
        .await
        .unwrap();
    assert_eq!(
        code(fx.svc.remove_team_member(&org.ctx, eng.id, org.owner).await),
        "NOT_FOUND"
    );
    // Leaving the organization leaves its teams.
    fx.svc.remove_member(&org.ctx, bob).await.unwrap();
    assert!(
        fx.svc
            .list_team_members(&org.ctx, eng.id, &ListQuery::default())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    // Deleting a team removes its memberships.
    fx.svc
        .add_team_member(&org.ctx, eng.id, org.owner)
        .await
        .unwrap();
    fx.svc.delete_team(&org.ctx, eng.id).await.unwrap();
    assert_eq!(
        code(
            fx.svc
                .list_team_members(&org.ctx, eng.id, &ListQuery::default())
                .await
        ),
        "NOT_FOUND"
    );
}
helix_core::backend_test!(team_members, members);
