//! Platform roles over HTTP (`/api/v1/iam/platform/roles`) on both backends, and the
//! startup check of the permissions `Require<P>` guards name.

use axum::routing::get;
use helix_core::audit::{PLATFORM_CHAIN, entity as audit_entity};
use helix_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use helix_core::testing::TestDb;
use helix_core::{Kernel, PlatformContext, backend_test};
use helix_iam::IamStore;
use helix_iam::http::{GuardedRouter, Require};
use helix_iam::store::PlatformRole;
use reference_server::{AppState, Settings};
use reqwest::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Running, account_id, error_code as code, register_and_login, start};

const PASSWORD: &str = "correct horse battery staple 42";

struct User {
    id: Uuid,
    access: String,
}

async fn user(srv: &Running, c: &Client, name: &str) -> User {
    let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
    let pair = register_and_login(srv, c, &email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    User {
        id: account_id(srv, c, &access).await,
        access,
    }
}

/// The first platform administrator is granted outside HTTP (an operator's job).
async fn bootstrap_admin(t: &TestDb, account: Uuid) {
    let store = IamStore::new(Kernel::new(t.db.clone()));
    let ctx = PlatformContext::system("test.bootstrap");
    let tx = t.db.platform(&ctx).await.unwrap();
    store
        .grant_platform_role(&tx, ctx.meta(), account, PlatformRole::PlatformAdmin)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn platform_roles_over_http(t: TestDb) {
    let srv = start(&t).await;
    let c = Client::new();
    let url = |p: &str| format!("{}{p}", srv.base);
    let admin = user(&srv, &c, "platform-admin").await;
    let owner = user(&srv, &c, "tenant-owner").await;
    let support = user(&srv, &c, "support").await;
    let ada = user(&srv, &c, "ada").await;
    let grant_path = |role: &str, account: Uuid| {
        url(&format!(
            "/api/v1/iam/platform/roles/{role}/accounts/{account}"
        ))
    };
    let impersonate = |token: String, target: Uuid| {
        let c = c.clone();
        let url = url("/api/v1/auth/impersonate");
        async move {
            c.post(url)
                .bearer_auth(token)
                .json(&json!({"account_id": target, "reason": "ticket 7"}))
                .send()
                .await
                .unwrap()
        }
    };

    // Nobody is a platform administrator yet: an organization owner is refused everything.
    for r in [
        c.get(url("/api/v1/iam/platform/roles"))
            .bearer_auth(&owner.access)
            .send()
            .await
            .unwrap(),
        c.put(grant_path("support", owner.id))
            .bearer_auth(&owner.access)
            .send()
            .await
            .unwrap(),
        c.put(grant_path("platform_admin", owner.id))
            .bearer_auth(&owner.access)
            .send()
            .await
            .unwrap(),
        c.delete(grant_path("support", support.id))
            .bearer_auth(&owner.access)
            .send()
            .await
            .unwrap(),
    ] {
        let (status, code, _) = code(r).await;
        assert_eq!((status, code.as_str()), (403, "PLATFORM_ADMIN_REQUIRED"));
    }
    let r = c
        .get(url("/api/v1/iam/platform/roles"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Support cannot impersonate yet.
    assert_eq!(
        impersonate(support.access.clone(), ada.id).await.status(),
        403
    );

    bootstrap_admin(&t, admin.id).await;

    // The administrator lists the grants, and grants `support`.
    let listed: Value = c
        .get(url("/api/v1/iam/platform/roles"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["meta"]["total"], 1, "{listed}");
    assert_eq!(listed["data"][0]["user_id"], admin.id.to_string());
    assert_eq!(listed["data"][0]["role"], "platform_admin");
    let r = c
        .put(grant_path("support", support.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let grant: Value = r.json().await.unwrap();
    assert_eq!(grant["user_id"], support.id.to_string());
    assert_eq!(grant["role"], "support");
    assert_eq!(grant["granted_by"], format!("user:{}", admin.id));
    let r = c
        .put(grant_path("support", support.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "granting again changes nothing");
    let audit = audit_entity::Entity::find()
        .filter(audit_entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(audit_entity::Column::Action.eq("iam.platform_role.granted"))
        .filter(audit_entity::Column::EntityId.eq(support.id.to_string()))
        .all(t.db.connection())
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "one audit row for one change");
    assert_eq!(audit[0].actor, format!("user:{}", admin.id));
    assert_eq!(audit[0].data["role"], "support");

    // Filters and their allow-list.
    let only: Value = c
        .get(url("/api/v1/iam/platform/roles?filter[role]=support"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(only["meta"]["total"], 1);
    assert_eq!(only["data"][0]["user_id"], support.id.to_string());
    let (status, code_, _) = code(
        c.get(url("/api/v1/iam/platform/roles?filter[granted_by]=x"))
            .bearer_auth(&admin.access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code_.as_str()), (400, "VALIDATION_ERROR"));
    let (status, code_, _) = code(
        c.put(grant_path("root", support.id))
            .bearer_auth(&admin.access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code_.as_str()), (400, "VALIDATION_ERROR"));

    // The support account can now impersonate a user, but not a platform administrator.
    let r = impersonate(support.access.clone(), ada.id).await;
    assert_eq!(r.status(), 201);
    let imp: Value = r.json().await.unwrap();
    let imp = imp["access_token"].as_str().unwrap().to_owned();
    let (status, code_, _) = code(impersonate(support.access.clone(), admin.id).await).await;
    assert_eq!((status, code_.as_str()), (403, "IMPERSONATION_FORBIDDEN"));

    // An impersonated caller is refused whoever it acts as.
    let (status, code_, _) = code(
        c.get(url("/api/v1/iam/platform/roles"))
            .bearer_auth(&imp)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code_.as_str()), (403, "IMPERSONATION_FORBIDDEN"));

    // The last platform administrator stays; another one may then remove the first.
    let (status, code_, _) = code(
        c.delete(grant_path("platform_admin", admin.id))
            .bearer_auth(&admin.access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code_.as_str()), (409, "LAST_PLATFORM_ADMIN"));
    let r = c
        .put(grant_path("platform_admin", owner.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = c
        .delete(grant_path("platform_admin", admin.id))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, code_, _) = code(
        c.get(url("/api/v1/iam/platform/roles"))
            .bearer_auth(&admin.access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code_.as_str()), (403, "PLATFORM_ADMIN_REQUIRED"));

    // Revoking support: audited; a second revocation is 404; impersonation stops.
    let r = c
        .delete(grant_path("support", support.id))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["revoked"], true);
    let r = c
        .delete(grant_path("support", support.id))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let revoked = audit_entity::Entity::find()
        .filter(audit_entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(audit_entity::Column::Action.eq("iam.platform_role.revoked"))
        .all(t.db.connection())
        .await
        .unwrap();
    assert_eq!(revoked.len(), 2, "the first administrator and support");
    assert!(
        revoked
            .iter()
            .all(|a| a.actor == format!("user:{}", owner.id))
    );
    assert_eq!(
        impersonate(support.access.clone(), ada.id).await.status(),
        403
    );
    srv.stop().await;
}
backend_test!(iam_platform_roles_over_http, platform_roles_over_http);

helix_iam::permission!(
    /// A product permission with a typo (`contacs`).
    ContactsTypo = "crm.contacs.read"
);
helix_iam::permission!(
    /// A permission the catalog has.
    RolesRead = "iam.roles.read"
);

async fn guarded(_: Require<RolesRead>) -> &'static str {
    "ok"
}

async fn typo(_: Require<ContactsTypo>) -> &'static str {
    "never"
}

fn settings(t: &TestDb) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = t.url.clone();
    settings.auth.signing_key = Some(helix_auth::tokens::SigningKeyConfig::generate("k"));
    settings.auth.api_keys.hash_key = Some(helix_auth::api_keys::HmacKey::generate());
    settings.auth.encryption_key = Some(helix_auth::crypto::EncryptionKeyConfig::generate("e"));
    settings
}

async fn unknown_guard_permission_stops_startup(t: TestDb) {
    let settings = settings(&t);
    // A product route guarded by a catalog permission builds.
    let ok =
        GuardedRouter::<AppState>::new().guarded::<RolesRead>("/api/v1/product/ok", get(guarded));
    assert!(
        reference_server::build_app_with(&settings, ok)
            .await
            .is_ok()
    );
    // A typo does not: the error names the permission and the route.
    let bad = GuardedRouter::<AppState>::new()
        .guarded::<RolesRead>("/api/v1/product/ok", get(guarded))
        .guarded::<ContactsTypo>("/api/v1/product/contacts", get(typo));
    let Err(err) = reference_server::build_app_with(&settings, bad).await else {
        panic!("a guard naming an unknown permission must stop the build");
    };
    let message = err.to_string();
    assert!(message.contains("`crm.contacs.read`"), "{message}");
    assert!(message.contains("/api/v1/product/contacts"), "{message}");
    assert!(!message.contains("iam.roles.read"), "{message}");
}
backend_test!(
    iam_unknown_guard_permission_stops_startup,
    unknown_guard_permission_stops_startup
);
