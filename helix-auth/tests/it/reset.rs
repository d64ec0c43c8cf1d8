//! Password reset over HTTP on both backends: the happy path (every session revoked, the
//! lockout cleared), single use, invalidation and expiry, enumeration, the per-account
//! limit, the policy, the per-IP limits of the anonymous routes, and secrets kept out of the
//! logs.

use chrono::Duration;
use helix_auth::PasswordResetToken;
use helix_core::audit::PLATFORM_CHAIN;
use helix_core::testing::TestDb;
use helix_core::{PlatformContext, backend_test};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::http::{Server, captured_logs, s, serve, stable};
use crate::support::STRONG;

const NEW: &str = "fresh-Orchid-42-lamp";

impl Server {
    async fn request_reset(&self, email: &str) -> reqwest::Response {
        self.post("/api/v1/auth/password-reset", json!({"email": email}), None)
            .await
    }

    async fn confirm(&self, token: &PasswordResetToken, new_password: &str) -> reqwest::Response {
        self.post(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": token.expose(), "new_password": new_password}),
            None,
        )
        .await
    }

    async fn reset_mails(&self) -> usize {
        self.mailer
            .sent()
            .await
            .iter()
            .filter(|m| m.template == helix_auth::mail::PASSWORD_RESET)
            .count()
    }

    async fn login_status(&self, email: &str, password: &str) -> u16 {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
            None,
        )
        .await
        .status()
        .as_u16()
    }

    async fn kinds_for(&self, email: &str) -> Vec<String> {
        self.auth
            .security_events_for_email(email, 200)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

async fn assert_invalid_token(r: reqwest::Response) {
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_RESET_TOKEN");
}

async fn happy_path(t: TestDb) {
    let srv = serve(&t).await;
    let email = "ada@example.com";
    srv.signup(email).await;
    let first = srv.login(email, STRONG).await;
    let second = srv.login(email, STRONG).await;
    let first_access = s(&first["access_token"]).to_owned();
    let second_access = s(&second["access_token"]).to_owned();
    assert_eq!(srv.me_status(&first_access).await, 200);
    // Lock the account: the reset clears it.
    for _ in 0..5 {
        assert_eq!(srv.login_status(email, "wrong-Password-77").await, 401);
    }
    assert_eq!(srv.login_status(email, STRONG).await, 401, "locked");

    let r = srv.request_reset("Ada@Example.com").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let token = srv
        .mailer
        .last_reset_token_for(email)
        .await
        .expect("a reset mail");
    assert!(
        !text.contains(token.expose()),
        "the token is never answered"
    );
    let mail = srv
        .mailer
        .last(email, helix_auth::mail::PASSWORD_RESET)
        .await
        .unwrap();
    let expires = (srv.clock_now() + Duration::hours(1)).to_rfc3339();
    assert!(mail.text.contains(&expires), "valid for one hour");

    let r = srv.confirm(&token, NEW).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(token.expose()) && !text.contains(NEW));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"password_reset": true, "revoked_sessions": 2}));

    // Every session is gone at once, refresh tokens included.
    assert_eq!(srv.me_status(&first_access).await, 401);
    assert_eq!(srv.me_status(&second_access).await, 401);
    let r = srv
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": first["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(r.status(), 401);

    // The old password fails, the new one works (the lock is cleared).
    assert_eq!(srv.login_status(email, STRONG).await, 401);
    let pair = srv.login(email, NEW).await;
    assert_eq!(srv.me_status(s(&pair["access_token"])).await, 200);

    let kinds = srv.kinds_for(email).await;
    for kind in ["password_reset_requested", "password_reset"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // One audit row on the platform chain.
    let ctx = PlatformContext::system("helix-auth-tests");
    let tx = srv.auth.kernel().db().platform_read(&ctx).await.unwrap();
    let audited = helix_core::audit::entity::Entity::find()
        .filter(helix_core::audit::entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(helix_core::audit::entity::Column::Action.eq("auth.account.password_reset"))
        .count(tx.raw())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(audited, 1);
}
backend_test!(password_reset_happy_path, happy_path);

async fn single_use_and_expiry(t: TestDb) {
    let srv = serve(&t).await;
    let email = "bob@example.com";
    srv.signup(email).await;

    assert_invalid_token(
        srv.confirm(&PasswordResetToken::new("not-a-real-token"), NEW)
            .await,
    )
    .await;

    srv.request_reset(email).await;
    let first = srv.mailer.last_reset_token_for(email).await.unwrap();
    srv.request_reset(email).await;
    let second = srv.mailer.last_reset_token_for(email).await.unwrap();
    assert_ne!(first, second);

    assert_eq!(srv.confirm(&first, NEW).await.status(), 200);
    // Used once; the other outstanding token was invalidated by the reset.
    assert_invalid_token(srv.confirm(&first, "other-Meadow-58-kite").await).await;
    assert_invalid_token(srv.confirm(&second, "other-Meadow-58-kite").await).await;

    // A new token expires after one hour.
    srv.request_reset(email).await;
    let third = srv.mailer.last_reset_token_for(email).await.unwrap();
    srv.clock.advance(Duration::minutes(59));
    srv.request_reset(email).await; // the fourth in the hour: refused, nothing sent
    assert_eq!(srv.mailer.last_reset_token_for(email).await.unwrap(), third);
    srv.clock
        .advance(Duration::minutes(1) + Duration::seconds(1));
    assert_invalid_token(srv.confirm(&third, "other-Meadow-58-kite").await).await;
    assert_eq!(srv.login_status(email, NEW).await, 200);

    let account = srv
        .auth
        .security_events_for_email(email, 200)
        .await
        .unwrap()
        .iter()
        .find_map(|e| e.account_id)
        .unwrap();
    let events = srv.auth.security_events(account, 200).await.unwrap();
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "password_reset_failed")
        .filter_map(|e| e.data["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["used", "invalidated", "expired"]);
}
backend_test!(
    password_reset_tokens_are_single_use_and_expire,
    single_use_and_expiry
);

async fn change_invalidates(t: TestDb) {
    let srv = serve(&t).await;
    let email = "erin@example.com";
    srv.signup(email).await;
    srv.request_reset(email).await;
    let token = srv.mailer.last_reset_token_for(email).await.unwrap();
    let pair = srv.login(email, STRONG).await;
    let r = srv
        .post(
            "/api/v1/auth/password",
            json!({"current_password": STRONG, "new_password": NEW}),
            Some(s(&pair["access_token"])),
        )
        .await;
    assert_eq!(r.status(), 200);
    // A password change invalidates the outstanding reset links.
    assert_invalid_token(srv.confirm(&token, "other-Meadow-58-kite").await).await;
    assert_eq!(srv.login_status(email, NEW).await, 200);
}
backend_test!(password_change_invalidates_reset_tokens, change_invalidates);

async fn enumeration(t: TestDb) {
    let srv = serve(&t).await;
    srv.signup("known@example.com").await;
    let known = srv.request_reset("known@example.com").await;
    let unknown = srv.request_reset("nobody@example.com").await;
    assert_eq!(known.status(), 200);
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(srv.reset_mails().await, 1);
    assert!(
        srv.mailer
            .last_reset_token_for("nobody@example.com")
            .await
            .is_none()
    );
    let kinds = srv.kinds_for("nobody@example.com").await;
    assert_eq!(kinds, ["password_reset_refused"]);

    // A malformed address is a validation error, whatever the accounts.
    let r = srv.request_reset("not-an-email").await;
    assert_eq!(r.status(), 400);
}
backend_test!(password_reset_is_enumeration_safe, enumeration);

async fn per_account_limit(t: TestDb) {
    let srv = serve(&t).await;
    let email = "carol@example.com";
    srv.signup(email).await;
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let r = srv.request_reset(email).await;
        assert_eq!(r.status(), 200);
        bodies.push(r.text().await.unwrap());
        srv.clock.advance(Duration::minutes(1));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one answer");
    assert_eq!(
        srv.reset_mails().await,
        3,
        "the fourth in an hour sends nothing"
    );
    let events = srv
        .auth
        .security_events_for_email(email, 200)
        .await
        .unwrap();
    let refused = events
        .iter()
        .find(|e| e.kind == "password_reset_refused")
        .expect("a refusal event");
    assert_eq!(refused.data["reason"], "rate_limited");

    // An hour after the first, one more may be sent.
    srv.clock.advance(Duration::minutes(57));
    srv.request_reset(email).await;
    assert_eq!(srv.reset_mails().await, 4);
}
backend_test!(password_reset_is_limited_per_account, per_account_limit);

async fn weak_password(t: TestDb) {
    let srv = serve(&t).await;
    let email = "dave@example.com";
    srv.signup(email).await;
    srv.request_reset(email).await;
    let token = srv.mailer.last_reset_token_for(email).await.unwrap();

    let r = srv.confirm(&token, "password").await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    let details = body["error"]["details"].as_array().unwrap();
    assert!(!details.is_empty());
    assert!(
        details.iter().all(|d| d["field"] == "new_password"),
        "{details:?}"
    );

    let r = srv.confirm(&token, STRONG).await;
    assert_eq!(r.status(), 400, "the current password is in the history");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["code"], "reused");

    // The token survived both refusals.
    assert_eq!(srv.confirm(&token, NEW).await.status(), 200);
    assert_eq!(srv.login_status(email, NEW).await, 200);
}
backend_test!(password_reset_weak_password_keeps_the_token, weak_password);

async fn ip_limits(t: TestDb) {
    let srv = serve(&t).await;
    for i in 0..10 {
        let r = srv
            .post(
                "/api/v1/auth/register",
                json!({"email": format!("r{i}@example.com"), "password": STRONG}),
                None,
            )
            .await;
        assert_eq!(r.status(), 202, "registration {i}");
    }
    let r = srv
        .post(
            "/api/v1/auth/register",
            json!({"email": "r10@example.com", "password": STRONG}),
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
    assert!(
        srv.kinds_for("r10@example.com").await.is_empty(),
        "refused before the service ran"
    );
    assert!(srv.mailer.last_token_for("r10@example.com").await.is_none());

    // The other classes count separately, with the same answer once over.
    for (path, class) in [
        ("/api/v1/auth/resend-verification", "resend"),
        ("/api/v1/auth/password-reset", "reset"),
    ] {
        let mut answers = Vec::new();
        for i in 0..11 {
            let r = srv
                .post(
                    path,
                    json!({"email": format!("{class}{i}@example.com")}),
                    None,
                )
                .await;
            answers.push(r.status().as_u16());
        }
        assert!(
            answers[..10].iter().all(|&s| s != 429),
            "{path}: {answers:?}"
        );
        let r = srv
            .post(path, json!({"email": "last@example.com"}), None)
            .await;
        assert_eq!(r.status(), 429, "{path}");
        assert!(r.headers().contains_key("retry-after"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(stable(body)["error"]["code"], "RATE_LIMITED", "{path}");
    }
}
backend_test!(anonymous_routes_are_rate_limited_per_ip, ip_limits);

async fn secrets_not_logged(t: TestDb) {
    let logs = captured_logs();
    let srv = serve(&t).await;
    let email = format!("reset-{}@example.com", uuid::Uuid::now_v7().simple());
    srv.signup(&email).await;
    srv.request_reset(&email).await;
    let token = srv.mailer.last_reset_token_for(&email).await.unwrap();
    tracing::info!(mail = ?srv.mailer.sent().await, "the host logging its mailbox by mistake");
    tracing::info!(token = ?token, "the host logging the token by mistake");
    assert_eq!(srv.confirm(&token, "password").await.status(), 400);
    assert_eq!(srv.confirm(&token, NEW).await.status(), 200);
    assert_invalid_token(srv.confirm(&token, "other-Meadow-58-kite").await).await;
    srv.login(&email, NEW).await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("/api/v1/auth/password-reset"),
        "capture works"
    );
    for secret in [token.expose(), STRONG, NEW, "other-Meadow-58-kite"] {
        assert!(!text.contains(secret), "a secret leaked into the logs");
    }
    assert!(!text.contains(&email), "the email leaked into the logs");
}
backend_test!(no_reset_secrets_in_logs, secrets_not_logged);

impl Server {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use helix_core::Clock;
        self.clock.now()
    }
}
