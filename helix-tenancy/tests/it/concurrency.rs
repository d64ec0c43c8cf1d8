//! Invariants under concurrent requests: the last owner stays, an invitation works once.

use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_core::{Actor, PlatformContext};
use helix_tenancy::{InvitationStatus, NewInvitation, Role, TenancyError};
use uuid::Uuid;

use crate::common::*;

async fn concurrent_demotions(t: TestDb) {
    let fx = setup(&t).await;
    for _ in 0..5 {
        let org = create_org(&fx.svc).await;
        let second = add_user(&fx.svc, &org, Role::Owner).await;
        let (ctx_a, ctx_b) = (org.ctx.clone(), org.ctx_of(second));
        let (svc_a, svc_b) = (fx.svc.clone(), fx.svc.clone());
        let owner = org.owner;
        let a = tokio::spawn(
            async move { svc_a.change_member_role(&ctx_a, second, Role::Admin).await },
        );
        let b =
            tokio::spawn(async move { svc_b.change_member_role(&ctx_b, owner, Role::Admin).await });
        let results = [a.await.unwrap(), b.await.unwrap()];
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert!(ok <= 1, "both owners were demoted");
        let members = fx
            .svc
            .list_members(&org.ctx, &ListQuery::default())
            .await
            .unwrap()
            .data;
        let owners = members.iter().filter(|m| m.role == Role::Owner).count();
        assert_eq!(owners, 1);
        if t.db.backend() == helix_core::Backend::Postgres {
            // PostgreSQL serializes on the organization row: the loser sees LAST_OWNER, or
            // FORBIDDEN when it was itself demoted first.
            assert_eq!(ok, 1, "{results:?}");
            assert!(
                results.iter().any(|r| matches!(
                    r,
                    Err(TenancyError::LastOwner | TenancyError::Forbidden(_))
                ))
            );
        }
    }
}
helix_core::backend_test!(
    concurrency_last_owner_survives_parallel_demotions,
    concurrent_demotions
);

async fn concurrent_accepts(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let invite = NewInvitation {
        email: "kim@example.test".into(),
        role: Role::Member,
        team_ids: vec![],
    };
    let issued = fx.svc.create_invitation(&org.ctx, invite).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let svc = fx.svc.clone();
        let token = issued.token.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = PlatformContext::new(Actor::User(Uuid::now_v7()));
            svc.accept_invitation(&ctx, &token, "kim@example.test")
                .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "an invitation must be accepted exactly once");
    let kims = fx
        .svc
        .list_members(&org.ctx, &ListQuery::default())
        .await
        .unwrap()
        .data
        .into_iter()
        .filter(|m| m.email == "kim@example.test")
        .count();
    assert_eq!(kims, 1);
}
helix_core::backend_test!(concurrency_invitation_is_accepted_once, concurrent_accepts);

async fn accept_racing_revoke_and_resend(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    for round in 0..6 {
        let email = format!("race{round}@example.test");
        let invite = NewInvitation {
            email: email.clone(),
            role: Role::Member,
            team_ids: vec![],
        };
        let issued = fx.svc.create_invitation(&org.ctx, invite).await.unwrap();
        let svc = fx.svc.clone();
        let token = issued.token.clone();
        let accept_email = email.clone();
        let accept = tokio::spawn(async move {
            let ctx = PlatformContext::new(Actor::User(Uuid::now_v7()));
            svc.accept_invitation(&ctx, &token, &accept_email).await
        });
        let svc = fx.svc.clone();
        let ctx = org.ctx.clone();
        let id = issued.invitation.id;
        let other = tokio::spawn(async move {
            if round % 2 == 0 {
                svc.revoke_invitation(&ctx, id).await.map(|_| ())
            } else {
                svc.resend_invitation(&ctx, id).await.map(|_| ())
            }
        });
        let accepted = accept.await.unwrap().is_ok();
        let changed = other.await.unwrap().is_ok();
        // Exactly one wins, and the stored state agrees with the winner.
        assert!(
            accepted ^ changed,
            "round {round}: accepted={accepted} changed={changed}"
        );
        let stored = fx.svc.get_invitation(&org.ctx, id).await.unwrap();
        let member = fx
            .svc
            .list_members(
                &org.ctx,
                &ListQuery::parse(&format!("filter[email]={email}")).unwrap(),
            )
            .await
            .unwrap();
        if accepted {
            assert_eq!(stored.status, InvitationStatus::Accepted, "round {round}");
            assert_eq!(member.meta.total, 1);
        } else {
            assert_ne!(stored.status, InvitationStatus::Accepted, "round {round}");
            assert_eq!(member.meta.total, 0);
        }
    }
}
helix_core::backend_test!(
    concurrency_accept_racing_revoke_and_resend,
    accept_racing_revoke_and_resend
);
