//! The first platform administrator: `reference-server platform-admin ...` run as the real
//! binary against a fresh database on both backends, and grants to unknown or unverified
//! accounts over HTTP.

use std::process::Output;

use helix_auth::accounts::entity::account;
use helix_core::audit::{PLATFORM_CHAIN, entity as audit_entity};
use helix_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use helix_core::testing::TestDb;
use helix_core::{PlatformContext, backend_test};
use helix_iam::platform::{AccountDirectory, DirectoryAccount};
use helix_iam::store::PlatformRole;
use reqwest::Client;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{account_id as me, error_code as error, register_and_login, start};

const PASSWORD: &str = "correct horse battery staple 42";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Runs `reference-server platform-admin <words>` on the database `url`, configured only
/// through `HELIX__...` variables as an operator would.
async fn cli(url: &str, words: &[&str]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_reference-server"));
    c.env_remove("HELIX_CONFIG")
        .env_remove("SUDO_USER")
        .env("USER", "test-operator")
        .env("HELIX__DATABASE__URL", url)
        .env("HELIX__AUTH__SIGNING_KEY__KID", "k1")
        .env("HELIX__AUTH__SIGNING_KEY__PRIVATE_KEY", KEY)
        .env("HELIX__AUTH__ENCRYPTION_KEY__ID", "e1")
        .env("HELIX__AUTH__ENCRYPTION_KEY__KEY", KEY)
        .env(
            "HELIX__AUTH__API_KEYS__HASH_KEY",
            "S2V5LW9mLXRoZS1hcGkta2V5LWhhc2gtMzItYnl0ZXMh",
        )
        .arg("platform-admin")
        .args(words);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

async fn cli_bootstraps_the_first_admin(t: TestDb) {
    let srv = start(&t).await;
    let c = Client::new();
    let url = |p: &str| format!("{}{p}", srv.base);
    let suffix = Uuid::now_v7().simple().to_string();
    let admin_email = format!("first-admin-{suffix}@example.test");
    let pair = register_and_login(&srv, &c, &admin_email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let admin_id = me(&srv, &c, &access).await;
    // An account whose address was never verified.
    let pending_email = format!("pending-{suffix}@example.test");
    let r = c
        .post(url("/api/v1/auth/register"))
        .json(&json!({"email": pending_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    // Nobody is an administrator yet.
    let out = cli(&t.url, &["list"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("no platform administrators yet"),
        "{stdout}"
    );
    let r = c
        .get(url("/api/v1/iam/platform/roles"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // An unknown address, a malformed one, and an unverified account are refused clearly.
    let out = cli(&t.url, &["grant", "nobody@example.test"]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("no account is registered with the e-mail address `nobody@example.test`"),
        "{stderr}"
    );
    let out = cli(&t.url, &["grant", "not-an-address"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("is not a valid e-mail address"),
        "{:?}",
        text(&out)
    );
    let out = cli(&t.url, &["grant", &pending_email]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("is not verified"), "{:?}", text(&out));

    // The grant: one line, the role works at once over HTTP, and it is audited as the CLI.
    let out = cli(&t.url, &["grant", &admin_email.to_uppercase()]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        format!("granted platform_admin to {admin_email} (account {admin_id})")
    );
    let out = cli(&t.url, &["grant", &admin_email]).await;
    assert!(out.status.success());
    assert!(text(&out).0.contains("already holds platform_admin"));
    let listed: Value = c
        .get(url("/api/v1/iam/platform/roles"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["meta"]["total"], 1, "{listed}");
    assert_eq!(listed["data"][0]["user_id"], admin_id.to_string());
    assert_eq!(listed["data"][0]["granted_by"], "system:cli.platform-admin");
    let audit = audit_entity::Entity::find()
        .filter(audit_entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(audit_entity::Column::Action.eq("iam.platform_role.granted"))
        .filter(audit_entity::Column::EntityId.eq(admin_id.to_string()))
        .all(t.db.connection())
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "one audit row for one change");
    assert_eq!(audit[0].actor, "system:cli.platform-admin");
    assert_eq!(audit[0].data["role"], "platform_admin");
    let agent = audit[0].user_agent.as_deref().unwrap_or_default();
    assert!(
        agent.contains("platform-admin (os user: test-operator)"),
        "{agent}"
    );
    let out = cli(&t.url, &["list"]).await;
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!("{admin_email}\taccount {admin_id}\tgranted ")),
        "{stdout}"
    );
    assert!(stdout.ends_with("by system:cli.platform-admin"), "{stdout}");

    // The last administrator cannot be revoked from the command line either.
    let out = cli(&t.url, &["revoke", &admin_email]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("is the last platform administrator"),
        "{:?}",
        text(&out)
    );

    // The new administrator grants over HTTP; a second administrator lets the CLI revoke
    // the first, audited as the CLI.
    let second_email = format!("second-admin-{suffix}@example.test");
    let pair = register_and_login(&srv, &c, &second_email, PASSWORD).await;
    let second = me(&srv, &c, pair["access_token"].as_str().unwrap()).await;
    let r = c
        .put(url(&format!(
            "/api/v1/iam/platform/roles/platform_admin/accounts/{second}"
        )))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let out = cli(&t.url, &["revoke", &admin_email]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        format!("revoked platform_admin from {admin_email} (account {admin_id})")
    );
    let r = c
        .get(url("/api/v1/iam/platform/roles"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the revocation takes effect at once");
    let out = cli(&t.url, &["revoke", &admin_email]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("does not hold platform_admin"),
        "{:?}",
        text(&out)
    );
    let revoked = audit_entity::Entity::find()
        .filter(audit_entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(audit_entity::Column::Action.eq("iam.platform_role.revoked"))
        .all(t.db.connection())
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor, "system:cli.platform-admin");
    assert_eq!(revoked[0].entity_id, Some(admin_id.to_string()));
    srv.stop().await;
}
backend_test!(platform_admin_cli, cli_bootstraps_the_first_admin);

async fn grants_need_an_existing_verified_account(t: TestDb) {
    let srv = start(&t).await;
    let c = Client::new();
    let url = |p: &str| format!("{}{p}", srv.base);
    let suffix = Uuid::now_v7().simple().to_string();
    let admin_email = format!("admin-{suffix}@example.test");
    let pair = register_and_login(&srv, &c, &admin_email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let out = cli(&t.url, &["grant", &admin_email]).await;
    assert!(out.status.success(), "{:?}", text(&out));
    let other_email = format!("other-{suffix}@example.test");
    let pair = register_and_login(&srv, &c, &other_email, PASSWORD).await;
    let other_access = pair["access_token"].as_str().unwrap().to_owned();
    let pending_email = format!("pending-{suffix}@example.test");
    let r = c
        .post(url("/api/v1/auth/register"))
        .json(&json!({"email": pending_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let pending = account::Entity::find()
        .filter(account::Column::Email.eq(pending_email.as_str()))
        .one(t.db.connection())
        .await
        .unwrap()
        .unwrap()
        .id;
    let grant = |role: &str, id: Uuid, token: &str| {
        let req = c
            .put(url(&format!(
                "/api/v1/iam/platform/roles/{role}/accounts/{id}"
            )))
            .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };

    // A random id is no account: 404 in the standard envelope, for either role.
    let ghost = Uuid::now_v7();
    for role in ["platform_admin", "support"] {
        let (status, code, body) = error(grant(role, ghost, &access).await).await;
        assert_eq!((status, code.as_str()), (404, "NOT_FOUND"), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        assert!(body["error"]["correlation_id"].is_string(), "{body}");
    }
    // An unverified account: 409, nothing stored.
    let (status, code, body) = error(grant("support", pending, &access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "ACCOUNT_NOT_VERIFIED"),
        "{body}"
    );
    // Someone who may not grant learns nothing about which accounts exist.
    let (status, code, _) = error(grant("support", ghost, &other_access).await).await;
    assert_eq!((status, code.as_str()), (403, "PLATFORM_ADMIN_REQUIRED"));
    let listed: Value = c
        .get(url("/api/v1/iam/platform/roles"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["meta"]["total"], 1,
        "only the administrator: {listed}"
    );
    let granted = audit_entity::Entity::find()
        .filter(audit_entity::Column::OrgId.eq(PLATFORM_CHAIN))
        .filter(audit_entity::Column::Action.eq("iam.platform_role.granted"))
        .all(t.db.connection())
        .await
        .unwrap();
    assert_eq!(granted.len(), 1, "refused grants leave no audit row");
    srv.stop().await;
}
backend_test!(
    platform_role_grants_need_an_account,
    grants_need_an_existing_verified_account
);

/// A host that composes helix-iam without an account directory: every grant is refused
/// (fail closed), the operator path included; with a directory, an unknown account is
/// `NOT_FOUND`.
async fn grants_without_a_directory_are_refused(t: TestDb) {
    #[derive(Debug)]
    struct Known(Uuid);

    #[async_trait::async_trait]
    impl AccountDirectory for Known {
        async fn account(
            &self,
            account_id: Uuid,
        ) -> Result<Option<DirectoryAccount>, helix_core::Error> {
            Ok((account_id == self.0).then_some(DirectoryAccount {
                account_id,
                email_verified: true,
            }))
        }
    }

    let kernel = helix_core::Kernel::new(t.db.clone());
    let helix = helix_core::Helix::builder(t.db.clone())
        .module(helix_tenancy::TenancyModule)
        .module(helix_iam::IamModule)
        .build()
        .await
        .unwrap();
    let iam = helix_iam::Iam::new(kernel, &helix, helix_iam::EngineConfig::default()).unwrap();
    let ctx = PlatformContext::system("test.operator");
    let known = Uuid::now_v7();
    let err = iam
        .grant_platform_role_as_operator(&ctx, known, PlatformRole::PlatformAdmin)
        .await
        .unwrap_err();
    let err = helix_core::Error::from(err);
    assert_eq!(err.status(), 500, "{err:?}");
    assert!(!err.public_message().contains("directory"));

    let iam = iam.with_account_directory(std::sync::Arc::new(Known(known)));
    let err = iam
        .grant_platform_role_as_operator(&ctx, Uuid::now_v7(), PlatformRole::PlatformAdmin)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    // A user actor cannot take the operator path.
    let err = iam
        .grant_platform_role_as_operator(
            &PlatformContext::new(helix_core::Actor::User(known)),
            known,
            PlatformRole::PlatformAdmin,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "OPERATOR_ACTOR_REQUIRED");
    let outcome = iam
        .grant_platform_role_as_operator(&ctx, known, PlatformRole::PlatformAdmin)
        .await
        .unwrap();
    assert!(outcome.created);
    assert_eq!(outcome.grant.granted_by, "system:test.operator");
    assert!(
        iam.has_platform_role(known, PlatformRole::PlatformAdmin)
            .await
            .unwrap()
    );
}
backend_test!(
    platform_role_grants_fail_closed,
    grants_without_a_directory_are_refused
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_usage_and_unreachable_database_are_reported() {
    let out = cli("sqlite::memory:", &["--help"]).await;
    assert!(out.status.success());
    let (stdout, _) = text(&out);
    assert!(stdout.contains("platform-admin <command>"), "{stdout}");
    assert!(stdout.contains("grant <email>"), "{stdout}");

    let out = cli("sqlite::memory:", &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("missing command"), "{:?}", text(&out));
    let out = cli("sqlite::memory:", &["promote", "a@example.test"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("unknown command `promote`"),
        "{:?}",
        text(&out)
    );

    // Nothing listens on port 1: a clear message, and never the password.
    let out = cli(
        "postgres://postgres:Sup3r-s3cret-pw@127.0.0.1:1/helix",
        &["grant", "a@example.test"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = text(&out);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("cannot open the platform"), "{stderr}");
    assert!(!stderr.contains("Sup3r-s3cret-pw"), "{stderr}");
}
