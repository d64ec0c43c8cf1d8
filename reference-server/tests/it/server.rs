use helix_core::backend_test;
use helix_core::testing::TestDb;
use serde_json::Value;

use crate::support::{TEST_KID, code_in, start};

async fn health_metrics_openapi_and_errors(t: TestDb) {
    let srv = start(&t).await;
    let c = reqwest::Client::new();

    let live = c
        .get(format!("{}/health/live", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready = c
        .get(format!("{}/health/ready", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], true);
    assert_eq!(body["migrations_current"], true);

    // Correlation id: echoed when valid, made when absent.
    let r = c
        .get(format!("{}/health/live", srv.base))
        .header("x-correlation-id", "test-corr-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-correlation-id"], "test-corr-1");
    let r = c
        .get(format!("{}/health/live", srv.base))
        .send()
        .await
        .unwrap();
    assert!(!r.headers()["x-correlation-id"].is_empty());

    // Unknown route: the standard envelope with the correlation id.
    let r = c
        .get(format!("{}/api/v1/nope", srv.base))
        .header("x-correlation-id", "corr-404")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "NOT_FOUND");
    assert_eq!(e["error"]["correlation_id"], "corr-404");
    assert!(e["error"]["timestamp"].is_string());

    // OpenAPI 3.1 describing what exists.
    let doc: Value = c
        .get(format!("{}/api/v1/openapi.json", srv.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/health/ready"].is_object());
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());

    // Metrics by route template and status.
    let text = c
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("helix_http_requests_total{"), "{text}");
    assert!(text.contains("route=\"/health/live\""), "{text}");
    assert!(text.contains("status=\"404\""), "{text}");
    assert!(
        text.contains("helix_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("helix_outbox_backlog"), "{text}");

    srv.stop().await;
}
backend_test!(
    health_metrics_openapi_and_errors_e2e,
    health_metrics_openapi_and_errors
);

async fn graceful_shutdown_finishes(t: TestDb) {
    let srv = start(&t).await;
    let base = srv.base.clone();
    srv.stop().await;
    // After shutdown the port no longer answers.
    let r = reqwest::Client::new()
        .get(format!("{base}/health/live"))
        .send()
        .await;
    assert!(r.is_err());
}
backend_test!(graceful_shutdown_e2e, graceful_shutdown_finishes);

async fn framework_errors_use_the_envelope(t: TestDb) {
    let srv = start(&t).await;
    let c = reqwest::Client::new();
    // Wrong method on a known route.
    let r = c
        .post(format!("{}/health/live", srv.base))
        .header("x-correlation-id", "m1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(e["error"]["correlation_id"], "m1");
    // Body over the limit (1 MiB by default).
    let r = c
        .post(format!("{}/api/v1/anything", srv.base))
        .header("content-length", (2 * 1024 * 1024).to_string())
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "PAYLOAD_TOO_LARGE");
    srv.stop().await;
}
backend_test!(framework_errors_e2e, framework_errors_use_the_envelope);

async fn auth_flow_through_the_server(t: TestDb) {
    let srv = start(&t).await;
    let c = reqwest::Client::new();
    let email = format!("ada-{}@example.test", uuid::Uuid::now_v7().simple());
    let password = "correct horse battery staple 42";
    let r = c
        .post(format!("{}/api/v1/auth/register", srv.base))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // The development mailbox holds the verification code.
    let token = code_in(&srv.mail_dir(), &email).await;
    let r = c
        .post(format!("{}/api/v1/auth/verify-email", srv.base))
        .json(&serde_json::json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = c
        .post(format!("{}/api/v1/auth/login", srv.base))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();

    let me: Value = c
        .get(format!("{}/api/v1/auth/me", srv.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email);

    let jwks: Value = c
        .get(format!("{}/.well-known/jwks.json", srv.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], TEST_KID);

    // Tenancy routes sit behind the same authentication: a signed-in user creates an
    // organization on the platform path. The verified account already has its personal
    // organization, which is the token's active organization (the auth/tenancy glue; see
    // glue.rs for switching).
    let slug = format!("org-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let r = c
        .post(format!("{}/api/v1/organizations", srv.base))
        .bearer_auth(&access)
        .json(&serde_json::json!({"name": "Ada's org", "slug": slug, "region": "eu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let r = c
        .get(format!("{}/api/v1/organization", srv.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let org: Value = r.json().await.unwrap();
    assert_eq!(org["id"], body["org_id"]);
    assert!(org["slug"].as_str().unwrap().starts_with("personal-"));
    let r = c
        .get(format!("{}/api/v1/organization", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A wrong password is the generic 401 with its code.
    let r = c
        .post(format!("{}/api/v1/auth/login", srv.base))
        .json(&serde_json::json!({"email": email, "password": "wrong password entirely 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "INVALID_CREDENTIALS");
    srv.stop().await;
}
backend_test!(auth_flow_e2e, auth_flow_through_the_server);
