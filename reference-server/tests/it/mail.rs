//! Transactional e-mail and one-time codes end to end, on both backends: registration
//! answers 202 with the verification mail only queued (the outbox row exists, sealed, the
//! mailbox is empty while no dispatcher runs); a server with the dispatcher delivers it to
//! the development mailbox; a phone number is verified with a code sent by SMS and a
//! step-up code by e-mail, over HTTP.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::support::{code_in, mails_in, start, start_with};

const PASSWORD: &str = "correct horse battery staple 42";

async fn mail_payloads(t: &TestDb) -> Vec<String> {
    let conn = t.db.connection();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT payload FROM helix_outbox_events WHERE topic = 'auth.mail.requested'",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            r.try_get::<String>("", "payload")
                .or_else(|_| r.try_get::<Value>("", "payload").map(|v| v.to_string()))
                .unwrap()
        })
        .collect()
}

async fn queued_then_delivered(t: TestDb) {
    // No dispatcher: the request only queues.
    let quiet = start_with(&t, |s| s.outbox.enabled = false).await;
    let c = reqwest::Client::new();
    let email = "queued@example.test";
    let r = c
        .post(format!("{}/api/v1/auth/register", quiet.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let payloads = mail_payloads(&t).await;
    assert_eq!(payloads.len(), 1, "the mail is in the outbox");
    assert!(payloads[0].contains("\"verification\""));
    assert!(payloads[0].contains("sealed"));
    assert!(mails_in(&quiet.mail_dir(), email, "verification").is_empty());
    let dir = quiet.mail_dir();

    // A server with the dispatcher (same database and key ring, same mailbox) sends it.
    let key = quiet.encryption_key.clone();
    let sender = start_with(&t, move |s| {
        s.auth.mail_dir = dir;
        s.auth.encryption_key = Some(key);
    })
    .await;
    let token = code_in(&quiet.mail_dir(), email).await;
    let payloads = mail_payloads(&t).await;
    assert!(
        !payloads[0].contains(&token),
        "the token is sealed in the outbox"
    );
    let mail = mails_in(&quiet.mail_dir(), email, "verification")
        .pop()
        .unwrap();
    assert!(mail.contains(&format!("http://localhost:8080/verify-email?token={token}")));
    assert!(mail.contains("--- text/html ---"));
    let r = c
        .post(format!("{}/api/v1/auth/verify-email", sender.base))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sender.stop().await;
    quiet.stop().await;
}
backend_test!(mail_queued_then_delivered, queued_then_delivered);

/// The newest SMS to `phone` in `dir`, polled (the dispatcher sends it after the request).
async fn sms_code(dir: &str, phone: &str, n: usize) -> String {
    for _ in 0..200 {
        let mut texts: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".sms.txt"))
            .collect();
        texts.sort();
        let texts: Vec<String> = texts
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .filter(|t| t.contains(&format!("To: {phone}")))
            .collect();
        if texts.len() >= n {
            let body = texts.last().unwrap();
            let start = body.find("your code is ").unwrap() + "your code is ".len();
            return body[start..start + 6].to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no text message");
}

async fn phone_and_codes_over_http(t: TestDb) {
    let srv = start(&t).await;
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let email = "codes@example.test";
    c.post(api("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = code_in(&srv.mail_dir(), email).await;
    c.post(api("/api/v1/auth/verify-email"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    let login: Value = c
        .post(api("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap().to_owned();

    // Anonymous: 401.
    let r = c
        .post(api("/api/v1/auth/otp/send"))
        .json(&json!({"channel": "sms", "purpose": "verify_phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .put(api("/api/v1/auth/phone"))
        .bearer_auth(&access)
        .json(&json!({"phone": "12345"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .put(api("/api/v1/auth/phone"))
        .bearer_auth(&access)
        .json(&json!({"phone": "+1 415 555 0123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"phone": "+14155550123", "verified": false}));
    let r = c
        .post(api("/api/v1/auth/otp/send"))
        .bearer_auth(&access)
        .json(&json!({"channel": "carrier-pigeon", "purpose": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(api("/api/v1/auth/otp/send"))
        .bearer_auth(&access)
        .json(&json!({"channel": "sms", "purpose": "verify_phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let text = r.text().await.unwrap();
    let code = sms_code(&srv.mail_dir(), "+14155550123", 1).await;
    assert!(!text.contains(&code), "the code is never answered");
    let r = c
        .post(api("/api/v1/auth/otp/verify"))
        .bearer_auth(&access)
        .json(&json!({"purpose": "verify_phone", "code": "not-it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INVALID_CODE");
    let r = c
        .post(api("/api/v1/auth/otp/verify"))
        .bearer_auth(&access)
        .json(&json!({"purpose": "verify_phone", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let phone: Value = c
        .get(api("/api/v1/auth/phone"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(phone["verified"], true);

    // Two more sends this hour are allowed (3 in all), the fourth is 429 with Retry-After.
    for _ in 0..2 {
        let r = c
            .post(api("/api/v1/auth/otp/send"))
            .bearer_auth(&access)
            .json(&json!({"channel": "email", "purpose": "step_up"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let r = c
        .post(api("/api/v1/auth/otp/send"))
        .bearer_auth(&access)
        .json(&json!({"channel": "email", "purpose": "step_up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    srv.stop().await;
}
backend_test!(otp_phone_and_codes_over_http, phone_and_codes_over_http);
