//! Sign in with OpenID Connect end to end: the reference server on a loopback port, the
//! provider stand-in (`helix_auth::testing::oidc_provider`) on another, real HTTP between
//! them, on both backends.

use std::sync::Arc;

use helix_auth::oidc::OidcConfig;
use helix_auth::testing::oidc_provider::{Tamper, TestProvider, TestUser};
use helix_core::backend_test;
use helix_core::testing::TestDb;
use serde_json::{Value, json};

use crate::support::{Running, code_in, start_with};

const CALLBACK: &str = "https://app.example.test/oidc/callback";

struct Env {
    srv: Running,
    provider: TestProvider,
    http: reqwest::Client,
}

async fn env(t: &TestDb, link_verified_email: bool) -> Env {
    let provider = TestProvider::start(
        "ref-client",
        "ref-client-secret",
        Arc::new(helix_core::SystemClock),
    )
    .await;
    let mut config = provider.provider_config(CALLBACK);
    config.link_verified_email = link_verified_email;
    let srv = start_with(t, move |s| {
        let mut oidc = OidcConfig::default();
        oidc.providers.insert("test".into(), config);
        s.auth.oidc = oidc;
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        srv,
        provider,
        http,
    }
}

impl Env {
    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.srv.base)
    }

    async fn authorize(&self) -> String {
        let r = self
            .http
            .get(self.api("/api/v1/auth/oidc/test/authorize"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        body["authorization_url"].as_str().unwrap().to_owned()
    }

    async fn callback(&self, code: &str, state: &str) -> reqwest::Response {
        self.http
            .post(self.api("/api/v1/auth/oidc/test/callback"))
            .json(&json!({"code": code, "state": state}))
            .send()
            .await
            .unwrap()
    }

    /// authorize → provider → callback.
    async fn sign_in(&self) -> reqwest::Response {
        let url = self.authorize().await;
        let (code, state) = self.provider.authorize(&url).await;
        self.callback(&code, &state).await
    }

    async fn me(&self, access: &str) -> Value {
        let r = self
            .http
            .get(self.api("/api/v1/auth/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

async fn sign_in_creates_then_reuses_the_account(t: TestDb) {
    let e = env(&t, false).await;
    e.provider
        .set_user(TestUser::verified("sub-1", "oidc.ada@example.test"));

    let url = e.authorize().await;
    let (code, state) = e.provider.authorize(&url).await;
    let r = e.callback(&code, &state).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["refresh_token"].as_str().is_some());
    // The glue set the new, verified account up like a verified registration.
    assert!(pair["org_id"].as_str().is_some(), "{pair}");
    let me = e.me(pair["access_token"].as_str().unwrap()).await;
    assert_eq!(me["email"], "oidc.ada@example.test");
    assert_eq!(me["email_verified"], true);

    // The state works once.
    let (status, code) = error_code(e.callback(&code, &state).await).await;
    assert_eq!((status, code.as_str()), (422, "OIDC_INVALID_STATE"));

    // The same identity signs in to the same account; the refresh token works.
    let r = e.sign_in().await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    let me2 = e.me(again["access_token"].as_str().unwrap()).await;
    assert_eq!(me2["account_id"], me["account_id"]);
    let r = e
        .http
        .post(e.api("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": again["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // No password login for a password-less account.
    let r = e
        .http
        .post(e.api("/api/v1/auth/login"))
        .json(&json!({"email": "oidc.ada@example.test", "password": "plum-Tractor-91-oasis"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (401, "INVALID_CREDENTIALS".into()));

    // 302 mode, unknown provider, redirect URI not allowed.
    let r = e
        .http
        .get(e.api("/api/v1/auth/oidc/test/authorize?redirect=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(e.provider.issuer()));
    let r = e
        .http
        .get(e.api("/api/v1/auth/oidc/nope/authorize"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (404, "NOT_FOUND".into()));
    let r = e
        .http
        .get(e.api("/api/v1/auth/oidc/test/authorize?redirect_uri=https%3A%2F%2Fevil.example%2Fcb"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (400, "VALIDATION_ERROR".into()));
    e.srv.stop().await;
}
backend_test!(
    sign_in_creates_then_reuses_the_account,
    sign_in_creates_then_reuses_the_account
);

async fn bad_tokens_and_codes_are_refused(t: TestDb) {
    let e = env(&t, false).await;
    e.provider
        .set_user(TestUser::verified("sub-2", "oidc.bad@example.test"));
    for (tamper, expected) in [
        (Tamper::WrongNonce, "OIDC_INVALID_NONCE"),
        (Tamper::ForeignKey, "OIDC_INVALID_SIGNATURE"),
        (Tamper::WrongAudience, "OIDC_INVALID_AUDIENCE"),
    ] {
        e.provider.set_tamper(tamper);
        let (status, code) = error_code(e.sign_in().await).await;
        assert_eq!((status, code.as_str()), (401, expected), "{tamper:?}");
    }
    e.provider.set_tamper(Tamper::None);

    // PKCE: a swapped challenge makes the provider refuse the code.
    let url = e.authorize().await;
    let swapped = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let url = url.replace(&swapped, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let (code, state) = e.provider.authorize(&url).await;
    let (status, code) = error_code(e.callback(&code, &state).await).await;
    assert_eq!((status, code.as_str()), (401, "OIDC_CODE_REJECTED"));

    let r = e
        .http
        .post(e.api("/api/v1/auth/oidc/nope/callback"))
        .json(&json!({"code": "c", "state": "s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (404, "NOT_FOUND".into()));
    e.srv.stop().await;
}
backend_test!(
    bad_tokens_and_codes_are_refused,
    bad_tokens_and_codes_are_refused
);

async fn linking_is_explicit(t: TestDb) {
    let e = env(&t, false).await;
    let email = "oidc.cy@example.test";
    let password = "plum-Tractor-91-oasis";
    let r = e
        .http
        .post(e.api("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = e
        .http
        .post(e.api("/api/v1/auth/verify-email"))
        .json(&json!({"token": code_in(&e.srv.mail_dir(), email).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Same verified e-mail at the provider, no linking policy: refused, not merged.
    e.provider.set_user(TestUser::verified("sub-3", email));
    let (status, code) = error_code(e.sign_in().await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "ACCOUNT_EXISTS_LINK_REQUIRED")
    );

    // Signed in with the password, the user links the provider.
    let pair: Value = e
        .http
        .post(e.api("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap();
    let me = e.me(access).await;
    let r = e
        .http
        .post(e.api("/api/v1/auth/oidc/test/link"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "linking needs a signed-in user");
    let r = e
        .http
        .post(e.api("/api/v1/auth/oidc/test/link"))
        .bearer_auth(access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let url = r.json::<Value>().await.unwrap()["authorization_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, state) = e.provider.authorize(&url).await;
    // Completed by anyone but the account that started it (here: no one signed in, as when
    // a victim is lured through someone else's link attempt), the link is refused.
    let r = e.callback(&code, &state).await;
    assert_eq!(r.status(), 422);
    let link = e
        .http
        .post(e.api("/api/v1/auth/oidc/test/link"))
        .bearer_auth(access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let url = link.json::<Value>().await.unwrap()["authorization_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, state) = e.provider.authorize(&url).await;
    let r = e
        .http
        .post(e.api("/api/v1/auth/oidc/test/callback"))
        .bearer_auth(access)
        .json(&json!({"code": code, "state": state}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let linked: Value = r.json().await.unwrap();
    assert_eq!(linked, json!({"linked": true, "provider": "test"}));

    // From now on the provider signs in to that account.
    let r = e.sign_in().await;
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    let me2 = e.me(pair["access_token"].as_str().unwrap()).await;
    assert_eq!(me2["account_id"], me["account_id"]);
    e.srv.stop().await;
}
backend_test!(linking_is_explicit, linking_is_explicit);

async fn linking_by_verified_email_with_policy(t: TestDb) {
    let e = env(&t, true).await;
    let email = "oidc.dee@example.test";
    let password = "plum-Tractor-91-oasis";
    e.http
        .post(e.api("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let r = e
        .http
        .post(e.api("/api/v1/auth/verify-email"))
        .json(&json!({"token": code_in(&e.srv.mail_dir(), email).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Unverified at the provider: refused even with the policy.
    e.provider.set_user(TestUser::unverified("sub-4", email));
    let (status, code) = error_code(e.sign_in().await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "ACCOUNT_EXISTS_LINK_REQUIRED")
    );
    // Verified: linked and signed in.
    e.provider.set_user(TestUser::verified("sub-4", email));
    let r = e.sign_in().await;
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    let me = e.me(pair["access_token"].as_str().unwrap()).await;
    assert_eq!(me["email"], email);
    e.srv.stop().await;
}
backend_test!(
    linking_by_verified_email_with_policy,
    linking_by_verified_email_with_policy
);
