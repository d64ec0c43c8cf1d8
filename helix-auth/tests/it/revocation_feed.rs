//! The active-session cache and the revocation feed: answered from memory only while every
//! revocation is heard (PostgreSQL), never on SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use helix_auth::sessions::{SessionConfig, SessionMeta, SessionService};
use helix_core::migrate::{self, ModuleMigrations};
use helix_core::testing::{TestDb, run_postgres, run_sqlite};
use helix_core::{Kernel, ManualClock};
use sea_orm::ConnectionTrait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn service(t: &TestDb) -> SessionService {
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
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 8, 0, 0).unwrap());
    let kernel = Kernel::new(t.db.clone()).with_clock(Arc::new(clock));
    SessionService::new(kernel, SessionConfig::default()).unwrap()
}

/// Ends the session's idle period behind the service's back, with no announcement: only a
/// database read notices.
async fn expire_silently(t: &TestDb, session: Uuid) {
    let sql = match t.db.backend() {
        helix_core::Backend::Postgres => format!(
            "UPDATE auth_sessions SET idle_expires_at = '2000-01-01T00:00:00Z' WHERE id = '{session}'"
        ),
        helix_core::Backend::Sqlite => format!(
            "UPDATE auth_sessions SET idle_expires_at = '2000-01-01T00:00:00Z' \
             WHERE id = x'{}'",
            session.simple()
        ),
    };
    let done = t.db.connection().execute_unprepared(&sql).await.unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn follow(svc: &SessionService) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let svc = svc.clone();
        let stop = stop.clone();
        async move { svc.follow_revocations(stop).await }
    });
    (stop, task)
}

async fn postgres_cache(t: TestDb) {
    let svc = service(&t).await;
    assert!(!svc.follows_revocations());
    let (stop, task) = follow(&svc).await;
    // The first heartbeat makes the feed live (bounded wait for the listener to connect).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !svc.follows_revocations() {
        assert!(
            Instant::now() < deadline,
            "the revocation feed never went live"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Read once, then answered from memory: an unannounced change is not seen.
    let (cached, _) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    assert!(svc.is_active(cached.id).await.unwrap());
    expire_silently(&t, cached.id).await;
    assert!(
        svc.is_active(cached.id).await.unwrap(),
        "served from memory"
    );

    // A revocation by anyone (here an operator's SQL, as another instance would) is announced
    // by the trigger and refused within a second.
    let (revoked, _) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    assert!(svc.is_active(revoked.id).await.unwrap());
    t.db.connection()
        .execute_unprepared(&format!(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'revoked' \
             WHERE id = '{}'",
            revoked.id
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while svc.is_active(revoked.id).await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "a revoked session was still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A deleted session is announced too.
    let (deleted, _) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    assert!(svc.is_active(deleted.id).await.unwrap());
    t.db.connection()
        .execute_unprepared(&format!(
            "DELETE FROM auth_sessions WHERE id = '{}'",
            deleted.id
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while svc.is_active(deleted.id).await.unwrap() {
        assert!(
            Instant::now() < deadline,
            "a deleted session was still accepted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Once the feed stops, nothing is trusted from memory: the database answers again.
    stop.cancel();
    task.await.unwrap();
    assert!(!svc.follows_revocations());
    assert!(!svc.is_active(cached.id).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_answers_from_memory_and_hears_revocations() {
    run_postgres(postgres_cache).await;
}

async fn sqlite_reads_every_time(t: TestDb) {
    let svc = service(&t).await;
    let (stop, task) = follow(&svc).await;
    // On SQLite there is nothing to follow: the task ends at once and the cache stays off.
    task.await.unwrap();
    assert!(!svc.follows_revocations());
    let (session, _) = svc
        .start(Uuid::now_v7(), SessionMeta::normal())
        .await
        .unwrap();
    assert!(svc.is_active(session.id).await.unwrap());
    expire_silently(&t, session.id).await;
    assert!(!svc.is_active(session.id).await.unwrap());
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_has_no_cache() {
    run_sqlite(sqlite_reads_every_time).await;
}
