//! Idempotency-Key and the request-context middleware over a real loopback server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post as post_route;
use helix_core::http::idempotency::{IdempotencyState, idempotency};
use helix_core::http::{HttpMetrics, request_context};
use helix_core::testing::TestDb;
use helix_core::{Actor, Helix, ManualClock, RequestContext, backend_test};
use serde_json::{Value, json};

#[derive(Clone)]
struct Counter(Arc<AtomicUsize>);

async fn create(State(c): State<Counter>, body: String) -> Response {
    let n = c.0.fetch_add(1, Ordering::SeqCst) + 1;
    if body.contains("fail") {
        return axum::response::IntoResponse::into_response(helix_core::Error::internal_msg(
            "boom",
        ));
    }
    if body.contains("slow") {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let secret = body.contains("secret");
    let mut resp = axum::response::IntoResponse::into_response((
        axum::http::StatusCode::CREATED,
        [(axum::http::header::LOCATION, format!("/things/{n}"))],
        axum::Json(json!({"n": n, "body": body})),
    ));
    if secret {
        resp.extensions_mut()
            .insert(helix_core::http::idempotency::NoStore);
    }
    resp
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

async fn serve(t: &TestDb, clock: ManualClock) -> (String, Counter) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    let counter = Counter(Arc::new(AtomicUsize::new(0)));
    let idem = IdempotencyState::new(t.db.clone(), Arc::new(clock));
    let app = Router::new()
        .route("/things", post_route(create))
        .with_state(counter.clone())
        .layer(axum::middleware::from_fn_with_state(idem, idempotency))
        .layer(axum::middleware::from_fn(fake_auth))
        .layer(axum::middleware::from_fn_with_state(
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
    (format!("http://{addr}"), counter)
}

const USER_A: &str = "0190f5a2-0000-7000-8000-00000000000a";
const USER_B: &str = "0190f5a2-0000-7000-8000-00000000000b";

async fn post(base: &str, user: &str, key: Option<&str>, body: &str) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{base}/things"))
        .header("x-test-user", user)
        .header("content-type", "text/plain")
        .body(body.to_owned());
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    r.send().await.unwrap()
}

async fn idempotency_key_semantics(t: TestDb) {
    let clock = ManualClock::new(chrono::Utc::now());
    let (base, counter) = serve(&t, clock.clone()).await;

    // Same key, same request: the first response is replayed.
    let first = post(&base, USER_A, Some("k1"), "hello").await;
    assert_eq!(first.status(), 201);
    let first_body: Value = first.json().await.unwrap();
    let again = post(&base, USER_A, Some("k1"), "hello").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    let location = again.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    assert_eq!(location, "/things/1");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);

    // Same key, different request: 422 in the standard envelope.
    let other = post(&base, USER_A, Some("k1"), "different").await;
    assert_eq!(other.status(), 422);
    let e: Value = other.json().await.unwrap();
    assert_eq!(e["error"]["code"], "IDEMPOTENCY_KEY_REUSED");

    // Keys are per caller: B's k1 is a new request.
    assert_eq!(post(&base, USER_B, Some("k1"), "hello").await.status(), 201);
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);

    // No key: not deduplicated.
    post(&base, USER_A, None, "hello").await;
    post(&base, USER_A, None, "hello").await;
    assert_eq!(counter.0.load(Ordering::SeqCst), 4);

    // A malformed key is a 400 with details.
    let bad = post(&base, USER_A, Some("has space"), "x").await;
    assert_eq!(bad.status(), 400);
    let e: Value = bad.json().await.unwrap();
    assert_eq!(e["error"]["details"][0]["field"], "Idempotency-Key");

    // Server errors are not stored: a retry with the same key runs again.
    assert_eq!(post(&base, USER_A, Some("k2"), "fail").await.status(), 500);
    assert_eq!(post(&base, USER_A, Some("k2"), "fail").await.status(), 500);
    assert_eq!(counter.0.load(Ordering::SeqCst), 6);

    // Anonymous callers get no shared key space: their requests simply run.
    let anon = || {
        reqwest::Client::new()
            .post(format!("{base}/things"))
            .header("idempotency-key", "anon")
            .body("hello")
            .send()
    };
    assert_eq!(anon().await.unwrap().status(), 201);
    assert_eq!(anon().await.unwrap().status(), 201);
    assert_eq!(counter.0.load(Ordering::SeqCst), 8);

    // A response carrying a one-time secret is never replayed, and never re-run.
    assert_eq!(
        post(&base, USER_A, Some("s1"), "secret").await.status(),
        201
    );
    let retry = post(&base, USER_A, Some("s1"), "secret").await;
    assert_eq!(retry.status(), 409);
    let e: Value = retry.json().await.unwrap();
    assert_eq!(e["error"]["code"], "IDEMPOTENCY_RESPONSE_NOT_REPLAYABLE");
    assert_eq!(counter.0.load(Ordering::SeqCst), 9);

    // Keys expire after 24 hours.
    clock.advance(chrono::Duration::hours(25));
    let after = post(&base, USER_A, Some("k1"), "hello").await;
    assert_eq!(after.status(), 201);
    assert!(after.headers().get("idempotency-replayed").is_none());
    assert_eq!(counter.0.load(Ordering::SeqCst), 10);
    let purged = helix_core::http::idempotency::purge_expired(
        &t.db,
        clock.now() + chrono::Duration::hours(25),
    )
    .await
    .unwrap();
    assert!(purged >= 1);
}
backend_test!(idempotency_key, idempotency_key_semantics);

async fn concurrent_first_use_runs_once(t: TestDb) {
    let clock = ManualClock::new(chrono::Utc::now());
    let (base, counter) = serve(&t, clock).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            post(&base, USER_A, Some("race"), "slow")
                .await
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
}
backend_test!(idempotency_concurrent, concurrent_first_use_runs_once);

use helix_core::Clock as _;
