//! The outbox dispatcher: delivery after commit, nothing after rollback, restart, retries with
//! backoff into dead letters, idempotent redelivery, and concurrent dispatchers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use helix_core::outbox::{
    self, Dispatcher, HandlerError, HandlerTx, OutboxEvent, RunStats, Subscriber, topic_matches,
};
use helix_core::testing::TestDb;
use helix_core::{
    Actor, Backend, Clock, Db, Error, Helix, Kernel, ManualClock, PlatformContext, PoolOptions,
    TenantContext, backend_test,
};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait, Value};
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

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        let tx = tx.raw();
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
        // Tenant events are handled as the application role, platform events as the platform
        // role.
        c.execute_unprepared(
            "GRANT SELECT, INSERT ON test_outbox_effects TO helix_app, helix_platform",
        )
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
    async fn handle(&self, _: &OutboxEvent, _: HandlerTx<'_>) -> Result<(), HandlerError> {
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
        // Short handlers: the three deliveries fit in one round's claim on both backends.
        .lease(Duration::from_secs(120), Duration::from_secs(5))
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
    // The handler's (tenant) transaction committed, but the platform transaction that marks
    // the delivery delivered did not (the process died between the two, or the lease was
    // lost to a slow handler): it is still pending, leased by the dead owner, and becomes due
    // again when the lease expires.
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
    assert_eq!(
        scalar(&t.db, "SELECT COUNT(*) AS n FROM helix_outbox_processed").await,
        1
    );
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

/// A subscriber that, while `slow` is set, advances the kernel clock by `step` per call (a
/// handler that takes that long), and fails (retryably) while `failing` is set.
#[derive(Clone)]
struct Slow {
    clock: ManualClock,
    step: chrono::Duration,
    slow: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicU32>,
    /// (event id, attempt) of each successful call.
    seen: Arc<Mutex<Vec<(Uuid, u32)>>>,
}

#[helix_core::async_trait::async_trait]
impl Subscriber for Slow {
    fn name(&self) -> &str {
        "test.slow"
    }

    fn accepts(&self, _: &str) -> bool {
        true
    }

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        let tx = tx.raw();
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.slow.load(Ordering::SeqCst) {
            self.clock.advance(self.step);
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(HandlerError::retryable("downstream unavailable"));
        }
        tx.execute_raw(Statement::from_sql_and_values(
            tx.get_database_backend(),
            "INSERT INTO test_outbox_effects (subscriber, event_id) VALUES ($1, $2)",
            [Value::from("test.slow"), Value::from(event.id.to_string())],
        ))
        .await?;
        self.seen.lock().unwrap().push((event.id, event.attempt));
        Ok(())
    }
}

async fn attempts_of(db: &Db, event_id: Uuid) -> i32 {
    let row = db
        .connection()
        .query_one_raw(Statement::from_sql_and_values(
            db.connection().get_database_backend(),
            "SELECT attempts FROM helix_outbox_deliveries WHERE event_id = $1",
            [Value::from(event_id)],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "attempts").unwrap()
}

/// Review M2: claimed deliveries whose lease expires while they wait their turn are skipped
/// (not run by two dispatchers), and reclaiming them uses none of their attempts, so a
/// delivery is never dead-lettered for failures it did not have.
async fn expired_claims_are_skipped_and_do_not_use_attempts_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let sub = Slow {
        clock: clock.clone(),
        step: chrono::Duration::seconds(11),
        slow: Arc::new(AtomicBool::new(true)),
        failing: Arc::default(),
        calls: Arc::default(),
        seen: Arc::default(),
    };
    let build = || {
        Dispatcher::builder(kernel(&t.db, &clock))
            .subscriber(sub.clone())
            .lease(Duration::from_secs(10), Duration::from_secs(4))
            .batch_size(10)
            .concurrency(1)
            .max_attempts(2)
            .build()
            .unwrap()
    };
    let (d1, d2) = (build(), build());
    assert_eq!(d1.claim_size(), 2, "1 slot x floor(10 s / 4 s)");
    let ctx = tenant();
    let a = publish(&t.db, &ctx, start(), "crm.deal.won", 0).await;
    let b = publish(&t.db, &ctx, start(), "crm.deal.won", 1).await;

    // Both are claimed under one 10 s lease; the first handler takes 11 s, so the second's
    // lease has expired when its turn comes: it is skipped, not run.
    let s = d1.run_once().await.unwrap();
    assert_eq!(
        (s.claimed, s.delivered, s.lease_expired, s.retried, s.dead),
        (2, 1, 1, 0, 0)
    );
    assert_eq!(sub.calls.load(Ordering::SeqCst), 1);
    let (ran, _) = sub.seen.lock().unwrap()[0];
    let skipped = if ran == a { b } else { a };
    assert_eq!(
        attempts_of(&t.db, skipped).await,
        0,
        "a skipped claim counts no attempt"
    );
    assert_eq!(
        delivery_status(&t.db, skipped, "test.slow").await,
        "pending"
    );

    // Another instance reclaims it and its handler fails: that is its first attempt (of
    // max 2), so it is retried, not dead-lettered.
    sub.slow.store(false, Ordering::SeqCst);
    sub.failing.store(true, Ordering::SeqCst);
    let s = d2.run_once().await.unwrap();
    assert_eq!((s.claimed, s.retried, s.dead), (1, 1, 0));
    assert_eq!(attempts_of(&t.db, skipped).await, 1);
    assert_eq!(outbox::dead_letters(&t.db).await.unwrap(), 0);

    sub.failing.store(false, Ordering::SeqCst);
    clock.advance(chrono::Duration::hours(1));
    let s = d2.run_once().await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(sub.seen.lock().unwrap().last(), Some(&(skipped, 2)));
    assert_eq!(sub.calls.load(Ordering::SeqCst), 3);
    assert_eq!(effects(&t.db, "test.slow").await, 2, "each event once");
    assert_eq!(delivery_status(&t.db, a, "test.slow").await, "delivered");
    assert_eq!(delivery_status(&t.db, b, "test.slow").await, "delivered");
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 0);
}
backend_test!(
    expired_claims_are_skipped_and_do_not_use_attempts,
    expired_claims_are_skipped_and_do_not_use_attempts_body
);

/// Review M2/M1: a round claims no more than it can process within one lease, and on
/// SQLite the handler timeout is capped below the 10 s busy timeout.
async fn claim_size_and_handler_timeout_follow_the_lease_body(t: TestDb) {
    let k = Kernel::new(t.db.clone());
    let sqlite = t.db.backend() == Backend::Sqlite;
    let d = Dispatcher::builder(k.clone()).build().unwrap();
    if sqlite {
        assert_eq!(d.handler_timeout(), Duration::from_secs(5));
        assert_eq!(d.claim_size(), 24, "1 x floor(120 s / 5 s)");
    } else {
        assert_eq!(d.handler_timeout(), Duration::from_secs(10));
        assert_eq!(d.claim_size(), 12, "1 x floor(120 s / 10 s)");
    }
    assert_eq!(d.config().batch_size, 100, "the setting itself is kept");
    let claim = |batch: u32, concurrency: u32, lease: u64, timeout: u64| {
        Dispatcher::builder(k.clone())
            .batch_size(batch)
            .concurrency(concurrency)
            .lease(Duration::from_secs(lease), Duration::from_secs(timeout))
            .build()
            .unwrap()
            .claim_size()
    };
    assert_eq!(claim(100, 4, 60, 2), 100, "batch_size bounds it");
    assert_eq!(claim(10, 3, 10, 4), 6);
    assert_eq!(claim(5, 1, 3, 2), 1, "at least one");
    let short = Dispatcher::builder(k)
        .lease(Duration::from_secs(10), Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(short.handler_timeout(), Duration::from_secs(2));
}
backend_test!(
    claim_size_and_handler_timeout_follow_the_lease,
    claim_size_and_handler_timeout_follow_the_lease_body
);

/// A subscriber whose handler takes `sleep` of real time.
struct Sleeper(Duration);

#[helix_core::async_trait::async_trait]
impl Subscriber for Sleeper {
    fn name(&self) -> &str {
        "test.sleeper"
    }
    fn accepts(&self, _: &str) -> bool {
        true
    }
    async fn handle(&self, _: &OutboxEvent, _: HandlerTx<'_>) -> Result<(), HandlerError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}

/// Review M1: on SQLite the handler holds the write lock, so a slow handler is cut off at
/// 5 s even when the configured timeout is longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_caps_the_handler_timeout() {
    let t = TestDb::sqlite().await;
    setup(&t).await;
    let d = Dispatcher::builder(Kernel::new(t.db.clone()))
        .subscriber(Sleeper(Duration::from_secs(30)))
        .lease(Duration::from_secs(120), Duration::from_secs(60))
        .build()
        .unwrap();
    publish(&t.db, &tenant(), Utc::now(), "crm.deal.won", 1).await;
    let started = std::time::Instant::now();
    let s = tokio::time::timeout(Duration::from_secs(20), d.run_once())
        .await
        .expect("the handler ran past the SQLite cap")
        .unwrap();
    assert_eq!((s.claimed, s.retried), (1, 1));
    assert!(started.elapsed() < Duration::from_secs(15));
    let last_error = scalar_text(
        &t.db,
        "SELECT last_error AS n FROM helix_outbox_deliveries WHERE subscriber = 'test.sleeper'",
    )
    .await;
    assert!(last_error.contains("timed out"), "{last_error}");
}

async fn scalar_text(db: &Db, sql: &str) -> String {
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

async fn audit_rows(db: &Db, org_id: Uuid, action: &str) -> Vec<helix_core::audit::entity::Model> {
    use helix_core::audit::entity::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    Entity::find()
        .filter(Column::OrgId.eq(org_id))
        .filter(Column::Action.eq(action))
        .order_by_asc(Column::Seq)
        .all(db.connection())
        .await
        .unwrap()
}

/// Requeueing a dead letter is a platform-plane action: audited in the same transaction, in
/// the event's tenant chain, or the platform chain for a platform event.
async fn requeue_is_audited_body(t: TestDb) {
    use helix_core::audit::{self, PLATFORM_CHAIN};
    setup(&t).await;
    let clock = ManualClock::new(start());
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(Rejecting)
        .build()
        .unwrap();
    let ctx = tenant();
    let tenant_event = publish(&t.db, &ctx, start(), "crm.deal.won", 1).await;
    let admin = PlatformContext::system("test.admin");
    let platform_event = {
        let tx = t.db.platform(&admin).await.unwrap();
        let id = outbox::publish_platform(&tx, "cid-1", None, start(), "platform.tick", &json!({}))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    };
    assert_eq!(d.run_once().await.unwrap().dead, 2);
    let dead = outbox::list_dead_letters(&t.db, &admin, None, 10)
        .await
        .unwrap();
    let delivery_of = |event: Uuid| {
        dead.iter()
            .find(|l| l.event_id == event)
            .unwrap()
            .delivery_id
    };
    let platform_before = audit_rows(&t.db, PLATFORM_CHAIN, "outbox.dead_letter_requeued")
        .await
        .len();

    for (event, chain) in [
        (tenant_event, ctx.org_id()),
        (platform_event, PLATFORM_CHAIN),
    ] {
        let delivery = delivery_of(event);
        outbox::requeue_dead_letter(&t.db, &admin, delivery, clock.now())
            .await
            .unwrap();
        let rows = audit_rows(&t.db, chain, "outbox.dead_letter_requeued").await;
        let row = rows.last().expect("requeue audited");
        assert_eq!(row.entity_type, "outbox_delivery");
        assert_eq!(
            row.entity_id.as_deref(),
            Some(delivery.to_string().as_str())
        );
        assert_eq!(row.actor, admin.actor().as_ref_string());
        assert_eq!(row.correlation_id, admin.meta().correlation_id);
        assert_eq!(
            row.data,
            json!({ "subscriber": "test.rejecting", "event_id": event.to_string() })
        );
        assert!(
            audit::verify_platform(&t.db, &admin, chain)
                .await
                .unwrap()
                .is_valid()
        );
        // Not dead any more: not found, and nothing audited.
        let again = outbox::requeue_dead_letter(&t.db, &admin, delivery, clock.now()).await;
        assert!(matches!(again, Err(Error::NotFound { .. })));
        assert_eq!(
            audit_rows(&t.db, chain, "outbox.dead_letter_requeued")
                .await
                .len(),
            rows.len()
        );
    }
    assert_eq!(
        audit_rows(&t.db, ctx.org_id(), "outbox.dead_letter_requeued")
            .await
            .len(),
        1
    );
    assert_eq!(
        audit_rows(&t.db, PLATFORM_CHAIN, "outbox.dead_letter_requeued")
            .await
            .len(),
        platform_before + 1
    );
    assert_eq!(outbox::backlog(&t.db).await.unwrap(), 2);
}
backend_test!(requeue_is_audited, requeue_is_audited_body);

/// Runs `sql` in a savepoint that is always rolled back (a failed statement must not abort
/// the handler's transaction on PostgreSQL): whether it succeeded.
async fn succeeds(tx: HandlerTx<'_>, sql: &str, values: Vec<Value>) -> Result<bool, HandlerError> {
    let sp = tx.raw().begin().await?;
    let backend = sp.get_database_backend();
    let ok = sp
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .is_ok();
    sp.rollback().await?;
    Ok(ok)
}

async fn count_in(tx: HandlerTx<'_>, sql: &str, values: Vec<Value>) -> Result<i64, HandlerError> {
    let tx = tx.raw();
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            tx.get_database_backend(),
            sql,
            values,
        ))
        .await?
        .ok_or_else(|| HandlerError::permanent("no row"))?;
    Ok(row.try_get("", "n")?)
}

/// What a [`Prober`] could reach from the transaction it was handed.
#[derive(Debug, Clone)]
struct Probe {
    event_org: Option<Uuid>,
    tx_org: Option<Uuid>,
    platform: bool,
    correlation_id: Option<String>,
    /// Rows of `test_outbox_private` raw SQL sees: all of them, and the other tenant's.
    visible_all: i64,
    visible_other: i64,
    /// Whether raw SQL could insert a row for the other tenant (always rolled back).
    wrote_other: bool,
    /// Whether raw SQL could read the platform-only deliveries table.
    read_deliveries: bool,
}

/// A subscriber that probes, with raw SQL, what its transaction can reach; `other` is a
/// tenant that a tenant event's handler must not reach. For a tenant event it also writes a
/// row of its own tenant (committed with the delivery).
#[derive(Clone)]
struct Prober {
    other: Uuid,
    probes: Arc<Mutex<Vec<Probe>>>,
}

#[helix_core::async_trait::async_trait]
impl Subscriber for Prober {
    fn name(&self) -> &str {
        "test.prober"
    }

    fn accepts(&self, _: &str) -> bool {
        true
    }

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        let other = Value::from(self.other);
        let probe = Probe {
            event_org: event.org_id,
            tx_org: tx.org_id(),
            platform: tx.platform().is_some(),
            correlation_id: tx
                .tenant()
                .map(|t| t.context().meta().correlation_id.clone()),
            visible_all: count_in(tx, "SELECT COUNT(*) AS n FROM test_outbox_private", vec![])
                .await?,
            visible_other: count_in(
                tx,
                "SELECT COUNT(*) AS n FROM test_outbox_private WHERE org_id = $1",
                vec![other.clone()],
            )
            .await?,
            wrote_other: succeeds(
                tx,
                "INSERT INTO test_outbox_private (org_id, note) VALUES ($1, 'forged')",
                vec![other],
            )
            .await?,
            read_deliveries: succeeds(tx, "SELECT COUNT(*) FROM helix_outbox_deliveries", vec![])
                .await?,
        };
        if let Some(org) = tx.org_id() {
            tx.raw()
                .execute_raw(Statement::from_sql_and_values(
                    tx.raw().get_database_backend(),
                    "INSERT INTO test_outbox_private (org_id, note) VALUES ($1, 'handled')",
                    [Value::from(org)],
                ))
                .await?;
        }
        self.probes.lock().unwrap().push(probe);
        Ok(())
    }
}

/// A table with a tenant RLS policy (on PostgreSQL), seeded with one row per tenant through
/// the platform path.
async fn private_table(t: &TestDb, orgs: &[Uuid]) {
    let c = t.db.connection();
    if t.db.backend() == Backend::Postgres {
        c.execute_unprepared(
            "CREATE TABLE test_outbox_private (org_id uuid NOT NULL, note text NOT NULL);
             ALTER TABLE test_outbox_private ENABLE ROW LEVEL SECURITY;
             ALTER TABLE test_outbox_private FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant ON test_outbox_private FOR ALL TO helix_app
               USING (org_id = nullif(current_setting('helix.org_id', true), '')::uuid)
               WITH CHECK (org_id = nullif(current_setting('helix.org_id', true), '')::uuid);
             CREATE POLICY platform ON test_outbox_private FOR ALL TO helix_platform
               USING (true) WITH CHECK (true);
             GRANT SELECT, INSERT ON test_outbox_private TO helix_app, helix_platform;",
        )
        .await
        .unwrap();
    } else {
        c.execute_unprepared(
            "CREATE TABLE test_outbox_private (org_id BLOB NOT NULL, note TEXT NOT NULL)",
        )
        .await
        .unwrap();
    }
    let tx =
        t.db.platform(&PlatformContext::system("test"))
            .await
            .unwrap();
    for org in orgs {
        tx.raw()
            .execute_raw(Statement::from_sql_and_values(
                tx.raw().get_database_backend(),
                "INSERT INTO test_outbox_private (org_id, note) VALUES ($1, 'seed')",
                [Value::from(*org)],
            ))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Rows of `test_outbox_private` of `org`, counted on the platform path.
async fn private_rows(db: &Db, org: Uuid) -> i64 {
    let tx = db.platform(&PlatformContext::system("test")).await.unwrap();
    let row = tx
        .raw()
        .query_one_raw(Statement::from_sql_and_values(
            tx.raw().get_database_backend(),
            "SELECT COUNT(*) AS n FROM test_outbox_private WHERE org_id = $1",
            [Value::from(org)],
        ))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    row.try_get("", "n").unwrap()
}

/// A tenant event is handled in a tenant transaction of its organization: on PostgreSQL,
/// RLS keeps the handler's raw SQL from reading or writing another tenant's rows and from
/// the platform-only delivery state. A platform event is handled on the platform plane.
async fn tenant_handlers_are_confined_to_their_tenant_body(t: TestDb) {
    setup(&t).await;
    let pg = t.db.backend() == Backend::Postgres;
    let (a, b) = (tenant(), tenant());
    private_table(&t, &[a.org_id(), b.org_id()]).await;
    let clock = ManualClock::new(start());
    let prober = Prober {
        other: b.org_id(),
        probes: Arc::default(),
    };
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(prober.clone())
        .build()
        .unwrap();
    let tenant_event = publish(&t.db, &a, start(), "crm.deal.won", 1).await;
    let platform_event = {
        let tx =
            t.db.platform(&PlatformContext::system("test"))
                .await
                .unwrap();
        let id = outbox::publish_platform(
            &tx,
            "cid-platform",
            None,
            start(),
            "platform.tick",
            &json!({}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    };
    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.delivered), (2, 2));

    let probes = prober.probes.lock().unwrap().clone();
    let tenant_probe = probes.iter().find(|p| p.event_org.is_some()).unwrap();
    assert_eq!(tenant_probe.event_org, Some(a.org_id()));
    assert_eq!(
        tenant_probe.tx_org,
        Some(a.org_id()),
        "a TenantTx of the event's org"
    );
    assert!(!tenant_probe.platform);
    assert_eq!(
        tenant_probe.correlation_id.as_deref(),
        Some(a.meta().correlation_id.as_str()),
        "the tenant context carries the event's correlation id"
    );
    if pg {
        assert_eq!(tenant_probe.visible_all, 1, "only its own tenant's row");
        assert_eq!(
            tenant_probe.visible_other, 0,
            "tenant B's rows are invisible"
        );
        assert!(
            !tenant_probe.wrote_other,
            "cannot insert a row for tenant B"
        );
        assert!(
            !tenant_probe.read_deliveries,
            "delivery state is platform-only"
        );
    } else {
        // SQLite has no RLS: raw SQL is not confined (the TenantTx helpers are).
        assert_eq!(tenant_probe.visible_all, 2);
    }
    let platform_probe = probes.iter().find(|p| p.event_org.is_none()).unwrap();
    assert!(platform_probe.platform);
    assert_eq!(platform_probe.tx_org, None);
    assert_eq!(platform_probe.correlation_id, None);
    assert_eq!(
        platform_probe.visible_other, 1,
        "the platform plane crosses tenants"
    );
    assert!(platform_probe.read_deliveries);

    // The handler's own write committed with the delivery; B is untouched.
    assert_eq!(private_rows(&t.db, a.org_id()).await, 2);
    assert_eq!(private_rows(&t.db, b.org_id()).await, 1);
    // The idempotency records carry the event's tenant (none for the platform event).
    let records = |event: Uuid, org: Option<Uuid>| {
        let db = t.db.clone();
        async move {
            let row = db
                .connection()
                .query_one_raw(Statement::from_sql_and_values(
                    db.connection().get_database_backend(),
                    "SELECT COUNT(*) AS n FROM helix_outbox_processed \
                     WHERE event_id = $1 AND subscriber = 'test.prober' \
                     AND (org_id = $2 OR (org_id IS NULL AND $3))",
                    [
                        Value::from(event),
                        Value::from(org),
                        Value::from(org.is_none()),
                    ],
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    assert_eq!(records(tenant_event, Some(a.org_id())).await, 1);
    assert_eq!(records(platform_event, None).await, 1);
}
backend_test!(
    tenant_handlers_are_confined_to_their_tenant,
    tenant_handlers_are_confined_to_their_tenant_body
);

async fn insert_processed(tx: &helix_core::TenantTx, event: Uuid, org: Option<Uuid>) -> bool {
    tx.raw()
        .execute_raw(Statement::from_sql_and_values(
            tx.raw().get_database_backend(),
            "INSERT INTO helix_outbox_processed (subscriber, event_id, org_id, processed_at) \
             VALUES ('test.victim', $1, $2, $3)",
            [Value::from(event), Value::from(org), Value::from(start())],
        ))
        .await
        .is_ok()
}

/// The application role may insert idempotency records (tenant handlers do, in their own
/// transaction), but only for its own tenant's events: a tenant cannot pre-insert another
/// tenant's record to suppress that tenant's deliveries, nor read them.
async fn tenants_cannot_forge_processed_records_body(t: TestDb) {
    setup(&t).await;
    let pg = t.db.backend() == Backend::Postgres;
    let (a, b) = (tenant(), tenant());
    let event = publish(&t.db, &a, start(), "crm.deal.won", 1).await;

    // B names A's event under its own org: the composite foreign key (org_id, event_id)
    // refuses it, on both backends.
    let tx = t.db.tenant(&b).await.unwrap();
    assert!(!insert_processed(&tx, event, Some(b.org_id())).await);
    tx.rollback().await.unwrap();
    if pg {
        // B writes it as A's, or as a platform record: the RLS policy refuses both.
        for org in [Some(a.org_id()), None] {
            let tx = t.db.tenant(&b).await.unwrap();
            assert!(!insert_processed(&tx, event, org).await, "{org:?}");
            tx.rollback().await.unwrap();
        }
    }
    // A's own transaction may (control: the refusals above are not a missing privilege).
    let tx = t.db.tenant(&a).await.unwrap();
    assert!(insert_processed(&tx, event, Some(a.org_id())).await);
    tx.rollback().await.unwrap();

    // So nothing suppressed A's delivery.
    let clock = ManualClock::new(start());
    let sub = Recorder::new("test.victim", "*");
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(sub.clone())
        .build()
        .unwrap();
    let s = d.run_once().await.unwrap();
    assert_eq!((s.delivered, s.duplicates_skipped), (1, 0));
    assert_eq!(effects(&t.db, "test.victim").await, 1);

    if pg {
        let count = |ctx: TenantContext| {
            let db = t.db.clone();
            async move {
                let tx = db.tenant(&ctx).await.unwrap();
                let row = tx
                    .raw()
                    .query_one_raw(Statement::from_string(
                        tx.raw().get_database_backend(),
                        "SELECT COUNT(*) AS n FROM helix_outbox_processed",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<i64>("", "n").unwrap()
            }
        };
        assert_eq!(count(b.clone()).await, 0, "B does not see A's records");
        assert_eq!(count(a.clone()).await, 1);
        // Records are never updated or deleted by the application role.
        for sql in [
            "DELETE FROM helix_outbox_processed",
            "UPDATE helix_outbox_processed SET subscriber = 'x'",
        ] {
            let tx = t.db.tenant(&a).await.unwrap();
            assert!(tx.raw().execute_unprepared(sql).await.is_err(), "{sql}");
            tx.rollback().await.unwrap();
        }
    }
}
backend_test!(
    tenants_cannot_forge_processed_records,
    tenants_cannot_forge_processed_records_body
);

/// A subscriber whose first call loses its delivery's lease to another dispatcher (`thief`)
/// while it runs, after writing its effect.
#[derive(Clone)]
struct Thief {
    db: Db,
    thief: Uuid,
    calls: Arc<AtomicU32>,
}

#[helix_core::async_trait::async_trait]
impl Subscriber for Thief {
    fn name(&self) -> &str {
        "test.thief"
    }

    fn accepts(&self, _: &str) -> bool {
        true
    }

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        let raw = tx.raw();
        let backend = raw.get_database_backend();
        raw.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO test_outbox_effects (subscriber, event_id) VALUES ($1, $2)",
            [Value::from("test.thief"), Value::from(event.id.to_string())],
        ))
        .await?;
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let steal = Statement::from_sql_and_values(
                backend,
                "UPDATE helix_outbox_deliveries SET locked_by = $1 WHERE event_id = $2",
                [Value::from(self.thief), Value::from(event.id)],
            );
            if backend == sea_orm::DbBackend::Sqlite {
                // The handler holds SQLite's write lock: steal through its own transaction.
                raw.execute_raw(steal).await?;
            } else {
                self.db.connection().execute_raw(steal).await?;
            }
        }
        Ok(())
    }
}

/// A handler whose lease was lost meanwhile commits its effects (the idempotency record
/// commits with them) but does not mark delivered a claim it no longer holds; the delivery
/// then comes back as a duplicate and is settled without running the handler again.
async fn lost_lease_is_not_marked_delivered_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let thief = Uuid::now_v7();
    let sub = Thief {
        db: t.db.clone(),
        thief,
        calls: Arc::default(),
    };
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(sub.clone())
        .build()
        .unwrap();
    let id = publish(&t.db, &tenant(), start(), "crm.deal.won", 1).await;
    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.delivered, s.abandoned), (1, 0, 1));
    assert_eq!(effects(&t.db, "test.thief").await, 1);
    assert_eq!(delivery_status(&t.db, id, "test.thief").await, "pending");
    let row =
        t.db.connection()
            .query_one_raw(Statement::from_sql_and_values(
                t.db.connection().get_database_backend(),
                "SELECT locked_by FROM helix_outbox_deliveries WHERE event_id = $1",
                [Value::from(id)],
            ))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        row.try_get::<Option<Uuid>>("", "locked_by").unwrap(),
        Some(thief),
        "the other owner's claim is left alone"
    );
    assert_eq!(d.run_once().await.unwrap().claimed, 0, "lease still held");
    clock.advance(chrono::Duration::seconds(121));
    let s = d.run_once().await.unwrap();
    assert_eq!((s.claimed, s.delivered, s.duplicates_skipped), (1, 0, 1));
    assert_eq!(sub.calls.load(Ordering::SeqCst), 1, "not run again");
    assert_eq!(effects(&t.db, "test.thief").await, 1);
    assert_eq!(delivery_status(&t.db, id, "test.thief").await, "delivered");
}
backend_test!(
    lost_lease_is_not_marked_delivered,
    lost_lease_is_not_marked_delivered_body
);

/// A subscriber that writes its effect, then runs a failing statement and swallows the
/// error.
struct Swallower;

#[helix_core::async_trait::async_trait]
impl Subscriber for Swallower {
    fn name(&self) -> &str {
        "test.swallower"
    }

    fn accepts(&self, _: &str) -> bool {
        true
    }

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        let raw = tx.raw();
        raw.execute_raw(Statement::from_sql_and_values(
            raw.get_database_backend(),
            "INSERT INTO test_outbox_effects (subscriber, event_id) VALUES ($1, $2)",
            [
                Value::from("test.swallower"),
                Value::from(event.id.to_string()),
            ],
        ))
        .await?;
        let _ = raw
            .execute_unprepared("SELECT * FROM test_outbox_no_such_table")
            .await;
        Ok(())
    }
}

/// On PostgreSQL a swallowed error aborts the handler's transaction, whose COMMIT would
/// then silently roll back: the dispatcher notices before committing and retries, instead of
/// marking delivered an event whose effects were lost. (SQLite keeps the transaction usable.)
async fn aborted_handler_transaction_is_retried_body(t: TestDb) {
    setup(&t).await;
    let clock = ManualClock::new(start());
    let d = Dispatcher::builder(kernel(&t.db, &clock))
        .subscriber(Swallower)
        .build()
        .unwrap();
    let id = publish(&t.db, &tenant(), start(), "crm.deal.won", 1).await;
    let s = d.run_once().await.unwrap();
    if t.db.backend() == Backend::Postgres {
        assert_eq!((s.delivered, s.retried), (0, 1));
        assert_eq!(effects(&t.db, "test.swallower").await, 0);
        assert_eq!(
            delivery_status(&t.db, id, "test.swallower").await,
            "pending"
        );
        let last_error = scalar_text(
            &t.db,
            "SELECT last_error AS n FROM helix_outbox_deliveries WHERE subscriber = 'test.swallower'",
        )
        .await;
        assert!(last_error.contains("unusable"), "{last_error}");
    } else {
        assert_eq!(s.delivered, 1);
        assert_eq!(effects(&t.db, "test.swallower").await, 1);
    }
}
backend_test!(
    aborted_handler_transaction_is_retried,
    aborted_handler_transaction_is_retried_body
);
