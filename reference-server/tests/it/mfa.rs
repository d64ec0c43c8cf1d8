//! MFA end to end over HTTP, on both backends: enrolment, login → `mfa_required` →
//! challenge → token pair with `amr`, wrong and reused codes, used and unknown MFA tokens,
//! backup codes, re-authentication, and an organization that requires MFA.

use helix_auth::mfa::totp::TotpSecret;
use helix_core::backend_test;
use helix_core::testing::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{code_in, mails_in, start};

const PASSWORD: &str = "correct horse battery staple 42";

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The code of the step after the current one: within the server's skew, and newer than any
/// code accepted so far in this test (no waiting for the next 30-second step).
fn next_code(secret: &TotpSecret, steps_ahead: i64) -> String {
    secret.code_at(chrono::Utc::now() + chrono::Duration::seconds(30 * steps_ahead))
}

struct Client {
    c: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut r = self.c.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, email: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

async fn registered(srv: &crate::support::Running, c: &Client) -> String {
    let email = format!("mfa-{}@example.test", Uuid::now_v7().simple());
    let (status, _) = c
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = c
        .post(
            "/api/v1/auth/verify-email",
            None,
            json!({"token": code_in(&srv.mail_dir(), &email).await}),
        )
        .await;
    assert_eq!(status, 200);
    email
}

/// Enrols and confirms TOTP with `access`; returns the secret and the backup codes.
async fn enrol(c: &Client, access: &str) -> (TotpSecret, Vec<String>) {
    let r =
        c.c.post(format!("{}/api/v1/auth/mfa/totp", c.base))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let enrolment: Value = r.json().await.unwrap();
    let secret_text = enrolment["secret"].as_str().unwrap();
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains(&format!("secret={secret_text}&issuer="))
    );
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = TotpSecret::from_base32(secret_text).unwrap();

    let (status, body) = c
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(access),
            json!({"code": "abcdef", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let r =
        c.c.post(format!("{}/api/v1/auth/mfa/totp/confirm", c.base))
            .bearer_auth(access)
            .json(&json!({"code": next_code(&secret, 0), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    let codes: Vec<String> = body["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn login_challenge_and_backup_codes(t: TestDb) {
    let srv = start(&t).await;
    let c = Client {
        c: reqwest::Client::new(),
        base: srv.base.clone(),
    };
    let email = registered(&srv, &c).await;
    let pair = c.login(&email).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access)["amr"], json!(["pwd"]));
    let status: Value =
        c.c.get(format!("{}/api/v1/auth/mfa", c.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(status, json!({"totp": false, "backup_codes_remaining": 0}));

    let (secret, backup) = enrol(&c, &access).await;

    // Login now stops after the password: no session, no tokens, an MFA token.
    let answer = c.login(&email).await;
    assert_eq!(answer["mfa_required"], true);
    assert_eq!(answer["expires_in"], 300);
    assert!(answer.get("access_token").is_none());
    let mfa_token = answer["mfa_token"].as_str().unwrap().to_owned();

    let (status, body) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "code": "000000x"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_MFA_CODE"))
    );
    let (status, _) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token}),
        )
        .await;
    assert_eq!(status, 400);

    let code = next_code(&secret, 1);
    let r =
        c.c.post(format!("{}/api/v1/auth/mfa/challenge", c.base))
            .json(&json!({"mfa_token": mfa_token, "code": code}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access)["amr"], json!(["pwd", "otp"]));
    assert!(pair["refresh_token"].is_string());
    assert!(pair["org_id"].is_string());
    // Refreshed tokens keep the `amr`.
    let (status, refreshed) = c
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        claims(refreshed["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );

    // The MFA token is used up; an unknown one is refused alike.
    let (status, body) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "code": next_code(&secret, 1)}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_MFA_TOKEN"))
    );
    let (status, body) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": "A".repeat(43), "code": "123456"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_MFA_TOKEN"))
    );

    // The same TOTP code with a new MFA token: replay refused.
    let mfa_token = c.login(&email).await["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "code": code}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_MFA_CODE"))
    );
    // A backup code works, once.
    let (status, pair) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "backup_code": backup[0]}),
        )
        .await;
    assert_eq!(status, 200, "{pair}");
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let mfa_token = c.login(&email).await["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "backup_code": backup[0]}),
        )
        .await;
    assert_eq!(status, 401);
    let status: Value =
        c.c.get(format!("{}/api/v1/auth/mfa", c.base))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(status, json!({"totp": true, "backup_codes_remaining": 9}));

    // Regenerating and disabling need the password (and, to disable, a second factor).
    let (status, _) = c
        .post(
            "/api/v1/auth/mfa/backup-codes",
            Some(&access),
            json!({"password": "wrong password 123 X"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = c
        .post(
            "/api/v1/auth/mfa/backup-codes",
            Some(&access),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    let fresh = body["backup_codes"].as_array().unwrap().clone();
    assert_eq!(fresh.len(), 10);
    let disable = |body: Value| {
        c.c.delete(format!("{}/api/v1/auth/mfa", c.base))
            .bearer_auth(&access)
            .json(&body)
            .send()
    };
    let r = disable(json!({"password": PASSWORD, "backup_code": backup[1]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "old backup codes are dead");
    let r = disable(json!({"password": PASSWORD})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = disable(json!({"password": PASSWORD, "backup_code": fresh[0]}))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Both changes were mailed to the account (through the outbox, after the requests).
    let mut mails = Vec::new();
    for _ in 0..200 {
        mails = mails_in(&srv.mail_dir(), &email, "mfa_changed");
        if mails.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        mails.len(),
        2,
        "one mail when MFA was turned on, one when off"
    );
    assert!(mails[0].contains("turned on") && mails[1].contains("turned off"));
    // Plain login again.
    let pair = c.login(&email).await;
    assert_eq!(
        claims(pair["access_token"].as_str().unwrap())["amr"],
        json!(["pwd"])
    );
    srv.stop().await;
}
backend_test!(mfa_login_challenge, login_challenge_and_backup_codes);

async fn organization_requiring_mfa(t: TestDb) {
    let srv = start(&t).await;
    let c = Client {
        c: reqwest::Client::new(),
        base: srv.base.clone(),
    };
    let email = registered(&srv, &c).await;
    let pair = c.login(&email).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let org = pair["org_id"].as_str().unwrap().to_owned();

    // The owner makes the personal organization require MFA.
    let r =
        c.c.patch(format!("{}/api/v1/organization", c.base))
            .bearer_auth(&access)
            .json(&json!({"settings": {"require_mfa": true}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);

    // Refresh: the session leaves the organization and says why.
    let (status, refreshed) = c
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(refreshed["org_id"], Value::Null);
    assert_eq!(refreshed["mfa_required_org_id"], org.as_str());
    assert!(
        claims(refreshed["access_token"].as_str().unwrap())
            .get("org")
            .is_none()
    );
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    // Switching into it: 403 MFA_REQUIRED.
    let (status, body) = c
        .post(
            "/api/v1/auth/organization",
            Some(&access),
            json!({"org_id": org}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("MFA_REQUIRED"))
    );
    // A new login without MFA: tokens without the organization, and the hint.
    let pair = c.login(&email).await;
    assert_eq!(pair["org_id"], Value::Null);
    assert_eq!(pair["mfa_required_org_id"], org.as_str());
    let access = pair["access_token"].as_str().unwrap().to_owned();

    // Enrolling in this session makes it multi-factor: the switch now works.
    let (secret, _) = enrol(&c, &access).await;
    let (status, body) = c
        .post(
            "/api/v1/auth/organization",
            Some(&access),
            json!({"org_id": org}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let switched = claims(body["access_token"].as_str().unwrap());
    assert_eq!(switched["org"], org.as_str());
    assert_eq!(switched["amr"], json!(["pwd", "otp"]));

    // A login with MFA lands in the organization.
    let mfa_token = c.login(&email).await["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, pair) = c
        .post(
            "/api/v1/auth/mfa/challenge",
            None,
            json!({"mfa_token": mfa_token, "code": next_code(&secret, 1)}),
        )
        .await;
    assert_eq!(status, 200, "{pair}");
    assert_eq!(pair["org_id"], org.as_str());
    assert!(pair.get("mfa_required_org_id").is_none());
    srv.stop().await;
}
backend_test!(mfa_required_by_organization, organization_requiring_mfa);

/// An organization's MFA requirement set through instance A is enforced by instance B's next
/// refresh within a second, although B keeps policies in memory (the trigger announces the
/// change; B's feed hears it).
async fn policy_change_on_two_instances(t: TestDb) {
    let (srv_a, srv_b) = crate::support::start_pair(&t).await;
    let a = Client {
        c: reqwest::Client::new(),
        base: srv_a.base.clone(),
    };
    let b = Client {
        c: reqwest::Client::new(),
        base: srv_b.base.clone(),
    };
    let email = registered(&srv_a, &a).await;
    // B reads (and may cache) the policy: not required.
    let pair = b.login(&email).await;
    let org = pair["org_id"].as_str().unwrap().to_owned();
    let mut refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = b
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": refresh_token}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["org_id"], org.as_str());
    refresh_token = body["refresh_token"].as_str().unwrap().to_owned();

    let r =
        a.c.patch(format!("{}/api/v1/organization", a.base))
            .bearer_auth(pair["access_token"].as_str().unwrap())
            .json(&json!({"settings": {"require_mfa": true}}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let changed_at = std::time::Instant::now();
    loop {
        let (status, body) = b
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": refresh_token}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        if body["mfa_required_org_id"] == org.as_str() {
            assert_eq!(body["org_id"], Value::Null);
            break;
        }
        assert_eq!(body["org_id"], org.as_str());
        assert!(
            changed_at.elapsed() < std::time::Duration::from_secs(1),
            "instance B still issued tokens for the organization 1 s after it required MFA"
        );
        refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    srv_a.stop().await;
    srv_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_requirement_reaches_a_second_instance() {
    helix_core::testing::run_postgres(policy_change_on_two_instances).await;
}

/// An organization's MFA requirement binds every member, also one whose role may not read
/// the organization: the directory reads the setting without the member's permissions.
async fn mfa_binds_members_who_cannot_read_the_organization(t: TestDb) {
    use std::sync::Arc;

    use helix_auth::{MfaPolicy, MfaRequirement};
    use helix_core::{Actor, Helix, Kernel, PlatformContext, TenantContext};
    use helix_iam::authorizer::IamAuthorizer;
    use helix_iam::store::builtin_role_id;
    use helix_iam::{EngineConfig, Iam, IamModule};
    use helix_tenancy::{NewMember, NewOrganization, Region, Role, TenancyModule, TenancyService};
    use reference_server::organizations::TenancyDirectory;

    let helix = Helix::builder(t.db.clone())
        .module(TenancyModule)
        .module(IamModule)
        .build()
        .await
        .unwrap();
    let kernel = Kernel::new(t.db.clone());
    let iam = Iam::new(kernel.clone(), &helix, EngineConfig::default()).unwrap();
    let tenancy =
        TenancyService::new(kernel).with_authorizer(Arc::new(IamAuthorizer::new(iam.clone())));
    let owner = Uuid::now_v7();
    let org = tenancy
        .create_organization(
            &PlatformContext::new(Actor::User(owner)),
            NewOrganization {
                name: "Strict".into(),
                slug: format!("strict-{}", Uuid::now_v7().simple()),
                region: Region::Eu,
                plan: None,
                settings: Some(json!({"require_mfa": true})),
            },
            owner,
            "owner@strict.example",
        )
        .await
        .unwrap();
    let owner_ctx = TenantContext::new(org.id, Actor::User(owner));
    let member = Uuid::now_v7();
    tenancy
        .add_member(
            &owner_ctx,
            NewMember {
                user_id: member,
                email: "member@strict.example".into(),
                role: Role::Member,
            },
        )
        .await
        .unwrap();
    // The member role loses every permission, `tenancy.organization.read` included.
    iam.set_role_permissions(&owner_ctx, builtin_role_id(org.id, "member"), vec![])
        .await
        .unwrap();
    let member_read = tenancy
        .get_organization(&TenantContext::new(org.id, Actor::User(member)))
        .await;
    assert!(member_read.is_err(), "the member may no longer read it");

    let directory = TenancyDirectory::new(tenancy);
    assert_eq!(
        directory.policy(org.id, member).await.unwrap(),
        MfaPolicy::Organization { required: true }
    );
    assert_eq!(
        directory.policy(org.id, Uuid::now_v7()).await.unwrap(),
        MfaPolicy::Account { required: false }
    );
}
backend_test!(
    mfa_binds_members_without_organization_read,
    mfa_binds_members_who_cannot_read_the_organization
);
