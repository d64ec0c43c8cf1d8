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

/// An account row written behind the services' back (as another instance would).
async fn insert_account(t: &TestDb, id: Uuid, email: &str) {
    t.db.connection()
        .execute_unprepared(&format!(
            "INSERT INTO auth_accounts (id, email, password_hash, failed_logins, created_at, updated_at) \
             VALUES ('{id}', '{email}', 'x', 0, now(), now())"
        ))
        .await
        .unwrap();
}

/// What the profile loader reads, counting its calls.
async fn load_profile(
    t: &TestDb,
    id: Uuid,
    loads: &std::sync::atomic::AtomicUsize,
) -> Result<helix_auth::AccountProfile, helix_auth::AuthError> {
    loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let row =
        t.db.connection()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT email, email_verified_at IS NOT NULL AS verified, created_at \
                 FROM auth_accounts WHERE id = '{id}'"
                ),
            ))
            .await
            .unwrap()
            .ok_or(helix_auth::AuthError::AccountNotFound)?;
    Ok(helix_auth::AccountProfile {
        account_id: id,
        email: row.try_get("", "email").unwrap(),
        email_verified: row.try_get("", "verified").unwrap(),
        created_at: row.try_get("", "created_at").unwrap(),
    })
}

async fn postgres_profiles(t: TestDb) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let svc = service(&t).await;
    let id = Uuid::now_v7();
    insert_account(&t, id, "profile@example.com").await;
    let loads = AtomicUsize::new(0);

    // Without a live feed every read goes to the database.
    for _ in 0..2 {
        svc.account_profile(id, || load_profile(&t, id, &loads))
            .await
            .unwrap();
    }
    assert_eq!(loads.load(Ordering::SeqCst), 2);

    let (stop, task) = follow(&svc).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !svc.follows_revocations() {
        assert!(Instant::now() < deadline, "the feed never went live");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Read once, then from memory; columns the profile does not show are not announced.
    let first = svc
        .account_profile(id, || load_profile(&t, id, &loads))
        .await
        .unwrap();
    assert!(!first.email_verified);
    t.db.connection()
        .execute_unprepared(&format!(
            "UPDATE auth_accounts SET failed_logins = 1, last_login_at = now() WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..3 {
        let again = svc
            .account_profile(id, || load_profile(&t, id, &loads))
            .await
            .unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 3, "served from memory");

    // Verifying the email behind the service's back (another instance) is announced by the
    // trigger and seen within a second.
    t.db.connection()
        .execute_unprepared(&format!(
            "UPDATE auth_accounts SET email_verified_at = now() WHERE id = '{id}'"
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let p = svc
            .account_profile(id, || load_profile(&t, id, &loads))
            .await
            .unwrap();
        if p.email_verified {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a changed account was still served stale after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A local change is dropped at once by `forget_accounts`, without waiting.
    let before = loads.load(Ordering::SeqCst);
    svc.forget_accounts([id]);
    svc.account_profile(id, || load_profile(&t, id, &loads))
        .await
        .unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), before + 1);

    // A deleted account is announced too: the next read goes to the database (and fails).
    t.db.connection()
        .execute_unprepared(&format!("DELETE FROM auth_accounts WHERE id = '{id}'"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while svc
        .account_profile(id, || load_profile(&t, id, &loads))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "a deleted account was still served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Once the feed stops, nothing is served from memory.
    insert_account(&t, id, "profile@example.com").await;
    svc.account_profile(id, || load_profile(&t, id, &loads))
        .await
        .unwrap();
    stop.cancel();
    task.await.unwrap();
    let before = loads.load(Ordering::SeqCst);
    svc.account_profile(id, || load_profile(&t, id, &loads))
        .await
        .unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_profiles_follow_account_changes() {
    run_postgres(postgres_profiles).await;
}

/// A host's MFA policy that counts how often helix-auth asks it.
#[derive(Default)]
struct CountingPolicy {
    asked: std::sync::atomic::AtomicUsize,
    required: std::sync::atomic::AtomicBool,
    /// Answer [`helix_auth::MfaPolicy::Account`] (never cacheable).
    per_account: bool,
}

impl CountingPolicy {
    fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn set(&self, required: bool) {
        self.required
            .store(required, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl helix_auth::MfaRequirement for CountingPolicy {
    async fn required_for(&self, _: Uuid, _: Uuid) -> Result<bool, helix_core::Error> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(self.required.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn policy(
        &self,
        org_id: Uuid,
        account_id: Uuid,
    ) -> Result<helix_auth::MfaPolicy, helix_core::Error> {
        let required = self.required_for(org_id, account_id).await?;
        Ok(if self.per_account {
            helix_auth::MfaPolicy::Account { required }
        } else {
            helix_auth::MfaPolicy::Organization { required }
        })
    }
}

async fn postgres_mfa_policy_cache(t: TestDb) {
    let svc = service(&t).await;
    let policy = CountingPolicy::default();
    let (org, other_org) = (Uuid::now_v7(), Uuid::now_v7());
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    // Without a live feed the host is asked every time.
    assert!(
        !svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
    assert!(
        !svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
    assert_eq!(policy.asked(), 2);

    let (stop, task) = follow(&svc).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !svc.follows_revocations() {
        assert!(Instant::now() < deadline, "the feed never went live");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // An organization answer is asked once, then served for every account of it.
    assert!(
        !svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
    assert!(
        !svc.organization_requires_mfa(&policy, org, bob)
            .await
            .unwrap()
    );
    assert_eq!(policy.asked(), 3);
    // Another organization is its own entry.
    assert!(
        !svc.organization_requires_mfa(&policy, other_org, alice)
            .await
            .unwrap()
    );
    assert_eq!(policy.asked(), 4);

    // A change that is not announced is not seen...
    policy.set(true);
    assert!(
        !svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
    // ...an announced one (here an operator's NOTIFY, as the host's trigger on another
    // instance would send it) is, within a second, and only for that organization.
    t.db.connection()
        .execute_unprepared(&format!(
            "SELECT pg_notify('{}', '{org}')",
            helix_auth::MFA_POLICY_CHANNEL
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while !svc
        .organization_requires_mfa(&policy, org, bob)
        .await
        .unwrap()
    {
        assert!(
            Instant::now() < deadline,
            "an announced MFA policy change was not seen after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !svc.organization_requires_mfa(&policy, other_org, bob)
            .await
            .unwrap()
    );

    // The instance that makes a change forgets at once.
    policy.set(false);
    svc.forget_mfa_policies([org]);
    assert!(
        !svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
    let asked = policy.asked();
    assert!(
        !svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
    assert_eq!(policy.asked(), asked, "cached again");

    // Answers for one account only are never cached.
    let per_account = CountingPolicy {
        per_account: true,
        ..CountingPolicy::default()
    };
    per_account.set(true);
    let third_org = Uuid::now_v7();
    for _ in 0..3 {
        assert!(
            svc.organization_requires_mfa(&per_account, third_org, alice)
                .await
                .unwrap()
        );
    }
    assert_eq!(per_account.asked(), 3);

    // Once the feed stops, nothing is served from memory.
    stop.cancel();
    task.await.unwrap();
    policy.set(true);
    assert!(
        svc.organization_requires_mfa(&policy, org, alice)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_caches_organization_mfa_policies_until_announced() {
    run_postgres(postgres_mfa_policy_cache).await;
}

async fn sqlite_mfa_policy_asked_every_time(t: TestDb) {
    let svc = service(&t).await;
    let (stop, task) = follow(&svc).await;
    task.await.unwrap();
    let policy = CountingPolicy::default();
    let org = Uuid::now_v7();
    assert!(
        !svc.organization_requires_mfa(&policy, org, Uuid::now_v7())
            .await
            .unwrap()
    );
    policy.set(true);
    assert!(
        svc.organization_requires_mfa(&policy, org, Uuid::now_v7())
            .await
            .unwrap()
    );
    assert_eq!(policy.asked(), 2);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_asks_the_mfa_policy_every_time() {
    run_sqlite(sqlite_mfa_policy_asked_every_time).await;
}
