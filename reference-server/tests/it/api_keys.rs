//! API keys end to end, on both backends: shown once, never listed, usable on tenant routes
//! within their scopes, confined to their organization, refused at once when revoked or
//! expired, and never accepted on the account routes.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use reqwest::Client;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Running, register_and_login, start};

pub const PASSWORD: &str = "correct horse battery staple 42";

/// A signed-up, verified, signed-in user: (bearer access token, active organization,
/// account id).
pub async fn signed_in(srv: &Running, c: &Client, email: &str) -> (String, String, String) {
    let api = |p: &str| format!("{}{p}", srv.base);
    let pair = register_and_login(srv, c, email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let org = pair["org_id"].as_str().unwrap().to_owned();
    let me: Value = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (access, org, me["account_id"].as_str().unwrap().to_owned())
}

async fn code_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

async fn api_keys_end_to_end(t: TestDb) {
    let srv = start(&t).await;
    let c = Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let tag = Uuid::now_v7().simple().to_string();
    let email_a = format!("ada-{tag}@example.test");
    let email_b = format!("bob-{tag}@example.test");
    let (user_a, org_a, _) = signed_in(&srv, &c, &email_a).await;
    let (user_b, org_b, account_b) = signed_in(&srv, &c, &email_b).await;
    assert_ne!(org_a, org_b);

    // Created by an owner of the active organization; the key is shown once.
    let r = c
        .post(api("/api/v1/auth/api-keys"))
        .bearer_auth(&user_a)
        .json(&json!({"name": "reporting", "scopes": ["members:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("hx_{}_", key_id.replace('-', ""))));
    assert_eq!(created["scopes"], json!(["members:read"]));
    let secret_part = &key[36..];

    // Listing never contains the key; another organization's owner sees none of it.
    let r = c
        .get(api("/api/v1/auth/api-keys"))
        .bearer_auth(&user_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(secret_part), "the secret is listed: {text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], key_id.as_str());
    assert!(list["data"][0].get("key").is_none());
    let theirs: Value = c
        .get(api("/api/v1/auth/api-keys"))
        .bearer_auth(&user_b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));
    let r = c
        .delete(api(&format!("/api/v1/auth/api-keys/{key_id}")))
        .bearer_auth(&user_b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The key works on a tenant route its scope allows, in its own organization only.
    let r = c
        .get(api("/api/v1/members"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let members: Value = r.json().await.unwrap();
    let emails: Vec<&str> = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [email_a.as_str()]);
    let r = c
        .get(api(&format!("/api/v1/members/{account_b}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a key of org A never reads org B");

    // Outside its scopes: 403 INSUFFICIENT_SCOPE, reads and writes alike.
    let r = c
        .get(api("/api/v1/organization"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "INSUFFICIENT_SCOPE".into()));
    let r = c
        .post(api("/api/v1/members"))
        .bearer_auth(&key)
        .json(&json!({"user_id": account_b, "email": email_b, "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "INSUFFICIENT_SCOPE".into()));
    let r = c
        .post(api("/api/v1/organizations"))
        .bearer_auth(&key)
        .json(&json!({"name": "X", "slug": format!("x-{}", &tag[20..]), "region": "eu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "INSUFFICIENT_SCOPE".into()));

    // Account routes are for users; a key cannot mint keys.
    let r = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "USER_REQUIRED".into()));
    let r = c
        .post(api("/api/v1/auth/api-keys"))
        .bearer_auth(&key)
        .json(&json!({"name": "child", "scopes": ["members:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "USER_REQUIRED".into()));

    // Malformed and wrong keys: one 401.
    let wrong = format!("hx_{}_{}", key_id.replace('-', ""), "B".repeat(43));
    for bad in ["hx_garbage", wrong.as_str()] {
        let r = c
            .get(api("/api/v1/members"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(code_of(r).await, (401, "INVALID_API_KEY".into()));
    }

    // Validation.
    let r = c
        .post(api("/api/v1/auth/api-keys"))
        .bearer_auth(&user_a)
        .json(&json!({"name": "bad", "scopes": ["Members read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (400, "VALIDATION_ERROR".into()));

    // Revoked: refused at once.
    let r = c
        .delete(api(&format!("/api/v1/auth/api-keys/{key_id}")))
        .bearer_auth(&user_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .get(api("/api/v1/members"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (401, "INVALID_API_KEY".into()));

    // Expired: refused. (The server's clock is real: move the expiry into the past.)
    let r = c
        .post(api("/api/v1/auth/api-keys"))
        .bearer_auth(&user_a)
        .json(&json!({
            "name": "short-lived",
            "scopes": ["members:read"],
            "expires_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let short: Value = r.json().await.unwrap();
    let short_key = short["key"].as_str().unwrap();
    let r = c
        .get(api("/api/v1/members"))
        .bearer_auth(short_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let backend = t.db.connection().get_database_backend();
    let id = Uuid::parse_str(short["id"].as_str().unwrap()).unwrap();
    t.db.connection()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE auth_api_keys SET expires_at = $1 WHERE id = $2",
            vec![
                (chrono::Utc::now() - chrono::Duration::seconds(1)).into(),
                id.into(),
            ],
        ))
        .await
        .unwrap();
    let r = c
        .get(api("/api/v1/members"))
        .bearer_auth(short_key)
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (401, "INVALID_API_KEY".into()));
    srv.stop().await;
}
backend_test!(api_keys_over_http, api_keys_end_to_end);

/// Only owners and admins of the active organization manage its keys.
async fn only_managers_manage_keys(t: TestDb) {
    use helix_auth::api_keys::ApiKeyOwners;
    use helix_core::{Actor, Kernel, PlatformContext, TenantContext};
    use helix_tenancy::{NewMember, NewOrganization, Region, Role, TenancyService};
    use reference_server::api_keys::OrganizationKeyOwners;

    helix_core::Helix::builder(t.db.clone())
        .module(helix_tenancy::TenancyModule)
        .module(helix_auth::AuthModule)
        .build()
        .await
        .unwrap();
    let tenancy = TenancyService::new(Kernel::new(t.db.clone()));
    let (owner, admin, member) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let org = tenancy
        .create_organization(
            &PlatformContext::new(Actor::User(owner)),
            NewOrganization {
                name: "Acme".into(),
                slug: format!("acme-{}", &Uuid::now_v7().simple().to_string()[20..]),
                region: Region::Us,
                plan: None,
                settings: None,
            },
            owner,
            "owner@example.test",
        )
        .await
        .unwrap();
    let ctx = TenantContext::new(org.id, Actor::User(owner));
    for (user, role, email) in [
        (admin, Role::Admin, "admin@example.test"),
        (member, Role::Member, "member@example.test"),
    ] {
        tenancy
            .add_member(
                &ctx,
                NewMember {
                    user_id: user,
                    email: email.into(),
                    role,
                },
            )
            .await
            .unwrap();
    }
    let owners = OrganizationKeyOwners::new(tenancy);
    let expected = Some(format!("org:{}", org.id));
    assert_eq!(
        owners.managed_owner(owner, Some(org.id)).await.unwrap(),
        expected
    );
    assert_eq!(
        owners.managed_owner(admin, Some(org.id)).await.unwrap(),
        expected
    );
    assert_eq!(
        owners.managed_owner(member, Some(org.id)).await.unwrap(),
        None
    );
    assert_eq!(owners.managed_owner(owner, None).await.unwrap(), None);
    assert_eq!(
        owners
            .managed_owner(owner, Some(Uuid::now_v7()))
            .await
            .unwrap(),
        None,
        "not an organization of the caller"
    );
}
backend_test!(api_key_managers, only_managers_manage_keys);
