//! Impersonation at the service level, on SQLite and PostgreSQL: the checks, the 30-minute
//! session that cannot be renewed, its expiry on a manual clock, and the records.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use helix_auth::impersonation::{ImpersonationRequest, ImpersonationService, PlatformRoles};
use helix_auth::sessions::{SessionConfig, SessionKind, SessionMeta, SessionService};
use helix_auth::{AuthError, AuthService};
use helix_core::audit::{PLATFORM_CHAIN, entity as audit_entity};
use helix_core::testing::TestDb;
use helix_core::{Actor, ManualClock, backend_test};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::support::{fast_config, kernel, meta, verified_account};

/// Support accounts by id.
struct Support(HashSet<Uuid>);

#[async_trait::async_trait]
impl PlatformRoles for Support {
    async fn may_impersonate(&self, account_id: Uuid) -> Result<bool, helix_core::Error> {
        Ok(self.0.contains(&account_id))
    }
}

struct Fixture {
    auth: AuthService,
    sessions: SessionService,
    imp: ImpersonationService,
    clock: ManualClock,
    support: Uuid,
    other_support: Uuid,
    ada: Uuid,
    bob: Uuid,
}

async fn setup(t: &TestDb) -> Fixture {
    let (kernel, clock) = kernel(t).await;
    let auth = AuthService::builder(kernel.clone(), fast_config())
        .build()
        .unwrap();
    let sessions = SessionService::new(kernel, SessionConfig::default()).unwrap();
    let support = verified_account(&auth, "support@example.test").await;
    let other_support = verified_account(&auth, "support2@example.test").await;
    let ada = verified_account(&auth, "ada@example.test").await;
    let bob = verified_account(&auth, "bob@example.test").await;
    let roles = Arc::new(Support([support, other_support].into_iter().collect()));
    let imp = ImpersonationService::new(auth.clone(), sessions.clone(), roles);
    Fixture {
        auth,
        sessions,
        imp,
        clock,
        support,
        other_support,
        ada,
        bob,
    }
}

fn request(account_id: Uuid, reason: Option<&str>) -> ImpersonationRequest {
    ImpersonationRequest {
        account_id,
        reason: reason.map(str::to_owned),
        active_org_id: None,
    }
}

fn code(r: Result<impl std::fmt::Debug, AuthError>) -> &'static str {
    r.expect_err("expected a refusal").code()
}

async fn kinds(auth: &AuthService, account: Uuid) -> Vec<String> {
    auth.security_events(account, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

backend_test!(impersonation_checks, impersonation_checks_body);
async fn impersonation_checks_body(t: TestDb) {
    let f = setup(&t).await;
    let support = Actor::User(f.support);
    let reason = Some("ticket 7");

    // Not a support account.
    let r = f
        .imp
        .start(&meta(), &Actor::User(f.bob), &request(f.ada, reason))
        .await;
    assert_eq!(code(r), "FORBIDDEN");
    assert!(
        kinds(&f.auth, f.bob)
            .await
            .contains(&"impersonation_refused".into())
    );
    // Not a user at all.
    let r = f
        .imp
        .start(
            &meta(),
            &Actor::System("job".into()),
            &request(f.ada, reason),
        )
        .await;
    assert_eq!(code(r), "FORBIDDEN");
    // From an impersonation.
    let nested = Actor::Impersonated {
        user: f.bob,
        impersonator: f.support,
    };
    let r = f.imp.start(&meta(), &nested, &request(f.ada, reason)).await;
    assert_eq!(code(r), "IMPERSONATION_FORBIDDEN");
    // The reason.
    for bad in [None, Some(""), Some("  \t ")] {
        let r = f.imp.start(&meta(), &support, &request(f.ada, bad)).await;
        assert_eq!(code(r), "VALIDATION_ERROR");
    }
    let long = "r".repeat(501);
    let r = f
        .imp
        .start(&meta(), &support, &request(f.ada, Some(&long)))
        .await;
    assert_eq!(code(r), "VALIDATION_ERROR");
    // Oneself, another support account, nobody.
    for target in [f.support, f.other_support] {
        let r = f
            .imp
            .start(&meta(), &support, &request(target, reason))
            .await;
        assert_eq!(code(r), "IMPERSONATION_FORBIDDEN");
    }
    let r = f
        .imp
        .start(&meta(), &support, &request(Uuid::now_v7(), reason))
        .await;
    assert_eq!(code(r), "NOT_FOUND");
    // Nothing was started.
    assert!(f.sessions.list(f.ada).await.unwrap().is_empty());
}

backend_test!(impersonation_session_lifecycle, impersonation_session_body);
async fn impersonation_session_body(t: TestDb) {
    let f = setup(&t).await;
    let (own, _) = f
        .sessions
        .start(f.ada, SessionMeta::normal())
        .await
        .unwrap();
    let session = f
        .imp
        .start(
            &meta(),
            &Actor::User(f.support),
            &request(f.ada, Some("  ticket 7 ")),
        )
        .await
        .unwrap();
    assert_eq!(session.kind, SessionKind::Impersonation);
    assert_eq!(session.account_id, f.ada);
    assert_eq!(session.actor_account_id, Some(f.support));
    // 30 minutes, whatever the idle timeout; nothing can renew it.
    assert_eq!(
        session.absolute_expires_at - session.created_at,
        Duration::minutes(30)
    );
    assert_eq!(session.idle_expires_at, session.absolute_expires_at);
    assert!(matches!(
        f.sessions
            .start(
                f.ada,
                SessionMeta {
                    kind: SessionKind::Impersonation,
                    ..SessionMeta::normal()
                }
            )
            .await,
        Err(helix_auth::sessions::SessionError::NotRenewable)
    ));

    // The target sees it among their sessions.
    let listed = f.sessions.list(f.ada).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|s| s.id == session.id && s.kind == SessionKind::Impersonation)
    );
    assert!(listed.iter().any(|s| s.id == own.id));

    // Recorded: events on both accounts with the trimmed reason, one platform audit row.
    for account in [f.support, f.ada] {
        let events = f.auth.security_events(account, 100).await.unwrap();
        let started = events
            .iter()
            .find(|e| e.kind == "impersonation_started")
            .expect("an impersonation_started event");
        assert_eq!(started.data["reason"], "ticket 7");
        assert_eq!(started.data["session_id"], session.id.to_string());
    }
    let audit = audit_entity::Entity::find()
        .filter(audit_entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(audit_entity::Column::Action.eq("auth.impersonation.started"))
        .all(t.db.connection())
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, format!("user:{}", f.support));
    assert_eq!(audit[0].entity_id, Some(f.ada.to_string()));
    assert_eq!(audit[0].data["reason"], "ticket 7");

    // Active until 30 minutes, then over.
    f.clock.advance(Duration::minutes(29));
    assert!(f.sessions.is_active(session.id).await.unwrap());
    f.clock.advance(Duration::minutes(1));
    assert!(!f.sessions.is_active(session.id).await.unwrap());
    assert!(f.sessions.is_active(own.id).await.is_ok());

    // Ending: a normal session is not an impersonation.
    assert_eq!(code(f.imp.end(&meta(), own.id).await), "NOT_FOUND");
    let second = f
        .imp
        .start(
            &meta(),
            &Actor::User(f.support),
            &request(f.bob, Some("t8")),
        )
        .await
        .unwrap();
    assert!(f.imp.end(&meta(), second.id).await.unwrap());
    assert!(!f.sessions.is_active(second.id).await.unwrap());
    assert!(!f.imp.end(&meta(), second.id).await.unwrap());
    for account in [f.support, f.bob] {
        let ended = kinds(&f.auth, account)
            .await
            .into_iter()
            .filter(|k| k == "impersonation_ended")
            .count();
        assert_eq!(ended, 1);
    }
}
