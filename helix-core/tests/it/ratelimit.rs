//! Rate limiting: GCRA math on a manual clock, the in-process store under concurrency, the
//! Redis store (shared between instances, and checked against the in-process store), failure
//! modes, and the axum middleware over a real loopback server.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use chrono::{TimeZone, Utc};
use helix_core::http::{HttpMetrics, request_context};
use helix_core::ratelimit::http::{HttpRateLimit, Rule, Scope, rate_limit};
use helix_core::ratelimit::{
    Breach, BreachSink, Decision, FailureMode, InMemoryStore, PASSWORD_RESET_QUOTA, Quota, RateKey,
    RateLimitStore, RateLimiter, RedisConfig, RedisStore, Subject, TimeSource, USER_QUOTA,
};
use helix_core::{Actor, Error, ManualClock, RequestContext};
use serde_json::Value;
use uuid::Uuid;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap())
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn user_key(class: &'static str) -> RateKey {
    RateKey::new(class, Subject::User(Uuid::now_v7()))
}

async fn assert_allowed(l: &RateLimiter, k: &RateKey, q: &Quota, remaining: u32) -> Decision {
    let d = l.check(k, q).await.unwrap();
    assert!(d.allowed, "expected allowed, got {d:?}");
    assert_eq!(d.remaining, remaining, "{d:?}");
    d
}

async fn assert_denied(l: &RateLimiter, k: &RateKey, q: &Quota, retry_ms: u64) -> Decision {
    let d = l.check(k, q).await.unwrap();
    assert!(!d.allowed, "expected denied, got {d:?}");
    assert_eq!(d.remaining, 0);
    assert_eq!(d.retry_after, Duration::from_millis(retry_ms), "{d:?}");
    d
}

/// The GCRA sequence every store must reproduce exactly.
async fn gcra_sequence(store: impl RateLimitStore + 'static, clock: &ManualClock) {
    let l = RateLimiter::new(store);
    let k = user_key("api");
    let q = Quota::per_minute(60).with_burst(5); // one per second, five at once

    // Burst: five at one instant, then denied with an exact retry delay.
    for remaining in (0..5).rev() {
        assert_allowed(&l, &k, &q, remaining).await;
    }
    let d = assert_denied(&l, &k, &q, 1000).await;
    assert_eq!(d.reset_after, Duration::from_secs(5));
    assert_eq!(d.limit, 5);
    assert_eq!(d.retry_after_secs(), 1);

    // A denial is not counted: the delay shrinks with time only.
    clock.advance(ms(999));
    assert_denied(&l, &k, &q, 1).await;
    clock.advance(ms(1));
    let d = assert_allowed(&l, &k, &q, 0).await;
    assert_eq!(d.retry_after, Duration::ZERO);
    assert_eq!(d.reset_after, Duration::from_secs(5));

    // Steady rate: one per emission interval, no more.
    for _ in 0..3 {
        assert_denied(&l, &k, &q, 1000).await;
        clock.advance(ms(1000));
        assert_allowed(&l, &k, &q, 0).await;
    }

    // Refill: 2.5 s idle gives two requests back (and half of a third).
    clock.advance(ms(2500));
    let d = assert_allowed(&l, &k, &q, 1).await;
    assert_eq!(d.reset_after, Duration::from_millis(3500));
    assert_allowed(&l, &k, &q, 0).await;
    assert_denied(&l, &k, &q, 500).await;

    // Full refill after burst * interval; never more than the burst.
    clock.advance(ms(60_000));
    assert_allowed(&l, &k, &q, 4).await;

    // Keys are independent; costs count several at once.
    let other = user_key("api");
    assert_eq!(l.check_n(&other, &q, 5).await.unwrap().remaining, 0);
    assert!(!l.check_n(&other, &q, 1).await.unwrap().allowed);
    assert!(matches!(
        l.check_n(&other, &q, 6).await,
        Err(Error::Config(_))
    ));

    // Password reset: 3 per hour, the fourth waits exactly 20 minutes.
    let reset = RateKey::new(
        "auth.password_reset",
        Subject::Custom("a@example.com".into()),
    );
    for remaining in [2, 1, 0] {
        assert_allowed(&l, &reset, &PASSWORD_RESET_QUOTA, remaining).await;
    }
    let err = l.enforce(&reset, &PASSWORD_RESET_QUOTA).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RateLimited {
                retry_after_secs: 1200
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn gcra_math_in_process() {
    let clock = clock();
    gcra_sequence(InMemoryStore::with_clock(Arc::new(clock.clone())), &clock).await;
}

#[tokio::test]
async fn architecture_user_quota_is_twice_the_rate_over_a_minute() {
    let clock = clock();
    let l = RateLimiter::new(InMemoryStore::with_clock(Arc::new(clock.clone())));
    let k = user_key("api");
    let mut allowed = 0;
    // One attempt every 100 ms from 0 s to 60 s inclusive: the key gets its burst (60) plus
    // one per second (60), i.e. twice the rate over the minute, and not one more.
    for _ in 0..=600 {
        if l.check(&k, &USER_QUOTA).await.unwrap().allowed {
            allowed += 1;
        }
        clock.advance(ms(100));
    }
    assert_eq!(allowed, 120);
}

#[tokio::test]
async fn idle_keys_are_evicted() {
    let clock = clock();
    let store = Arc::new(
        InMemoryStore::with_clock(Arc::new(clock.clone()))
            .with_sweep_interval(Duration::from_secs(1)),
    );
    let l = RateLimiter::new(store.clone());
    let q = Quota::per_second(10);
    for _ in 0..100 {
        l.check(&user_key("api"), &q).await.unwrap();
    }
    assert_eq!(store.len(), 100);
    clock.advance(ms(99));
    assert_eq!(store.evict_idle(), 0);
    clock.advance(ms(1));
    assert_eq!(store.evict_idle(), 100);
    assert!(store.is_empty());

    // The periodic sweep runs on access, and the key cap bounds memory.
    let capped = Arc::new(
        InMemoryStore::with_clock(Arc::new(clock.clone()))
            .with_sweep_interval(Duration::from_secs(1))
            .with_max_keys(32),
    );
    let l = RateLimiter::new(capped.clone());
    for _ in 0..1000 {
        assert!(l.check(&user_key("api"), &q).await.unwrap().allowed);
    }
    assert!(capped.len() <= 32);
    clock.advance(ms(2000));
    l.check(&user_key("api"), &q).await.unwrap();
    assert!(capped.len() <= 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_store_admits_exactly_the_burst_at_one_instant() {
    let clock = clock();
    let l = RateLimiter::new(InMemoryStore::with_clock(Arc::new(clock.clone())));
    let k = RateKey::new("auth.login", Subject::Ip("198.51.100.7".parse().unwrap()));
    let q = Quota::per_minute(10).with_burst(10);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (l, k) = (l.clone(), k.clone());
            tokio::spawn(async move { l.check(&k, &q).await.unwrap().allowed })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap());
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn ipv6_clients_share_their_slash_64() {
    let clock = clock();
    let l = RateLimiter::new(InMemoryStore::with_clock(Arc::new(clock.clone())));
    let q = Quota::per_minute(2);
    let ip = |s: &str| RateKey::new("auth.login", Subject::Ip(s.parse::<IpAddr>().unwrap()));
    assert!(l.check(&ip("2001:db8:0:1::1"), &q).await.unwrap().allowed);
    assert!(l.check(&ip("2001:db8:0:1::2"), &q).await.unwrap().allowed);
    assert!(
        !l.check(&ip("2001:db8:0:1:ffff::3"), &q)
            .await
            .unwrap()
            .allowed
    );
    assert!(l.check(&ip("2001:db8:0:2::1"), &q).await.unwrap().allowed);
}

// ---------------------------------------------------------------------------------------------
// Redis

/// A Redis store with a fresh prefix, or `None` (skipped) when Redis is unreachable outside
/// CI. Under CI an unreachable Redis fails the test.
async fn redis_store(prefix: &str, time: TimeSource) -> Option<RedisStore> {
    let config = RedisConfig {
        prefix: prefix.to_owned(),
        time,
        ..RedisConfig::default()
    };
    match RedisStore::connect(REDIS_URL, config).await {
        Ok(s) => Some(s),
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("Redis is required under CI but unreachable at {REDIS_URL}: {e}");
            }
            eprintln!("SKIPPED: Redis unreachable at {REDIS_URL} ({e})");
            None
        }
    }
}

fn fresh_prefix() -> String {
    format!("helix-test:{}:", Uuid::now_v7().simple())
}

#[tokio::test]
async fn redis_store_matches_the_gcra_math() {
    let clock = clock();
    let Some(store) =
        redis_store(&fresh_prefix(), TimeSource::Clock(Arc::new(clock.clone()))).await
    else {
        return;
    };
    gcra_sequence(store, &clock).await;
}

#[tokio::test]
async fn redis_keys_are_prefixed_hashed_and_expire() {
    let clock = clock();
    let prefix = fresh_prefix();
    let Some(store) = redis_store(&prefix, TimeSource::Clock(Arc::new(clock.clone()))).await else {
        return;
    };
    let l = RateLimiter::new(store);
    let key = RateKey::new(
        "auth.password_reset",
        Subject::Custom("bob@example.com".into()),
    );
    l.check(&key, &Quota::per_hour(3)).await.unwrap();

    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys, [format!("{prefix}{}", key.storage_key())]);
    assert!(!keys[0].contains("bob"));
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    // One request of 3/hour: full again after 20 minutes.
    assert!((1_199_000..=1_200_000).contains(&ttl_ms), "{ttl_ms}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sharing_redis_enforce_one_limit() {
    let prefix = fresh_prefix();
    // Server time: the instances agree on time through Redis.
    let (Some(a), Some(b)) = (
        redis_store(&prefix, TimeSource::Server).await,
        redis_store(&prefix, TimeSource::Server).await,
    ) else {
        return;
    };
    let (a, b) = (RateLimiter::new(a), RateLimiter::new(b));
    let key = RateKey::new("api", Subject::Tenant(Uuid::now_v7()));
    // Burst 20 and one more per hour: no refill during the test.
    let q = Quota::per_hour(1).with_burst(20);
    // Each instance sees the other's requests...
    for i in 0..10 {
        let l = if i % 2 == 0 { &a } else { &b };
        assert_eq!(l.check(&key, &q).await.unwrap().remaining, 19 - i);
    }
    // ...and under concurrency both together admit exactly the rest of the burst.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            tokio::spawn(async move { l.check(&key, &q).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        let d = t.await.unwrap();
        assert!(!d.degraded);
        allowed += usize::from(d.allowed);
    }
    assert_eq!(allowed, 10);
    assert!(!a.check(&key, &q).await.unwrap().allowed);
    assert!(!b.check(&key, &q).await.unwrap().allowed);
}

#[tokio::test]
async fn unreachable_store_fails_open_or_closed_as_configured() {
    let config = RedisConfig {
        op_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(200),
        ..RedisConfig::default()
    };
    // Nothing listens on port 1.
    let dead = RedisStore::connect_lazy("redis://127.0.0.1:1", config.clone()).unwrap();
    assert!(
        RedisStore::connect("redis://127.0.0.1:1", config)
            .await
            .is_err()
    );
    let key = user_key("api");

    let open = RateLimiter::new(dead.clone());
    assert_eq!(open.failure_mode(), FailureMode::Open);
    let d = open.check(&key, &USER_QUOTA).await.unwrap();
    assert!(d.allowed && d.degraded);

    let closed = RateLimiter::builder(dead)
        .failure_mode(FailureMode::Closed)
        .build();
    let err = closed.check(&key, &USER_QUOTA).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Breach>>);

impl BreachSink for Recorder {
    fn on_breach(&self, breach: &Breach) {
        self.0.lock().unwrap().push(breach.clone());
    }
}

/// Stands in for authentication: `x-test-user` becomes the actor.
async fn fake_auth(mut req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("x-test-user")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if let (Some(user), Some(ctx)) = (user, req.extensions_mut().get_mut::<RequestContext>()) {
        ctx.actor = Actor::User(user);
    }
    next.run(req).await
}

async fn serve(policy: HttpRateLimit) -> String {
    let app = Router::new()
        .route("/login", get(|| async { "welcome" }))
        .route("/me", get(|| async { "me" }))
        .route("/items/{id}", get(|| async { "item" }))
        .route("/health", get(|| async { "ok" }))
        .layer(from_fn_with_state(Arc::new(policy), rate_limit))
        .layer(from_fn(fake_auth))
        .layer(from_fn_with_state(
            Arc::new(HttpMetrics::new()),
            request_context,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn http_answers_429_with_retry_after_and_ratelimit_headers() {
    let clock = clock();
    let recorder = Arc::new(Recorder::default());
    let limiter = RateLimiter::builder(InMemoryStore::with_clock(Arc::new(clock.clone())))
        .breach_sink(recorder.clone())
        .clock(Arc::new(clock.clone()))
        .build();
    let policy = HttpRateLimit::builder(limiter)
        .class("auth.login", [Rule::new(Scope::Ip, Quota::per_minute(3))])
        .class(
            "items",
            [Rule::new(Scope::User, Quota::per_minute(60).with_burst(2))],
        )
        .route("/login", "auth.login")
        .route("/items/{id}", "items")
        .build()
        .unwrap();
    let base = serve(policy).await;
    let http = reqwest::Client::new();

    for remaining in ["2", "1", "0"] {
        let r = http.get(format!("{base}/login")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-limit"), Some("3"));
        assert_eq!(header(&r, "ratelimit-remaining"), Some(remaining));
        assert!(header(&r, "retry-after").is_none());
    }
    let r = http
        .get(format!("{base}/login"))
        .header("x-correlation-id", "rl-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), Some("20"));
    assert_eq!(header(&r, "ratelimit-limit"), Some("3"));
    assert_eq!(header(&r, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&r, "ratelimit-reset"), Some("60"));
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["error"]["correlation_id"], "rl-test-1");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["timestamp"].is_string());

    // The breach went to the sink with the request's correlation id.
    {
        let breaches = recorder.0.lock().unwrap();
        assert_eq!(breaches.len(), 1);
        let b = &breaches[0];
        assert_eq!(b.key.class, "auth.login");
        assert_eq!(b.key.subject, Subject::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(b.correlation_id.as_deref(), Some("rl-test-1"));
        assert_eq!(b.at, clock.now_for_test());
    }

    // Time heals: 20 s later one more login.
    clock.advance(chrono::Duration::seconds(20));
    let r = http.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-reset"), Some("60"));

    // Per-user class on a templated route: users are counted apart; anonymous requests are
    // not counted by a user rule.
    let (alice, bob) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    for (n, path) in ["/items/1", "/items/2"].iter().enumerate() {
        let r = http
            .get(format!("{base}{path}"))
            .header("x-test-user", &alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-remaining"), Some(["1", "0"][n]));
    }
    let r = http
        .get(format!("{base}/items/3"))
        .header("x-test-user", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), Some("1"));
    let r = http
        .get(format!("{base}/items/3"))
        .header("x-test-user", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/items/3")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "ratelimit-limit").is_none());

    // Unmapped routes without a default class are not limited.
    let r = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "ratelimit-limit").is_none());
}

#[tokio::test]
async fn http_defaults_limit_every_route_per_principal_and_tenant() {
    let clock = clock();
    let limiter = RateLimiter::new(InMemoryStore::with_clock(Arc::new(clock.clone())));
    let policy = HttpRateLimit::defaults(limiter).build().unwrap();
    let base = serve(policy).await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(header(&r, "ratelimit-limit"), Some("60"));
    assert_eq!(header(&r, "ratelimit-remaining"), Some("59"));

    assert!(
        HttpRateLimit::builder(RateLimiter::new(InMemoryStore::new()))
            .route("/x", "undefined")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn http_fail_closed_answers_503_and_fail_open_passes_without_headers() {
    let config = RedisConfig {
        op_timeout: Duration::from_millis(200),
        connect_timeout: Duration::from_millis(100),
        ..RedisConfig::default()
    };
    let dead = RedisStore::connect_lazy("redis://127.0.0.1:1", config).unwrap();
    let open = HttpRateLimit::defaults(RateLimiter::new(dead.clone()))
        .build()
        .unwrap();
    let closed = HttpRateLimit::defaults(
        RateLimiter::builder(dead)
            .failure_mode(FailureMode::Closed)
            .build(),
    )
    .build()
    .unwrap();
    let (open, closed) = (serve(open).await, serve(closed).await);
    let http = reqwest::Client::new();
    let r = http.get(format!("{open}/me")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "ratelimit-limit").is_none());
    let r = http.get(format!("{closed}/me")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
}

trait NowForTest {
    fn now_for_test(&self) -> chrono::DateTime<Utc>;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> chrono::DateTime<Utc> {
        helix_core::Clock::now(self)
    }
}
