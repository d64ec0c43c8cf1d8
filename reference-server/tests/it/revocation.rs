//! A session revoked through one server instance is refused by another at once.

use std::net::SocketAddr;

use helix_core::testing::{TestDb, run_postgres};
use reference_server::{Settings, launch};
use serde_json::{Value, json};
use tokio::sync::oneshot;

async fn start(
    t: &TestDb,
    key: &helix_auth::tokens::SigningKeyConfig,
    mail_dir: &str,
) -> (String, oneshot::Sender<()>) {
    let mut settings = Settings::default();
    settings.database.url = t.url.clone();
    settings.auth.signing_key = Some(key.clone());
    settings.auth.mail_dir = mail_dir.to_owned();
    settings.outbox.enabled = false;
    settings.jobs.enabled = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(launch(settings, listener, async move {
        let _ = rx.await;
    }));
    let base = format!("http://{addr}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/health/ready"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (base, tx)
}

async fn two_instances(t: TestDb) {
    let key = helix_auth::tokens::SigningKeyConfig::generate("shared");
    let mail = tempfile::tempdir().unwrap();
    let mail_dir = mail.path().display().to_string();
    let (a, stop_a) = start(&t, &key, &mail_dir).await;
    let (b, stop_b) = start(&t, &key, &mail_dir).await;
    let c = reqwest::Client::new();
    let email = "two-instances@example.test";
    let password = "correct horse battery staple 42";
    c.post(format!("{a}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let text = std::fs::read_dir(mail.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|t| t.contains(email))
        .unwrap();
    let token = text
        .lines()
        .map(str::trim)
        .find(|l| l.len() > 30 && !l.contains(' '))
        .unwrap();
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
    // ...until A revokes the session: B refuses it on the very next request.
    let r = c
        .post(format!("{a}/api/v1/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = c
        .get(format!("{b}/api/v1/auth/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let _ = stop_a.send(());
    let _ = stop_b.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_session_is_refused_by_a_second_instance() {
    run_postgres(two_instances).await;
}
