//! Browser sessions beyond the password login, on both backends: an MFA challenge completes
//! in the mode its login asked for (cookies and a CSRF token, origin checked), the OpenID
//! Connect callback signs a browser in with cookies (the origin checked before the attempt
//! is consumed), and a federated sign-in completed with a second factor says
//! `amr: ["otp", "fed"]`, in either mode.

use std::sync::Arc;

use helix_auth::mfa::totp::TotpSecret;
use helix_auth::oidc::OidcConfig;
use helix_auth::testing::oidc_provider::{TestProvider, TestUser};
use helix_core::backend_test;
use helix_core::testing::TestDb;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::{Running, register_and_login, start_with};

const PASSWORD: &str = "correct horse battery staple 42";
const APP_ORIGIN: &str = "https://app.example.test";
const EVIL_ORIGIN: &str = "https://evil.example";
const CALLBACK: &str = "https://app.example.test/oidc/callback";

/// The claims of a JWT, unverified (the server verified it).
fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The value of the cookie `name` set by an answer.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| {
            c.split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_owned()
        })
}

struct Env {
    srv: Running,
    provider: TestProvider,
    http: reqwest::Client,
}

async fn env(t: &TestDb) -> Env {
    let provider = TestProvider::start(
        "browser-client",
        "browser-client-secret",
        Arc::new(helix_core::SystemClock),
    )
    .await;
    let mut config = provider.provider_config(CALLBACK);
    // A verified provider e-mail links to the verified account of the same address.
    config.link_verified_email = true;
    let srv = start_with(t, move |s| {
        let mut oidc = OidcConfig::default();
        oidc.providers.insert("test".into(), config);
        s.auth.oidc = oidc;
        s.auth.cookies.allowed_origins = vec![APP_ORIGIN.into()];
    })
    .await;
    Env {
        srv,
        provider,
        http: reqwest::Client::new(),
    }
}

impl Env {
    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.srv.base)
    }

    async fn post(&self, path: &str, origin: Option<&str>, body: Value) -> reqwest::Response {
        let mut r = self.http.post(self.api(path)).json(&body);
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send().await.unwrap()
    }

    /// authorize → provider: the code and state to post to the callback.
    async fn provider_round_trip(&self) -> (String, String) {
        let r = self
            .http
            .get(self.api("/api/v1/auth/oidc/test/authorize"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        let url = body["authorization_url"].as_str().unwrap().to_owned();
        self.provider.authorize(&url).await
    }

    /// Checks a cookie-mode answer (tokens only in cookies, the CSRF token in the body and
    /// its cookie) and returns the access token of the access cookie.
    async fn cookie_session(&self, r: reqwest::Response) -> String {
        assert_eq!(r.status(), 200);
        let headers = r.headers().clone();
        assert_eq!(headers["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "Cookie", "{body}");
        assert!(body.get("access_token").is_none());
        assert!(body.get("refresh_token").is_none());
        let access = cookie(&headers, "__Host-helix_access").expect("an access cookie");
        assert!(cookie(&headers, "__Host-helix_refresh").is_some());
        let csrf = cookie(&headers, "__Host-helix_csrf").expect("a CSRF cookie");
        assert_eq!(body["csrf_token"], csrf.as_str());
        // The access cookie authenticates.
        let r = self
            .http
            .get(self.api("/api/v1/auth/me"))
            .header("cookie", format!("__Host-helix_access={access}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        access
    }
}

async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

/// Enrols and confirms TOTP with `access`: the secret and the backup codes.
async fn enrol(e: &Env, access: &str) -> (TotpSecret, Vec<String>) {
    let r = e
        .http
        .post(e.api("/api/v1/auth/mfa/totp"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let enrolment: Value = r.json().await.unwrap();
    let secret = TotpSecret::from_base32(enrolment["secret"].as_str().unwrap()).unwrap();
    let r = e
        .http
        .post(e.api("/api/v1/auth/mfa/totp/confirm"))
        .bearer_auth(access)
        .json(&json!({"code": secret.code_at(chrono::Utc::now()), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let codes = body["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// The MFA token of a first step that must answer the challenge.
async fn mfa_token(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(SET_COOKIE).is_none(), "no session yet");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn mfa_and_oidc_in_browser_mode(t: TestDb) {
    let e = env(&t).await;
    let email = "browser-mfa@example.test";
    let pair = register_and_login(&e.srv, &e.http, email, PASSWORD).await;
    let (secret, backup) = enrol(&e, pair["access_token"].as_str().unwrap()).await;

    // Password login in cookie mode, then the challenge: the answer keeps the mode.
    let login = json!({"email": email, "password": PASSWORD, "mode": "cookie"});
    let token = mfa_token(
        e.post("/api/v1/auth/login", Some(APP_ORIGIN), login.clone())
            .await,
    )
    .await;
    // From an origin that is not allowed: refused, no cookie.
    let r = e
        .post(
            "/api/v1/auth/mfa/challenge",
            Some(EVIL_ORIGIN),
            json!({"mfa_token": token, "backup_code": backup[0]}),
        )
        .await;
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert_eq!(error_code(r).await, (403, "CSRF_FAILED".into()));
    let token = mfa_token(e.post("/api/v1/auth/login", Some(APP_ORIGIN), login).await).await;
    let code = secret.code_at(chrono::Utc::now() + chrono::Duration::seconds(30));
    let r = e
        .post(
            "/api/v1/auth/mfa/challenge",
            Some(APP_ORIGIN),
            json!({"mfa_token": token, "code": code}),
        )
        .await;
    let access = e.cookie_session(r).await;
    assert_eq!(claims(&access)["amr"], json!(["pwd", "otp"]));

    // OpenID Connect in cookie mode from an origin that is not allowed: refused before the
    // attempt is consumed, so the same code and state still work from the right origin.
    e.provider
        .set_user(TestUser::verified("browser-sub", email));
    let (code, state) = e.provider_round_trip().await;
    let callback = json!({"code": code, "state": state, "mode": "cookie"});
    let r = e
        .post(
            "/api/v1/auth/oidc/test/callback",
            Some(EVIL_ORIGIN),
            callback.clone(),
        )
        .await;
    assert_eq!(error_code(r).await, (403, "CSRF_FAILED".into()));
    // MFA is on: the challenge comes first, then cookies with `amr` fed + otp.
    let r = e
        .post(
            "/api/v1/auth/oidc/test/callback",
            Some(APP_ORIGIN),
            callback,
        )
        .await;
    let token = mfa_token(r).await;
    let r = e
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": token, "backup_code": backup[1]}),
        )
        .await;
    let access = e.cookie_session(r).await;
    assert_eq!(claims(&access)["amr"], json!(["otp", "fed"]));

    // The same in bearer mode: a token pair, `amr` fed + otp, no password claimed.
    let (code, state) = e.provider_round_trip().await;
    let r = e
        .post(
            "/api/v1/auth/oidc/test/callback",
            None,
            json!({"code": code, "state": state}),
        )
        .await;
    let token = mfa_token(r).await;
    let r = e
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": token, "backup_code": backup[2]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let pair: Value = r.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["amr"], json!(["otp", "fed"]));
    e.srv.stop().await;
}
backend_test!(
    mfa_and_oidc_in_browser_mode_over_http,
    mfa_and_oidc_in_browser_mode
);

async fn oidc_sign_in_with_cookies(t: TestDb) {
    let e = env(&t).await;
    e.provider
        .set_user(TestUser::verified("cookie-sub", "cookie.oidc@example.test"));
    let (code, state) = e.provider_round_trip().await;
    let r = e
        .post(
            "/api/v1/auth/oidc/test/callback",
            Some(APP_ORIGIN),
            json!({"code": code, "state": state, "mode": "cookie"}),
        )
        .await;
    let access = e.cookie_session(r).await;
    assert_eq!(claims(&access)["amr"], json!(["fed"]));
    e.srv.stop().await;
}
backend_test!(
    oidc_sign_in_with_cookies_over_http,
    oidc_sign_in_with_cookies
);
