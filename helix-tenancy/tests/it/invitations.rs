use chrono::Duration;
use helix_core::audit::entity as audit_log;
use helix_core::list::ListQuery;
use helix_core::outbox::entity as outbox;
use helix_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use helix_core::testing::TestDb;
use helix_core::{Actor, PlatformContext};
use helix_tenancy::{InvitationStatus, InvitationToken, NewInvitation, NewTeam, Role};
use uuid::Uuid;

use crate::common::*;

fn invite(email: &str, role: Role, team_ids: Vec<Uuid>) -> NewInvitation {
    NewInvitation {
        email: email.into(),
        role,
        team_ids,
    }
}

fn as_user(user: Uuid) -> PlatformContext {
    PlatformContext::new(Actor::User(user))
}

async fn invite_and_accept(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let eng = fx
        .svc
        .create_team(
            &org.ctx,
            NewTeam {
                name: "Eng".into(),
                slug: "eng".into(),
            },
        )
        .await
        .unwrap();
    let issued = fx
        .svc
        .create_invitation(
            &org.ctx,
            invite("Carol@Example.test", Role::Admin, vec![eng.id, eng.id]),
        )
        .await
        .unwrap();
    let token = issued.token.expose().to_owned();
    assert_eq!(token.len(), 43);
    assert_eq!(issued.invitation.email, "carol@example.test");
    assert_eq!(issued.invitation.team_ids, vec![eng.id]);
    assert_eq!(issued.invitation.status, InvitationStatus::Pending);
    assert_eq!(
        issued.invitation.expires_at - issued.invitation.created_at,
        Duration::days(7)
    );
    assert!(!format!("{issued:?}").contains(&token));

    // A second pending invitation for the same email is a conflict.
    let again = fx
        .svc
        .create_invitation(&org.ctx, invite("carol@example.test", Role::Member, vec![]))
        .await;
    assert_eq!(code(again), "INVITATION_PENDING");

    // Unknown token, wrong email, non-user actor.
    let carol = Uuid::now_v7();
    let unknown = InvitationToken::new("x".repeat(43));
    assert_eq!(
        code(
            fx.svc
                .accept_invitation(&as_user(carol), &unknown, "carol@example.test")
                .await
        ),
        "NOT_FOUND"
    );
    let wrong = fx
        .svc
        .accept_invitation(&as_user(carol), &issued.token, "mallory@example.test")
        .await;
    assert_eq!(code(wrong), "INVITATION_EMAIL_MISMATCH");
    let system = PlatformContext::system("job");
    assert_eq!(
        code(
            fx.svc
                .accept_invitation(&system, &issued.token, "carol@example.test")
                .await
        ),
        "FORBIDDEN"
    );

    let member = fx
        .svc
        .accept_invitation(
            &as_user(carol),
            &InvitationToken::new(token.clone()),
            "CAROL@example.TEST",
        )
        .await
        .unwrap();
    assert_eq!(
        (member.user_id, member.role, member.org_id),
        (carol, Role::Admin, org.org.id)
    );
    let team_members = fx
        .svc
        .list_team_members(&org.ctx, eng.id, &ListQuery::default())
        .await
        .unwrap()
        .data;
    assert_eq!(
        team_members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [carol]
    );

    // Single use.
    let reuse = fx
        .svc
        .accept_invitation(
            &as_user(Uuid::now_v7()),
            &issued.token,
            "carol@example.test",
        )
        .await;
    assert_eq!(code(reuse), "INVITATION_ALREADY_USED");
    let listed = fx
        .svc
        .list_invitations(&org.ctx, &ListQuery::default())
        .await
        .unwrap()
        .data;
    assert_eq!(listed[0].status, InvitationStatus::Accepted);
    assert_eq!(listed[0].accepted_by, Some(carol));

    // An email that is already a member cannot be invited.
    let dup = fx
        .svc
        .create_invitation(&org.ctx, invite("carol@example.test", Role::Member, vec![]))
        .await;
    assert_eq!(code(dup), "ALREADY_MEMBER");

    // The token is in no audit row and no outbox event.
    let db = fx.svc.kernel().db().connection();
    let audit = audit_log::Entity::find()
        .filter(audit_log::Column::OrgId.eq(org.org.id))
        .order_by_asc(audit_log::Column::Seq)
        .all(db)
        .await
        .unwrap();
    let events = outbox::Entity::find()
        .filter(outbox::Column::OrgId.eq(org.org.id))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
        .unwrap();
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    };
    for text in audit
        .iter()
        .map(|a| a.data.to_string())
        .chain(events.iter().map(|e| e.payload.to_string()))
    {
        assert!(!text.contains(&token) && !text.contains(&hash), "{text}");
    }
    let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
    assert!(
        actions.ends_with(&["invitation.created", "invitation.accepted", "member.added"]),
        "{actions:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.topic == "tenancy.invitation.accepted")
    );
}
helix_core::backend_test!(invitation_invite_and_accept, invite_and_accept);

async fn expiry(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let issued = fx
        .svc
        .create_invitation(&org.ctx, invite("dan@example.test", Role::Member, vec![]))
        .await
        .unwrap();
    fx.clock.advance(Duration::days(7));
    let dan = Uuid::now_v7();
    assert_eq!(
        code(
            fx.svc
                .accept_invitation(&as_user(dan), &issued.token, "dan@example.test")
                .await
        ),
        "INVITATION_EXPIRED"
    );
    // An expired invitation no longer blocks a new one, and its token stays dead.
    let fresh = fx
        .svc
        .create_invitation(&org.ctx, invite("dan@example.test", Role::Member, vec![]))
        .await
        .unwrap();
    assert_eq!(
        code(
            fx.svc
                .accept_invitation(&as_user(dan), &issued.token, "dan@example.test")
                .await
        ),
        "INVITATION_EXPIRED"
    );
    fx.clock.advance(Duration::days(7) - Duration::seconds(1));
    fx.svc
        .accept_invitation(&as_user(dan), &fresh.token, "dan@example.test")
        .await
        .unwrap();
}
helix_core::backend_test!(invitation_expires_after_seven_days, expiry);

async fn resend_and_revoke(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let first = fx
        .svc
        .create_invitation(&org.ctx, invite("erin@example.test", Role::Member, vec![]))
        .await
        .unwrap();
    fx.clock.advance(Duration::days(6));
    let resent = fx
        .svc
        .resend_invitation(&org.ctx, first.invitation.id)
        .await
        .unwrap();
    assert_eq!(resent.invitation.id, first.invitation.id);
    assert_ne!(resent.token, first.token);
    assert_eq!(
        resent.invitation.expires_at,
        first.invitation.expires_at + Duration::days(6)
    );
    let erin = Uuid::now_v7();
    // The old token is dead.
    assert_eq!(
        code(
            fx.svc
                .accept_invitation(&as_user(erin), &first.token, "erin@example.test")
                .await
        ),
        "NOT_FOUND"
    );
    // The new one lives past the old expiry.
    fx.clock.advance(Duration::days(3));
    let revoked = fx
        .svc
        .revoke_invitation(&org.ctx, first.invitation.id)
        .await
        .unwrap();
    assert_eq!(revoked.status, InvitationStatus::Revoked);
    assert_eq!(
        code(
            fx.svc
                .accept_invitation(&as_user(erin), &resent.token, "erin@example.test")
                .await
        ),
        "INVITATION_REVOKED"
    );
    assert_eq!(
        code(
            fx.svc
                .resend_invitation(&org.ctx, first.invitation.id)
                .await
        ),
        "INVITATION_REVOKED"
    );
    assert_eq!(
        code(
            fx.svc
                .revoke_invitation(&org.ctx, first.invitation.id)
                .await
        ),
        "INVITATION_REVOKED"
    );
    // After revocation a new invitation may be sent.
    let next = fx
        .svc
        .create_invitation(&org.ctx, invite("erin@example.test", Role::Member, vec![]))
        .await
        .unwrap();
    fx.svc
        .accept_invitation(&as_user(erin), &next.token, "erin@example.test")
        .await
        .unwrap();
    assert_eq!(
        code(fx.svc.resend_invitation(&org.ctx, next.invitation.id).await),
        "INVITATION_ALREADY_USED"
    );
}
helix_core::backend_test!(
    invitation_resend_kills_old_token_and_revoke,
    resend_and_revoke
);

async fn permissions(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let admin = add_user(&fx.svc, &org, Role::Admin).await;
    let plain = add_user(&fx.svc, &org, Role::Member).await;
    let admin_ctx = org.ctx_of(admin);
    fx.svc
        .create_invitation(&admin_ctx, invite("f@example.test", Role::Admin, vec![]))
        .await
        .unwrap();
    assert_eq!(
        code(
            fx.svc
                .create_invitation(&admin_ctx, invite("g@example.test", Role::Owner, vec![]))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            fx.svc
                .create_invitation(
                    &org.ctx_of(plain),
                    invite("h@example.test", Role::Member, vec![])
                )
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            fx.svc
                .list_invitations(&org.ctx_of(plain), &ListQuery::default())
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            fx.svc
                .list_invitations(&org.ctx_of(Uuid::now_v7()), &ListQuery::default())
                .await
        ),
        "NOT_FOUND"
    );
    let unknown_team = fx
        .svc
        .create_invitation(
            &org.ctx,
            invite("i@example.test", Role::Member, vec![Uuid::now_v7()]),
        )
        .await;
    assert_eq!(code(unknown_team), "NOT_FOUND");
    let owner_invite = fx
        .svc
        .create_invitation(&org.ctx, invite("j@example.test", Role::Owner, vec![]))
        .await
        .unwrap();
    assert_eq!(
        code(
            fx.svc
                .revoke_invitation(&admin_ctx, owner_invite.invitation.id)
                .await
        ),
        "FORBIDDEN"
    );
}
helix_core::backend_test!(invitation_permissions, permissions);
