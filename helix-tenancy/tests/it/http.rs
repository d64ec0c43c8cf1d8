//! The HTTP API over a real loopback server, on both backends: request_context outermost,
//! then a stand-in for authentication that takes the actor, the active organization and
//! the verified e-mail from `x-test-user` / `x-test-org` / `x-test-email`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use helix_core::http::{HttpMetrics, envelope_errors, request_context};
use helix_core::testing::TestDb;
use helix_core::{Actor, RequestContext, VerifiedEmail, backend_test};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::setup;

/// Stands in for authentication: `x-test-user` is the actor, `x-test-org` the active
/// organization, `x-test-email` the verified e-mail (as the host's glue would insert it).
async fn fake_auth(mut req: Request, next: Next) -> Response {
    let header = |req: &Request, name: &str| -> Option<Uuid> {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    };
    let (user, org) = (header(&req, "x-test-user"), header(&req, "x-test-org"));
    let email = req
        .headers()
        .get("x-test-email")
        .and_then(|v| v.to_str().ok())
        .map(|v| VerifiedEmail(v.to_owned()));
    if let Some(ctx) = req.extensions_mut().get_mut::<RequestContext>() {
        if let Some(user) = user {
            ctx.actor = Actor::User(user);
        }
        ctx.org_id = org;
    }
    if let Some(email) = email {
        req.extensions_mut().insert(email);
    }
    next.run(req).await
}

struct Api {
    base: String,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Who calls: a user, optionally acting in an organization.
#[derive(Clone, Copy)]
struct As(Option<Uuid>, Option<Uuid>);

const ANONYMOUS: As = As(None, None);

impl Api {
    async fn start(t: &TestDb) -> Self {
        let fx = setup(t).await;
        let app = Router::new()
            .merge(helix_tenancy::http::router())
            .with_state(fx.svc)
            .layer(from_fn(fake_auth))
            .layer(from_fn(envelope_errors))
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
        Self {
            base: format!("http://{addr}/api/v1"),
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, who: As, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send_verified(who, None, method, path, body).await
    }

    /// Like `send`, with `email` as the caller's verified e-mail.
    async fn send_verified(
        &self,
        who: As,
        email: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(email) = email {
            req = req.header("x-test-email", email);
        }
        if let Some(user) = who.0 {
            req = req.header("x-test-user", user.to_string());
        }
        if let Some(org) = who.1 {
            req = req.header("x-test-org", org.to_string());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, who: As, path: &str) -> Reply {
        self.send(who, Method::GET, path, None).await
    }

    async fn post(&self, who: As, path: &str, body: Value) -> Reply {
        self.send(who, Method::POST, path, Some(body)).await
    }

    /// A POST by `who` whose verified e-mail is `email`.
    async fn post_verified(&self, who: As, email: &str, path: &str, body: Value) -> Reply {
        self.send_verified(who, Some(email), Method::POST, path, Some(body))
            .await
    }

    async fn patch(&self, who: As, path: &str, body: Value) -> Reply {
        self.send(who, Method::PATCH, path, Some(body)).await
    }

    async fn put(&self, who: As, path: &str) -> Reply {
        self.send(who, Method::PUT, path, None).await
    }

    async fn delete(&self, who: As, path: &str) -> Reply {
        self.send(who, Method::DELETE, path, None).await
    }

    /// Creates an organization owned by a fresh user; returns (owner, org id).
    async fn new_org(&self) -> (Uuid, Uuid) {
        let owner = Uuid::now_v7();
        let r = self
            .post_verified(
                As(Some(owner), None),
                &format!("owner-{owner}@example.test"),
                "/organizations",
                json!({
                    "name": "Acme",
                    "slug": crate::common::slug(),
                    "region": "eu",
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (owner, id(&r.body))
    }
}

fn id(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

fn emails(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect()
}

async fn full_flow(t: TestDb) {
    let api = Api::start(&t).await;
    let (alice, org) = api.new_org().await;
    let owner = As(Some(alice), Some(org));

    // The active organization: read, update; the region is not accepted.
    let r = api.get(owner, "/organization").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (r.body["name"].as_str(), r.body["region"].as_str()),
        (Some("Acme"), Some("eu"))
    );
    let r = api
        .patch(
            owner,
            "/organization",
            json!({"name": "Acme Inc", "plan": "pro", "settings": {"theme": "dark"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Acme Inc");
    assert_eq!(r.body["plan"], "pro");
    assert_eq!(r.body["settings"]["theme"], "dark");
    let r = api
        .patch(owner, "/organization", json!({"region": "us"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "VALIDATION_ERROR");
    assert_eq!(r.body["error"]["details"][0]["field"], "region");
    assert_eq!(r.body["error"]["details"][0]["code"], "unknown_field");
    assert_eq!(api.get(owner, "/organization").await.body["region"], "eu");

    // Invite Bob: the token is in the body once, never cached.
    let r = api
        .post(
            owner,
            "/invitations",
            json!({"email": "bob@example.test", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.body["status"], "pending");
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 43);
    let listed = api.get(owner, "/invitations").await;
    assert_eq!(listed.body["meta"]["total"], 1);
    assert!(listed.body["data"][0].get("token").is_none());

    // Bob accepts (platform path: he has no active organization yet).
    let bob = Uuid::now_v7();
    let r = api
        .post_verified(
            As(Some(bob), None),
            "Bob@Example.test",
            "/invitations/accept",
            json!({"token": token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "member");
    assert_eq!(r.body["org_id"], org.to_string());
    let r = api
        .post_verified(
            As(Some(Uuid::now_v7()), None),
            "bob@example.test",
            "/invitations/accept",
            json!({"token": token}),
        )
        .await;
    assert_eq!(r.code(), "INVITATION_ALREADY_USED");

    // Carol is added directly; the list filters and sorts.
    let carol = Uuid::now_v7();
    let r = api
        .post(
            owner,
            "/members",
            json!({"user_id": carol, "email": "carol@example.test", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api
        .get(owner, "/members?filter[role]=member&sort=email:asc")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(emails(&r.body), ["bob@example.test", "carol@example.test"]);
    assert_eq!(r.body["meta"]["total"], 2);
    assert_eq!(r.body["meta"]["limit"], 25);
    let r = api.get(owner, "/members?filter[password]=x").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["details"][0]["field"], "filter[password]");
    assert_eq!(r.body["error"]["details"][0]["code"], "unknown_field");

    // Role change.
    let r = api
        .patch(
            owner,
            &format!("/members/{carol}"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "admin");
    let r = api.get(owner, "/members?filter[role]=member").await;
    assert_eq!(emails(&r.body), ["bob@example.test"]);
    let r = api
        .patch(owner, &format!("/members/{carol}"), json!({"role": "boss"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["details"][0]["field"], "role");

    // Teams: CRUD and membership.
    let r = api
        .post(owner, "/teams", json!({"name": "Eng", "slug": "eng"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let team = id(&r.body);
    assert_eq!(api.get(owner, "/teams").await.body["meta"]["total"], 1);
    assert_eq!(
        api.get(owner, &format!("/teams/{team}")).await.body["slug"],
        "eng"
    );
    let r = api
        .patch(
            owner,
            &format!("/teams/{team}"),
            json!({"name": "Engineering"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (200, Some("Engineering"))
    );
    let r = api
        .put(owner, &format!("/teams/{team}/members/{bob}"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["user_id"], bob.to_string());
    assert_eq!(
        api.put(owner, &format!("/teams/{team}/members/{bob}"))
            .await
            .status,
        204
    );
    let r = api.get(owner, &format!("/teams/{team}/members")).await;
    assert_eq!(r.body["meta"]["total"], 1);
    assert_eq!(r.body["data"][0]["user_id"], bob.to_string());
    assert_eq!(
        api.delete(owner, &format!("/teams/{team}/members/{bob}"))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get(owner, &format!("/teams/{team}/members")).await.body["meta"]["total"],
        0
    );

    // Bob is a member: he reads, but may not manage.
    let as_bob = As(Some(bob), Some(org));
    assert_eq!(api.get(as_bob, "/members").await.status, 200);
    assert_eq!(api.get(as_bob, "/organization").await.status, 200);
    for r in [
        api.post(as_bob, "/teams", json!({"name": "Ops", "slug": "ops"}))
            .await,
        api.patch(as_bob, "/organization", json!({"name": "Mine"}))
            .await,
        api.get(as_bob, "/invitations").await,
        api.patch(
            as_bob,
            &format!("/members/{carol}"),
            json!({"role": "member"}),
        )
        .await,
        api.delete(as_bob, &format!("/teams/{team}")).await,
    ] {
        assert_eq!((r.status, r.code()), (403, "FORBIDDEN"), "{}", r.body);
    }

    assert_eq!(
        api.delete(owner, &format!("/teams/{team}")).await.status,
        204
    );
    let r = api.get(owner, &format!("/teams/{team}")).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));

    // Revoke and resend.
    let r = api
        .post(
            owner,
            "/invitations",
            json!({"email": "dave@example.test", "role": "read_only"}),
        )
        .await;
    let invitation = id(&r.body);
    let first = r.body["token"].as_str().unwrap().to_owned();
    let r = api
        .post(
            owner,
            &format!("/invitations/{invitation}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), "no-store");
    let second = r.body["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let r = api
        .post(
            owner,
            &format!("/invitations/{invitation}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("revoked"))
    );
    let r = api
        .post_verified(
            As(Some(Uuid::now_v7()), None),
            "dave@example.test",
            "/invitations/accept",
            json!({"token": second}),
        )
        .await;
    assert_eq!(r.code(), "INVITATION_REVOKED");

    // Members leave.
    assert_eq!(
        api.delete(owner, &format!("/members/{bob}")).await.status,
        204
    );
    assert_eq!(api.get(as_bob, "/organization").await.status, 404);
}

backend_test!(full_flow_over_http, full_flow);

async fn rejections(t: TestDb) {
    let api = Api::start(&t).await;
    let (alice, org) = api.new_org().await;
    let owner = As(Some(alice), Some(org));

    // Anonymous: 401 with a challenge, on tenant and platform routes alike.
    for r in [
        api.get(ANONYMOUS, "/organization").await,
        api.get(As(None, Some(org)), "/members").await,
        api.post(ANONYMOUS, "/invitations/accept", json!({"token": "x"}))
            .await,
        api.post(ANONYMOUS, "/organizations", json!({})).await,
    ] {
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"), "{}", r.body);
        assert_eq!(r.header("www-authenticate"), "Bearer");
        assert!(
            r.body["error"]["correlation_id"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
    }

    // Signed in without an active organization.
    let r = api.get(As(Some(alice), None), "/members").await;
    assert_eq!((r.status, r.code()), (403, "NO_ACTIVE_ORGANIZATION"));

    // Bad path ids and bodies.
    let r = api.get(owner, "/teams/not-a-uuid").await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_ERROR"));
    assert_eq!(r.body["error"]["details"][0]["field"], "id");
    let r = api.delete(owner, "/members/42").await;
    assert_eq!(r.body["error"]["details"][0]["field"], "user_id");
    let r = api.post(owner, "/teams", json!({"name": "Eng"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["details"][0]["field"], "slug");
    assert_eq!(r.body["error"]["details"][0]["code"], "required");
    let r = api
        .http
        .post(format!("{}/teams", api.base))
        .header("x-test-user", alice.to_string())
        .header("x-test-org", org.to_string())
        .body(r#"{"name":"Eng","slug":"eng"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let r = api
        .http
        .post(format!("{}/teams", api.base))
        .header("x-test-user", alice.to_string())
        .header("x-test-org", org.to_string())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST");

    // Region is fixed at creation; duplicate slugs conflict.
    let r = api
        .post_verified(
            As(Some(alice), None),
            "a@b.test",
            "/organizations",
            json!({"name": "X", "slug": "x-org", "region": "mars"}),
        )
        .await;
    assert_eq!(r.body["error"]["details"][0]["field"], "region");
}

backend_test!(rejections_use_the_envelope, rejections);

async fn verified_email(t: TestDb) {
    let api = Api::start(&t).await;
    let (alice, org) = api.new_org().await;
    let owner = As(Some(alice), Some(org));
    let r = api
        .post(
            owner,
            "/invitations",
            json!({"email": "erin@example.test", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let mallory = As(Some(Uuid::now_v7()), None);

    // Without a verified e-mail, both routes that need one refuse before reading the body.
    for r in [
        api.post(mallory, "/invitations/accept", json!({"token": token}))
            .await,
        api.post(
            mallory,
            "/organizations",
            json!({"name": "M", "slug": crate::common::slug(), "region": "eu"}),
        )
        .await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (403, "EMAIL_NOT_VERIFIED"),
            "{}",
            r.body
        );
        assert!(
            r.body["error"]["correlation_id"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
    }

    // The e-mail is not taken from the body: sending it is an unknown field.
    let r = api
        .post_verified(
            mallory,
            "mallory@example.test",
            "/invitations/accept",
            json!({"token": token, "email": "erin@example.test"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "VALIDATION_ERROR"),
        "{}",
        r.body
    );
    assert_eq!(r.body["error"]["details"][0]["field"], "email");
    assert_eq!(r.body["error"]["details"][0]["code"], "unknown_field");
    let r = api
        .post_verified(
            mallory,
            "mallory@example.test",
            "/organizations",
            json!({
                "name": "M",
                "slug": crate::common::slug(),
                "region": "eu",
                "owner_email": "erin@example.test",
            }),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["details"][0]["field"], "owner_email");

    // A verified e-mail other than the invitation's is refused; the invitation stays usable.
    let r = api
        .post_verified(
            mallory,
            "mallory@example.test",
            "/invitations/accept",
            json!({"token": token}),
        )
        .await;
    // The service's specific code reaches the client.
    assert_eq!(
        (r.status, r.code()),
        (403, "INVITATION_EMAIL_MISMATCH"),
        "{}",
        r.body
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another email"))
    );
    let r = api
        .post_verified(
            As(Some(Uuid::now_v7()), None),
            "erin@example.test",
            "/invitations/accept",
            json!({"token": token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["email"], "erin@example.test");
}

backend_test!(accept_and_create_take_the_verified_email, verified_email);

async fn cross_tenant(t: TestDb) {
    let api = Api::start(&t).await;
    let (alice, org_a) = api.new_org().await;
    let a = As(Some(alice), Some(org_a));
    let carol = Uuid::now_v7();
    let r = api
        .post(
            a,
            "/members",
            json!({"user_id": carol, "email": "carol@a.test", "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let team = id(&api
        .post(a, "/teams", json!({"name": "Eng", "slug": "eng"}))
        .await
        .body);
    assert_eq!(
        api.put(a, &format!("/teams/{team}/members/{carol}"))
            .await
            .status,
        201
    );
    let invitation = id(&api
        .post(
            a,
            "/invitations",
            json!({"email": "dan@a.test", "role": "member"}),
        )
        .await
        .body);

    let (bob, org_b) = api.new_org().await;
    let b = As(Some(bob), Some(org_b));
    let r = api
        .post(b, "/teams", json!({"name": "Eng", "slug": "eng"}))
        .await;
    assert_eq!(r.status, 201, "same slug, another tenant: {}", r.body);
    api.post(
        b,
        "/invitations",
        json!({"email": "dan@a.test", "role": "member"}),
    )
    .await;

    // B's owner, in B's context, addresses A's rows by id: not found, never forbidden.
    let attempts = [
        api.get(b, &format!("/teams/{team}")).await,
        api.patch(b, &format!("/teams/{team}"), json!({"name": "Pwned"}))
            .await,
        api.delete(b, &format!("/teams/{team}")).await,
        api.get(b, &format!("/teams/{team}/members")).await,
        api.put(b, &format!("/teams/{team}/members/{bob}")).await,
        api.delete(b, &format!("/teams/{team}/members/{carol}"))
            .await,
        api.get(b, &format!("/members/{carol}")).await,
        api.patch(b, &format!("/members/{carol}"), json!({"role": "member"}))
            .await,
        api.delete(b, &format!("/members/{carol}")).await,
        api.get(b, &format!("/invitations/{invitation}")).await,
        api.post(b, &format!("/invitations/{invitation}/revoke"), json!({}))
            .await,
        api.post(b, &format!("/invitations/{invitation}/resend"), json!({}))
            .await,
    ];
    for r in attempts {
        assert_eq!((r.status, r.code()), (404, "NOT_FOUND"), "{}", r.body);
    }

    // B's lists never include A's rows.
    for path in ["/members", "/teams", "/invitations"] {
        let r = api.get(b, &format!("{path}?limit=100")).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let rows = r.body["data"].as_array().unwrap();
        assert!(!rows.is_empty(), "{path}");
        for row in rows {
            assert_eq!(row["org_id"], org_b.to_string(), "{path}: {row}");
        }
    }

    // Claiming A as the active organization without being a member: A does not exist.
    let forged = As(Some(bob), Some(org_a));
    for path in ["/organization", "/members", "/teams", "/invitations"] {
        let r = api.get(forged, path).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "NOT_FOUND"),
            "{path}: {}",
            r.body
        );
    }
    let r = api
        .patch(forged, "/organization", json!({"name": "Pwned"}))
        .await;
    assert_eq!(r.status, 404);

    // A's data is untouched.
    assert_eq!(
        api.get(a, &format!("/teams/{team}")).await.body["name"],
        "Eng"
    );
    assert_eq!(
        api.get(a, &format!("/teams/{team}/members")).await.body["meta"]["total"],
        1
    );
    assert_eq!(
        api.get(a, &format!("/members/{carol}")).await.body["role"],
        "admin"
    );
    assert_eq!(
        api.get(a, &format!("/invitations/{invitation}")).await.body["status"],
        "pending"
    );
    assert_eq!(api.get(a, "/organization").await.body["name"], "Acme");
}

backend_test!(cross_tenant_requests_see_nothing, cross_tenant);
