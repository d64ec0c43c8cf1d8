//! A session revoked through one server instance is refused by another at once, and an
//! account changed elsewhere is shown by it within the same bound.

use std::time::{Duration, Instant};

use helix_core::testing::{TestDb, run_postgres};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::{code_in, start_pair};

async fn two_instances(t: TestDb) {
    let (srv_a, srv_b) = start_pair(&t).await;
    let (a, b) = (srv_a.base.clone(), srv_b.base.clone());
    let c = reqwest::Client::new();
    let email = "two-instances@example.test";
    let password = "correct horse battery staple 42";
    c.post(format!("{a}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let token = code_in(&srv_a.mail_dir(), email).await;
    let r = c
        .post(format!("{a}/api/v1/auth/verify-email"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let login: Value = c
        .post(format!("{a}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap().to_owned();

    // Instance B accepts the token A issued (shared key, shared database)...
    let r = c
        .get(format!("{b}/api/v1/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // (B may answer from memory once its revocation feed is live: helix-auth's
    // revocation_feed tests prove that path; here only the bound matters.)
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["email_verified"], true);

    // An account change made elsewhere (here an operator's SQL on the shared database) is
    // shown by B within a second, even if B answers `me` from memory.
    t.db.connection()
        .execute_unprepared(&format!(
            "UPDATE auth_accounts SET email_verified_at = NULL WHERE email = '{email}'"
        ))
        .await
        .unwrap();
    let changed_at = Instant::now();
    loop {
        let me: Value = c
            .get(format!("{b}/api/v1/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if me["email_verified"] == false {
            break;
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "instance B still showed the old account after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...until A revokes the session: B refuses it within a second (the bound).
    let r = c
        .post(format!("{a}/api/v1/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let revoked_at = Instant::now();
    loop {
        let r = c
            .get(format!("{b}/api/v1/auth/me"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        if r.status() == 401 {
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "instance B still accepted a revoked session after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    srv_a.stop().await;
    srv_b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_session_is_refused_by_a_second_instance() {
    run_postgres(two_instances).await;
}
