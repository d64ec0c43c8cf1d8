//! Transactional e-mail through the outbox: the test mailbox the HTTP tests read, and the
//! mail tests themselves (queued in the business transaction, sealed secrets, nothing sent
//! until the dispatcher runs, lettre delivering a multipart mail to an SMTP stand-in,
//! transient SMTP failures retried).

use std::sync::Arc;

use helix_auth::crypto::{EncryptionKeyConfig, KeyRing};
use helix_auth::mail::{
    InMemoryTransport, MailConfig, MailMessage, MailOutbox, MailSubscriber, MailTransport,
};
use helix_auth::{AuthService, PasswordResetToken, VerificationToken};
use helix_core::Kernel;
use helix_core::outbox::Dispatcher;

/// An in-memory mailbox fed by a dispatcher that the test drives (`run_once`), so mails
/// arrive only when the test delivers them.
pub(crate) struct Mailbox {
    pub(crate) transport: InMemoryTransport,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) keys: Arc<KeyRing>,
}

impl Mailbox {
    /// A fresh key ring and a dispatcher with a [`MailSubscriber`] over an in-memory
    /// transport.
    pub(crate) fn new(kernel: Kernel) -> Self {
        let keys =
            Arc::new(KeyRing::from_config(&EncryptionKeyConfig::generate("mail"), &[]).unwrap());
        Self::with_transport(kernel, keys, InMemoryTransport::new())
    }

    pub(crate) fn with_transport(
        kernel: Kernel,
        keys: Arc<KeyRing>,
        transport: InMemoryTransport,
    ) -> Self {
        let dispatcher = Dispatcher::builder(kernel)
            .subscriber(MailSubscriber::new(
                keys.clone(),
                Arc::new(transport.clone()),
                test_config(),
            ))
            .build()
            .unwrap();
        Self {
            transport,
            dispatcher,
            keys,
        }
    }

    /// The queue the service must be built with.
    pub(crate) fn outbox(&self) -> MailOutbox {
        MailOutbox::new(self.keys.clone())
    }

    /// Runs the dispatcher until it has nothing left to do.
    pub(crate) async fn deliver(&self) {
        for _ in 0..20 {
            if self.dispatcher.run_once().await.unwrap().is_idle() {
                return;
            }
        }
        panic!("the dispatcher did not settle");
    }

    /// Delivers, then every mail so far.
    pub(crate) async fn sent(&self) -> Vec<MailMessage> {
        self.deliver().await;
        self.transport.sent()
    }

    /// Delivers, then the newest `template` mail to `email`.
    pub(crate) async fn last(&self, email: &str, template: &str) -> Option<MailMessage> {
        self.sent()
            .await
            .into_iter()
            .rev()
            .find(|m| m.to == email && m.template == template)
    }

    /// The newest verification token mailed to `email`.
    pub(crate) async fn last_token_for(&self, email: &str) -> Option<VerificationToken> {
        let m = self.last(email, helix_auth::mail::VERIFICATION).await?;
        Some(VerificationToken::new(token_of(&m)?))
    }

    /// The newest password-reset token mailed to `email`.
    pub(crate) async fn last_reset_token_for(&self, email: &str) -> Option<PasswordResetToken> {
        let m = self.last(email, helix_auth::mail::PASSWORD_RESET).await?;
        Some(PasswordResetToken::new(token_of(&m)?))
    }
}

/// The token of a mail's `?token=` link (text part).
pub(crate) fn token_of(m: &MailMessage) -> Option<String> {
    let start = m.text.find("?token=")? + "?token=".len();
    Some(
        m.text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect(),
    )
}

pub(crate) fn test_config() -> MailConfig {
    MailConfig {
        from: "Helix Tests <no-reply@helix.test>".into(),
        base_url: "https://app.helix.test/".into(),
        product_name: "Helix <Tests>".into(),
        ..MailConfig::default()
    }
}

/// A service over `kernel` queueing its mails for `mailbox`.
pub(crate) fn service_with_mail(kernel: Kernel, mailbox: &Mailbox) -> AuthService {
    AuthService::builder(kernel, crate::support::fast_config())
        .mail(mailbox.outbox())
        .build()
        .unwrap()
}

#[allow(dead_code)]
fn _transport_is_object_safe(t: &dyn MailTransport) -> &dyn MailTransport {
    t
}

// ---------------------------------------------------------------------------------------
// An SMTP stand-in on a loopback port: EHLO, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use helix_auth::mail::{SmtpConfig, SmtpSecurity, SmtpTransport};
use helix_core::testing::TestDb;
use helix_core::{PlatformContext, backend_test};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One mail the stand-in accepted.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) data: String,
}

#[derive(Clone, Default)]
pub(crate) struct SmtpStandIn {
    pub(crate) port: u16,
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
    /// How many `MAIL FROM` commands still get a transient `451`.
    pub(crate) fail_next: Arc<AtomicU32>,
}

impl SmtpStandIn {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = Self {
            port: listener.local_addr().unwrap().port(),
            ..Self::default()
        };
        let s = stand_in.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(sock).await;
                });
            }
        });
        stand_in
    }

    async fn session(&self, sock: tokio::net::TcpStream) -> std::io::Result<()> {
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"220 stand-in ESMTP\r\n").await?;
        let mut from = String::new();
        let mut to = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-stand-in\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                b"250 ok\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                if self
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    from = line[10..].trim().to_owned();
                    b"250 ok\r\n"
                }
            } else if upper.starts_with("RCPT TO:") {
                to.push(line[8..].trim().to_owned());
                b"250 ok\r\n"
            } else if upper == "DATA" {
                w.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push('\n');
                }
                self.received.lock().unwrap().push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            } else if upper == "RSET" {
                from.clear();
                to.clear();
                b"250 ok\r\n"
            } else if upper == "QUIT" {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"502 not implemented\r\n"
            };
            w.write_all(reply).await?;
        }
        Ok(())
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub(crate) fn config(&self) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            hello_name: "helix.test".into(),
            timeout_ms: 2_000,
            extra_root_certificates_pem: None,
        }
    }
}

/// Decodes quoted-printable (soft line breaks and `=XX`).
fn unqp(s: &str) -> String {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Ok(b) = u8::from_str_radix(joined.get(i + 1..i + 3).unwrap_or(""), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn outbox_mail_rows(kernel: &Kernel) -> Vec<serde_json::Value> {
    use helix_core::outbox::entity;
    let tx = kernel
        .db()
        .platform_read(&PlatformContext::system("test"))
        .await
        .unwrap();
    let rows = entity::Entity::find()
        .filter(entity::Column::Topic.eq(helix_auth::mail::MAIL_TOPIC))
        .all(tx.raw())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter().map(|r| r.payload).collect()
}

/// Registration queues the verification mail in its own transaction: the outbox row exists
/// with the token sealed, nothing is sent until the dispatcher runs, then the mail carries
/// the link with the token, in a text and an HTML part (values escaped).
async fn queued_sealed_and_sent_after_commit(t: TestDb) {
    let (kernel, _clock) = crate::support::kernel(&t).await;
    let mailbox = Mailbox::new(kernel.clone());
    let auth = service_with_mail(kernel.clone(), &mailbox);
    let outcome = auth
        .register(
            &crate::support::meta(),
            "Mia@Example.com",
            &crate::support::pw(crate::support::STRONG),
        )
        .await
        .unwrap();
    let helix_auth::RegistrationMail::Verify(issued) = outcome.mail else {
        panic!("a new account");
    };
    let token = issued.token.expose().to_owned();

    let rows = outbox_mail_rows(&kernel).await;
    assert_eq!(rows.len(), 1);
    let raw = rows[0].to_string();
    assert!(!raw.contains(&token), "the token is sealed in the outbox");
    assert_eq!(rows[0]["template"], "verification");
    assert_eq!(rows[0]["to"], "mia@example.com");
    assert!(rows[0]["sealed"].as_str().unwrap().len() > 40);
    assert!(
        mailbox.transport.sent().is_empty(),
        "nothing is sent before the dispatcher runs"
    );

    mailbox.deliver().await;
    let sent = mailbox.transport.sent();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.to, "mia@example.com");
    assert_eq!(m.template, "verification");
    let link = format!("https://app.helix.test/verify-email?token={token}");
    assert!(m.text.contains(&link), "{}", m.text);
    assert!(m.html.contains(&format!("href=\"{link}\"")));
    assert!(
        m.html.contains("Helix &lt;Tests&gt;"),
        "values are escaped in HTML"
    );
    assert!(m.text.contains("Helix <Tests>"));
    assert_eq!(token_of(m).unwrap(), token);
    // The token from the mail verifies the address.
    auth.verify_email(&crate::support::meta(), &VerificationToken::new(token))
        .await
        .unwrap();

    // Delivered once: another round sends nothing more.
    mailbox.deliver().await;
    assert_eq!(mailbox.transport.sent().len(), 1);
}
backend_test!(
    mail_queued_sealed_and_sent_after_commit,
    queued_sealed_and_sent_after_commit
);

/// A sealed payload copied to another recipient does not open: the delivery is a dead
/// letter, nothing is sent.
async fn tampered_recipient_is_dead_letter(t: TestDb) {
    let (kernel, _clock) = crate::support::kernel(&t).await;
    let mailbox = Mailbox::new(kernel.clone());
    let auth = service_with_mail(kernel.clone(), &mailbox);
    auth.register(
        &crate::support::meta(),
        "eve@example.com",
        &crate::support::pw(crate::support::STRONG),
    )
    .await
    .unwrap();
    // Rewrite the recipient in the stored payload, as a database writer could.
    let tx = kernel
        .db()
        .platform(&PlatformContext::system("test"))
        .await
        .unwrap();
    use helix_core::outbox::entity;
    use sea_orm::sea_query::Expr;
    let row = entity::Entity::find()
        .filter(entity::Column::Topic.eq(helix_auth::mail::MAIL_TOPIC))
        .one(tx.raw())
        .await
        .unwrap()
        .unwrap();
    let mut payload = row.payload.clone();
    payload["to"] = "attacker@example.com".into();
    entity::Entity::update_many()
        .col_expr(entity::Column::Payload, Expr::value(payload))
        .filter(entity::Column::Id.eq(row.id))
        .exec(tx.raw())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    mailbox.deliver().await;
    assert!(mailbox.transport.sent().is_empty());
    let dead = helix_core::outbox::dead_letters(kernel.db()).await.unwrap();
    assert_eq!(dead, 1);
}
backend_test!(
    mail_tampered_recipient_is_dead_letter,
    tampered_recipient_is_dead_letter
);

/// lettre delivers a multipart text + HTML mail with the right link to an SMTP server
/// (the stand-in), and a transient `451` is retried by the outbox until it goes through.
async fn smtp_delivery_and_retry(t: TestDb) {
    let (kernel, clock) = crate::support::kernel(&t).await;
    let smtp = SmtpStandIn::start().await;
    smtp.fail_next.store(1, Ordering::SeqCst);
    let keys = Arc::new(KeyRing::from_config(&EncryptionKeyConfig::generate("mail"), &[]).unwrap());
    let transport = SmtpTransport::new(&smtp.config()).unwrap();
    let dispatcher = Dispatcher::builder(kernel.clone())
        .subscriber(MailSubscriber::new(
            keys.clone(),
            Arc::new(transport),
            test_config(),
        ))
        .backoff(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(1),
        )
        .build()
        .unwrap();
    let auth = AuthService::builder(kernel.clone(), crate::support::fast_config())
        .mail(MailOutbox::new(keys))
        .build()
        .unwrap();
    let outcome = auth
        .request_password_reset(&crate::support::meta(), "nobody@example.com")
        .await
        .unwrap();
    assert!(outcome.mail.is_none());
    auth.register(
        &crate::support::meta(),
        "sam@example.com",
        &crate::support::pw(crate::support::STRONG),
    )
    .await
    .unwrap();
    let outcome = auth
        .resend_verification(&crate::support::meta(), "sam@example.com")
        .await
        .unwrap();
    let token = outcome.mail.unwrap().token.expose().to_owned();

    // First round: the first send gets 451 (retried later), the second goes through.
    let stats = dispatcher.run_once().await.unwrap();
    assert_eq!(stats.retried, 1, "{stats:?}");
    assert_eq!(smtp.received().len(), 1);
    // The retry is due after the backoff (the kernel's clock).
    clock.advance(chrono::Duration::seconds(5));
    let stats = dispatcher.run_once().await.unwrap();
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let received = smtp.received();
    assert_eq!(received.len(), 2);
    for r in &received {
        assert_eq!(r.from, "<no-reply@helix.test>");
        assert_eq!(r.to, ["<sam@example.com>"]);
        assert!(r.data.contains("multipart/alternative"), "{}", r.data);
        assert!(r.data.contains("text/plain"));
        assert!(r.data.contains("text/html"));
        assert!(r.data.contains("Message-ID: <"));
    }
    let all = unqp(&received.iter().map(|r| r.data.clone()).collect::<String>());
    let link = format!("https://app.helix.test/verify-email?token={token}");
    assert!(all.contains(&link), "{all}");
    assert!(all.contains(&format!("href=\"{link}\"")));
    assert_eq!(
        helix_core::outbox::dead_letters(kernel.db()).await.unwrap(),
        0
    );
}
backend_test!(mail_smtp_delivery_and_retry, smtp_delivery_and_retry);

/// A new device (IP address and user agent) gets a new-sign-in mail; the same device
/// again does not.
async fn new_sign_in(t: TestDb) {
    let (kernel, _clock) = crate::support::kernel(&t).await;
    let mailbox = Mailbox::new(kernel.clone());
    let auth = service_with_mail(kernel.clone(), &mailbox);
    let meta = crate::support::meta();
    let pw = crate::support::pw(crate::support::STRONG);
    auth.register(&meta, "neo@example.com", &pw).await.unwrap();
    let token = mailbox.last_token_for("neo@example.com").await.unwrap();
    auth.verify_email(&meta, &token).await.unwrap();
    auth.login(&meta, "neo@example.com", &pw).await.unwrap();
    auth.login(&meta, "neo@example.com", &pw).await.unwrap();
    let mut other = crate::support::meta();
    other.user_agent = Some("<script>alert(1)</script>".into());
    auth.login(&other, "neo@example.com", &pw).await.unwrap();
    let sent = mailbox.sent().await;
    let mut notices: Vec<_> = sent
        .iter()
        .filter(|m| m.template == helix_auth::mail::NEW_SIGN_IN)
        .collect();
    notices.sort_by_key(|m| m.id); // event ids are time-ordered; delivery order is not
    assert_eq!(notices.len(), 2, "first device, then the new user agent");
    assert!(notices[0].text.contains("203.0.113.7"));
    assert!(notices[0].text.contains("helix-tests/1.0"));
    assert!(notices[1].html.contains("&lt;script&gt;"));
    assert!(!notices[1].html.contains("<script>"));

    // A host can turn it off.
    let quiet = AuthService::builder(kernel.clone(), crate::support::fast_config())
        .mail(mailbox.outbox())
        .new_sign_in_mail(false)
        .build()
        .unwrap();
    let mut third = crate::support::meta();
    third.user_agent = Some("another/2.0".into());
    quiet.login(&third, "neo@example.com", &pw).await.unwrap();
    let after = mailbox.sent().await;
    assert_eq!(
        after
            .iter()
            .filter(|m| m.template == helix_auth::mail::NEW_SIGN_IN)
            .count(),
        2
    );
}
backend_test!(mail_new_sign_in, new_sign_in);
