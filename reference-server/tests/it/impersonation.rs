//! Impersonation end to end, on both backends: who may start it, the reason, the
//! 30-minute token without refresh, the `act` claim, the impersonator in audit rows, the
//! target's session list, the refused actions and the end of the session. Also the security
//! events of organization switching.

use chrono::{DateTime, SubsecRound, Utc};
use helix_auth::accounts::entity::security_event;
use helix_core::audit::{self, AuditFilter};
use helix_core::testing::TestDb;
use helix_core::{Actor, TenantContext, backend_test};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Running, register_and_login, start_with};

const PASSWORD: &str = "correct horse battery staple 42";

/// The claims of a JWT, unverified (the server verified it).
fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

struct User {
    id: Uuid,
    access: String,
    session: String,
    org: String,
}

fn email(name: &str) -> String {
    format!("{name}-{}@example.test", Uuid::now_v7().simple())
}

/// Registers, verifies and signs in `email`.
async fn user(srv: &Running, c: &reqwest::Client, email: &str) -> User {
    let pair = register_and_login(srv, c, email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    User {
        id: claims(&access)["sub"].as_str().unwrap().parse().unwrap(),
        session: pair["session_id"].as_str().unwrap().to_owned(),
        org: pair["org_id"].as_str().unwrap().to_owned(),
        access,
    }
}

async fn events(t: &TestDb, account: Uuid, kind: &str) -> Vec<security_event::Model> {
    security_event::Entity::find()
        .filter(security_event::Column::AccountId.eq(account))
        .filter(security_event::Column::Kind.eq(kind))
        .all(t.db.connection())
        .await
        .unwrap()
}

async fn impersonation_end_to_end(t: TestDb) {
    let support_email = email("support");
    let other_support_email = email("support2");
    let (s1, s2) = (support_email.clone(), other_support_email.clone());
    let srv = start_with(&t, move |s| {
        s.auth.impersonation.support_accounts = vec![s1, s2.to_uppercase()];
    })
    .await;
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let support = user(&srv, &c, &support_email).await;
    let other_support = user(&srv, &c, &other_support_email).await;
    let ada = user(&srv, &c, &email("ada")).await;
    let bob = user(&srv, &c, &email("bob")).await;

    let impersonate = |token: String, body: Value| {
        let c = c.clone();
        let url = api("/api/v1/auth/impersonate");
        async move {
            let r = c
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };

    // Not a support account: plain 403, and a refusal event.
    let (status, body) = impersonate(
        bob.access.clone(),
        json!({"account_id": ada.id, "reason": "curious"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    assert_eq!(events(&t, bob.id, "impersonation_refused").await.len(), 1);

    // The reason is mandatory, not blank, bounded.
    for reason in [Value::Null, json!("   "), json!("x".repeat(501))] {
        let mut body = json!({"account_id": ada.id});
        if !reason.is_null() {
            body["reason"] = reason;
        }
        let (status, body) = impersonate(support.access.clone(), body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "reason");
    }

    // Not oneself, not another support account; an unknown account is 404.
    for target in [support.id, other_support.id] {
        let (status, body) = impersonate(
            support.access.clone(),
            json!({"account_id": target, "reason": "ticket 42"}),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("IMPERSONATION_FORBIDDEN")),
            "{body}"
        );
    }
    let (status, _) = impersonate(
        support.access.clone(),
        json!({"account_id": Uuid::now_v7(), "reason": "ticket 42"}),
    )
    .await;
    assert_eq!(status, 404);

    // Allowed: a 30-minute token with no refresh token, `act.sub` = the support account, in
    // the target's organization.
    let before = Utc::now();
    let r = c
        .post(api("/api/v1/auth/impersonate"))
        .bearer_auth(&support.access)
        .json(&json!({"account_id": ada.id, "reason": "ticket 42: invoice totals look wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let started: Value = r.json().await.unwrap();
    assert!(started.get("refresh_token").is_none(), "{started}");
    let imp = started["access_token"].as_str().unwrap().to_owned();
    let imp_session = started["session_id"].as_str().unwrap().to_owned();
    let cl = claims(&imp);
    assert_eq!(cl["sub"], ada.id.to_string());
    assert_eq!(cl["act"]["sub"], support.id.to_string());
    assert_eq!(cl["sid"], imp_session.as_str());
    assert_eq!(cl["org"], ada.org.as_str());
    assert_eq!(started["org_id"], ada.org.as_str());
    let exp = cl["exp"].as_i64().unwrap();
    // The token ends with the session, 30 minutes after it started; `iat` is taken a moment
    // later and can fall in the next second.
    let lifetime_secs = exp - cl["iat"].as_i64().unwrap();
    assert!(
        (30 * 60 - 1..=30 * 60).contains(&lifetime_secs),
        "{lifetime_secs}"
    );
    assert_eq!(started["expires_in"], lifetime_secs);
    let expires_at: DateTime<Utc> = started["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_at.timestamp(), exp);
    let lifetime = expires_at - before;
    assert!(
        lifetime <= chrono::Duration::minutes(30) + chrono::Duration::seconds(5)
            && lifetime > chrono::Duration::minutes(29),
        "{lifetime}"
    );

    // The session acts as ada.
    let me: Value = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&imp)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account_id"], ada.id.to_string());

    // A tenancy write: its audit row names ada and the impersonator.
    let r = c
        .patch(api("/api/v1/organization"))
        .bearer_auth(&imp)
        .json(&json!({"name": "Renamed by support"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let org_id: Uuid = ada.org.parse().unwrap();
    let ctx = TenantContext::new(org_id, Actor::User(ada.id));
    let tx = t.db.tenant(&ctx).await.unwrap();
    let filter = AuditFilter {
        action: Some("organization.updated".into()),
        ..AuditFilter::default()
    };
    let rows = audit::query(&tx, &filter, 1, 25).await.unwrap().data;
    tx.rollback().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, format!("user:{}", ada.id));
    assert_eq!(rows[0].impersonator, Some(format!("user:{}", support.id)));
    assert!(audit::verify(&t.db, &ctx).await.unwrap().is_valid());

    // Refresh is refused: there is no refresh token, and a made-up one is 401.
    let r = c
        .post(api("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": "A".repeat(43)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Forbidden under impersonation.
    let forbidden = [
        c.post(api("/api/v1/auth/password")).json(
            &json!({"current_password": PASSWORD, "new_password": "another horse battery 43"}),
        ),
        c.delete(api(&format!("/api/v1/auth/sessions/{}", ada.session))),
        c.post(api("/api/v1/auth/sessions/revoke-others")),
        c.post(api("/api/v1/auth/impersonate"))
            .json(&json!({"account_id": bob.id, "reason": "chained"})),
    ];
    for req in forbidden {
        let r = req.bearer_auth(&imp).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "IMPERSONATION_FORBIDDEN", "{body}");
    }
    // Ada's own session was not touched.
    let r = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&ada.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Ada sees the session, marked as impersonation.
    let list: Value = c
        .get(api("/api/v1/auth/sessions"))
        .bearer_auth(&ada.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    let seen = data
        .iter()
        .find(|s| s["id"] == imp_session.as_str())
        .expect("the impersonation session is listed");
    assert_eq!(seen["kind"], "impersonation");
    assert_eq!(seen["current"], false);
    assert_eq!(
        seen["absolute_expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
            .trunc_subsecs(6),
        // PostgreSQL keeps microseconds.
        expires_at.trunc_subsecs(6)
    );

    // Security events on both accounts, with the reason; a platform audit entry.
    for (account, role) in [(support.id, "impersonator"), (ada.id, "impersonated")] {
        let evs = events(&t, account, "impersonation_started").await;
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].data["role"], role);
        assert_eq!(
            evs[0].data["reason"],
            "ticket 42: invoice totals look wrong"
        );
        assert_eq!(evs[0].data["session_id"], imp_session.as_str());
    }

    // Ending it: the token is refused at once; events on both accounts.
    let r = c
        .delete(api("/api/v1/auth/impersonate"))
        .bearer_auth(&support.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not an impersonation session");
    let r = c
        .delete(api("/api/v1/auth/impersonate"))
        .bearer_auth(&imp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&imp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for account in [support.id, ada.id] {
        assert_eq!(events(&t, account, "impersonation_ended").await.len(), 1);
    }

    // Logout ends an impersonation too.
    let (status, body) = impersonate(
        support.access.clone(),
        json!({"account_id": bob.id, "reason": "ticket 43"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let imp = body["access_token"].as_str().unwrap().to_owned();
    let r = c
        .post(api("/api/v1/auth/logout"))
        .bearer_auth(&imp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(events(&t, bob.id, "impersonation_ended").await.len(), 1);
    let r = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&imp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    srv.stop().await;
}

backend_test!(impersonation_end_to_end, impersonation_end_to_end);

async fn nobody_impersonates_by_default(t: TestDb) {
    let srv = start_with(&t, |_| {}).await;
    let c = reqwest::Client::new();
    let ada = user(&srv, &c, &email("ada")).await;
    let bob = user(&srv, &c, &email("bob")).await;
    let r = c
        .post(format!("{}/api/v1/auth/impersonate", srv.base))
        .bearer_auth(&ada.access)
        .json(&json!({"account_id": bob.id, "reason": "ticket 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{}/api/v1/auth/impersonate", srv.base))
        .json(&json!({"account_id": bob.id, "reason": "ticket 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    srv.stop().await;
}

backend_test!(
    nobody_impersonates_by_default,
    nobody_impersonates_by_default
);

async fn organization_switching_records_events(t: TestDb) {
    let srv = start_with(&t, |_| {}).await;
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let ada = user(&srv, &c, &email("ada")).await;
    let r = c
        .post(api("/api/v1/auth/organization"))
        .bearer_auth(&ada.access)
        .json(&json!({"org_id": ada.org}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let stranger = Uuid::now_v7();
    let r = c
        .post(api("/api/v1/auth/organization"))
        .bearer_auth(&ada.access)
        .json(&json!({"org_id": stranger}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let switched = events(&t, ada.id, "organization_switched").await;
    assert_eq!(switched.len(), 1);
    assert_eq!(switched[0].data["org_id"], ada.org.as_str());
    let refused = events(&t, ada.id, "organization_switch_refused").await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].data["org_id"], stranger.to_string());
    srv.stop().await;
}

backend_test!(
    organization_switching_records_events,
    organization_switching_records_events
);

async fn default_region_setting(t: TestDb) {
    let srv = start_with(&t, |s| s.tenancy.default_region = "eu".into()).await;
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let ada = user(&srv, &c, &email("ada")).await;
    // The personal organization and one created without a region are pinned to it.
    let org: Value = c
        .get(api("/api/v1/organization"))
        .bearer_auth(&ada.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["region"], "eu");
    let slug = format!("r-{}", &Uuid::now_v7().simple().to_string()[20..]);
    let r = c
        .post(api("/api/v1/organizations"))
        .bearer_auth(&ada.access)
        .json(&json!({"name": "No region", "slug": slug}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["region"], "eu");
    // A named region still wins.
    let slug = format!("r-{}", &Uuid::now_v7().simple().to_string()[20..]);
    let r = c
        .post(api("/api/v1/organizations"))
        .bearer_auth(&ada.access)
        .json(&json!({"name": "UK", "slug": slug, "region": "uk"}))
        .send()
        .await
        .unwrap();
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["region"], "uk");
    srv.stop().await;
}

backend_test!(default_region_setting, default_region_setting);
