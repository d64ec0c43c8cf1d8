//! [`TestProvider`]: an OpenID Connect provider on a loopback port, for tests.
//!
//! It serves `/.well-known/openid-configuration`, `/jwks` (one RSA key, RS256),
//! `/authorize` (a `302` back to the redirect URI with `code` and `state` for the configured
//! [`TestUser`], remembering `code_challenge` and `nonce`) and `/token` (client credentials
//! by HTTP Basic or in the body, single-use codes, the PKCE `code_verifier` checked against
//! the S256 challenge, an ID token signed with `nonce`, `email`, `email_verified`, `sub`,
//! `aud`, `iss`, `exp`). [`Tamper`] makes the next ID tokens wrong in one chosen way.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use helix_auth::testing::oidc_provider::{TestProvider, TestUser};
//!
//! let provider = TestProvider::start("client-1", "secret-1", Arc::new(helix_core::SystemClock)).await;
//! provider.set_user(TestUser::verified("sub-1", "ada@example.com"));
//! let config = provider.provider_config("https://app.example.com/callback");
//! # let _ = config; }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Duration;
use helix_core::Clock;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use rand::RngCore;
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::oidc::{ClientSecret, OidcProviderConfig};

/// The `kid` of the provider's key (the foreign key of [`Tamper::ForeignKey`] uses it too).
pub const KEY_ID: &str = "test-key-1";

/// The user the provider signs in.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// `sub`.
    pub subject: String,
    /// `email`, if shared.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: bool,
}

impl TestUser {
    /// A user whose e-mail the provider asserts as verified.
    pub fn verified(subject: &str, email: &str) -> Self {
        Self {
            subject: subject.into(),
            email: Some(email.into()),
            email_verified: true,
        }
    }

    /// A user whose e-mail the provider does not verify.
    pub fn unverified(subject: &str, email: &str) -> Self {
        Self {
            email_verified: false,
            ..Self::verified(subject, email)
        }
    }
}

/// One way to make the next ID tokens wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tamper {
    /// Correct tokens.
    #[default]
    None,
    /// A nonce other than the one of the authorization request.
    WrongNonce,
    /// An audience other than the client id.
    WrongAudience,
    /// Signed by another RSA key (same `kid`).
    ForeignKey,
    /// An `exp` in the past.
    Expired,
    /// An `iss` other than the provider's.
    WrongIssuer,
}

struct Pending {
    challenge: String,
    method: String,
    nonce: Option<String>,
    redirect_uri: String,
    user: TestUser,
}

struct Inner {
    user: Option<TestUser>,
    tamper: Tamper,
    codes: HashMap<String, Pending>,
    token_requests: usize,
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    clock: Arc<dyn Clock>,
    inner: Arc<Mutex<Inner>>,
}

/// A running provider; it stops when dropped.
pub struct TestProvider {
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TestProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProvider")
            .field("issuer", &self.shared.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two RSA-2048 keys in PKCS#1 PEM (the provider's and a foreign one), generated once per
/// process.
fn keys() -> &'static (String, String) {
    static KEYS: OnceLock<(String, String)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = || {
            let mut rng = rsa::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                .unwrap_or_else(|e| panic!("RSA key generation: {e}"));
            key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
                .unwrap_or_else(|e| panic!("PEM: {e}"))
                .to_string()
        };
        (pem(), pem())
    })
}

fn signing_key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(KEY_ID.into())))
        .unwrap_or_else(|e| panic!("signing key: {e}"))
}

impl TestProvider {
    /// Starts a provider on `127.0.0.1:0` for one client. Token times come from `clock`.
    ///
    /// # Panics
    /// When the port cannot be bound (test support only).
    pub async fn start(client_id: &str, client_secret: &str, clock: Arc<dyn Clock>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr: SocketAddr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let shared = Shared {
            issuer: format!("http://{addr}"),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            clock,
            inner: Arc::new(Mutex::new(Inner {
                user: None,
                tamper: Tamper::None,
                codes: HashMap::new(),
                token_requests: 0,
            })),
        };
        let _ = keys();
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, task }
    }

    /// The issuer URL (`http://127.0.0.1:port`).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The user the next authorizations sign in.
    pub fn set_user(&self, user: TestUser) {
        self.lock().user = Some(user);
    }

    /// How the next ID tokens are made wrong.
    pub fn set_tamper(&self, tamper: Tamper) {
        self.lock().tamper = tamper;
    }

    /// How many requests reached the token endpoint.
    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    /// A provider configuration for this issuer and client, returning to `redirect_uri`.
    pub fn provider_config(&self, redirect_uri: &str) -> OidcProviderConfig {
        OidcProviderConfig::new(
            self.shared.issuer.clone(),
            self.shared.client_id.clone(),
            Some(ClientSecret::new(self.shared.client_secret.clone())),
            redirect_uri,
        )
    }

    /// Follows `authorization_url` as a browser would (the user consents at once) and
    /// returns the `code` and `state` the provider sends to the redirect URI.
    ///
    /// # Panics
    /// When the provider does not redirect with both (test support only).
    pub async fn authorize(&self, authorization_url: &str) -> (String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("client: {e}"));
        let response = client
            .get(authorization_url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("authorize: {e}"));
        assert_eq!(response.status(), 302, "the provider redirects back");
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location"));
        let url = url::Url::parse(location).unwrap_or_else(|e| panic!("Location: {e}"));
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("no {name} in the redirect"))
        };
        (param("code"), param("state"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn discovery(State(s): State<Shared>) -> Response {
    axum::Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
    }))
    .into_response()
}

async fn jwks() -> Response {
    let key = signing_key(&keys().0);
    axum::Json(CoreJsonWebKeySet::new(vec![key.as_verification_key()])).into_response()
}

fn bad(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": error })),
    )
        .into_response()
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != s.client_id || get("response_type") != "code" {
        return bad("invalid_request");
    }
    let scopes = get("scope");
    if !scopes.split(' ').any(|sc| sc == "openid") {
        return bad("invalid_scope");
    }
    let mut inner = s
        .inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(user) = inner.user.clone() else {
        return bad("access_denied");
    };
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let code = URL_SAFE_NO_PAD.encode(bytes);
    let redirect_uri = get("redirect_uri");
    inner.codes.insert(
        code.clone(),
        Pending {
            challenge: get("code_challenge"),
            method: get("code_challenge_method"),
            nonce: q.get("nonce").cloned(),
            redirect_uri: redirect_uri.clone(),
            user,
        },
    );
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return bad("invalid_request");
    };
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (id, secret) = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(pair) => match pair.split_once(':') {
            Some((i, p)) => (i.to_owned(), p.to_owned()),
            None => return bad("invalid_client"),
        },
        None => (get("client_id"), get("client_secret")),
    };
    let mut inner = s
        .inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    inner.token_requests += 1;
    if id != s.client_id || secret != s.client_secret {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    if get("grant_type") != "authorization_code" {
        return bad("unsupported_grant_type");
    }
    // Single use: the code is gone whatever happens next.
    let Some(pending) = inner.codes.remove(&get("code")) else {
        return bad("invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if pending.method != "S256" || challenge != pending.challenge {
        return bad("invalid_grant");
    }
    if get("redirect_uri") != pending.redirect_uri {
        return bad("invalid_grant");
    }
    let tamper = inner.tamper;
    drop(inner);

    let now = s.clock.now();
    let exp = if tamper == Tamper::Expired {
        now - Duration::minutes(5)
    } else {
        now + Duration::minutes(5)
    };
    let aud = if tamper == Tamper::WrongAudience {
        "another-client".to_owned()
    } else {
        s.client_id.clone()
    };
    let iss = if tamper == Tamper::WrongIssuer {
        "http://issuer.invalid".to_owned()
    } else {
        s.issuer.clone()
    };
    let nonce = if tamper == Tamper::WrongNonce {
        Some("not-the-nonce".to_owned())
    } else {
        pending.nonce
    };
    let mut standard = StandardClaims::new(SubjectIdentifier::new(pending.user.subject));
    if let Some(email) = pending.user.email {
        standard = standard
            .set_email(Some(EndUserEmail::new(email)))
            .set_email_verified(Some(pending.user.email_verified));
    }
    let Ok(issuer) = IssuerUrl::new(iss) else {
        return bad("server_error");
    };
    let claims = CoreIdTokenClaims::new(
        issuer,
        vec![Audience::new(aud)],
        exp,
        now - Duration::seconds(1),
        standard,
        EmptyAdditionalClaims {},
    )
    .set_nonce(nonce.map(Nonce::new));
    let pem = if tamper == Tamper::ForeignKey {
        &keys().1
    } else {
        &keys().0
    };
    let Ok(id_token) = CoreIdToken::new(
        claims,
        &signing_key(pem),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    ) else {
        return bad("server_error");
    };
    axum::Json(json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}
