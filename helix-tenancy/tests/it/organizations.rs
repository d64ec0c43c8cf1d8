use helix_core::audit::entity as audit_log;
use helix_core::list::ListQuery;
use helix_core::outbox::entity as outbox;
use helix_core::sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use helix_core::testing::TestDb;
use helix_core::{Actor, PlatformContext};
use helix_tenancy::{OrganizationUpdate, Region, Role};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

async fn create_get_update(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    assert_eq!(org.org.region, Region::Eu);
    assert_eq!(org.org.plan, "free");
    let got = fx.svc.get_organization(&org.ctx).await.unwrap();
    assert_eq!(got, org.org);
    let members = fx
        .svc
        .list_members(&org.ctx, &ListQuery::default())
        .await
        .unwrap()
        .data;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].role, Role::Owner);

    let updated = fx
        .svc
        .update_organization(
            &org.ctx,
            OrganizationUpdate {
                name: Some(" Acme Corp ".into()),
                plan: Some("pro".into()),
                settings: Some(json!({"theme": "dark"})),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Acme Corp");
    assert_eq!(updated.plan, "pro");
    assert_eq!(updated.settings, json!({"theme": "dark"}));
    assert_eq!(updated.region, Region::Eu);

    // Audited in the organization's chain, published on the outbox.
    let db = fx.svc.kernel().db().connection();
    let actions: Vec<String> = audit_log::Entity::find()
        .filter(audit_log::Column::OrgId.eq(org.org.id))
        .order_by_asc(audit_log::Column::Seq)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions,
        [
            "organization.created",
            "member.added",
            "organization.updated"
        ]
    );
    let topics: Vec<String> = outbox::Entity::find()
        .filter(outbox::Column::OrgId.eq(org.org.id))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.topic)
        .collect();
    assert_eq!(
        topics,
        [
            "tenancy.organization.created",
            "tenancy.member.added",
            "tenancy.organization.updated"
        ]
    );
}
helix_core::backend_test!(create_get_update_organization, create_get_update);

async fn slug_rules(t: TestDb) {
    let fx = setup(&t).await;
    let owner = Uuid::now_v7();
    let platform = PlatformContext::new(Actor::User(owner));
    for bad in ["ab", "Acme", "ac_me", "-acme", &"a".repeat(64)] {
        let r = fx
            .svc
            .create_organization(&platform, new_org(bad), owner, "o@example.test")
            .await;
        assert_eq!(code(r), "VALIDATION_ERROR", "{bad}");
    }
    let s = slug();
    fx.svc
        .create_organization(&platform, new_org(&s), owner, "o@example.test")
        .await
        .unwrap();
    let r = fx
        .svc
        .create_organization(&platform, new_org(&s), owner, "o@example.test")
        .await;
    assert_eq!(code(r), "SLUG_TAKEN");
}
helix_core::backend_test!(organization_slug_rules, slug_rules);

async fn region_immutable(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    // The update type has no region; the database refuses a direct change too.
    let db = fx.svc.kernel().db().connection();
    let sql = format!(
        "UPDATE tenancy_organizations SET region = 'us' WHERE slug = '{}'",
        org.org.slug
    );
    assert!(db.execute_unprepared(&sql).await.is_err());
    let got = fx.svc.get_organization(&org.ctx).await.unwrap();
    assert_eq!(got.region, Region::Eu);
    // Other columns still update.
    let sql = format!(
        "UPDATE tenancy_organizations SET name = 'x' WHERE slug = '{}'",
        org.org.slug
    );
    db.execute_unprepared(&sql).await.unwrap();
}
helix_core::backend_test!(organization_region_is_immutable, region_immutable);

async fn update_permissions(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let admin = add_user(&fx.svc, &org, Role::Admin).await;
    let member = add_user(&fx.svc, &org, Role::Member).await;
    let reader = add_user(&fx.svc, &org, Role::ReadOnly).await;
    let upd = || OrganizationUpdate {
        plan: Some("team".into()),
        ..Default::default()
    };
    fx.svc
        .update_organization(&org.ctx_of(admin), upd())
        .await
        .unwrap();
    assert_eq!(
        code(fx.svc.update_organization(&org.ctx_of(member), upd()).await),
        "FORBIDDEN"
    );
    assert_eq!(
        code(fx.svc.update_organization(&org.ctx_of(reader), upd()).await),
        "FORBIDDEN"
    );
    // Read-only members read.
    fx.svc.get_organization(&org.ctx_of(reader)).await.unwrap();
    // Non-members do not learn the organization exists.
    let stranger = Uuid::now_v7();
    assert_eq!(
        code(fx.svc.get_organization(&org.ctx_of(stranger)).await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            fx.svc
                .update_organization(&org.ctx_of(stranger), upd())
                .await
        ),
        "NOT_FOUND"
    );
    let bad = OrganizationUpdate {
        settings: Some(json!([1])),
        ..Default::default()
    };
    assert_eq!(
        code(fx.svc.update_organization(&org.ctx, bad).await),
        "VALIDATION_ERROR"
    );
}
helix_core::backend_test!(organization_update_permissions, update_permissions);
