//! One-time codes: 3 sends per hour, 5 verifications per hour then a 30-minute lock,
//! 30-minute validity, single use, phone verification, and SMS/WhatsApp through a stand-in
//! speaking Twilio's Messages API, on both backends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use chrono::Duration;
use helix_auth::otp::{
    Channel, MessageSubscriber, OneTimeCode, OtpConfig, OtpService, TwilioConfig, TwilioProvider,
};
use helix_auth::{AuthError, AuthService};
use helix_core::outbox::Dispatcher;
use helix_core::testing::TestDb;
use helix_core::{Clock, ManualClock, backend_test};
use uuid::Uuid;

use crate::mail::{Mailbox, service_with_mail};
use crate::support::{STRONG, meta, pw};

struct Fixture {
    auth: AuthService,
    otp: OtpService,
    mailbox: Mailbox,
    clock: ManualClock,
    account: Uuid,
}

async fn fixture(t: &TestDb) -> Fixture {
    let (kernel, clock) = crate::support::kernel(t).await;
    let mailbox = Mailbox::new(kernel.clone());
    let auth = service_with_mail(kernel, &mailbox);
    let out = auth
        .register(&meta(), "otp@example.com", &pw(STRONG))
        .await
        .unwrap();
    let helix_auth::RegistrationMail::Verify(mail) = out.mail else {
        panic!("new account")
    };
    let otp = OtpService::new(auth.clone(), OtpConfig::default()).unwrap();
    Fixture {
        auth,
        otp,
        mailbox,
        clock,
        account: mail.account_id,
    }
}

fn retry_after(e: AuthError) -> u64 {
    match helix_core::Error::from(e) {
        helix_core::Error::RateLimited { retry_after_secs } => retry_after_secs,
        other => panic!("expected 429, got {other:?}"),
    }
}

fn is_invalid(e: AuthError) -> bool {
    matches!(e, AuthError::InvalidCode)
}

/// 3 sends per hour; the code arrives by e-mail (the outbox), is valid 30 minutes, works
/// once, and only the newest one counts.
async fn send_limit_expiry_single_use(t: TestDb) {
    let f = fixture(&t).await;
    let m = meta();
    let first = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap();
    assert_eq!(first.code.expose().len(), 6);
    assert!(first.code.expose().bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(first.expires_at - f.clock.now(), Duration::minutes(30));
    assert!(!format!("{first:?}").contains(first.code.expose()));
    // Delivered by the outbox: the mail carries the code, the outbox row does not.
    let mail = f
        .mailbox
        .last("otp@example.com", helix_auth::mail::ONE_TIME_CODE)
        .await
        .unwrap();
    assert!(mail.text.contains(first.code.expose()));

    f.clock.advance(Duration::minutes(10));
    f.otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap();
    let third = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap();
    let e = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap_err();
    // The oldest send of the window leaves it in 50 minutes.
    assert_eq!(retry_after(e), 50 * 60);

    // Expiry at 30 minutes: the third code was sent at +10 min, so it lapses at +40.
    f.clock.advance(Duration::minutes(30));
    let e = f
        .otp
        .verify(&m, f.account, "step_up", &third.code)
        .await
        .unwrap_err();
    assert!(is_invalid(e), "expired");
    // An hour after the first send, one more send is allowed; single use.
    f.clock.advance(Duration::minutes(21));
    let fresh = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap();
    f.clock.advance(Duration::minutes(29));
    f.otp
        .verify(&m, f.account, "step_up", &fresh.code)
        .await
        .unwrap();
    let e = f
        .otp
        .verify(&m, f.account, "step_up", &fresh.code)
        .await
        .unwrap_err();
    assert!(is_invalid(e), "single use");
    let kinds: Vec<String> = f
        .auth
        .security_events(f.account, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"otp_sent".to_owned()));
    assert!(kinds.contains(&"otp_send_refused".to_owned()));
    assert!(kinds.contains(&"otp_verified".to_owned()));
    assert!(kinds.contains(&"otp_failed".to_owned()));
}
backend_test!(
    otp_send_limit_expiry_single_use,
    send_limit_expiry_single_use
);

/// 5 verification attempts per hour: the fifth failure locks codes for 30 minutes (the
/// right code is refused too, and so are sends); after the lock the right code works.
async fn verify_limit_and_lockout(t: TestDb) {
    let f = fixture(&t).await;
    let m = meta();
    let sent = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap();
    let wrong = OneTimeCode::new(if sent.code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    });
    for _ in 0..4 {
        assert!(is_invalid(
            f.otp
                .verify(&m, f.account, "step_up", &wrong)
                .await
                .unwrap_err()
        ));
    }
    // The fifth attempt fails and locks.
    assert!(is_invalid(
        f.otp
            .verify(&m, f.account, "step_up", &wrong)
            .await
            .unwrap_err()
    ));
    let e = f
        .otp
        .verify(&m, f.account, "step_up", &sent.code)
        .await
        .unwrap_err();
    assert_eq!(retry_after(e), 30 * 60);
    let e = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap_err();
    assert_eq!(retry_after(e), 30 * 60);
    f.clock.advance(Duration::minutes(29));
    let e = f
        .otp
        .verify(&m, f.account, "step_up", &sent.code)
        .await
        .unwrap_err();
    assert_eq!(retry_after(e), 60);
    // Lock over (and the code, sent 29 minutes ago... now 30: expired). Wait out the hour
    // of attempts and send a new one.
    f.clock.advance(Duration::minutes(31));
    let again = f
        .otp
        .send(&m, f.account, Channel::Email, "step_up")
        .await
        .unwrap();
    f.otp
        .verify(&m, f.account, "step_up", &again.code)
        .await
        .unwrap();
    let kinds: Vec<String> = f
        .auth
        .security_events(f.account, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "otp_locked").count(), 1);
}
backend_test!(otp_verify_limit_and_lockout, verify_limit_and_lockout);

/// What the Twilio stand-in received: (path, authorization, form).
type Recorded = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

const SID: &str = "AC0123456789abcdef";
const TOKEN: &str = "twilio-secret-token";

async fn twilio_messages(
    State(rec): State<Recorded>,
    axum::extract::Path(sid): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}".into());
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&body) else {
        return (StatusCode::BAD_REQUEST, "{}".into());
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, "{\"code\":20003}".into());
    }
    let (Some(to), Some(_), Some(_)) = (form.get("To"), form.get("From"), form.get("Body")) else {
        return (StatusCode::BAD_REQUEST, "{\"code\":21604}".into());
    };
    let phone = to.strip_prefix("whatsapp:").unwrap_or(to);
    if !phone.starts_with('+') {
        return (StatusCode::BAD_REQUEST, "{\"code\":21211}".into());
    }
    rec.lock().unwrap().push((sid, form));
    (
        StatusCode::CREATED,
        "{\"sid\":\"SM1\",\"status\":\"queued\"}".into(),
    )
}

async fn twilio_stand_in() -> (String, Recorded) {
    let rec: Recorded = Arc::default();
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(twilio_messages),
        )
        .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rec)
}

/// The phone number is set unverified; a `verify_phone` code by SMS (through the Twilio
/// stand-in) verifies it; step-up codes then go by WhatsApp.
async fn phone_over_sms_and_whatsapp(t: TestDb) {
    let f = fixture(&t).await;
    let (base, rec) = twilio_stand_in().await;
    let provider = TwilioProvider::new(TwilioConfig {
        base_url: base,
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        from: "+15005550006".into(),
        whatsapp_from: "+14155238886".into(),
        timeout_ms: 2_000,
    })
    .unwrap();
    assert!(!format!("{provider:?}").contains(TOKEN));
    let kernel = helix_core::Kernel::new(t.db.clone()).with_clock(Arc::new(f.clock.clone()));
    let sms = Dispatcher::builder(kernel)
        .subscriber(MessageSubscriber::new(
            f.mailbox.keys.clone(),
            Arc::new(provider),
        ))
        .build()
        .unwrap();
    let m = meta();
    // No phone yet: SMS is refused; e-mail cannot verify a phone.
    let e = f
        .otp
        .send(&m, f.account, Channel::Sms, "verify_phone")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
    let e = f
        .otp
        .send(&m, f.account, Channel::Email, "verify_phone")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");
    assert!(
        f.otp
            .set_phone(&m, f.account, "0049 30 1234")
            .await
            .is_err()
    );
    let status = f
        .otp
        .set_phone(&m, f.account, "+49 30 1234 5678")
        .await
        .unwrap();
    assert_eq!(status.phone.as_deref(), Some("+493012345678"));
    assert!(!status.verified);
    // Unverified: only verify_phone may use it.
    let e = f
        .otp
        .send(&m, f.account, Channel::WhatsApp, "step_up")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "VALIDATION_ERROR");

    let sent = f
        .otp
        .send(&m, f.account, Channel::Sms, "verify_phone")
        .await
        .unwrap();
    assert!(
        rec.lock().unwrap().is_empty(),
        "nothing is sent before the dispatcher runs"
    );
    while !sms.run_once().await.unwrap().is_idle() {}
    {
        let got = rec.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (sid, form) = &got[0];
        assert_eq!(sid, SID);
        assert_eq!(form["To"], "+493012345678");
        assert_eq!(form["From"], "+15005550006");
        assert!(form["Body"].contains(sent.code.expose()));
    }
    f.otp
        .verify(&m, f.account, "verify_phone", &sent.code)
        .await
        .unwrap();
    assert!(f.otp.phone(f.account).await.unwrap().verified);

    let step = f
        .otp
        .send(&m, f.account, Channel::WhatsApp, "step_up")
        .await
        .unwrap();
    while !sms.run_once().await.unwrap().is_idle() {}
    {
        let got = rec.lock().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1["To"], "whatsapp:+493012345678");
        assert_eq!(got[1].1["From"], "whatsapp:+14155238886");
        assert!(got[1].1["Body"].contains(step.code.expose()));
    }
    // A new number is unverified again.
    let status = f
        .otp
        .set_phone(&m, f.account, "+14155550123")
        .await
        .unwrap();
    assert!(!status.verified);
}
backend_test!(otp_phone_over_sms_and_whatsapp, phone_over_sms_and_whatsapp);
