//! Starting and stopping a real reference server on a loopback port, and reading its
//! development mailbox.

use std::net::SocketAddr;

use helix_core::testing::TestDb;
use reference_server::{Settings, launch};
use tokio::sync::oneshot;

/// The signing key id every test server uses unless told otherwise.
pub const TEST_KID: &str = "test-key";

/// A server running in this process.
pub struct Running {
    pub base: String,
    /// The key ring's active key (a second server on the same database needs it).
    pub encryption_key: helix_auth::crypto::EncryptionKeyConfig,
    mail_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts a server on `t` with a fresh signing key and its own mailbox.
pub async fn start(t: &TestDb) -> Running {
    start_with(t, |_| {}).await
}

/// Like [`start`], letting the test adjust the settings last (a shared key, a shared
/// mailbox, background tasks off).
pub async fn start_with(t: &TestDb, configure: impl FnOnce(&mut Settings)) -> Running {
    let mail_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.database.url = t.url.clone();
    settings.server.shutdown_grace_secs = 5;
    settings.auth.signing_key = Some(helix_auth::tokens::SigningKeyConfig::generate(TEST_KID));
    settings.auth.api_keys.hash_key = Some(helix_auth::api_keys::HmacKey::generate());
    settings.auth.mail_dir = mail_dir.path().display().to_string();
    settings.auth.encryption_key = Some(helix_auth::crypto::EncryptionKeyConfig::generate(
        "test-encryption",
    ));
    configure(&mut settings);
    let encryption_key = settings.auth.encryption_key.clone().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(launch(settings, listener, async move {
        let _ = rx.await;
    }));
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Running {
        base,
        encryption_key,
        mail_dir,
        stop: Some(tx),
        handle,
    }
}

impl Running {
    /// Sends the shutdown signal and waits for a clean stop.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.await.unwrap().unwrap();
    }

    /// This server's own mailbox directory.
    pub fn mail_dir(&self) -> String {
        self.mail_dir.path().display().to_string()
    }
}

/// The newest verification code mailed to `email` in `dir`. Mails are sent by the outbox
/// dispatcher after the request committed, so this polls the mailbox (every 50 ms, at most
/// 10 s) instead of reading it once.
pub async fn code_in(dir: &str, email: &str) -> String {
    for _ in 0..200 {
        if let Some(token) = token_in(dir, email, "verification") {
            return token;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no verification mail for the account within 10 s");
}

/// The mails of `template` to `email` in `dir`, oldest first (file names are time-ordered
/// event ids).
pub fn mails_in(dir: &str, email: &str, template: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter(|text| {
            text.lines().any(|l| l == format!("To: {email}"))
                && text
                    .lines()
                    .any(|l| l == format!("X-Helix-Template: {template}"))
        })
        .collect()
}

/// The token of the newest `template` mail to `email` (from its `?token=` link).
pub fn token_in(dir: &str, email: &str, template: &str) -> Option<String> {
    let text = mails_in(dir, email, template).pop()?;
    let start = text.find("?token=")? + "?token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    Some(token)
}

/// Registers `email` with `password`, verifies it from the dev mailbox and signs in: the
/// login's token pair.
pub async fn register_and_login(
    srv: &Running,
    c: &reqwest::Client,
    email: &str,
    password: &str,
) -> serde_json::Value {
    let api = |p: &str| format!("{}{p}", srv.base);
    let r = c
        .post(api("/api/v1/auth/register"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = c
        .post(api("/api/v1/auth/verify-email"))
        .json(&serde_json::json!({"token": code_in(&srv.mail_dir(), email).await}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(api("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Two servers on one database sharing the signing and encryption keys, background jobs off:
/// A runs the outbox dispatcher (its mailbox receives the mail), B shares A's mailbox.
pub async fn start_pair(t: &TestDb) -> (Running, Running) {
    let key = helix_auth::tokens::SigningKeyConfig::generate("shared");
    let encryption = helix_auth::crypto::EncryptionKeyConfig::generate("shared");
    let shared = |mail: Option<String>| {
        let key = key.clone();
        let encryption = encryption.clone();
        move |s: &mut Settings| {
            s.auth.signing_key = Some(key);
            s.auth.encryption_key = Some(encryption);
            s.outbox.enabled = mail.is_none();
            if let Some(dir) = mail {
                s.auth.mail_dir = dir;
            }
            s.jobs.enabled = false;
        }
    };
    let a = start_with(t, shared(None)).await;
    let b = start_with(t, shared(Some(a.mail_dir()))).await;
    (a, b)
}

/// A refusal's status, its `error.code` (empty when there is none) and the whole body.
pub async fn error_code(r: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, body)
}

/// The account id behind an access token (`GET /api/v1/auth/me`).
pub async fn account_id(srv: &Running, c: &reqwest::Client, access: &str) -> uuid::Uuid {
    let me: serde_json::Value = c
        .get(format!("{}/api/v1/auth/me", srv.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["account_id"].as_str().unwrap().parse().unwrap()
}
