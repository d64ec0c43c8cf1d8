//! Sessions and refresh-token families, on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use helix_auth::sessions::{
    RevokeReason, SessionConfig, SessionError, SessionKind, SessionMeta, SessionService,
};
use helix_core::migrate::{self, ModuleMigrations};
use helix_core::testing::TestDb;
use helix_core::{Kernel, ManualClock, RequestMeta, backend_test};
use uuid::Uuid;

async fn migrated(t: &TestDb) {
    migrate::run(
        &t.db,
        &[
            ModuleMigrations {
                module: "helix-core",
                migrations: helix_core::schema::migrations(),
            },
            ModuleMigrations {
                module: "helix-auth",
                migrations: helix_auth::migrations::migrations(),
            },
        ],
    )
    .await
    .unwrap();
}

/// A migrated database and a service whose clock only moves when told.
async fn setup(t: &TestDb) -> (SessionService, ManualClock) {
    migrated(t).await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 8, 0, 0).unwrap());
    let kernel = Kernel::new(t.db.clone()).with_clock(Arc::new(clock.clone()));
    (
        SessionService::new(kernel, SessionConfig::default()).unwrap(),
        clock,
    )
}

backend_test!(refresh_rotates_the_token, refresh_rotates_the_token_body);
async fn refresh_rotates_the_token_body(t: TestDb) {
    let (svc, clock) = setup(&t).await;
    let account = Uuid::now_v7();
    let meta = RequestMeta {
        user_agent: Some("Firefox/140".into()),
        ip: Some("203.0.113.7".parse().unwrap()),
        ..RequestMeta::new_internal()
    };
    let (session, first) = svc
        .start(account, SessionMeta::from_request(&meta))
        .await
        .unwrap();
    assert!(!format!("{first:?}").contains(first.expose_secret()));
    assert_eq!(first.expose_secret().len(), 43);
    assert_eq!(
        session.absolute_expires_at - session.created_at,
        Duration::hours(12)
    );
    assert_eq!(
        session.idle_expires_at - session.created_at,
        Duration::minutes(30)
    );
    clock.advance(Duration::minutes(5));
    let (after, second) = svc.refresh(first.expose_secret()).await.unwrap();
    assert_ne!(first.expose_secret(), second.expose_secret());
    assert_eq!(after.id, session.id);
    assert_eq!(after.last_seen_at, clock_now(&clock));
    assert_eq!(
        after.idle_expires_at,
        clock_now(&clock) + Duration::minutes(30)
    );
    let listed = svc.list(account).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user_agent.as_deref(), Some("Firefox/140"));
    assert_eq!(listed[0].ip, meta.ip);
    assert_eq!(listed[0].last_seen_at, clock_now(&clock));
    assert!(svc.is_active(session.id).await.unwrap());
    // Unknown and malformed tokens are simply invalid.
    for bad in ["", "short", &"A".repeat(43), &"é".repeat(40)] {
        assert!(matches!(
            svc.refresh(bad).await,
            Err(SessionError::InvalidRefreshToken)
        ));
    }
}

fn clock_now(c: &ManualClock) -> chrono::DateTime<Utc> {
    use helix_core::Clock;
    c.now()
}

backend_test!(
    concurrent_refreshes_yield_one_token,
    concurrent_refreshes_body
);
async fn concurrent_refreshes_body(t: TestDb) {
    let (svc, _clock) = setup(&t).await;
    let (session, token) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let svc = svc.clone();
        let secret = token.expose_secret().to_owned();
        tasks.spawn(async move { svc.refresh(&secret).await });
    }
    let mut winners = Vec::new();
    let mut races = 0;
    while let Some(res) = tasks.join_next().await {
        match res.unwrap() {
            Ok((_, next)) => winners.push(next),
            Err(SessionError::RefreshRace) => races += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((winners.len(), races), (1, 15));
    assert!(
        svc.is_active(session.id).await.unwrap(),
        "family still alive"
    );
    let (_, third) = svc.refresh(winners[0].expose_secret()).await.unwrap();
    assert!(svc.refresh(third.expose_secret()).await.is_ok());
    let e: helix_core::Error = SessionError::RefreshRace.into();
    assert_eq!((e.status(), e.code()), (409, "REFRESH_RACE"));
}

backend_test!(reuse_after_grace_revokes_the_family, reuse_after_grace_body);
async fn reuse_after_grace_body(t: TestDb) {
    let (svc, clock) = setup(&t).await;
    let (session, t0) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    let (_, t1) = svc.refresh(t0.expose_secret()).await.unwrap();
    // Within the grace window, the parent is a race, not reuse.
    clock.advance(Duration::seconds(5));
    assert!(matches!(
        svc.refresh(t0.expose_secret()).await,
        Err(SessionError::RefreshRace)
    ));
    clock.advance(Duration::seconds(6));
    assert!(matches!(
        svc.refresh(t0.expose_secret()).await,
        Err(SessionError::RefreshReused)
    ));
    let revoked = svc.get(session.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("reuse_detected"));
    assert!(!svc.is_active(session.id).await.unwrap());
    // The newest token died with its family.
    assert!(matches!(
        svc.refresh(t1.expose_secret()).await,
        Err(SessionError::SessionRevoked)
    ));
    let e: helix_core::Error = SessionError::RefreshReused.into();
    assert_eq!(e.status(), 401);
}

backend_test!(
    older_generation_is_reuse_even_in_grace,
    older_generation_body
);
async fn older_generation_body(t: TestDb) {
    let (svc, _clock) = setup(&t).await;
    let (session, t0) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    let (_, t1) = svc.refresh(t0.expose_secret()).await.unwrap();
    let (_, t2) = svc.refresh(t1.expose_secret()).await.unwrap();
    assert!(matches!(
        svc.refresh(t0.expose_secret()).await,
        Err(SessionError::RefreshReused)
    ));
    assert!(!svc.is_active(session.id).await.unwrap());
    // A second node (no shared memory) sees the revocation through the database.
    let other = SessionService::new(Kernel::new(t.db.clone()), SessionConfig::default()).unwrap();
    assert!(!other.is_active(session.id).await.unwrap());
    assert!(matches!(
        other.refresh(t2.expose_secret()).await,
        Err(SessionError::SessionRevoked)
    ));
}

backend_test!(idle_timeout_ends_a_session, idle_timeout_body);
async fn idle_timeout_body(t: TestDb) {
    let (svc, clock) = setup(&t).await;
    let (session, t0) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    clock.advance(Duration::minutes(29));
    let (_, t1) = svc.refresh(t0.expose_secret()).await.unwrap();
    clock.advance(Duration::minutes(29));
    assert!(
        svc.is_active(session.id).await.unwrap(),
        "refresh extended it"
    );
    clock.advance(Duration::minutes(1));
    assert!(!svc.is_active(session.id).await.unwrap());
    assert!(matches!(
        svc.refresh(t1.expose_secret()).await,
        Err(SessionError::SessionExpired)
    ));
    assert!(svc.list(session.account_id).await.unwrap().is_empty());
}

backend_test!(absolute_lifetime_ends_a_session, absolute_lifetime_body);
async fn absolute_lifetime_body(t: TestDb) {
    let (svc, clock) = setup(&t).await;
    let (session, mut token) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    // Refreshed every 20 minutes, it still ends 12 hours after sign-in.
    for _ in 0..35 {
        clock.advance(Duration::minutes(20));
        let (s, next) = svc.refresh(token.expose_secret()).await.unwrap();
        assert!(s.idle_expires_at <= session.absolute_expires_at);
        assert!(next.expires_at() <= session.absolute_expires_at);
        token = next;
    }
    clock.advance(Duration::minutes(20));
    assert_eq!(clock_now(&clock), session.absolute_expires_at);
    assert!(matches!(
        svc.refresh(token.expose_secret()).await,
        Err(SessionError::SessionExpired)
    ));
    assert!(!svc.is_active(session.id).await.unwrap());

    let (admin, _) = svc
        .start(Uuid::now_v7(), SessionMeta::normal().admin())
        .await
        .unwrap();
    assert_eq!(admin.kind, SessionKind::Admin);
    assert_eq!(
        admin.absolute_expires_at - admin.created_at,
        Duration::hours(4)
    );
}

backend_test!(impersonation_is_short_and_not_renewable, impersonation_body);
async fn impersonation_body(t: TestDb) {
    let (svc, clock) = setup(&t).await;
    let (user, support) = (Uuid::now_v7(), Uuid::now_v7());
    let s = svc
        .start_impersonation(user, support, SessionMeta::normal())
        .await
        .unwrap();
    assert_eq!(
        (s.kind, s.actor_account_id),
        (SessionKind::Impersonation, Some(support))
    );
    assert_eq!(s.absolute_expires_at - s.created_at, Duration::minutes(30));
    assert!(svc.is_active(s.id).await.unwrap());
    clock.advance(Duration::minutes(30));
    assert!(!svc.is_active(s.id).await.unwrap());
    let mut meta = SessionMeta::normal();
    meta.kind = SessionKind::Impersonation;
    assert!(matches!(
        svc.start(user, meta).await,
        Err(SessionError::NotRenewable)
    ));
}

backend_test!(revoke_one_all_others_and_all, revoke_body);
async fn revoke_body(t: TestDb) {
    let (svc, _clock) = setup(&t).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mine = Vec::new();
    for _ in 0..4 {
        mine.push(svc.start(alice, SessionMeta::normal()).await.unwrap());
    }
    let (bobs, bob_token) = svc.start(bob, SessionMeta::normal()).await.unwrap();

    // One.
    assert!(
        svc.revoke(mine[0].0.id, RevokeReason::Logout)
            .await
            .unwrap()
    );
    assert!(
        !svc.revoke(mine[0].0.id, RevokeReason::Logout)
            .await
            .unwrap()
    );
    assert!(!svc.is_active(mine[0].0.id).await.unwrap());
    assert!(matches!(
        svc.refresh(mine[0].1.expose_secret()).await,
        Err(SessionError::SessionRevoked)
    ));
    assert_eq!(svc.list(alice).await.unwrap().len(), 3);
    // Someone else's session is not found.
    assert!(matches!(
        svc.revoke_owned(alice, bobs.id, RevokeReason::Revoked)
            .await,
        Err(SessionError::NotFound)
    ));
    svc.revoke_owned(alice, mine[1].0.id, RevokeReason::Revoked)
        .await
        .unwrap();
    assert!(!svc.is_active(mine[1].0.id).await.unwrap());

    // All others.
    let keep = mine[2].0.id;
    let n = svc
        .revoke_all_except(alice, keep, RevokeReason::PasswordChanged)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let left: Vec<Uuid> = svc
        .list(alice)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [keep]);
    assert_eq!(
        svc.get(mine[3].0.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_reason
            .as_deref(),
        Some("password_changed")
    );

    // All.
    assert_eq!(
        svc.revoke_all(alice, RevokeReason::Revoked).await.unwrap(),
        1
    );
    assert!(svc.list(alice).await.unwrap().is_empty());
    assert!(!svc.is_active(keep).await.unwrap());
    // Bob is untouched.
    assert!(svc.is_active(bobs.id).await.unwrap());
    assert!(svc.refresh(bob_token.expose_secret()).await.is_ok());
}

backend_test!(expired_refresh_token_is_invalid, expired_refresh_token_body);
async fn expired_refresh_token_body(t: TestDb) {
    migrated(&t).await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 8, 0, 0).unwrap());
    let kernel = Kernel::new(t.db.clone()).with_clock(Arc::new(clock.clone()));
    let config = SessionConfig {
        refresh_ttl_secs: 60,
        ..SessionConfig::default()
    };
    let svc = SessionService::new(kernel, config).unwrap();
    let (session, token) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    clock.advance(Duration::seconds(60));
    assert!(matches!(
        svc.refresh(token.expose_secret()).await,
        Err(SessionError::InvalidRefreshToken)
    ));
    assert!(
        svc.is_active(session.id).await.unwrap(),
        "an expired token revokes nothing"
    );
}

backend_test!(unflushed_refresh_rotates_the_same_way, durable_refresh_body);
/// With `durable_refresh` off (the rotation does not wait for the flush) a refresh answers
/// exactly as with it: a new token of the next generation, the session extended, the old
/// token a reuse that revokes the family once the grace window has passed.
async fn durable_refresh_body(t: TestDb) {
    migrated(&t).await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 8, 0, 0).unwrap());
    let kernel = Kernel::new(t.db.clone()).with_clock(Arc::new(clock.clone()));
    let config = SessionConfig {
        durable_refresh: false,
        ..SessionConfig::default()
    };
    let svc = SessionService::new(kernel, config).unwrap();
    let (session, first) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    clock.advance(Duration::minutes(1));
    let (after, second) = svc.refresh(first.expose_secret()).await.unwrap();
    assert_eq!(after.id, session.id);
    assert_eq!(
        after.idle_expires_at,
        clock_now(&clock) + Duration::minutes(30)
    );
    let (_, third) = svc.refresh(second.expose_secret()).await.unwrap();
    assert_ne!(second.expose_secret(), third.expose_secret());
    clock.advance(Duration::minutes(1));
    assert!(matches!(
        svc.refresh(first.expose_secret()).await,
        Err(SessionError::RefreshReused)
    ));
    assert!(!svc.is_active(session.id).await.unwrap());
}

backend_test!(
    rotation_function_rotates_in_one_call,
    rotation_function_body
);
/// On PostgreSQL the common refresh is the database function `helix_auth_rotate_refresh`
/// called in one round trip: called directly it rotates a fresh token (a row naming the
/// session), and a second call with the same token rotates nothing (no row), so the service
/// falls back to the step-by-step path only to say why. (SQLite has no such function.)
async fn rotation_function_body(t: TestDb) {
    use helix_core::PlatformContext;
    use helix_core::db::{CallArg, Commit};
    use sha2::{Digest, Sha256};
    let (svc, clock) = setup(&t).await;
    if t.db.backend() != helix_core::Backend::Postgres {
        return;
    }
    let (session, first) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    let now = clock_now(&clock) + Duration::minutes(1);
    let hash = hex::encode(Sha256::digest(first.expose_secret().as_bytes()));
    let next = "f".repeat(64);
    let ctx = PlatformContext::new(helix_core::Actor::System("test".into()));
    let call = |hash: String| {
        let db = t.db.clone();
        let ctx = ctx.clone();
        let next = next.clone();
        async move {
            db.platform_call(
                &ctx,
                "helix_auth_rotate_refresh",
                &[
                    CallArg::Timestamp(now),
                    CallArg::Text(&hash),
                    CallArg::Text(&next),
                    CallArg::Timestamp(now + Duration::days(7)),
                    CallArg::Timestamp(now + Duration::minutes(30)),
                ],
                Commit::Unflushed,
            )
            .await
            .unwrap()
        }
    };
    let row = call(hash.clone()).await.expect("the fresh token rotates");
    assert_eq!(row.try_get::<Uuid>("", "id").unwrap(), session.id);
    let idle: chrono::DateTime<Utc> = row.try_get("", "idle_expires_at").unwrap();
    assert_eq!(idle, now + Duration::minutes(30));
    let expires: chrono::DateTime<Utc> = row.try_get("", "t_expires_at").unwrap();
    assert_eq!(
        expires,
        session.absolute_expires_at.min(now + Duration::days(7))
    );
    assert!(call(hash).await.is_none(), "a used token rotates nothing");
}
