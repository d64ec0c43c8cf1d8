//! The auth/tenancy glue end to end, on both backends: registration (once verified) creates
//! a personal organization with the user as owner, the access token carries the active
//! organization, and switching organization checks membership.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{code_in, start};

/// The claims of a JWT, unverified (the server verified it).
fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn personal_organization_and_switching(t: TestDb) {
    let srv = start(&t).await;
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let email = format!("grace-{}@example.test", Uuid::now_v7().simple());
    let password = "correct horse battery staple 42";

    let r = c
        .post(api("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = c
        .post(api("/api/v1/auth/verify-email"))
        .json(&json!({"token": code_in(&srv.mail_dir(), &email).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Login: the token carries the personal organization.
    let r = c
        .post(api("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let personal = pair["org_id"]
        .as_str()
        .expect("an active organization")
        .to_owned();
    assert_eq!(claims(&access)["org"], personal.as_str());
    let account: Value = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account_id = account["account_id"].as_str().unwrap().to_owned();

    let r = c
        .get(api("/api/v1/organization"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let org: Value = r.json().await.unwrap();
    assert_eq!(org["id"], personal.as_str());
    assert_eq!(
        org["slug"],
        format!("personal-{}", &account_id.replace('-', "")[20..])
    );
    assert_eq!(org["region"], "us");
    let local = email.split('@').next().unwrap();
    assert_eq!(org["name"], format!("{local}'s workspace"));
    // The user owns it.
    let r = c
        .get(api(&format!("/api/v1/members/{account_id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let member: Value = r.json().await.unwrap();
    assert_eq!(member["role"], "owner");
    assert_eq!(member["email"], email.as_str());

    // A second organization, then switch to it.
    let slug = format!("team-{}", &Uuid::now_v7().simple().to_string()[20..]);
    let r = c
        .post(api("/api/v1/organizations"))
        .bearer_auth(&access)
        .json(&json!({"name": "Second", "slug": slug, "region": "eu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let second: Value = r.json().await.unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();

    let r = c
        .post(api("/api/v1/auth/organization"))
        .bearer_auth(&access)
        .json(&json!({"org_id": second_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let switched: Value = r.json().await.unwrap();
    assert_eq!(switched["org_id"], second_id.as_str());
    let access2 = switched["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access2)["org"], second_id.as_str());
    let org: Value = c
        .get(api("/api/v1/organization"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["id"], second_id.as_str());
    assert_eq!(org["slug"], slug.as_str());
    // The owner membership records the account's verified e-mail, which the server supplies
    // (`verified_email` glue); the client cannot send one.
    let member: Value = c
        .get(api(&format!("/api/v1/members/{account_id}")))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(member["role"], "owner");
    assert_eq!(member["email"], email.as_str());
    let r = c
        .post(api("/api/v1/organizations"))
        .bearer_auth(&access)
        .json(&json!({
            "name": "Third",
            "slug": format!("third-{}", &Uuid::now_v7().simple().to_string()[20..]),
            "region": "eu",
            "owner_email": "someone-else@example.test",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["details"][0]["field"], "owner_email");

    // Refresh stays in the switched organization.
    let r = c
        .post(api("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": pair["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(refreshed["org_id"], second_id.as_str());

    // An organization the user does not belong to: 404, no existence leak.
    let r = c
        .post(api("/api/v1/auth/organization"))
        .bearer_auth(&access2)
        .json(&json!({"org_id": Uuid::now_v7()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "NOT_FOUND");

    srv.stop().await;
}
backend_test!(
    glue_personal_organization_and_switching,
    personal_organization_and_switching
);

/// The directory over the tenancy service directly: verification is idempotent, a squatted
/// personal slug gets a suffix, and membership answers follow the memberships.
async fn directory_over_tenancy(t: TestDb) {
    use helix_auth::OrganizationDirectory;
    use reference_server::organizations::{TenancyDirectory, personal_slug};

    helix_core::Helix::builder(t.db.clone())
        .module(helix_tenancy::TenancyModule)
        .build()
        .await
        .unwrap();
    let tenancy = helix_tenancy::TenancyService::new(helix_core::Kernel::new(t.db.clone()));
    let dir = TenancyDirectory::new(tenancy.clone());

    let ada = Uuid::now_v7();
    assert_eq!(dir.default_organization(ada).await.unwrap(), None);
    dir.on_email_verified(ada, "ada@example.test")
        .await
        .unwrap();
    dir.on_email_verified(ada, "ada@example.test")
        .await
        .unwrap();
    let ctx = helix_core::PlatformContext::new(helix_core::Actor::User(ada));
    let orgs = tenancy.memberships_of_user(&ctx, ada).await.unwrap();
    assert_eq!(
        orgs.len(),
        1,
        "one personal organization, however often verified"
    );
    assert_eq!(orgs[0].1, helix_tenancy::Role::Owner);
    assert_eq!(
        dir.default_organization(ada).await.unwrap(),
        Some(orgs[0].0)
    );
    assert!(dir.is_member(ada, orgs[0].0).await.unwrap());
    assert!(!dir.is_member(ada, Uuid::now_v7()).await.unwrap());

    // Someone took Bob's personal slug first: Bob still gets a personal organization.
    let bob = Uuid::now_v7();
    let squatter = Uuid::now_v7();
    tenancy
        .create_organization(
            &helix_core::PlatformContext::new(helix_core::Actor::User(squatter)),
            helix_tenancy::NewOrganization {
                name: "Squat".into(),
                slug: personal_slug(bob),
                region: helix_tenancy::Region::Eu,
                plan: None,
                settings: None,
            },
            squatter,
            "squatter@example.test",
        )
        .await
        .unwrap();
    dir.on_email_verified(bob, "bob@example.test")
        .await
        .unwrap();
    let bob_ctx = helix_core::PlatformContext::new(helix_core::Actor::User(bob));
    let bobs = tenancy.memberships_of_user(&bob_ctx, bob).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert!(
        !dir.is_member(
            bob,
            dir.default_organization(squatter).await.unwrap().unwrap()
        )
        .await
        .unwrap()
    );
}
backend_test!(glue_directory_over_tenancy, directory_over_tenancy);
