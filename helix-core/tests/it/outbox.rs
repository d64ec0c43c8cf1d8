//! The outbox dispatcher: delivery after commit, nothing after rollback, restart, retries with
//! backoff into dead letters, idempotent redelivery, and concurrent dispatchers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use helix_core::outbox::{
    self, Dispatcher, HandlerError, OutboxEvent, RunStats, Subscriber, topic_matches,
};
use helix_core::testing::TestDb;
use helix_core::{
    Actor, Backend, Clock, Db, Error, Helix, Kernel, ManualClock, PlatformContext, PoolOptions,
    TenantContext, backend_test,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement, Value};
use serde_json::json;
use uuid::Uuid;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

/// A subscriber that records one effect row per handled event, in the handler transaction.
#[derive(Clone)]
struct Recorder {
    name: &'static str,
    pattern: &'static str,
    /// Fail (retryably) while set.
    failing: Arc<AtomicBool>,
    /// Panic while set.
    panicking: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<OutboxEvent>>>,
}

impl Recorder {
    fn new(name: &'static str, pattern: &'static str) -> Self {
        Self {
            name,
            pattern,
            failing: Arc::default(),
            panicking: Arc::default(),
            calls: Arc::default(),
            seen: Arc::default(),
        }
    }
}

#[helix_core::async_trait::async_trait]
impl Subscriber for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    fn accepts(&self, topic: &str) -> bool {
        topic_matches(self.pattern, topic)
    }

    async fn handle(
        &self,
        event: &OutboxEvent,
        tx: &DatabaseTransaction,
    ) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panicking.load(Ordering::SeqCst) {
            panic!("subscriber bug");
        }
        // The effect is written before failing: a failure must roll it back.
        tx.execute_raw(Statement::from_sql_and_values(
            tx.get_database_backend(),
            "INSERT INTO test_outbox_effects (subscriber, event_id) VALUES ($1, $2)",
            [Value::from(self.name), Value::from(event.id.to_string())],
        ))
        .await?;
        tokio::task::yield_now().await;
        if self.failing.load(Ordering::SeqCst) {
            return Err(HandlerError::retryable("boom: downstream unavailable"));
        }
        self.seen.lock().unwrap().push(event.clone());
        Ok(())
    }
}

async fn setup(t: &TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    let c = t.db.connection();
    c.execute_unprepared(
        "CREATE TABLE test_outbox_effects (subscriber TEXT NOT NULL, event_id TEXT NOT NULL)",
    )
    .await
    .unwrap();
    if t.db.backend() == Backend::Postgres {
        c.execute_unprepared("GRANT SELECT, INSERT ON test_outbox_effects TO helix_platform")
            .await
            .unwrap();
    }
}

fn kernel(db: &Db, clock: &ManualClock) -> Kernel {
    Kernel::new(db.clone()).with_clock(Arc::new(clock.clone()))
}

fn tenant() -> TenantContext {
    TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()))
}

async fn publish(db: &Db, ctx: &TenantContext, now: DateTime<Utc>, topic: &str, n: i64) -> Uuid {
    let tx = db.tenant(ctx).await.unwrap();
    let id = outbox::publish(&tx, now, topic, &json!({ "n": n }))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    let row = db
        .connection()
        .query_one_raw(Statement::from_string(
            db.connection().get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn effects(db: &Db, subscriber: &str) -> i64 {
    scalar(
        db,
        &format!("SELECT COUNT(*) AS n FROM test_outbox_effects WHERE subscriber = '{subscriber}'"),
    )
    .await
}

async fn delivery_status(db: &Db, event_id: Uuid, subscriber: &str) -> String {
    let row = db
        .connection()
        .query_one_raw(Statement::from_sql_and_values(
            db.connection().get_database_backend(),
            "SELECT status FROM helix_outbox_deliveries WHERE event_id = $1 AND subscriber = $2",
            [Value::from(event_id), Value::from(subscriber)],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "status").unwrap()
}

async fn committed_event_is_delivered_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let crm = Recorder::new("test.crm", "crm.*");
    let other = Recorder::new("test.other", "billing.invoice.paid");
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(crm.clone())
        .subscriber(other.clone())
        .build()
        .unwrap();
    let ctx = tenant();
    let id = publish(&t.db, &ctx, start(), "crm.deal.won", 7).await;
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 1);

    let stats = d.run_once().await.unwrap();
    assert_eq!(stats.events_fanned_out, 1);
    assert_eq!(
        stats.deliveries_created, 1,
        "only the accepting subscriber gets a delivery"
    );
    assert_eq!(stats.delivered, 1);
    assert_eq!(effects(&t.db, "test.crm").await, 1);
    assert_eq!(effects(&t.db, "test.other").await, 0);
    let seen = crm.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, id);
    assert_eq!(seen[0].org_id, Some(ctx.org_id()));
    assert_eq!(seen[0].topic, "crm.deal.won");
    assert_eq!(seen[0].payload, json!({ "n": 7 }));
    assert_eq!(seen[0].attempt, 1);
    assert_eq!(delivery_status(&t.db, id, "test.crm").await, "delivered");
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 0);
    assert!(d.run_once().await.unwrap().is_idle());
    assert_eq!(crm.calls.load(Ordering::SeqCst), 1);

    if t.db.backend() == Backend::Postgres {
        // The application role never sees delivery state.
        let tx = t.db.tenant(&ctx).await.unwrap();
        let denied = tx
            .raw()
            .execute_unprepared("SELECT * FROM helix_outbox_deliveries")
            .await;
        assert!(denied.is_err(), "app role must not read deliveries");
    }
}
backend_test!(
    committed_event_is_delivered,
    committed_event_is_delivered_body
);

async fn rolled_back_event_is_not_delivered_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let sub = Recorder::new("test.all", "*");
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(sub.clone())
        .build()
        .unwrap();
    let ctx = tenant();
    let tx = t.db.tenant(&ctx).await.unwrap();
    outbox::publish(&tx, start(), "crm.deal.won", &json!({}))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    {
        // Dropped without commit: rolled back too.
        let tx = t.db.tenant(&ctx).await.unwrap();
        outbox::publish(&tx, start(), "crm.deal.lost", &json!({}))
            .await
            .unwrap();
    }
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 0);
    assert!(d.run_once().await.unwrap().is_idle());
    assert_eq!(sub.calls.load(Ordering::SeqCst), 0);
    assert_eq!(effects(&t.db, "test.all").await, 0);
}
backend_test!(
    rolled_back_event_is_not_delivered,
    rolled_back_event_is_not_delivered_body
);

async fn event_survives_restart_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let ctx = tenant();
    let id = {
        // "Process 1": commits an event, then dies before its dispatcher runs.
        let db = Db::connect(&t.url, &PoolOptions::default()).await.unwrap();
        let d = Dispatcher::builder(kernel(&db, &clock))
            .subscriber(Recorder::new("test.all", "*"))
            .build()
            .unwrap();
        let id = publish(&db, &ctx, start(), "crm.contact.created", 1).await;
        drop(d);
        db.close().await.unwrap();
        id
    };
    // "Process 2".
    let db = Db::connect(&t.url, &PoolOptions::default()).await.unwrap();
    let sub = Recorder::new("test.all", "*");
    let d = Dispatcher::builder(kernel(&db, &clock))
        .subscriber(sub.clone())
        .build()
        .unwrap();
    assert_eq!(d.run_once().await.unwrap().delivered, 1);
    assert_eq!(sub.seen.lock().unwrap()[0].id, id);
    assert_eq!(effects(&db, "test.all").await, 1);
}
backend_test!(event_survives_restart, event_survives_restart_body);

async fn expired_lease_is_reclaimed_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let sub = Recorder::new("test.all", "*");
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(sub.clone())
        .lease(Duration::from_secs(60), Duration::from_secs(30))
        .build()
        .unwrap();
    let id = publish(&t.db, &tenant(), start(), "crm.deal.won", 1).await;
    let stats = d.run_once().await.unwrap();
    assert_eq!(stats.delivered, 1);
    // Simulate a dispatcher that claimed the delivery and crashed mid-handler.
    let lease_end = start() + chrono::Duration::seconds(60);
    t.db.connection()
        .execute_raw(Statement::from_sql_and_values(
            t.db.connection().get_database_backend(),
            "UPDATE helix_outbox_deliveries SET status = 'pending', attempts = 1, locked_by = $1, \
             locked_until = $2, next_attempt_at = $2, delivered_at = NULL WHERE event_id = $3",
            [
                Value::from(Uuid::now_v7()),
                Value::from(lease_end),
                Value::from(id),
            ],
        ))
        .await
        .unwrap();
    t.db.connection()
        .execute_unprepared("DELETE FROM helix_outbox_processed")
        .await
        .unwrap();
    t.db.connection()
        .execute_unprepared("DELETE FROM test_outbox_effects")
        .await
        .unwrap();
    assert_eq!(d.run_once().await.unwrap().claimed, 0, "lease still held");
    clock.advance(chrono::Duration::seconds(61));
    let stats = d.run_once().await.unwrap();
    assert_eq!(stats.delivered, 1);
    assert_eq!(sub.seen.lock().unwrap().last().unwrap().attempt, 2);
    assert_eq!(effects(&t.db, "test.all").await, 1);
}
backend_test!(expired_lease_is_reclaimed, expired_lease_is_reclaimed_body);

async fn failures_back_off_into_dead_letters_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let sub = Recorder::new("test.flaky", "*");
    sub.failing.store(true, Ordering::SeqCst);
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(sub.clone())
        .max_attempts(3)
        .backoff(Duration::from_secs(10), Duration::from_secs(15))
        .build()
        .unwrap();
    let id = publish(&t.db, &tenant(), start(), "crm.deal.won", 1).await;

    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.retried), (1, 1));
    assert_eq!(
        effects(&t.db, "test.flaky").await,
        0,
        "a failed handler's effects roll back"
    );
    // Not due before the backoff (at least half of the 10 s base) has passed.
    assert_eq!(d.run_once().await.unwrap().claimed, 0);
    clock.advance(chrono::Duration::seconds(4));
    assert_eq!(d.run_once().await.unwrap().claimed, 0);
    clock.advance(chrono::Duration::seconds(6));
    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.retried), (1, 1), "due after the base delay");
    // Second delay is min(cap 15 s, 20 s) with jitter: between 7.5 and 15 s.
    clock.advance(chrono::Duration::seconds(7));
    assert_eq!(d.run_once().await.unwrap().claimed, 0);
    clock.advance(chrono::Duration::seconds(8));
    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.dead), (1, 1), "max attempts reached");
    assert_eq!(sub.calls.load(Ordering::SeqCst), 3);
    clock.advance(chrono::Duration::hours(1));
    assert!(
        d.run_once().await.unwrap().is_idle(),
        "dead letters are not retried"
    );

    assert_eq!(outbox::dead_letters(&t.db).await.unwrap(), 1);
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 0);
    let admin = PlatformContext::system("test");
    let dead = outbox::list_dead_letters(&t.db, &admin, Some("test.flaky"), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, id);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].topic, "crm.deal.won");
    assert!(dead[0].last_error.as_deref().unwrap().contains("boom"));
    assert!(
        outbox::list_dead_letters(&t.db, &admin, Some("nobody"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Fixed downstream: requeue delivers it.
    sub.failing.store(false, Ordering::SeqCst);
    outbox::requeue_dead_letter(&t.db, &admin, dead[0].delivery_id, clock.now())
        .await
        .unwrap();
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 1);
    let s = d.run_once().await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(effects(&t.db, "test.flaky").await, 1);
    assert_eq!(outbox::dead_letters(&t.db).await.unwrap(), 0);
    let again = outbox::requeue_dead_letter(&t.db, &admin, dead[0].delivery_id, clock.now()).await;
    assert!(matches!(again, Err(Error::NotFound { .. })));
}
backend_test!(
    failures_back_off_into_dead_letters,
    failures_back_off_into_dead_letters_body
);

/// A subscriber that always fails permanently.
struct Rejecting;

#[helix_core::async_trait::async_trait]
impl Subscriber for Rejecting {
    fn name(&self) -> &str {
        "test.rejecting"
    }
    fn accepts(&self, _: &str) -> bool {
        true
    }
    async fn handle(&self, _: &OutboxEvent, _: &DatabaseTransaction) -> Result<(), HandlerError> {
        Err(HandlerError::permanent("payload has no contact id"))
    }
}

async fn panics_and_permanent_errors_do_not_stop_the_dispatcher_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let panicky = Recorder::new("test.panicky", "*");
    panicky.panicking.store(true, Ordering::SeqCst);
    let fine = Recorder::new("test.fine", "*");
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(panicky.clone())
        .subscriber(fine.clone())
        .subscriber(Rejecting)
        .max_attempts(5)
        .build()
        .unwrap();
    publish(&t.db, &tenant(), start(), "crm.deal.won", 1).await;
    let s = d.run_once().await.unwrap();
    assert_eq!(s.claimed, 3);
    assert_eq!(s.delivered, 1);
    assert_eq!(s.retried, 1, "a panic is a retryable failure");
    assert_eq!(s.dead, 1, "a permanent error dead-letters at once");
    let dead = outbox::list_dead_letters(&t.db, &PlatformContext::system("test"), None, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].subscriber, "test.rejecting");
    assert_eq!(dead[0].attempts, 1);

    panicky.panicking.store(false, Ordering::SeqCst);
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(d.run_once().await.unwrap().delivered, 1);
    assert_eq!(effects(&t.db, "test.panicky").await, 1);
    assert_eq!(effects(&t.db, "test.fine").await, 1);
}
backend_test!(
    panics_and_permanent_errors_do_not_stop_the_dispatcher,
    panics_and_permanent_errors_do_not_stop_the_dispatcher_body
);

async fn redelivery_after_commit_does_not_repeat_effects_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let sub = Recorder::new("test.once", "*");
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(sub.clone())
        .build()
        .unwrap();
    let id = publish(&t.db, &tenant(), start(), "crm.deal.won", 1).await;
    assert_eq!(d.run_once().await.unwrap().delivered, 1);
    // The handler's transaction committed, but the delivery was not recorded as delivered
    // (a crash between the two, or a lease lost to a slow handler): it is still pending,
    // leased by the dead owner, and becomes due again when the lease expires.
    t.db.connection()
        .execute_raw(Statement::from_sql_and_values(
            t.db.connection().get_database_backend(),
            "UPDATE helix_outbox_deliveries SET status = 'pending', delivered_at = NULL, locked_by = $1",
            [Value::from(Uuid::now_v7())],
        ))
        .await
        .unwrap();
    assert_eq!(d.run_once().await.unwrap().claimed, 0, "lease still held");
    clock.advance(chrono::Duration::seconds(121));
    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.delivered, s.duplicates_skipped), (1, 0, 1));
    assert_eq!(
        sub.calls.load(Ordering::SeqCst),
        1,
        "the handler is not run again"
    );
    assert_eq!(effects(&t.db, "test.once").await, 1);
    assert_eq!(delivery_status(&t.db, id, "test.once").await, "delivered");
}
backend_test!(
    redelivery_after_commit_does_not_repeat_effects,
    redelivery_after_commit_does_not_repeat_effects_body
);

async fn drain_concurrently(d: Dispatcher, db: Db) -> RunStats {
    let mut total = RunStats::default();
    let mut idle = 0;
    while idle < 3 {
        let s = d.run_once().await.unwrap();
        total.delivered += s.delivered;
        total.duplicates_skipped += s.duplicates_skipped;
        total.claimed += s.claimed;
        if s.is_idle() {
            if outbox::backlog(&db).await.unwrap() == 0 {
                idle += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            idle = 0;
        }
    }
    total
}

async fn concurrent_dispatchers_deliver_exactly_once_body(t: TestDb) {
    setup(&t).await;
    const EVENTS: i64 = 200;
    let tenants: Vec<TenantContext> = (0..4).map(|_| tenant()).collect();
    for n in 0..EVENTS {
        publish(
            &t.db,
            &tenants[n as usize % 4],
            Utc::now(),
            "crm.deal.won",
            n,
        )
        .await;
    }
    let concurrency = if t.db.backend() == Backend::Postgres {
        4
    } else {
        1
    };
    let mut tasks = Vec::new();
    for _ in 0..2 {
        // A separate pool per dispatcher: two server instances.
        let db = Db::connect(&t.url, &PoolOptions::default()).await.unwrap();
        let d = Dispatcher::builder(Kernel::new(db.clone()))
            .subscriber(Recorder::new("test.a", "crm.*"))
            .subscriber(Recorder::new("test.b", "*"))
            .batch_size(16)
            .concurrency(concurrency)
            .build()
            .unwrap();
        tasks.push(tokio::spawn(drain_concurrently(d, db)));
    }
    let mut delivered = 0;
    let mut per_dispatcher = Vec::new();
    for task in tasks {
        let s = task.await.unwrap();
        delivered += s.delivered;
        per_dispatcher.push(s.delivered);
    }
    assert_eq!(
        delivered,
        2 * EVENTS as u64,
        "per dispatcher: {per_dispatcher:?}"
    );
    for sub in ["test.a", "test.b"] {
        assert_eq!(effects(&t.db, sub).await, EVENTS);
        let distinct = scalar(
            &t.db,
            &format!(
                "SELECT COUNT(DISTINCT event_id) AS n FROM test_outbox_effects WHERE subscriber = '{sub}'"
            ),
        )
        .await;
        assert_eq!(distinct, EVENTS, "each event exactly once for {sub}");
    }
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 0);
    assert_eq!(outbox::dead_letters(&t.db).await.unwrap(), 0);
}
backend_test!(
    concurrent_dispatchers_deliver_exactly_once,
    concurrent_dispatchers_deliver_exactly_once_body
);

async fn run_loop_stops_on_shutdown_body(t: TestDb) {
    setup(&t).await;
    let sub = Recorder::new("test.loop", "*");
    let d = Dispatcher::builder(Kernel::new(t.db.clone()))
        .subscriber(sub.clone())
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn({
        let (d, s) = (d.clone(), shutdown.clone());
        async move { d.run(s).await }
    });
    publish(&t.db, &tenant(), Utc::now(), "crm.deal.won", 1).await;
    for _ in 0..500 {
        if effects(&t.db, "test.loop").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(effects(&t.db, "test.loop").await, 1);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}
backend_test!(run_loop_stops_on_shutdown, run_loop_stops_on_shutdown_body);

#[tokio::test]
async fn builder_rejects_bad_settings() {
    let t = TestDb::sqlite().await;
    let k = Kernel::new(t.db.clone());
    let dup = Dispatcher::builder(k.clone())
        .subscriber(Recorder::new("test.same", "*"))
        .subscriber(Recorder::new("test.same", "*"))
        .build();
    assert!(matches!(dup, Err(Error::Config(_))));
    let bad_name = Dispatcher::builder(k.clone())
        .subscriber(Recorder::new("Bad Name", "*"))
        .build();
    assert!(bad_name.is_err());
    assert!(
        Dispatcher::builder(k.clone())
            .batch_size(0)
            .build()
            .is_err()
    );
    assert!(
        Dispatcher::builder(k.clone())
            .max_attempts(0)
            .build()
            .is_err()
    );
    assert!(
        Dispatcher::builder(k.clone())
            .lease(Duration::from_secs(10), Duration::from_secs(10))
            .build()
            .is_err()
    );
    assert!(Dispatcher::builder(k).build().is_ok());
}
