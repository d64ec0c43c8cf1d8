//! The organization directory, on both backends: login starts the session in the default
//! organization, the token carries it, switching checks membership (404 otherwise, without
//! an existence leak), refresh keeps the switched organization, and `verify-email` calls the
//! hook without undoing the verification when it fails.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Extension, FromRef};
use axum::routing::get;
use axum::{Json, Router};
use helix_auth::http::AuthState;
use helix_auth::sessions::{SessionConfig, SessionError, SessionMeta, SessionService};
use helix_auth::tokens::{AccessTokenConfig, AccessTokens, SigningKeyConfig, SigningKeys};
use helix_auth::{AuthService, OrganizationDirectory};
use helix_core::http::{HttpMetrics, request_context};
use helix_core::ratelimit::{InMemoryStore, RateLimiter};
use helix_core::testing::TestDb;
use helix_core::{RequestContext, backend_test};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{STRONG, fast_config, kernel};

/// An in-memory directory: memberships per account; verification creates a personal
/// organization unless `fail` is set.
#[derive(Default)]
struct FakeDirectory {
    memberships: Mutex<HashMap<Uuid, Vec<Uuid>>>,
    verified: Mutex<Vec<(Uuid, String)>>,
    fail: AtomicBool,
}

impl FakeDirectory {
    fn join(&self, account: Uuid, org: Uuid) {
        self.memberships
            .lock()
            .unwrap()
            .entry(account)
            .or_default()
            .push(org);
    }

    fn orgs(&self, account: Uuid) -> Vec<Uuid> {
        self.memberships
            .lock()
            .unwrap()
            .get(&account)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl OrganizationDirectory for FakeDirectory {
    async fn default_organization(&self, account: Uuid) -> Result<Option<Uuid>, helix_core::Error> {
        Ok(self.orgs(account).first().copied())
    }

    async fn is_member(&self, account: Uuid, org: Uuid) -> Result<bool, helix_core::Error> {
        Ok(self.orgs(account).contains(&org))
    }

    async fn on_email_verified(&self, account: Uuid, email: &str) -> Result<(), helix_core::Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(helix_core::Error::Config("directory down".into()));
        }
        self.verified
            .lock()
            .unwrap()
            .push((account, email.to_owned()));
        self.join(account, Uuid::now_v7());
        Ok(())
    }
}

#[derive(Clone)]
struct App {
    auth: AuthState,
}

impl FromRef<App> for AuthState {
    fn from_ref(app: &App) -> AuthState {
        app.auth.clone()
    }
}

/// What the request context holds after authentication.
async fn context_org(Extension(ctx): Extension<RequestContext>) -> Json<Value> {
    Json(json!({ "org": ctx.org_id }))
}

struct Server {
    base: String,
    mailer: crate::mail::Mailbox,
    tokens: AccessTokens,
    c: reqwest::Client,
}

async fn serve(t: &TestDb, directory: Option<Arc<FakeDirectory>>) -> Server {
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
        Arc::new(clock),
    )
    .unwrap();
    let sessions = SessionService::new(kernel, SessionConfig::default()).unwrap();
    let mut state = AuthState::new(
        auth,
        tokens.clone(),
        sessions,
        RateLimiter::new(InMemoryStore::new()),
    );
    if let Some(d) = directory {
        state = state.with_organizations(d);
    }
    let app_state = App { auth: state };
    let app = Router::new()
        .merge(helix_auth::http::router())
        .route("/test/org", get(context_org))
        .with_state(app_state.clone())
        .layer(axum::middleware::from_fn_with_state(
            app_state,
            helix_auth::http::authenticate::<App>,
        ))
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
    Server {
        base: format!("http://{addr}"),
        mailer,
        tokens,
        c: reqwest::Client::new(),
    }
}

impl Server {
    async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> reqwest::Response {
        let mut r = self.c.post(format!("{}{path}", self.base)).json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send().await.unwrap()
    }

    async fn signup(&self, email: &str) {
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
            .last_token_for(&email.to_lowercase())
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
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["email_verified"], true);
    }

    async fn login(&self, email: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": STRONG}),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    fn org_claim(&self, access: &Value) -> Option<Uuid> {
        self.tokens
            .verify_access(access.as_str().unwrap())
            .unwrap()
            .org
    }

    async fn context_org(&self, access: &Value) -> Value {
        let r = self
            .c
            .get(format!("{}/test/org", self.base))
            .bearer_auth(access.as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["org"].clone()
    }
}

fn uuid(v: &Value) -> Uuid {
    v.as_str().unwrap().parse().unwrap()
}

/// The envelope without the per-request fields.
fn stable(mut v: Value) -> Value {
    let e = v["error"].as_object_mut().expect("an error envelope");
    e.remove("correlation_id");
    e.remove("timestamp");
    v
}

async fn login_switch_refresh(t: TestDb) {
    let dir = Arc::new(FakeDirectory::default());
    let srv = serve(&t, Some(dir.clone())).await;

    // Verification calls the hook with the normalized address; it made a personal org.
    srv.signup("Ada@Example.com").await;
    let (ada, email) = dir.verified.lock().unwrap()[0].clone();
    assert_eq!(email, "ada@example.com");
    let personal = dir.orgs(ada)[0];

    // Login starts in the default organization; the token and the context carry it.
    let pair = srv.login("ada@example.com").await;
    assert_eq!(uuid(&pair["org_id"]), personal);
    assert_eq!(srv.org_claim(&pair["access_token"]), Some(personal));
    assert_eq!(
        uuid(&srv.context_org(&pair["access_token"]).await),
        personal
    );
    let access = pair["access_token"].as_str().unwrap();

    // Switch to a second organization of Ada's.
    let second = Uuid::now_v7();
    dir.join(ada, second);
    let r = srv
        .post(
            "/api/v1/auth/organization",
            json!({"org_id": second}),
            Some(access),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let switched: Value = r.json().await.unwrap();
    assert_eq!(uuid(&switched["org_id"]), second);
    assert_eq!(switched["session_id"], pair["session_id"]);
    assert_eq!(switched["token_type"], "Bearer");
    assert!(switched.get("refresh_token").is_none());
    assert_eq!(srv.org_claim(&switched["access_token"]), Some(second));
    assert_eq!(
        uuid(&srv.context_org(&switched["access_token"]).await),
        second
    );

    // The session remembers it: the refresh token of the login now yields tokens in it.
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(uuid(&refreshed["org_id"]), second);
    assert_eq!(srv.org_claim(&refreshed["access_token"]), Some(second));
    // And again (the organization survives every rotation).
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": refreshed["refresh_token"]}),
            None,
        )
        .await;
    let again: Value = r.json().await.unwrap();
    assert_eq!(srv.org_claim(&again["access_token"]), Some(second));

    // An unknown organization and another account's organization: the same 404.
    srv.signup("bob@example.com").await;
    let bob = dir.verified.lock().unwrap()[1].0;
    let bobs = dir.orgs(bob)[0];
    let r = srv
        .post(
            "/api/v1/auth/organization",
            json!({"org_id": Uuid::now_v7()}),
            Some(access),
        )
        .await;
    assert_eq!(r.status(), 404);
    let unknown = stable(r.json().await.unwrap());
    assert_eq!(unknown["error"]["code"], "NOT_FOUND");
    let r = srv
        .post(
            "/api/v1/auth/organization",
            json!({"org_id": bobs}),
            Some(access),
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(stable(r.json().await.unwrap()), unknown);
    // A failed switch left the session where it was.
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": again["refresh_token"]}),
            None,
        )
        .await;
    let after: Value = r.json().await.unwrap();
    assert_eq!(uuid(&after["org_id"]), second);

    // Unauthenticated, and a malformed id.
    let r = srv
        .post("/api/v1/auth/organization", json!({"org_id": second}), None)
        .await;
    assert_eq!(r.status(), 401);
    let r = srv
        .post(
            "/api/v1/auth/organization",
            json!({"org_id": "nope"}),
            Some(access),
        )
        .await;
    assert!(r.status().is_client_error());
    assert_ne!(r.status(), 200);

    // After logout the old access token cannot switch.
    let r = srv
        .post("/api/v1/auth/logout", json!({}), Some(access))
        .await;
    assert_eq!(r.status(), 204);
    let r = srv
        .post(
            "/api/v1/auth/organization",
            json!({"org_id": second}),
            Some(access),
        )
        .await;
    assert_eq!(r.status(), 401);
}
backend_test!(organization_login_switch_refresh, login_switch_refresh);

async fn failing_hook_keeps_verification(t: TestDb) {
    let dir = Arc::new(FakeDirectory::default());
    dir.fail.store(true, Ordering::SeqCst);
    let srv = serve(&t, Some(dir.clone())).await;
    // verify-email still answers 200 and the account can sign in, with no organization.
    srv.signup("carol@example.com").await;
    let pair = srv.login("carol@example.com").await;
    assert!(pair["org_id"].is_null());
    assert_eq!(srv.org_claim(&pair["access_token"]), None);
    assert!(srv.context_org(&pair["access_token"]).await.is_null());
}
backend_test!(
    failing_verification_hook_is_not_fatal,
    failing_hook_keeps_verification
);

async fn without_directory(t: TestDb) {
    let srv = serve(&t, None).await;
    srv.signup("dan@example.com").await;
    let pair = srv.login("dan@example.com").await;
    assert!(pair["org_id"].is_null());
    assert_eq!(srv.org_claim(&pair["access_token"]), None);
    let r = srv
        .post(
            "/api/v1/auth/organization",
            json!({"org_id": Uuid::now_v7()}),
            pair["access_token"].as_str(),
        )
        .await;
    assert_eq!(r.status(), 404);
}
backend_test!(no_directory_no_organization, without_directory);

async fn session_active_org(t: TestDb) {
    let (kernel, _clock) = kernel(&t).await;
    let sessions = SessionService::new(kernel, SessionConfig::default()).unwrap();
    let account = Uuid::now_v7();
    let org = Uuid::now_v7();
    let (session, refresh) = sessions
        .start(account, SessionMeta::normal().in_organization(Some(org)))
        .await
        .unwrap();
    assert_eq!(session.active_org_id, Some(org));
    assert_eq!(
        sessions
            .get(session.id)
            .await
            .unwrap()
            .unwrap()
            .active_org_id,
        Some(org)
    );

    let other = Uuid::now_v7();
    let changed = sessions
        .set_active_org(account, session.id, Some(other))
        .await
        .unwrap();
    assert_eq!(changed.active_org_id, Some(other));
    let (refreshed, _) = sessions.refresh(refresh.expose_secret()).await.unwrap();
    assert_eq!(refreshed.active_org_id, Some(other));
    assert!(sessions.list(account).await.unwrap()[0].active_org_id == Some(other));

    // Another account's session is not found; clearing works; a revoked one is refused.
    assert!(matches!(
        sessions
            .set_active_org(Uuid::now_v7(), session.id, Some(org))
            .await,
        Err(SessionError::NotFound)
    ));
    let cleared = sessions
        .set_active_org(account, session.id, None)
        .await
        .unwrap();
    assert_eq!(cleared.active_org_id, None);
    sessions
        .revoke(session.id, helix_auth::sessions::RevokeReason::Logout)
        .await
        .unwrap();
    assert!(matches!(
        sessions
            .set_active_org(account, session.id, Some(org))
            .await,
        Err(SessionError::SessionRevoked)
    ));
}
backend_test!(sessions_store_the_active_organization, session_active_org);
