//! The invitation hook, on both backends: it receives every issued token (created and
//! resent) inside the issuing transaction, with the organization's name; a write it makes
//! there commits with the invitation; and a failing hook rolls the invitation back.

use std::sync::{Arc, Mutex};

use helix_core::list::ListQuery;
use helix_core::outbox::{self, entity as outbox_event};
use helix_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use helix_core::testing::TestDb;
use helix_core::{Error, TenantTx};
use helix_tenancy::{
    InvitationIssue, InvitationNotice, InvitationNotifier, NewInvitation, Role, TenancyService,
};
use uuid::Uuid;

use crate::common::*;

/// What the hook saw: (invitation id, token, organization name, issue).
type Seen = Arc<Mutex<Vec<(Uuid, String, String, InvitationIssue)>>>;

/// Records what it is told and publishes a marker event in the issuing transaction; fails
/// when `fail` is set.
struct Recorder {
    seen: Seen,
    fail: bool,
}

#[async_trait::async_trait]
impl InvitationNotifier for Recorder {
    async fn invitation_issued(
        &self,
        tx: &TenantTx,
        notice: &InvitationNotice<'_>,
    ) -> Result<(), Error> {
        assert!(!format!("{notice:?}").contains(notice.token.expose()));
        self.seen.lock().unwrap().push((
            notice.invitation.id,
            notice.token.expose().to_owned(),
            notice.organization_name.to_owned(),
            notice.issue,
        ));
        outbox::publish(
            tx,
            notice.at,
            "test.invitation.mailed",
            &serde_json::json!({}),
        )
        .await?;
        if self.fail {
            return Err(Error::Unavailable);
        }
        Ok(())
    }
}

fn with(svc: &TenancyService, fail: bool) -> (TenancyService, Seen) {
    let seen = Seen::default();
    let recorder = Recorder {
        seen: seen.clone(),
        fail,
    };
    (
        svc.clone().with_invitation_notifier(Arc::new(recorder)),
        seen,
    )
}

fn invite(email: &str) -> NewInvitation {
    NewInvitation {
        email: email.into(),
        role: Role::Member,
        team_ids: vec![],
    }
}

async fn markers(t: &TestDb) -> usize {
    outbox_event::Entity::find()
        .filter(outbox_event::Column::Topic.eq("test.invitation.mailed"))
        .all(t.db.connection())
        .await
        .unwrap()
        .len()
}

async fn hook_sees_every_token(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let (svc, seen) = with(&fx.svc, false);
    let issued = svc
        .create_invitation(&org.ctx, invite("dana@example.test"))
        .await
        .unwrap();
    let resent = svc
        .resend_invitation(&org.ctx, issued.invitation.id)
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (
                issued.invitation.id,
                issued.token.expose().to_owned(),
                "Acme".to_owned(),
                InvitationIssue::Created
            ),
            (
                issued.invitation.id,
                resent.token.expose().to_owned(),
                "Acme".to_owned(),
                InvitationIssue::Resent
            ),
        ]
    );
    assert_eq!(markers(&t).await, 2, "the hook's writes committed");
}
helix_core::backend_test!(invitation_hook_sees_every_token, hook_sees_every_token);

async fn failing_hook_rolls_back(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.svc).await;
    let (svc, seen) = with(&fx.svc, true);
    let err = svc
        .create_invitation(&org.ctx, invite("erin@example.test"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "SERVICE_UNAVAILABLE");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let page = fx
        .svc
        .list_invitations(&org.ctx, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.meta.total, 0, "no invitation without its mail");
    assert_eq!(markers(&t).await, 0);
    // Without the hook the same invitation goes through.
    fx.svc
        .create_invitation(&org.ctx, invite("erin@example.test"))
        .await
        .unwrap();
}
helix_core::backend_test!(failing_invitation_hook_rolls_back, failing_hook_rolls_back);
