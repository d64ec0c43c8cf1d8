//! Keeping the policy cache fresh: reloads, read-your-writes tokens, in-process
//! invalidation, and on PostgreSQL cross-instance invalidation with catch-up after gaps.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helix_core::backend_test;
use helix_core::sea_orm::{ConnectionTrait, DbBackend, Statement};
use helix_core::testing::TestDb;
use helix_core::{Backend, Db, PoolOptions};
use helix_iam::model::{Revision, TenantSnapshot};
use helix_iam::store::NewRole;
use helix_iam::{IamError, IamSync, PolicyCache, RevisionToken};
use helix_tenancy::Role;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

/// The engine stand-in: snapshots by tenant, counting installs.
#[derive(Default)]
struct TestCache {
    map: Mutex<HashMap<Uuid, TenantSnapshot>>,
    installs: AtomicUsize,
}

impl TestCache {
    fn installs(&self) -> usize {
        self.installs.load(Ordering::SeqCst)
    }

    fn snapshot(&self, org: Uuid) -> Option<TenantSnapshot> {
        self.map.lock().unwrap().get(&org).cloned()
    }
}

impl PolicyCache for TestCache {
    fn loaded_revision(&self, org: Uuid) -> Option<Revision> {
        self.map.lock().unwrap().get(&org).map(|s| s.revision)
    }

    fn install(&self, snapshot: TenantSnapshot) -> Result<(), IamError> {
        let mut map = self.map.lock().unwrap();
        if map
            .get(&snapshot.org_id)
            .is_none_or(|held| held.revision < snapshot.revision)
        {
            self.installs.fetch_add(1, Ordering::SeqCst);
            map.insert(snapshot.org_id, snapshot);
        }
        Ok(())
    }

    fn evict(&self, org: Uuid) {
        self.map.lock().unwrap().remove(&org);
    }

    fn evict_all(&self) {
        self.map.lock().unwrap().clear();
    }

    fn loaded_tenants(&self) -> Vec<(Uuid, Revision)> {
        self.map
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, v.revision))
            .collect()
    }
}

fn sync_for(fx: &Fixture, cache: &Arc<TestCache>) -> IamSync {
    IamSync::new(fx.store.clone(), cache.clone(), templates())
        .with_heartbeat(Duration::from_millis(100))
}

/// Polls `cond` every 10 ms for at most 2 s (a bound, not a latency assertion).
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        if cond().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn role(key: &str) -> NewRole {
    NewRole {
        key: key.into(),
        name: key.into(),
        permissions: vec![PERMS[1].into()],
    }
}

struct Follower {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Follower {
    fn start(sync: &IamSync) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let sync = sync.clone();
            let stop = stop.clone();
            async move { sync.follow_changes(stop).await }
        });
        Self { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

async fn ensure_fresh_loads_and_reloads(t: TestDb) {
    let fx = setup(&t).await;
    let org = create_org(&fx.tenancy).await;
    let other = create_org(&fx.tenancy).await;
    let cache = Arc::new(TestCache::default());
    let sync = sync_for(&fx, &cache);

    // First check: loads, creating the built-in roles.
    let r1 = sync.ensure_fresh(&org.ctx, None).await.unwrap();
    assert_eq!(r1, revision(&fx.db, &org.ctx).await);
    let snap = cache.snapshot(org.id).unwrap();
    assert_eq!(snap.revision, r1);
    assert_eq!(snap.roles.len(), 4);
    assert_eq!(cache.installs(), 1);

    // Nothing changed: no reload.
    assert_eq!(sync.ensure_fresh(&org.ctx, None).await.unwrap(), r1);
    assert_eq!(cache.installs(), 1);

    // A write made by any code (here: tenancy's service) is seen at the next check.
    add_user(&fx.tenancy, &org, Role::Member).await;
    let r2 = sync.ensure_fresh(&org.ctx, None).await.unwrap();
    assert_eq!(r2.0, r1.0 + 1);
    assert_eq!(cache.installs(), 2);
    assert_eq!(cache.snapshot(org.id).unwrap().assignments.len(), 2);

    // In-process invalidation: the writer reports its commit, the entry goes at once.
    let (_, r3) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(&tx, role("writers"))
        .await
        .unwrap());
    sync.on_committed(org.id, r3);
    assert_eq!(cache.loaded_revision(org.id), None);
    // An older announcement does not evict a newer entry.
    assert_eq!(sync.ensure_fresh(&org.ctx, None).await.unwrap(), r3);
    sync.on_committed(org.id, r2);
    assert_eq!(cache.loaded_revision(org.id), Some(r3));

    // Read-your-writes with a token.
    let (_, r4) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(&tx, role("readers"))
        .await
        .unwrap());
    let token = RevisionToken::new(org.id, r4).to_string();
    assert_eq!(
        sync.ensure_fresh_with_token(&org.ctx, &token)
            .await
            .unwrap(),
        r4
    );
    assert!(
        cache
            .snapshot(org.id)
            .unwrap()
            .roles
            .iter()
            .any(|r| r.key == "readers")
    );

    // A token of another organization, a malformed one, one from the future.
    assert_eq!(
        code(sync.ensure_fresh_with_token(&other.ctx, &token).await),
        "INVALID_REVISION_TOKEN"
    );
    assert_eq!(
        code(sync.ensure_fresh_with_token(&org.ctx, "r1.garbage").await),
        "INVALID_REVISION_TOKEN"
    );
    let ahead = RevisionToken::new(org.id, Revision(r4.0 + 100)).to_string();
    let err = sync
        .ensure_fresh_with_token(&org.ctx, &ahead)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "REVISION_NOT_REACHED");
    let core: helix_core::Error = err.into();
    assert_eq!(core.status(), 409);

    // Concurrent first checks of a tenant load it once.
    let third = create_org(&fx.tenancy).await;
    let before = cache.installs();
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let sync = sync.clone();
        let ctx = third.ctx.clone();
        checks.spawn(async move { sync.ensure_fresh(&ctx, None).await.unwrap() });
    }
    let revisions: Vec<Revision> = checks.join_all().await;
    assert!(revisions.iter().all(|r| *r == revisions[0]));
    assert_eq!(cache.installs(), before + 1, "one load for eight checks");
    cache.evict(third.id);

    // Tenants are loaded independently.
    sync.ensure_fresh(&other.ctx, None).await.unwrap();
    assert_eq!(cache.loaded_tenants().len(), 2);
    assert!(
        !sync.is_live(),
        "no follower: every check compares with the database"
    );
}
backend_test!(
    ensure_fresh_loads_and_reloads,
    ensure_fresh_loads_and_reloads
);

async fn sqlite_has_no_change_feed(t: TestDb) {
    if t.db.backend() != Backend::Sqlite {
        return;
    }
    let fx = setup(&t).await;
    let cache = Arc::new(TestCache::default());
    let sync = sync_for(&fx, &cache);
    // Returns at once on SQLite.
    sync.follow_changes(CancellationToken::new()).await;
    assert!(!sync.is_live());
}
backend_test!(sqlite_has_no_change_feed, sqlite_has_no_change_feed);

/// A second server instance: its own pool on the same database.
async fn second_instance(t: &TestDb) -> Fixture {
    let db = Db::connect(
        &t.url,
        &PoolOptions {
            max_connections: 4,
            min_connections: 0,
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    fixture_on(db)
}

async fn a_write_on_instance_b_reaches_instance_a(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    let a = setup(&t).await;
    let b = second_instance(&t).await;
    let org = create_org(&a.tenancy).await;
    let cache = Arc::new(TestCache::default());
    let sync = sync_for(&a, &cache);
    let follower = Follower::start(&sync);
    eventually("the feed is live", || async { sync.is_live() }).await;

    let r1 = sync.ensure_fresh(&org.ctx, None).await.unwrap();
    let installs = cache.installs();
    // While live and unchanged, memory answers.
    assert_eq!(sync.ensure_fresh(&org.ctx, None).await.unwrap(), r1);
    assert_eq!(cache.installs(), installs);

    // A role created on B evicts A's entry through NOTIFY.
    let (_, rb) = in_tx!(b.db, &org.ctx, |tx| b
        .store
        .create_role(&tx, role("from_b"))
        .await
        .unwrap());
    eventually("A drops the stale policy", || async {
        cache.loaded_revision(org.id) != Some(r1)
    })
    .await;
    assert_eq!(sync.ensure_fresh(&org.ctx, None).await.unwrap(), rb);
    assert!(
        cache
            .snapshot(org.id)
            .unwrap()
            .roles
            .iter()
            .any(|r| r.key == "from_b")
    );

    // A membership change made by tenancy on B, too (the trigger notifies).
    add_user(&b.tenancy, &org, Role::Admin).await;
    eventually("A drops the policy after a membership change", || async {
        cache.loaded_revision(org.id) != Some(rb)
    })
    .await;

    // Read-your-writes: with B's token, A is fresh at once, notification or not.
    sync.ensure_fresh(&org.ctx, None).await.unwrap();
    let (_, rc) = in_tx!(b.db, &org.ctx, |tx| b
        .store
        .create_role(&tx, role("token"))
        .await
        .unwrap());
    let token = RevisionToken::new(org.id, rc).to_string();
    assert!(
        sync.ensure_fresh_with_token(&org.ctx, &token)
            .await
            .unwrap()
            >= rc
    );
    assert!(
        cache
            .snapshot(org.id)
            .unwrap()
            .roles
            .iter()
            .any(|r| r.key == "token")
    );

    follower.stop().await;
    assert!(!sync.is_live());
}
backend_test!(
    a_write_on_instance_b_reaches_instance_a,
    a_write_on_instance_b_reaches_instance_a
);

async fn a_write_missed_during_a_gap_is_caught_up(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    let a = setup(&t).await;
    let b = second_instance(&t).await;
    let x = create_org(&a.tenancy).await;
    let y = create_org(&a.tenancy).await;
    let cache = Arc::new(TestCache::default());
    let sync = sync_for(&a, &cache);

    let follower = Follower::start(&sync);
    eventually("the feed is live", || async { sync.is_live() }).await;
    let rx = sync.ensure_fresh(&x.ctx, None).await.unwrap();
    let ry = sync.ensure_fresh(&y.ctx, None).await.unwrap();

    // The feed goes away; B writes X meanwhile: that notification is lost for good.
    follower.stop().await;
    in_tx!(b.db, &x.ctx, |tx| b
        .store
        .create_role(&tx, role("missed"))
        .await
        .unwrap());
    assert_eq!(cache.loaded_revision(x.id), Some(rx), "nobody told A");

    // The feed comes back: the catch-up compares revisions and evicts X only, without
    // waiting for a check of X.
    let follower = Follower::start(&sync);
    eventually("the catch-up evicts X", || async {
        cache.loaded_revision(x.id).is_none()
    })
    .await;
    eventually("the feed is live again", || async { sync.is_live() }).await;
    assert_eq!(cache.loaded_revision(y.id), Some(ry), "Y did not move");
    let fresh = sync.ensure_fresh(&x.ctx, None).await.unwrap();
    assert!(fresh > rx);
    assert!(
        cache
            .snapshot(x.id)
            .unwrap()
            .roles
            .iter()
            .any(|r| r.key == "missed")
    );

    // A dropped listener connection (a real gap, not a stop) ends the same way.
    let admin = &a.db;
    let killed = admin
        .connection()
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND query ILIKE '%LISTEN%helix_iam_changed%'"
                .to_owned(),
        ))
        .await
        .unwrap();
    assert!(
        killed.rows_affected() >= 1,
        "the listener connection was found"
    );
    in_tx!(b.db, &x.ctx, |tx| b
        .store
        .create_role(&tx, role("after_kill"))
        .await
        .unwrap());
    eventually("X is evicted after the connection loss", || async {
        cache.loaded_revision(x.id) != Some(fresh)
    })
    .await;
    eventually("the feed recovers", || async { sync.is_live() }).await;
    let again = sync.ensure_fresh(&x.ctx, None).await.unwrap();
    assert!(again > fresh);
    follower.stop().await;
}
backend_test!(
    a_write_missed_during_a_gap_is_caught_up,
    a_write_missed_during_a_gap_is_caught_up
);
