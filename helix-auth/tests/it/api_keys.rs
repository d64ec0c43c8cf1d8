//! API keys at the service level, on both backends: create, list, resolve, revoke, expiry,
//! the last-used throttle, refusals and their security events.

use chrono::Duration;
use helix_auth::AuthError;
use helix_auth::api_keys::{ApiKeyConfig, ApiKeyService, HmacKey, NewApiKey};
use helix_core::testing::TestDb;
use helix_core::{Actor, Clock, ManualClock, backend_test};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::support::{meta, service, verified_account};

async fn setup(t: &TestDb) -> (ApiKeyService, ManualClock, Uuid) {
    let (auth, clock) = service(t).await;
    let user = verified_account(&auth, "keys@example.com").await;
    let config = ApiKeyConfig {
        hash_key: Some(HmacKey::generate()),
        ..ApiKeyConfig::default()
    };
    (ApiKeyService::new(auth, config).unwrap(), clock, user)
}

async fn refusals(t: &TestDb) -> Vec<String> {
    let rows =
        t.db.connection()
            .query_all_raw(Statement::from_string(
                t.db.connection().get_database_backend(),
                "SELECT data FROM auth_security_events WHERE kind = 'api_key_refused' \
             ORDER BY occurred_at, id",
            ))
            .await
            .unwrap();
    rows.iter()
        .map(|r| {
            let data: serde_json::Value = r.try_get("", "data").unwrap_or_else(|_| {
                let text: String = r.try_get("", "data").unwrap();
                serde_json::from_str(&text).unwrap()
            });
            data["reason"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn lifecycle(t: TestDb) {
    let (keys, _clock, user) = setup(&t).await;
    let owner = "org:0190f5c2-0000-7000-8000-000000000001";
    let new = NewApiKey::new(owner, " ci deploy ", ["teams:read", "members:read"]);
    let (record, secret) = keys.create(&meta(), Actor::User(user), new).await.unwrap();
    assert_eq!(record.name, "ci deploy");
    assert_eq!(record.scopes, ["members:read", "teams:read"]);
    assert_eq!(record.created_by, Some(user));
    let text = secret.expose_secret().to_owned();
    assert!(text.starts_with(&format!("hx_{}_", record.id.simple())));
    assert!(!format!("{secret:?}").contains(&text[36..]));

    // Resolves to the principal; the key is stored only as a keyed hash.
    let p = keys.resolve(&meta(), &text).await.unwrap();
    assert_eq!((p.key_id, p.owner.as_str()), (record.id, owner));
    assert!(p.has_scope("members:read") && !p.has_scope("members:write"));
    let stored =
        t.db.connection()
            .query_all_raw(Statement::from_string(
                t.db.connection().get_database_backend(),
                "SELECT * FROM auth_api_keys",
            ))
            .await
            .unwrap();
    let dump = format!("{stored:?}");
    assert!(!dump.contains(&text[36..]), "the secret is stored");

    // Listing never shows the secret; another owner sees nothing.
    let listed = keys.list(owner).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(listed[0].created_at));
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains(&text[36..]) && !json.contains("hash"));
    assert!(keys.list("org:other").await.unwrap().is_empty());

    // Revocation: another owner gets 404, the owner revokes, the key is refused at once.
    let err = keys
        .revoke(&meta(), Actor::User(user), "org:other", record.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    keys.resolve(&meta(), &text).await.unwrap();
    keys.revoke(&meta(), Actor::User(user), owner, record.id)
        .await
        .unwrap();
    // Revoking twice is a no-op.
    keys.revoke(&meta(), Actor::User(user), owner, record.id)
        .await
        .unwrap();
    let err = keys.resolve(&meta(), &text).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidApiKey));
    assert!(keys.list(owner).await.unwrap()[0].revoked_at.is_some());
    assert_eq!(refusals(&t).await, ["revoked"]);
    let events = keys_events(&t, user).await;
    assert!(events.contains(&"api_key_created".to_owned()));
    assert!(events.contains(&"api_key_revoked".to_owned()));
}
backend_test!(api_key_lifecycle, lifecycle);

async fn keys_events(t: &TestDb, user: Uuid) -> Vec<String> {
    let (auth, _) = service(t).await;
    auth.security_events(user, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn expiry_and_last_used(t: TestDb) {
    let (keys, clock, user) = setup(&t).await;
    let owner = "org:a";
    let now = clock.now();
    let past = NewApiKey::new(owner, "old", ["members:read"]).expires_at(now);
    let err = keys
        .create(&meta(), Actor::User(user), past)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");

    let new = NewApiKey::new(owner, "soon", ["members:read"]).expires_at(now + Duration::hours(1));
    let (record, secret) = keys.create(&meta(), Actor::User(user), new).await.unwrap();
    keys.resolve(&meta(), secret.expose_secret()).await.unwrap();
    let first = keys.list(owner).await.unwrap()[0].last_used_at.unwrap();
    assert_eq!(first, now);

    // Within the interval no write; after it, one.
    clock.advance(Duration::seconds(30));
    keys.resolve(&meta(), secret.expose_secret()).await.unwrap();
    assert_eq!(keys.list(owner).await.unwrap()[0].last_used_at, Some(first));
    clock.advance(Duration::seconds(31));
    keys.resolve(&meta(), secret.expose_secret()).await.unwrap();
    assert_eq!(
        keys.list(owner).await.unwrap()[0].last_used_at,
        Some(now + Duration::seconds(61))
    );

    clock.advance(Duration::hours(1));
    let err = keys
        .resolve(&meta(), secret.expose_secret())
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidApiKey));
    assert_eq!(refusals(&t).await, ["expired"]);
    assert!(keys.list(owner).await.unwrap()[0].expires_at.is_some());
    let _ = record;
}
backend_test!(api_key_expiry_and_last_used, expiry_and_last_used);

async fn refusals_are_one_answer(t: TestDb) {
    let (keys, _clock, user) = setup(&t).await;
    let (record, secret) = keys
        .create(
            &meta(),
            Actor::User(user),
            NewApiKey::new("org:a", "k", ["members:read"]),
        )
        .await
        .unwrap();
    let good = secret.expose_secret().to_owned();
    // Same id, another secret of the right shape.
    let wrong = format!("hx_{}_{}", record.id.simple(), "A".repeat(43));
    let unknown = format!("hx_{}_{}", Uuid::now_v7().simple(), &good[36..]);
    for presented in ["hx_nope", "not-a-key", wrong.as_str(), unknown.as_str()] {
        let err = keys.resolve(&meta(), presented).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidApiKey), "{presented}");
        let e: helix_core::Error = err.into();
        assert_eq!((e.status(), e.code()), (401, "INVALID_API_KEY"));
    }
    assert_eq!(
        refusals(&t).await,
        ["malformed", "malformed", "mismatch", "unknown"]
    );
    // A service with another server key refuses every existing key.
    let (auth, _) = service(&t).await;
    let other = ApiKeyService::new(
        auth,
        ApiKeyConfig {
            hash_key: Some(HmacKey::generate()),
            ..ApiKeyConfig::default()
        },
    )
    .unwrap();
    assert!(other.resolve(&meta(), &good).await.is_err());
    keys.resolve(&meta(), &good).await.unwrap();
}
backend_test!(api_key_refusals, refusals_are_one_answer);

async fn validation_and_limits(t: TestDb) {
    let (auth, _) = service(&t).await;
    let user = verified_account(&auth, "limits@example.com").await;
    let keys = ApiKeyService::new(
        auth,
        ApiKeyConfig {
            hash_key: Some(HmacKey::generate()),
            max_scopes: 2,
            max_keys_per_owner: 1,
            ..ApiKeyConfig::default()
        },
    )
    .unwrap();
    let actor = Actor::User(user);
    let cases = [
        NewApiKey::new("org:a", "", ["a:b"]),
        NewApiKey::new("org:a", "x".repeat(101), ["a:b"]),
        NewApiKey::new("org:a", "k", Vec::<String>::new()),
        NewApiKey::new("org:a", "k", ["members"]),
        NewApiKey::new("org:a", "k", ["a:b", "c:d", "e:f"]),
        NewApiKey::new("", "k", ["a:b"]),
    ];
    for new in cases {
        let err = keys.create(&meta(), actor.clone(), new).await.unwrap_err();
        assert_eq!(err.code(), "VALIDATION_ERROR");
    }
    let (first, _) = keys
        .create(
            &meta(),
            actor.clone(),
            NewApiKey::new("org:a", "k", ["a:b"]),
        )
        .await
        .unwrap();
    let err = keys
        .create(
            &meta(),
            actor.clone(),
            NewApiKey::new("org:a", "k2", ["a:b"]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "API_KEY_LIMIT");
    // Another owner has its own budget; revoking frees one.
    keys.create(
        &meta(),
        actor.clone(),
        NewApiKey::new("org:b", "k", ["a:b"]),
    )
    .await
    .unwrap();
    keys.revoke(&meta(), actor.clone(), "org:a", first.id)
        .await
        .unwrap();
    keys.create(&meta(), actor, NewApiKey::new("org:a", "k2", ["a:b"]))
        .await
        .unwrap();
    // No hash key, no service.
    let (auth, _) = service(&t).await;
    let err = ApiKeyService::new(auth, ApiKeyConfig::default()).unwrap_err();
    assert!(err.to_string().contains("auth.api_keys.hash_key"), "{err}");
}
backend_test!(api_key_validation_and_limits, validation_and_limits);
