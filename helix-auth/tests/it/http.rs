//! The HTTP slice over a real loopback server, on both backends: register, verify, login,
//! refresh and reuse, logout, sessions, password change, JWKS, token tampering, enumeration,
//! the login rate limit, and secrets kept out of the logs.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{Extension, FromRef};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use helix_auth::AuthService;
use helix_auth::http::{AuthState, Authenticated};
use helix_auth::sessions::{SessionConfig, SessionService};
use helix_auth::tokens::{AccessTokenConfig, AccessTokens, SigningKeyConfig, SigningKeys};
use helix_core::http::{HttpMetrics, request_context};
use helix_core::ratelimit::{InMemoryStore, RateLimiter};
use helix_core::testing::TestDb;
use helix_core::{ManualClock, RequestContext, backend_test};
use serde_json::{Value, json};

use crate::support::{STRONG, fast_config, kernel};

/// The host's application state: the auth routes only need `FromRef`.
#[derive(Clone)]
struct App {
    auth: AuthState,
}

impl FromRef<App> for AuthState {
    fn from_ref(app: &App) -> AuthState {
        app.auth.clone()
    }
}

/// A host route showing what later layers see in the request context.
async fn context_probe(
    auth: Option<Authenticated>,
    Extension(ctx): Extension<RequestContext>,
) -> Json<Value> {
    Json(json!({
        "authenticated": auth.is_some(),
        "actor": ctx.actor.as_ref_string(),
        "user": ctx.actor.user_id(),
    }))
}

pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) mailer: crate::mail::Mailbox,
    pub(crate) clock: ManualClock,
    pub(crate) c: reqwest::Client,
    pub(crate) auth: AuthService,
}

/// Inner middleware standing in for idempotency or rate limits: shows the actor it sees.
async fn seen_actor(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let actor = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| c.actor.as_ref_string())
        .unwrap_or_default();
    let mut resp = next.run(req).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&actor) {
        resp.headers_mut().insert("x-seen-actor", v);
    }
    resp
}

pub(crate) async fn serve(t: &TestDb) -> Server {
    serve_with(t, false).await
}

/// With `authenticate`, the `authenticate` middleware runs before [`seen_actor`].
async fn serve_with(t: &TestDb, authenticate: bool) -> Server {
    let (kernel, clock) = kernel(t).await;
    let mailer = crate::mail::Mailbox::new(kernel.clone());
    let auth = AuthService::builder(kernel.clone(), fast_config())
        .mail(mailer.outbox())
        .build()
        .unwrap();
    let keys = SigningKeys::from_config(&SigningKeyConfig::generate("k1"), &[]).unwrap();
    let tokens = AccessTokens::new(
        keys,
        AccessTokenConfig::new("https://id.helix.test", "helix-tests"),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let sessions = SessionService::new(kernel, SessionConfig::default()).unwrap();
    let state = AuthState::new(
        auth.clone(),
        tokens,
        sessions,
        RateLimiter::new(InMemoryStore::new()),
    );
    let app_state = App { auth: state };
    let mut app = Router::new()
        .merge(helix_auth::http::router())
        .route("/test/context", get(context_probe))
        .with_state(app_state.clone());
    if authenticate {
        app = app.layer(axum::middleware::from_fn(seen_actor)).layer(
            axum::middleware::from_fn_with_state(app_state, helix_auth::http::authenticate::<App>),
        );
    }
    let app = app.layer(axum::middleware::from_fn_with_state(
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
    Server {
        base: format!("http://{addr}"),
        mailer,
        clock,
        c: reqwest::Client::new(),
        auth,
    }
}

impl Server {
    pub(crate) async fn post(
        &self,
        path: &str,
        body: Value,
        bearer: Option<&str>,
    ) -> reqwest::Response {
        let mut r = self.c.post(format!("{}{path}", self.base)).json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send().await.unwrap()
    }

    pub(crate) async fn get(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut r = self.c.get(format!("{}{path}", self.base));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send().await.unwrap()
    }

    pub(crate) async fn delete(&self, path: &str, bearer: &str) -> reqwest::Response {
        self.c
            .delete(format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
    }

    /// Registers `email` with [`STRONG`] and verifies it with the mailed token.
    pub(crate) async fn signup(&self, email: &str) {
        let r = self
            .post(
                "/api/v1/auth/register",
                json!({"email": email, "password": STRONG}),
                None,
            )
            .await;
        assert_eq!(r.status(), 202);
        let token = self
            .mailer
            .last_token_for(email)
            .await
            .expect("a mailed token");
        let r = self
            .post(
                "/api/v1/auth/verify-email",
                json!({"token": token.expose()}),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
    }

    /// Logs in and returns the token pair.
    pub(crate) async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub(crate) async fn me_status(&self, access: &str) -> u16 {
        self.get("/api/v1/auth/me", Some(access))
            .await
            .status()
            .as_u16()
    }
}

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The envelope without the per-request fields.
pub(crate) fn stable(mut v: Value) -> Value {
    let e = v["error"].as_object_mut().expect("an error envelope");
    assert!(e.remove("correlation_id").is_some());
    assert!(e.remove("timestamp").is_some());
    v
}

async fn assert_unauthorized(r: reqwest::Response) {
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

async fn full_flow(t: TestDb) {
    let srv = serve(&t).await;
    let r = srv
        .post(
            "/api/v1/auth/register",
            json!({"email": "Ada@Example.com", "password": STRONG}),
            None,
        )
        .await;
    assert_eq!(r.status(), 202);
    let text = r.text().await.unwrap();
    let token = srv.mailer.last_token_for("ada@example.com").await.unwrap();
    assert!(
        !text.contains(token.expose()),
        "the token is never answered"
    );

    // Not verified yet: the right password learns it, nothing else.
    let r = srv
        .post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": STRONG}),
            None,
        )
        .await;
    assert_eq!(r.status(), 422);
    let r = srv
        .post(
            "/api/v1/auth/verify-email",
            json!({"token": token.expose()}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = srv
        .post(
            "/api/v1/auth/verify-email",
            json!({"token": token.expose()}),
            None,
        )
        .await;
    assert_eq!(r.status(), 422, "single use");

    let r = srv
        .post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": STRONG}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 600);
    let access = s(&pair["access_token"]).to_owned();
    let first_refresh = s(&pair["refresh_token"]).to_owned();

    let r = srv.get("/api/v1/auth/me", Some(&access)).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["session_id"], pair["session_id"]);
    let account = s(&me["account_id"]).to_owned();

    // The extractor put the principal into the request context.
    let probe: Value = srv
        .get("/test/context", Some(&access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(probe["actor"], format!("user:{account}"));
    let probe: Value = srv.get("/test/context", None).await.json().await.unwrap();
    assert_eq!(probe["authenticated"], false);
    assert_eq!(probe["actor"], "anonymous");

    srv.clock.advance(Duration::minutes(1));
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": first_refresh}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let next: Value = r.json().await.unwrap();
    assert_ne!(next["refresh_token"], pair["refresh_token"]);
    assert_eq!(next["session_id"], pair["session_id"]);
    let next_access = s(&next["access_token"]).to_owned();
    assert_eq!(srv.me_status(&next_access).await, 200);

    // The old refresh token again, after the grace window: the family is revoked, and every
    // access token of the session is refused at once.
    srv.clock.advance(Duration::seconds(11));
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": first_refresh}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_unauthorized(srv.get("/api/v1/auth/me", Some(&next_access)).await).await;
    assert_eq!(srv.me_status(&access).await, 401);
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": next["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(
        r.status(),
        401,
        "the newest token of the family is dead too"
    );
}
backend_test!(register_verify_login_refresh_reuse, full_flow);

async fn enumeration(t: TestDb) {
    let srv = serve(&t).await;
    srv.signup("known@example.com").await;
    let register = |email: &'static str| {
        srv.post(
            "/api/v1/auth/register",
            json!({"email": email, "password": STRONG}),
            None,
        )
    };
    let existing = register("known@example.com").await;
    let fresh = register("new@example.com").await;
    assert_eq!(existing.status(), fresh.status());
    assert_eq!(existing.text().await.unwrap(), fresh.text().await.unwrap());

    let resend = |email: &'static str| {
        srv.post(
            "/api/v1/auth/resend-verification",
            json!({"email": email}),
            None,
        )
    };
    let a = resend("nobody@example.com").await;
    let b = resend("new@example.com").await;
    assert_eq!(
        (a.status(), b.status()),
        (b.status(), reqwest::StatusCode::ACCEPTED)
    );
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());

    let login = |email: &'static str| {
        srv.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": "wrong-Password-77"}),
            None,
        )
    };
    let unknown = login("nobody@example.com").await;
    let wrong = login("known@example.com").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.status(), wrong.status());
    let unknown: Value = unknown.json().await.unwrap();
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(unknown["error"]["code"], "INVALID_CREDENTIALS");
    assert_eq!(stable(unknown), stable(wrong));
}
backend_test!(enumeration_safe_answers, enumeration);

async fn login_rate_limit(t: TestDb) {
    let srv = serve(&t).await;
    for i in 0..10 {
        let r = srv
            .post(
                "/api/v1/auth/login",
                json!({"email": format!("x{i}@example.com"), "password": "wrong-Password-77"}),
                None,
            )
            .await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = srv
        .post(
            "/api/v1/auth/login",
            json!({"email": "x@example.com", "password": "wrong-Password-77"}),
            None,
        )
        .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
}
backend_test!(login_is_rate_limited_per_ip, login_rate_limit);

async fn sessions_and_logout(t: TestDb) {
    let srv = serve_with(&t, true).await;
    srv.signup("a@example.com").await;
    srv.signup("b@example.com").await;
    let a1 = srv.login("a@example.com", STRONG).await;
    let a2 = srv.login("a@example.com", STRONG).await;
    let a3 = srv.login("a@example.com", STRONG).await;
    let b = srv.login("b@example.com", STRONG).await;
    let a1_access = s(&a1["access_token"]);
    let b_access = s(&b["access_token"]);

    let r = srv.get("/api/v1/auth/sessions", Some(a1_access)).await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let current: Vec<&Value> = data.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], a1["session_id"]);

    // Another account's session is "not found", and stays active.
    let path = format!("/api/v1/auth/sessions/{}", s(&a2["session_id"]));
    let r = srv.delete(&path, b_access).await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    assert_eq!(srv.me_status(s(&a2["access_token"])).await, 200);
    let r = srv
        .delete("/api/v1/auth/sessions/not-a-uuid", b_access)
        .await;
    assert_eq!(r.status(), 404);

    // The owner can.
    assert_eq!(srv.delete(&path, a1_access).await.status(), 204);
    assert_eq!(srv.me_status(s(&a2["access_token"])).await, 401);

    let r = srv
        .post(
            "/api/v1/auth/sessions/revoke-others",
            json!({}),
            Some(a1_access),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revoked_sessions"], 1);
    assert_eq!(srv.me_status(s(&a3["access_token"])).await, 401);
    assert_eq!(srv.me_status(a1_access).await, 200);
    assert_eq!(srv.me_status(b_access).await, 200);

    // The `authenticate` middleware fills the context before the inner layers run.
    let r = srv.get("/api/v1/auth/me", Some(b_access)).await;
    let me: Value = r.json().await.unwrap();
    let r = srv.get("/api/v1/auth/sessions", Some(b_access)).await;
    assert_eq!(
        r.headers()["x-seen-actor"].to_str().unwrap(),
        format!("user:{}", s(&me["account_id"]))
    );
    let r = srv.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.headers()["x-seen-actor"], "anonymous");
    assert_unauthorized(srv.get("/.well-known/jwks.json", Some("forged")).await).await;

    let r = srv
        .post("/api/v1/auth/logout", json!({}), Some(a1_access))
        .await;
    assert_eq!(r.status(), 204);
    assert_unauthorized(srv.get("/api/v1/auth/me", Some(a1_access)).await).await;
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": a1["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401, "a signed-out session cannot be refreshed");
}
backend_test!(sessions_revocation_and_logout, sessions_and_logout);

async fn password_change(t: TestDb) {
    let srv = serve(&t).await;
    srv.signup("pw@example.com").await;
    let one = srv.login("pw@example.com", STRONG).await;
    let two = srv.login("pw@example.com", STRONG).await;
    let new_password = "fresh-Orchid-42-lamp";

    let r = srv
        .post(
            "/api/v1/auth/password",
            json!({"current_password": "wrong-Password-77", "new_password": new_password}),
            Some(s(&one["access_token"])),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "current_password");
    assert_eq!(srv.me_status(s(&two["access_token"])).await, 200);

    let r = srv
        .post(
            "/api/v1/auth/password",
            json!({"current_password": STRONG, "new_password": new_password}),
            Some(s(&one["access_token"])),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revoked_sessions"], 1);
    assert_eq!(srv.me_status(s(&two["access_token"])).await, 401);
    assert_eq!(srv.me_status(s(&one["access_token"])).await, 200);
    let r = srv
        .post(
            "/api/v1/auth/login",
            json!({"email": "pw@example.com", "password": STRONG}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);
    srv.login("pw@example.com", new_password).await;

    let r = srv
        .post(
            "/api/v1/auth/password",
            json!({"current_password": new_password, "new_password": new_password}),
            None,
        )
        .await;
    assert_unauthorized(r).await;
}
backend_test!(change_password_revokes_other_sessions, password_change);

async fn tokens_and_bodies(t: TestDb) {
    let srv = serve(&t).await;
    let r = srv.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "k1");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["alg"], "EdDSA");

    srv.signup("tok@example.com").await;
    let pair = srv.login("tok@example.com", STRONG).await;
    let access = s(&pair["access_token"]);
    let parts: Vec<&str> = access.split('.').collect();
    assert_eq!(parts.len(), 3);

    // No header, another scheme, garbage.
    let r = srv.get("/api/v1/auth/me", None).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_unauthorized(r).await;
    let r = srv
        .c
        .get(format!("{}/api/v1/auth/me", srv.base))
        .header("authorization", format!("Basic {access}"))
        .send()
        .await
        .unwrap();
    assert_unauthorized(r).await;
    assert_unauthorized(srv.get("/api/v1/auth/me", Some("not-a-token")).await).await;

    // Tampered claims (signature no longer matches).
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!(uuid::Uuid::now_v7());
    let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    let r = srv.get("/api/v1/auth/me", Some(&tampered)).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_unauthorized(r).await;

    // `alg: none`, with and without the original signature.
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    for token in [
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}.{}", parts[1], parts[2]),
    ] {
        assert_unauthorized(srv.get("/api/v1/auth/me", Some(&token)).await).await;
    }
    // The genuine token still works.
    assert_eq!(srv.me_status(access).await, 200);

    // Bodies: bad JSON is 400, a missing JSON content type 415, unknown fields 400, all in
    // the envelope and without echoing the body.
    let r = srv
        .c
        .post(format!("{}/api/v1/auth/login", srv.base))
        .header("content-type", "application/json")
        .body("{\"email\": \"tok@example.com\", \"password\": \"secret-Value-99\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(!body.contains("secret-Value-99"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    let r = srv
        .c
        .post(format!("{}/api/v1/auth/login", srv.base))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let r = srv
        .post(
            "/api/v1/auth/login",
            json!({"email": "tok@example.com", "password": 12345, "extra": true}),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains("12345"));
}
backend_test!(jwks_tampered_tokens_and_bad_bodies, tokens_and_bodies);

/// A log sink installed once for the whole test process (the server's connection tasks
/// do not inherit a task-scoped subscriber).
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        out
    })
}

async fn secrets_not_logged(t: TestDb) {
    let logs = captured_logs();
    let srv = serve(&t).await;
    let email = format!("log-{}@example.com", uuid::Uuid::now_v7().simple());
    let r = srv
        .post(
            "/api/v1/auth/register",
            json!({"email": email, "password": STRONG}),
            None,
        )
        .await;
    assert_eq!(r.status(), 202);
    let token = srv.mailer.last_token_for(&email).await.unwrap();
    let verification = token.expose().to_owned();
    tracing::info!(mail = ?srv.mailer.sent().await, "the host logging its mailbox by mistake");
    srv.post(
        "/api/v1/auth/verify-email",
        json!({"token": verification}),
        None,
    )
    .await;
    let _ = srv
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": "wrong-Password-77"}),
            None,
        )
        .await;
    let pair = srv.login(&email, STRONG).await;
    let refresh = s(&pair["refresh_token"]).to_owned();
    let access = s(&pair["access_token"]).to_owned();
    srv.clock.advance(Duration::seconds(5));
    let next: Value = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": refresh}),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let new_password = "fresh-Orchid-42-lamp";
    srv.post(
        "/api/v1/auth/password",
        json!({"current_password": STRONG, "new_password": new_password}),
        Some(s(&next["access_token"])),
    )
    .await;
    // A bad body carrying a password.
    srv.c
        .post(format!("{}/api/v1/auth/login", srv.base))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"email\": \"{email}\", \"password\": \"{new_password}\""
        ))
        .send()
        .await
        .unwrap();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("request completed"), "capture works");
    assert!(
        text.contains("/api/v1/auth/login"),
        "route templates are logged"
    );
    for secret in [
        STRONG,
        "wrong-Password-77",
        new_password,
        verification.as_str(),
        refresh.as_str(),
        s(&next["refresh_token"]),
        access.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret leaked into the logs");
    }
    assert!(!text.contains(&email), "the email leaked into the logs");
}
backend_test!(no_secrets_in_http_logs, secrets_not_logged);
