//! helix-tenancy decided by `IamAuthorizer`: decisions are made in tenancy's own
//! transaction (many concurrent tenancy writes finish with a pool smaller than the number
//! of writers), and refused escalations through tenancy are recorded as security events.

use std::sync::Arc;
use std::time::Duration;

use helix_core::audit;
use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_core::{Helix, Kernel, backend_test};
use helix_iam::model::{Scope, Subject};
use helix_iam::store::{NewAssignment, NewRole};
use helix_iam::{EngineConfig, Iam, IamAuthorizer, IamModule};
use helix_tenancy::{NewInvitation, NewTeam, Role, TenancyError, TenancyModule, TenancyService};

use crate::common::{
    Org, add_user, as_user, create_org, escalation_refusals, join_within_a_minute,
};

struct Env {
    db: helix_core::Db,
    tenancy: TenancyService,
    iam: Iam,
}

/// Tenancy with helix-iam as its authorizer.
async fn env(t: &TestDb) -> Env {
    let helix = Helix::builder(t.db.clone())
        .module(TenancyModule)
        .module(IamModule)
        .build()
        .await
        .expect("migrations");
    let kernel = Kernel::new(t.db.clone());
    let iam = Iam::new(kernel.clone(), &helix, EngineConfig::default()).expect("iam");
    let tenancy =
        TenancyService::new(kernel).with_authorizer(Arc::new(IamAuthorizer::new(iam.clone())));
    Env {
        db: t.db.clone(),
        tenancy,
        iam,
    }
}

/// The refusal is recorded after tenancy's transaction ended, by a task of its own: wait
/// (bounded) until `n` events are there.
async fn wait_for_refusals(e: &Env, org: &Org, n: usize) -> Vec<audit::entity::Model> {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let events = escalation_refusals(&e.db, org).await;
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the refused escalation was never recorded")
}

/// 16 concurrent tenancy writes through the authorizer (role changes, invitations, team
/// joins) in one organization, with a test pool of 8 connections: each decides in its own
/// transaction, with no second connection, so all finish instead of timing out on the pool.
async fn concurrent_tenancy_writes(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(add_user(&e.tenancy, &org, Role::Member).await);
    }
    let team = e
        .tenancy
        .create_team(
            &org.ctx,
            NewTeam {
                name: "Core".into(),
                slug: "core".into(),
            },
        )
        .await
        .unwrap();
    let tenancy = Arc::new(e.tenancy.clone());
    let mut tasks = Vec::new();
    for i in 0..16usize {
        let tenancy = tenancy.clone();
        let ctx = org.ctx.clone();
        let user = users[i % users.len()];
        let team = team.id;
        let joins = i < users.len();
        tasks.push(tokio::spawn(async move {
            let role = if i % 2 == 0 {
                Role::ReadOnly
            } else {
                Role::Admin
            };
            tenancy.change_member_role(&ctx, user, role).await?;
            tenancy
                .create_invitation(
                    &ctx,
                    NewInvitation {
                        email: format!("invitee-{i}@example.test"),
                        role: Role::Member,
                        team_ids: vec![team],
                    },
                )
                .await?;
            if joins {
                tenancy.add_team_member(&ctx, team, user).await?;
            }
            tenancy.change_member_role(&ctx, user, Role::Member).await?;
            Ok::<_, TenancyError>(())
        }));
    }
    let all = join_within_a_minute(tasks, "concurrent tenancy writes").await;
    for r in all {
        r.expect("tenancy write");
    }
    // Every write landed.
    let invitations = e
        .tenancy
        .list_invitations(&org.ctx, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(invitations.meta.total, 16);
    let members = e
        .tenancy
        .list_team_members(&org.ctx, team.id, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(members.meta.total, 4);
    for user in &users {
        let m = e.tenancy.get_member(&org.ctx, *user).await.unwrap();
        assert_eq!(m.role, Role::Member);
    }
    // Nothing here was an escalation.
    assert!(escalation_refusals(&e.db, &org).await.is_empty());
}
backend_test!(
    many_concurrent_tenancy_writes_finish,
    concurrent_tenancy_writes
);

/// An admin handing out the owner role through tenancy is refused, and the attempt is
/// recorded once as `iam.escalation_refused` in that organization only; a plain missing
/// permission is refused without an event.
async fn owner_grant_refused_and_recorded(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let other = create_org(&e.tenancy).await;
    let admin = add_user(&e.tenancy, &org, Role::Admin).await;
    let member = add_user(&e.tenancy, &org, Role::Member).await;

    // A member lacks `tenancy.members.manage`: a denial, not an escalation.
    let denied = e
        .tenancy
        .change_member_role(&as_user(&org, member), admin, Role::ReadOnly)
        .await;
    assert!(
        matches!(denied, Err(TenancyError::MissingPermission(_))),
        "{denied:?}"
    );

    let refused = e
        .tenancy
        .change_member_role(&as_user(&org, admin), member, Role::Owner)
        .await;
    assert!(
        matches!(refused, Err(TenancyError::Forbidden(_))),
        "{refused:?}"
    );
    // Nothing changed.
    let m = e.tenancy.get_member(&org.ctx, member).await.unwrap();
    assert_eq!(m.role, Role::Member);

    let events = wait_for_refusals(&e, &org, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.entity_type, "role");
    assert_eq!(event.entity_id.as_deref(), Some("owner"));
    assert_eq!(event.actor, format!("user:{admin}"));
    assert_eq!(event.data["operation"], "tenancy.role.grant");
    assert_eq!(event.data["code"], "FORBIDDEN");
    // The other organization has no such event.
    assert!(escalation_refusals(&e.db, &other).await.is_empty());
}
backend_test!(
    tenancy_owner_grant_is_refused_and_recorded,
    owner_grant_refused_and_recorded
);

/// Putting someone into a team whose members hold a role the actor lacks is refused as an
/// escalation and recorded; the owner may do it.
async fn team_join_escalation_recorded(t: TestDb) {
    let e = env(&t).await;
    let org = create_org(&e.tenancy).await;
    let admin = add_user(&e.tenancy, &org, Role::Admin).await;
    let member = add_user(&e.tenancy, &org, Role::Member).await;
    let team = e
        .tenancy
        .create_team(
            &org.ctx,
            NewTeam {
                name: "Sharers".into(),
                slug: "sharers".into(),
            },
        )
        .await
        .unwrap();
    // Team members hold `iam.tuples.manage`, which only owners hold by default.
    let (role, _) = e
        .iam
        .create_role(
            &org.ctx,
            NewRole {
                key: "sharer".into(),
                name: "Sharer".into(),
                permissions: vec!["iam.tuples.manage".into()],
            },
        )
        .await
        .unwrap();
    e.iam
        .create_assignment(
            &org.ctx,
            NewAssignment {
                subject: Subject::team_members(team.id),
                role_id: role.id,
                scope: Scope::Tenant,
            },
        )
        .await
        .unwrap();

    let refused = e
        .tenancy
        .add_team_member(&as_user(&org, admin), team.id, member)
        .await;
    assert!(
        matches!(refused, Err(TenancyError::Forbidden(_))),
        "{refused:?}"
    );
    let events = wait_for_refusals(&e, &org, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].entity_type, "team");
    assert_eq!(events[0].entity_id, Some(team.id.to_string()));
    assert_eq!(events[0].data["operation"], "tenancy.team.join");

    e.tenancy
        .add_team_member(&org.ctx, team.id, member)
        .await
        .expect("the owner holds what the team carries");
}
backend_test!(
    tenancy_team_join_escalation_is_recorded,
    team_join_escalation_recorded
);

/// A read-only tenancy operation is decided like any check: from memory while the change
/// feed is live (no revision query), and a membership change still reaches it through the
/// feed, so a removed member's reads are refused once the change is announced. On SQLite
/// (no feed) every read compares with the database revision, as before.
async fn reads_follow_the_feed(t: TestDb) {
    let e = env(&t).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let follower = tokio::spawn({
        let sync = e.iam.sync().clone();
        let stop = stop.clone();
        async move { sync.follow_changes(stop).await }
    });
    if t.db.backend() == helix_core::Backend::Postgres {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !e.iam.sync().is_live() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed never went live"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let org = create_org(&e.tenancy).await;
    let member = add_user(&e.tenancy, &org, Role::Member).await;
    let q = ListQuery::default();
    let postgres = t.db.backend() == helix_core::Backend::Postgres;
    // The first read reads the revision through its transaction and records it as current;
    // on PostgreSQL, once the feed has announced the membership change above, the reads
    // after it are decided from memory.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page = e
            .tenancy
            .list_members(&as_user(&org, member), &q)
            .await
            .unwrap();
        assert_eq!(page.meta.total, 2);
        if !postgres || e.iam.sync().answers_from_memory(org.id) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tenancy reads never recorded the revision as current"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(e.iam.sync().answers_from_memory(org.id), postgres);
    let page = e
        .tenancy
        .list_members(&as_user(&org, member), &q)
        .await
        .unwrap();
    assert_eq!(page.meta.total, 2);
    e.tenancy.remove_member(&org.ctx, member).await.unwrap();
    // A tenancy write on this instance reaches the reads through the feed too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match e.tenancy.list_members(&as_user(&org, member), &q).await {
            Err(TenancyError::NotFound(_)) => break,
            Ok(_) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "a removed member kept reading"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    // The owner still reads, and sees one member fewer.
    let page = e.tenancy.list_members(&org.ctx, &q).await.unwrap();
    assert_eq!(page.meta.total, 1);
    stop.cancel();
    follower.await.unwrap();
}
backend_test!(tenancy_reads_follow_the_feed, reads_follow_the_feed);
