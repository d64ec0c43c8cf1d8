//! OpenID Connect sign-in at the service level, on both backends, against the local
//! provider stand-in (`helix_auth::testing::oidc_provider`): account creation and reuse,
//! linking rules, explicit linking, state handling, every ID-token check, PKCE, unknown and
//! unreachable providers.

use std::sync::Arc;

use chrono::Duration;
use helix_auth::oidc::{OidcConfig, OidcError, OidcOutcome, OidcProviderConfig};
use helix_auth::testing::oidc_provider::{Tamper, TestProvider, TestUser};
use helix_auth::{AuthError, AuthService};
use helix_core::testing::TestDb;
use helix_core::{Clock, ManualClock, backend_test};

use crate::support::{STRONG, fast_config, kernel, meta, pw, verified_account};

const CALLBACK: &str = "https://app.example.com/oidc/callback";
const CLIENT: &str = "helix-client";
const SECRET: &str = "helix-client-secret";

struct Setup {
    auth: AuthService,
    provider: TestProvider,
    clock: ManualClock,
}

async fn setup(t: &TestDb, configure: impl FnOnce(&mut OidcProviderConfig)) -> Setup {
    let (kernel, clock) = kernel(t).await;
    let provider = TestProvider::start(CLIENT, SECRET, Arc::new(clock.clone())).await;
    let mut config = provider.provider_config(CALLBACK);
    configure(&mut config);
    let mut oidc = OidcConfig::default();
    oidc.providers.insert("test".into(), config.clone());
    oidc.providers.insert("other".into(), config);
    oidc.allowed_redirect_uris = vec!["https://other.example.com/cb".into()];
    let auth = AuthService::builder(kernel, fast_config())
        .oidc(oidc)
        .build()
        .unwrap();
    Setup {
        auth,
        provider,
        clock,
    }
}

impl Setup {
    /// One whole sign-in: authorize, the browser at the provider, callback.
    async fn sign_in(&self) -> helix_auth::Result<helix_auth::oidc::OidcSignIn> {
        let start = self
            .auth
            .oidc_authorize(&meta(), "test", None)
            .await
            .unwrap();
        let (code, state) = self.provider.authorize(&start.authorization_url).await;
        self.auth
            .oidc_callback(&meta(), "test", &code, &state, None)
            .await
    }

    async fn kinds(&self, account: uuid::Uuid) -> Vec<String> {
        self.auth
            .security_events(account, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

fn oidc_err<T: std::fmt::Debug>(r: helix_auth::Result<T>) -> OidcError {
    match r {
        Err(AuthError::Oidc(e)) => e,
        other => panic!("expected an OIDC error, got {other:?}"),
    }
}

async fn new_account_then_same_identity(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    s.provider
        .set_user(TestUser::verified("sub-ada", "Ada@Example.com"));
    let start = s.auth.oidc_authorize(&meta(), "test", None).await.unwrap();
    let url = url::Url::parse(&start.authorization_url).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], CALLBACK);
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    assert!(q["nonce"].len() >= 43 && q["state"].len() >= 43);
    assert_eq!(start.expires_at, s.clock.now() + Duration::minutes(10));
    assert!(!format!("{start:?}").contains(&q["state"]));

    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    let first = s
        .auth
        .oidc_callback(&meta(), "test", &code, &state, None)
        .await
        .unwrap();
    assert_eq!(first.outcome, OidcOutcome::AccountCreated);
    assert_eq!(first.account.email, "ada@example.com");
    assert!(first.account.email_verified);
    let id = first.account.account_id;

    // A password-less account: password login is impossible, with the usual answer.
    let login = s.auth.login(&meta(), "ada@example.com", &pw(STRONG)).await;
    assert!(matches!(login, Err(AuthError::InvalidCredentials)));

    let second = s.sign_in().await.unwrap();
    assert_eq!(second.outcome, OidcOutcome::SignedIn);
    assert_eq!(second.account.account_id, id);
    assert_eq!(s.auth.external_identities(id).await.unwrap().len(), 1);
    let kinds = s.kinds(id).await;
    assert!(
        kinds.contains(&"oidc_account_created".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "oidc_sign_in").count(), 2);
}
backend_test!(
    new_account_then_same_identity,
    new_account_then_same_identity
);

async fn existing_email_is_never_merged_silently(t: TestDb) {
    // Default policy: no linking by e-mail, even verified.
    let s = setup(&t, |_| {}).await;
    let id = verified_account(&s.auth, "bob@example.com").await;
    s.provider
        .set_user(TestUser::verified("sub-bob", "bob@example.com"));
    assert_eq!(
        oidc_err(s.sign_in().await),
        OidcError::AccountExistsLinkRequired
    );
    assert!(s.auth.external_identities(id).await.unwrap().is_empty());
    let kinds = s.kinds(id).await;
    assert!(kinds.contains(&"oidc_link_refused".to_owned()), "{kinds:?}");

    // The policy allows it, but the provider does not verify the address: refused too.
    let s2 = setup(&t, |c| c.link_verified_email = true).await;
    verified_account(&s2.auth, "bea@example.com").await;
    s2.provider
        .set_user(TestUser::unverified("sub-bea", "bea@example.com"));
    assert_eq!(
        oidc_err(s2.sign_in().await),
        OidcError::AccountExistsLinkRequired
    );
}
backend_test!(
    existing_email_is_never_merged_silently,
    existing_email_is_never_merged_silently
);

async fn verified_email_links_with_policy(t: TestDb) {
    let s = setup(&t, |c| c.link_verified_email = true).await;
    let id = verified_account(&s.auth, "cy@example.com").await;
    s.provider
        .set_user(TestUser::verified("sub-cy", "cy@example.com"));
    let linked = s.sign_in().await.unwrap();
    assert_eq!(linked.outcome, OidcOutcome::LinkedByEmail);
    assert_eq!(linked.account.account_id, id);
    let again = s.sign_in().await.unwrap();
    assert_eq!(again.outcome, OidcOutcome::SignedIn);
    assert_eq!(again.account.account_id, id);
    // The password still works.
    s.auth
        .login(&meta(), "cy@example.com", &pw(STRONG))
        .await
        .unwrap();
    let kinds = s.kinds(id).await;
    assert!(
        kinds.contains(&"oidc_identity_linked".to_owned()),
        "{kinds:?}"
    );

    // An unverified account is never linked (pre-registration takeover).
    s.auth
        .register(&meta(), "dee@example.com", &pw(STRONG))
        .await
        .unwrap();
    s.provider
        .set_user(TestUser::verified("sub-dee", "dee@example.com"));
    assert_eq!(
        oidc_err(s.sign_in().await),
        OidcError::AccountExistsLinkRequired
    );
}
backend_test!(
    verified_email_links_with_policy,
    verified_email_links_with_policy
);

async fn signed_in_user_links_explicitly(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    let id = verified_account(&s.auth, "eve@example.com").await;
    // A different address at the provider: explicit linking does not need a match.
    s.provider
        .set_user(TestUser::verified("sub-eve", "eve.work@example.org"));
    let start = s.auth.oidc_link(&meta(), id, "test", None).await.unwrap();
    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    // Presented by anyone but the account that started it, a link attempt is refused (and
    // used up): luring a victim through one's own link attempt gains nothing.
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "test", &code, &state, None)
                .await
        ),
        OidcError::InvalidState
    );
    let start = s.auth.oidc_link(&meta(), id, "test", None).await.unwrap();
    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    let linked = s
        .auth
        .oidc_callback(&meta(), "test", &code, &state, Some(id))
        .await
        .unwrap();
    assert_eq!(linked.outcome, OidcOutcome::Linked);
    assert_eq!(linked.account.account_id, id);
    let signed_in = s.sign_in().await.unwrap();
    assert_eq!(signed_in.outcome, OidcOutcome::SignedIn);
    assert_eq!(signed_in.account.account_id, id);

    // The same identity cannot be linked to another account.
    let other = verified_account(&s.auth, "frank@example.com").await;
    let start = s
        .auth
        .oidc_link(&meta(), other, "test", None)
        .await
        .unwrap();
    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "test", &code, &state, Some(other))
                .await
        ),
        OidcError::IdentityInUse
    );
    assert!(s.auth.external_identities(other).await.unwrap().is_empty());
}
backend_test!(
    signed_in_user_links_explicitly,
    signed_in_user_links_explicitly
);

async fn state_is_single_use_bound_and_short_lived(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    s.provider
        .set_user(TestUser::verified("sub-gil", "gil@example.com"));
    let start = s.auth.oidc_authorize(&meta(), "test", None).await.unwrap();
    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    s.auth
        .oidc_callback(&meta(), "test", &code, &state, None)
        .await
        .unwrap();
    // Replay.
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "test", &code, &state, None)
                .await
        ),
        OidcError::InvalidState
    );
    // Unknown.
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "test", &code, "forged", None)
                .await
        ),
        OidcError::InvalidState
    );
    // Another provider's state.
    let start = s.auth.oidc_authorize(&meta(), "test", None).await.unwrap();
    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "other", &code, &state, None)
                .await
        ),
        OidcError::InvalidState
    );
    // Expired after 10 minutes.
    let start = s.auth.oidc_authorize(&meta(), "test", None).await.unwrap();
    let (code, state) = s.provider.authorize(&start.authorization_url).await;
    s.clock
        .advance(Duration::minutes(10) + Duration::seconds(1));
    let before = s.provider.token_requests();
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "test", &code, &state, None)
                .await
        ),
        OidcError::InvalidState
    );
    assert_eq!(s.provider.token_requests(), before, "no code exchange");
    let failures = s
        .auth
        .security_events_for_email("gil@example.com", 100)
        .await
        .unwrap();
    assert!(failures.iter().any(|e| e.kind == "oidc_sign_in"));
}
backend_test!(
    state_is_single_use_bound_and_short_lived,
    state_is_single_use_bound_and_short_lived
);

async fn id_token_checks(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    s.provider
        .set_user(TestUser::verified("sub-hal", "hal@example.com"));
    for (tamper, expected) in [
        (Tamper::WrongNonce, OidcError::InvalidNonce),
        (Tamper::ForeignKey, OidcError::InvalidSignature),
        (Tamper::WrongAudience, OidcError::InvalidAudience),
        (Tamper::Expired, OidcError::TokenExpired),
        (Tamper::WrongIssuer, OidcError::InvalidIssuer),
    ] {
        s.provider.set_tamper(tamper);
        assert_eq!(oidc_err(s.sign_in().await), expected, "{tamper:?}");
    }
    // Nothing was created by a refused token.
    let events = s
        .auth
        .security_events_for_email("hal@example.com", 100)
        .await
        .unwrap();
    assert!(events.is_empty());
    s.provider.set_tamper(Tamper::None);
    assert_eq!(
        s.sign_in().await.unwrap().outcome,
        OidcOutcome::AccountCreated
    );
}
backend_test!(id_token_checks, id_token_checks);

async fn pkce_mismatch_is_refused(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    s.provider
        .set_user(TestUser::verified("sub-ivy", "ivy@example.com"));
    let start = s.auth.oidc_authorize(&meta(), "test", None).await.unwrap();
    // Someone swaps the challenge on the way to the provider.
    let mut url = url::Url::parse(&start.authorization_url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "code_challenge" {
                (k, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let (code, state) = s.provider.authorize(url.as_str()).await;
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_callback(&meta(), "test", &code, &state, None)
                .await
        ),
        OidcError::CodeRejected
    );
}
backend_test!(pkce_mismatch_is_refused, pkce_mismatch_is_refused);

async fn unknown_unreachable_and_redirects(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    assert_eq!(
        oidc_err(s.auth.oidc_authorize(&meta(), "nope", None).await),
        OidcError::UnknownProvider
    );
    assert_eq!(
        oidc_err(s.auth.oidc_callback(&meta(), "nope", "c", "s", None).await),
        OidcError::UnknownProvider
    );
    assert_eq!(
        oidc_err(
            s.auth
                .oidc_authorize(&meta(), "test", Some("https://evil.example.com/cb"))
                .await
        ),
        OidcError::RedirectUriNotAllowed
    );
    let allowed = s
        .auth
        .oidc_authorize(&meta(), "test", Some("https://other.example.com/cb"))
        .await
        .unwrap();
    assert!(allowed.authorization_url.contains("other.example.com%2Fcb"));

    // A provider that is down: the service builds (boot is never blocked), its sign-ins
    // answer "unavailable".
    let (kernel, _) = kernel(&t).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut oidc = OidcConfig::default();
    oidc.providers.insert(
        "down".into(),
        OidcProviderConfig::new(format!("http://127.0.0.1:{port}"), CLIENT, None, CALLBACK),
    );
    let auth = AuthService::builder(kernel, fast_config())
        .oidc(oidc)
        .build()
        .unwrap();
    assert_eq!(
        oidc_err(auth.oidc_authorize(&meta(), "down", None).await),
        OidcError::ProviderUnavailable
    );
}
backend_test!(
    unknown_unreachable_and_redirects,
    unknown_unreachable_and_redirects
);

async fn unverified_new_account_is_refused_when_verification_required(t: TestDb) {
    let s = setup(&t, |_| {}).await;
    s.provider
        .set_user(TestUser::unverified("sub-jo", "jo@example.com"));
    assert_eq!(oidc_err(s.sign_in().await), OidcError::EmailNotVerified);
    let login = s.auth.login(&meta(), "jo@example.com", &pw(STRONG)).await;
    assert!(matches!(login, Err(AuthError::InvalidCredentials)));
    s.provider.set_user(TestUser {
        subject: "sub-noemail".into(),
        email: None,
        email_verified: false,
    });
    assert_eq!(oidc_err(s.sign_in().await), OidcError::EmailRequired);
}
backend_test!(
    unverified_new_account_is_refused_when_verification_required,
    unverified_new_account_is_refused_when_verification_required
);
