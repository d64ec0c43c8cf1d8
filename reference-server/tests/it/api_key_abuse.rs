//! The per-IP limit on refused API keys, on both backends: a client that keeps presenting
//! revoked and made-up `hx_` keys gets 401s up to the quota, then 429 with `Retry-After`;
//! the address is then blocked, valid keys included; the breach is one security event; user
//! tokens are not affected.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use reqwest::Client;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api_keys::signed_in;
use crate::support::start;

async fn rate_limited_events(t: &TestDb) -> Vec<String> {
    let conn = t.db.connection();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT data FROM auth_security_events WHERE kind = 'api_key_refused'",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            r.try_get::<String>("", "data")
                .or_else(|_| r.try_get::<Value>("", "data").map(|v| v.to_string()))
                .unwrap()
        })
        .filter(|d| d.contains("rate_limited"))
        .collect()
}

async fn refused_keys_hit_the_limit(t: TestDb) {
    let srv = start(&t).await;
    let c = Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let (user, _, _) = signed_in(&srv, &c, "key-abuse@example.test").await;
    let create = |name: &str| {
        c.post(api("/api/v1/auth/api-keys"))
            .bearer_auth(&user)
            .json(&json!({"name": name, "scopes": ["members:read"]}))
            .send()
    };
    let valid: Value = create("valid").await.unwrap().json().await.unwrap();
    let valid = valid["key"].as_str().unwrap().to_owned();
    let revoked: Value = create("revoked").await.unwrap().json().await.unwrap();
    let r = c
        .delete(api(&format!(
            "/api/v1/auth/api-keys/{}",
            revoked["id"].as_str().unwrap()
        )))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let revoked = revoked["key"].as_str().unwrap().to_owned();
    let members = |key: String| c.get(api("/api/v1/members")).bearer_auth(key).send();
    assert_eq!(members(valid.clone()).await.unwrap().status(), 200);

    // The revoked key and made-up ones: 401 until the quota (10 per minute, burst 10) is
    // spent, then 429. The loop tolerates a slow machine refilling a token or two.
    let mut refused = 0;
    let mut limited = None;
    for i in 0..40 {
        let key = if i % 2 == 0 {
            revoked.clone()
        } else {
            format!("hx_{}_{}", Uuid::now_v7().simple(), "A".repeat(43))
        };
        let r = members(key).await.unwrap();
        match r.status().as_u16() {
            401 => refused += 1,
            429 => {
                limited = Some(r);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused >= 10, "the first 10 refusals are 401s ({refused})");
    let r = limited.expect("a 429 after the quota of refused keys");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");

    // Blocked: even the valid key, answered before any lookup.
    let r = members(valid.clone()).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // The breach is one security event, not one per blocked request.
    assert_eq!(rate_limited_events(&t).await.len(), 1);
    // User tokens are not API keys: unaffected.
    let r = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.stop().await;
}
backend_test!(
    api_key_refusals_are_rate_limited,
    refused_keys_hit_the_limit
);
