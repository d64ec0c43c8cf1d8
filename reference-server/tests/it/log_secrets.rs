//! Secrets never reach the logs: the real binary at `debug` level goes through registration,
//! verification, login, refresh, MFA enrolment and challenge, an API key, an invitation
//! (mailed) and a password reset, and its whole output is searched for every secret it
//! handled.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use helix_auth::mfa::totp::TotpSecret;
use serde_json::{Value, json};

use crate::support::{code_in, token_in};

const PASSWORD: &str = "Quiet-Lantern-73-orbit";
const NEW_PASSWORD: &str = "Velvet-Harbor-58-comet";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .env_remove("HELIX_CONFIG")
        .current_dir(dir.path())
        .env("HELIX__SERVER__ADDR", "127.0.0.1:0")
        .env("HELIX__AUTH__MAIL_DIR", &mail)
        .env("HELIX__OUTBOX__POLL_INTERVAL_MS", "50")
        .env("HELIX__LOG__LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Drain both pipes in the background so a chatty server never blocks on a full pipe.
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let base = format!(
        "http://{}",
        first
            .trim()
            .rsplit("http://")
            .next()
            .unwrap()
            .trim_end_matches('/')
    );
    let mail = mail.display().to_string();
    let c = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut r = c.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut secrets: Vec<String> = vec![PASSWORD.into(), NEW_PASSWORD.into()];
    let email = "quiet-logs@example.test";

    let (status, _) = post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 202);
    let verification = code_in(&mail, email).await;
    secrets.push(verification.clone());
    let (status, _) = post(
        "/api/v1/auth/verify-email",
        None,
        json!({"token": verification}),
    )
    .await;
    assert_eq!(status, 200);

    let login = |password: &'static str| {
        post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
    };
    let (status, pair) = login(PASSWORD).await;
    assert_eq!(status, 200, "{pair}");
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let (status, next) = post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(status, 200);
    let access2 = next["access_token"].as_str().unwrap().to_owned();
    secrets.extend([
        access.clone(),
        refresh,
        access2.clone(),
        next["refresh_token"].as_str().unwrap().to_owned(),
    ]);
    // A reused refresh token is a logged security event: still no token in the log.
    let r = c
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&access2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // MFA: the secret, the codes and the MFA token.
    let (status, enrolment) = post("/api/v1/auth/mfa/totp", Some(&access2), json!({})).await;
    assert_eq!(status, 200, "{enrolment}");
    let secret_text = enrolment["secret"].as_str().unwrap().to_owned();
    let secret = TotpSecret::from_base32(&secret_text).unwrap();
    secrets.push(secret_text);
    let (status, confirmed) = post(
        "/api/v1/auth/mfa/totp/confirm",
        Some(&access2),
        json!({"code": secret.code_at(chrono::Utc::now()), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    for code in confirmed["backup_codes"].as_array().unwrap() {
        secrets.push(code.as_str().unwrap().to_owned());
    }
    let (status, challenge) = login(PASSWORD).await;
    assert_eq!(status, 200);
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    secrets.push(mfa_token.clone());
    let (status, _) = post(
        "/api/v1/auth/mfa/challenge",
        None,
        json!({"mfa_token": mfa_token, "code": "000000"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, pair) = post(
        "/api/v1/auth/mfa/challenge",
        None,
        json!({"mfa_token": mfa_token, "code": secret.code_at(chrono::Utc::now() + chrono::Duration::seconds(30))}),
    )
    .await;
    assert_eq!(status, 200, "{pair}");
    let access3 = pair["access_token"].as_str().unwrap().to_owned();
    secrets.push(access3.clone());

    // An API key of the personal organization, used once.
    let (status, key) = post(
        "/api/v1/auth/api-keys",
        Some(&access3),
        json!({"name": "ci", "scopes": ["members:read"]}),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let api_key = key["key"].as_str().unwrap().to_owned();
    let r = c
        .get(format!("{base}/api/v1/members"))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    secrets.push(api_key);

    // An invitation: its token is answered once and mailed (sealed in the outbox).
    let invitee = "quiet-invitee@example.test";
    let (status, invitation) = post(
        "/api/v1/invitations",
        Some(&access3),
        json!({"email": invitee, "role": "member"}),
    )
    .await;
    assert_eq!(status, 201, "{invitation}");
    let answered = invitation["token"].as_str().unwrap().to_owned();
    let mut mailed = None;
    for _ in 0..200 {
        mailed = token_in(&mail, invitee, "invitation");
        if mailed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        mailed.as_deref(),
        Some(answered.as_str()),
        "no invitation mail within 10 s"
    );
    secrets.push(answered);

    // A password reset: the token is mailed, used, and the password changes.
    let (status, _) = post("/api/v1/auth/password-reset", None, json!({"email": email})).await;
    assert_eq!(status, 200);
    let mut reset = None;
    for _ in 0..200 {
        reset = token_in(&mail, email, "password_reset");
        if reset.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reset = reset.expect("no reset mail within 10 s");
    secrets.push(reset.clone());
    let (status, _) = post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": reset, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200);

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let all = format!("{first}{}{}", out.join().unwrap(), err.join().unwrap());
    assert!(
        all.contains("/api/v1/auth/mfa/challenge"),
        "the requests were logged at debug level"
    );
    for secret in &secrets {
        assert!(
            !all.contains(secret.as_str()),
            "a secret reached the logs: {}...",
            &secret[..4]
        );
    }
    // Nor the e-mail addresses in full.
    assert!(!all.contains(email), "the e-mail address reached the logs");
    assert!(
        !all.contains(invitee),
        "the invitee's address reached the logs"
    );
}
