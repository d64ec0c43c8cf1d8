//! Invitation mail end to end, on both backends: creating an invitation over HTTP queues the
//! `invitation` mail in the invitation's own transaction (a tenant outbox event whose token
//! is sealed), the dispatcher delivers it to the development mailbox with the accept link, a
//! resend mails a new token (the old one is dead), a refused invitation queues nothing, and
//! the mailed token accepts the invitation.

use std::time::Duration;

use helix_core::backend_test;
use helix_core::testing::TestDb;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{mails_in, register_and_login, start};

const PASSWORD: &str = "correct horse battery staple 42";

/// Every outbox payload and the org id of the invitation mails, as text.
async fn outbox(t: &TestDb) -> (Vec<String>, Vec<Option<String>>) {
    let conn = t.db.connection();
    let rows = conn
        .query_all_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT topic, payload, org_id FROM helix_outbox_events ORDER BY id",
        ))
        .await
        .unwrap();
    let mut payloads = Vec::new();
    let mut mail_orgs = Vec::new();
    for r in &rows {
        let payload = r
            .try_get::<String>("", "payload")
            .or_else(|_| r.try_get::<Value>("", "payload").map(|v| v.to_string()))
            .unwrap();
        let topic: String = r.try_get("", "topic").unwrap();
        if topic == "auth.mail.requested" && payload.contains("\"invitation\"") {
            mail_orgs.push(
                r.try_get::<Option<Uuid>>("", "org_id")
                    .unwrap()
                    .map(|u| u.to_string()),
            );
        }
        payloads.push(payload);
    }
    (payloads, mail_orgs)
}

/// The `n`-th (1-based) invitation mail to `email`, polled while the dispatcher sends it.
async fn invitation_mail(dir: &str, email: &str, n: usize) -> String {
    for _ in 0..200 {
        let mails = mails_in(dir, email, "invitation");
        if mails.len() >= n {
            return mails[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no invitation mail #{n} within 10 s");
}

fn token_of(mail: &str) -> String {
    let start =
        mail.find("/invitations/accept?token=").unwrap() + "/invitations/accept?token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn invitation_is_mailed_and_accepted(t: TestDb) {
    let srv = start(&t).await;
    let c = reqwest::Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let owner = "owner-invites@example.test";
    let invitee = "invitee@example.test";
    let pair = register_and_login(&srv, &c, owner, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let org_id = pair["org_id"].as_str().unwrap().to_owned();

    let r = c
        .post(api("/api/v1/invitations"))
        .bearer_auth(&access)
        .json(&json!({"email": invitee, "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let answered = created["token"].as_str().unwrap().to_owned();

    // The mail arrives with the accept link of the same token, the organization and role.
    let mail = invitation_mail(&srv.mail_dir(), invitee, 1).await;
    let first = token_of(&mail);
    assert_eq!(first, answered);
    assert!(mail.contains(&format!(
        "http://localhost:8080/invitations/accept?token={first}"
    )));
    assert!(mail.contains("owner-invites's workspace"), "{mail}");
    assert!(mail.contains("admin"));
    assert!(mail.contains("--- text/html ---"));

    // Queued as an event of the organization, the token sealed: nowhere in clear text.
    let (payloads, orgs) = outbox(&t).await;
    assert_eq!(orgs, vec![Some(org_id.clone())]);
    assert!(payloads.iter().all(|p| !p.contains(&first)));

    // A second invitation to the same address is refused and queues nothing.
    let r = c
        .post(api("/api/v1/invitations"))
        .bearer_auth(&access)
        .json(&json!({"email": invitee, "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(outbox(&t).await.1.len(), 1);

    // A resend mails a new token; the first one is dead.
    let r = c
        .post(api(&format!("/api/v1/invitations/{id}/resend")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mail = invitation_mail(&srv.mail_dir(), invitee, 2).await;
    let second = token_of(&mail);
    assert_ne!(second, first);
    let (payloads, orgs) = outbox(&t).await;
    assert_eq!(orgs.len(), 2);
    assert!(payloads.iter().all(|p| !p.contains(&second)));

    // The invitee signs up and accepts with the mailed token.
    let joined = register_and_login(&srv, &c, invitee, PASSWORD).await;
    let invitee_access = joined["access_token"].as_str().unwrap().to_owned();
    let r = c
        .post(api("/api/v1/invitations/accept"))
        .bearer_auth(&invitee_access)
        .json(&json!({"token": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "the resent invitation's first token is dead"
    );
    let r = c
        .post(api("/api/v1/invitations/accept"))
        .bearer_auth(&invitee_access)
        .json(&json!({"token": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let member: Value = r.json().await.unwrap();
    assert_eq!(member["org_id"], org_id.as_str());
    assert_eq!(member["role"], "admin");
    srv.stop().await;
}
backend_test!(invitation_mail_over_http, invitation_is_mailed_and_accepted);
