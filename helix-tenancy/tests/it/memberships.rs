use helix_core::TenantContext;
use helix_core::list::ListQuery;
use helix_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use helix_core::testing::TestDb;
use helix_core::{Actor, outbox::entity as outbox};
use helix_tenancy::{NewMember, Role};
use uuid::Uuid;

use crate::common::*;

fn member(email: &str, role: Role) -> NewMember {
    NewMember {
        user_id: Uuid::now_v7(),
        email: email.into(),
        role,
    }
}

async fn add_change_remove(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let added = fx
        .svc
        .add_member(&org.ctx, member(" Bob@Example.TEST ", Role::Member))
        .await
        .unwrap();
    assert_eq!(added.email, "bob@example.test");
    assert_eq!(added.org_id, org.org.id);
    let dup = NewMember {
        user_id: Uuid::now_v7(),
        email: "bob@example.test".into(),
        role: Role::Member,
    };
    assert_eq!(
        code(fx.svc.add_member(&org.ctx, dup).await),
        "ALREADY_MEMBER"
    );
    let same_user = NewMember {
        user_id: added.user_id,
        email: "other@example.test".into(),
        role: Role::Member,
    };
    assert_eq!(
        code(fx.svc.add_member(&org.ctx, same_user).await),
        "ALREADY_MEMBER"
    );

    let changed = fx
        .svc
        .change_member_role(&org.ctx, added.user_id, Role::Admin)
        .await
        .unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert_eq!(
        fx.svc
            .get_member(&org.ctx, added.user_id)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    assert_eq!(
        fx.svc
            .list_members(&org.ctx, &ListQuery::default())
            .await
            .unwrap()
            .data
            .len(),
        2
    );

    fx.svc.remove_member(&org.ctx, added.user_id).await.unwrap();
    assert_eq!(
        code(fx.svc.get_member(&org.ctx, added.user_id).await),
        "NOT_FOUND"
    );
    assert_eq!(
        fx.svc
            .list_members(&org.ctx, &ListQuery::default())
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    // The removed user is no longer a member: the organization is not found for them.
    assert_eq!(
        code(fx.svc.get_organization(&org.ctx_of(added.user_id)).await),
        "NOT_FOUND"
    );

    let topics: Vec<String> = outbox::Entity::find()
        .filter(outbox::Column::OrgId.eq(org.org.id))
        .order_by_asc(outbox::Column::Id)
        .all(fx.svc.kernel().db().connection())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.topic)
        .collect();
    assert_eq!(
        topics,
        [
            "tenancy.organization.created",
            "tenancy.member.added",
            "tenancy.member.added",
            "tenancy.member.role_changed",
            "tenancy.member.removed"
        ]
    );
}
helix_core::backend_test!(member_add_change_remove, add_change_remove);

async fn last_owner(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    assert_eq!(
        code(
            fx.svc
                .change_member_role(&org.ctx, org.owner, Role::Admin)
                .await
        ),
        "LAST_OWNER"
    );
    assert_eq!(
        code(fx.svc.remove_member(&org.ctx, org.owner).await),
        "LAST_OWNER"
    );
    let second = add_user(&fx.svc, &org, Role::Owner).await;
    fx.svc
        .change_member_role(&org.ctx, org.owner, Role::Admin)
        .await
        .unwrap();
    // Now `second` is the last owner.
    let ctx2 = org.ctx_of(second);
    assert_eq!(
        code(fx.svc.remove_member(&ctx2, second).await),
        "LAST_OWNER"
    );
    assert_eq!(
        code(fx.svc.change_member_role(&ctx2, second, Role::Member).await),
        "LAST_OWNER"
    );
    let owners = fx
        .svc
        .list_members(&ctx2, &ListQuery::default())
        .await
        .unwrap()
        .data
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}
helix_core::backend_test!(member_last_owner_is_kept, last_owner);

async fn role_rules(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let admin = add_user(&fx.svc, &org, Role::Admin).await;
    let plain = add_user(&fx.svc, &org, Role::Member).await;
    let reader = add_user(&fx.svc, &org, Role::ReadOnly).await;
    let admin_ctx = org.ctx_of(admin);

    // Admins manage non-owners but never grant or revoke ownership.
    fx.svc
        .add_member(&admin_ctx, member("m1@example.test", Role::Member))
        .await
        .unwrap();
    assert_eq!(
        code(
            fx.svc
                .add_member(&admin_ctx, member("o1@example.test", Role::Owner))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            fx.svc
                .change_member_role(&admin_ctx, plain, Role::Owner)
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            fx.svc
                .change_member_role(&admin_ctx, org.owner, Role::Member)
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(fx.svc.remove_member(&admin_ctx, org.owner).await),
        "FORBIDDEN"
    );
    fx.svc
        .change_member_role(&admin_ctx, plain, Role::ReadOnly)
        .await
        .unwrap();
    fx.svc
        .change_member_role(&admin_ctx, plain, Role::Member)
        .await
        .unwrap();

    // Members and read-only members read but do not write.
    for user in [plain, reader] {
        let ctx = org.ctx_of(user);
        assert_eq!(
            fx.svc
                .list_members(&ctx, &ListQuery::default())
                .await
                .unwrap()
                .data
                .len(),
            5
        );
        assert_eq!(
            code(
                fx.svc
                    .add_member(&ctx, member("x@example.test", Role::Member))
                    .await
            ),
            "FORBIDDEN"
        );
        assert_eq!(
            code(fx.svc.change_member_role(&ctx, admin, Role::Member).await),
            "FORBIDDEN"
        );
        assert_eq!(code(fx.svc.remove_member(&ctx, admin).await), "FORBIDDEN");
    }
    // Anyone may leave.
    fx.svc
        .remove_member(&org.ctx_of(reader), reader)
        .await
        .unwrap();

    // An API key (the host resolved it to this organization and checked its scopes) reads
    // like a read-only member and manages nothing.
    let key = TenantContext::new(org.org.id, Actor::ApiKey(Uuid::now_v7()));
    assert!(
        fx.svc
            .list_members(&key, &ListQuery::default())
            .await
            .is_ok()
    );
    assert_eq!(
        code(
            fx.svc
                .add_member(&key, member("k@example.test", Role::Member))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(code(fx.svc.remove_member(&key, admin).await), "FORBIDDEN");

    // Non-members and anonymous actors see nothing.
    for actor in [Actor::User(Uuid::now_v7()), Actor::Anonymous] {
        let ctx = TenantContext::new(org.org.id, actor);
        assert_eq!(
            code(fx.svc.list_members(&ctx, &ListQuery::default()).await),
            "NOT_FOUND"
        );
        assert_eq!(
            code(
                fx.svc
                    .add_member(&ctx, member("y@example.test", Role::Member))
                    .await
            ),
            "NOT_FOUND"
        );
    }
    assert_eq!(
        code(
            fx.svc
                .add_member(&org.ctx, member("not-an-email", Role::Member))
                .await
        ),
        "VALIDATION_ERROR"
    );
}
helix_core::backend_test!(member_role_rules, role_rules);

async fn member_list_takes_the_standard_query(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    for i in 0..12 {
        let role = if i % 3 == 0 {
            Role::Admin
        } else {
            Role::Member
        };
        fx.svc
            .add_member(&org.ctx, member(&format!("user{i:02}@example.test"), role))
            .await
            .unwrap();
    }
    let q = |s: &str| ListQuery::parse(s).unwrap();
    let page = fx
        .svc
        .list_members(&org.ctx, &q("limit=5&page=2"))
        .await
        .unwrap();
    assert_eq!(page.meta.total, 13, "12 added plus the owner");
    assert_eq!(page.data.len(), 5);
    assert!(page.meta.has_next && page.meta.has_prev);

    let admins = fx
        .svc
        .list_members(&org.ctx, &q("filter[role]=admin&sort=email:desc"))
        .await
        .unwrap();
    let emails: Vec<_> = admins.data.iter().map(|m| m.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "user09@example.test",
            "user06@example.test",
            "user03@example.test",
            "user00@example.test"
        ]
    );

    let found = fx
        .svc
        .list_members(&org.ctx, &q("search=USER1"))
        .await
        .unwrap();
    assert_eq!(found.meta.total, 2);

    let err = fx
        .svc
        .list_members(&org.ctx, &q("filter[org_id]=x"))
        .await
        .unwrap_err();
    let err = helix_core::Error::from(err);
    assert_eq!(err.status(), 400);
    assert_eq!(err.details()[0].field, "filter[org_id]");
}
helix_core::backend_test!(member_list_query, member_list_takes_the_standard_query);

async fn memberships_of_a_user(t: TestDb) {
    let fx = setup(&t).await;
    let first = create_org(&fx.svc).await;
    let user = first.owner;
    let platform = helix_core::PlatformContext::new(Actor::User(user));
    // A second organization the user joins later, as a member.
    fx.clock.advance(chrono::Duration::seconds(5));
    let second = create_org(&fx.svc).await;
    fx.svc
        .add_member(
            &second.ctx,
            NewMember {
                user_id: user,
                email: format!("owner-{user}@example.test"),
                role: Role::Member,
            },
        )
        .await
        .unwrap();
    // Someone else's organization does not appear.
    let _unrelated = create_org(&fx.svc).await;

    let list = fx.svc.memberships_of_user(&platform, user).await.unwrap();
    assert_eq!(
        list,
        vec![(first.org.id, Role::Owner), (second.org.id, Role::Member)]
    );
    // Removed memberships disappear; an unknown user has none.
    fx.svc
        .remove_member(&second.ctx_of(user), user)
        .await
        .unwrap();
    let list = fx.svc.memberships_of_user(&platform, user).await.unwrap();
    assert_eq!(list, vec![(first.org.id, Role::Owner)]);
    let none = fx
        .svc
        .memberships_of_user(&platform, Uuid::now_v7())
        .await
        .unwrap();
    assert!(none.is_empty());
}
helix_core::backend_test!(memberships_of_a_user_oldest_first, memberships_of_a_user);
