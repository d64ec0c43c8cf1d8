//! Where rendered mails go: SMTP, files, or memory.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One rendered mail, ready to send. `Debug` leaves out the recipient and the body (which
/// may hold a token or a code).
#[derive(Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// The outbox event it comes from; the `Message-ID` is derived from it.
    pub id: Uuid,
    /// The template it was rendered from.
    pub template: String,
    /// `From`.
    pub from: String,
    /// `To`.
    pub to: String,
    /// `Subject`.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

impl MailMessage {
    /// The `Message-ID` (without angle brackets): the same for every delivery attempt.
    pub fn message_id(&self) -> String {
        format!("{}@helix-auth.mail", self.id)
    }
}

impl fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailMessage")
            .field("id", &self.id)
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

/// Why a mail was not sent. The message never holds the recipient or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth retrying (the server was unreachable, timed out or answered 4xx).
    #[error("mail not sent (transient): {0}")]
    Transient(String),
    /// Retrying cannot help (a 5xx rejection, a malformed address).
    #[error("mail not sent (permanent): {0}")]
    Permanent(String),
}

/// Sends rendered mails. Implementations should be idempotent on [`MailMessage::id`] where
/// they can: the outbox delivers at least once.
#[async_trait::async_trait]
pub trait MailTransport: Send + Sync + 'static {
    /// Sends one mail.
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;
}

/// Keeps every mail in memory, for tests. Clones share the mailbox.
#[derive(Clone, Default)]
pub struct InMemoryTransport {
    sent: Arc<Mutex<Vec<MailMessage>>>,
}

impl InMemoryTransport {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mail so far, oldest first.
    pub fn sent(&self) -> Vec<MailMessage> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The mails to `to`, oldest first.
    pub fn sent_to(&self, to: &str) -> Vec<MailMessage> {
        self.sent().into_iter().filter(|m| m.to == to).collect()
    }
}

impl fmt::Debug for InMemoryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryTransport")
            .field(
                "sent",
                &self
                    .sent
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len(),
            )
            .finish()
    }
}

#[async_trait::async_trait]
impl MailTransport for InMemoryTransport {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        // Idempotent on the event id, like a receiver deduplicating on Message-ID.
        if !sent.iter().any(|m| m.id == message.id) {
            sent.push(message.clone());
        }
        Ok(())
    }
}

/// The development mailbox: each mail is one readable file `<dir>/<event id>.txt` (headers,
/// the text part, then the HTML part). Event ids are time-ordered, so the file names sort
/// oldest first; a redelivery overwrites its own file.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// A mailbox in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
}

#[async_trait::async_trait]
impl MailTransport for FileTransport {
    async fn send(&self, m: &MailMessage) -> Result<(), MailError> {
        let io = |_: std::io::Error| MailError::Transient("writing the mailbox failed".into());
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let body = format!(
            "Message-ID: <{}>\nFrom: {}\nTo: {}\nSubject: {}\nX-Helix-Template: {}\n\n{}\n--- text/html ---\n{}\n",
            m.message_id(),
            m.from,
            m.to,
            m.subject,
            m.template,
            m.text,
            m.html
        );
        let tmp = self.dir.join(format!(".{}.tmp", m.id));
        tokio::fs::write(&tmp, body).await.map_err(io)?;
        tokio::fs::rename(&tmp, self.dir.join(format!("{}.txt", m.id)))
            .await
            .map_err(io)
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with `STARTTLS`, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test stand-in.
    None,
}

/// SMTP settings (`auth.mail.smtp` in the reference server). `Debug` masks the password.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server host name (also the name the TLS certificate must carry).
    pub host: String,
    /// Port (587 for STARTTLS, 465 for TLS).
    pub port: u16,
    /// Connection security.
    pub security: SmtpSecurity,
    /// User name, if the server wants authentication.
    pub username: Option<String>,
    /// Password. Secret: never printed.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// The name this client gives in `EHLO`.
    pub hello_name: String,
    /// Connection and command timeout, in milliseconds.
    pub timeout_ms: u64,
    /// Certificate authorities to trust besides the webpki roots, as PEM text (one or
    /// more certificates): a private relay's own CA. The host name is still checked.
    pub extra_root_certificates_pem: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            hello_name: "localhost".into(),
            timeout_ms: 4_000,
            extra_root_certificates_pem: None,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("hello_name", &self.hello_name)
            .field("timeout_ms", &self.timeout_ms)
            .field(
                "extra_root_certificates_pem",
                &self.extra_root_certificates_pem.is_some(),
            )
            .finish()
    }
}

/// Sends through an SMTP server with `lettre` (tokio, rustls with the webpki roots plus
/// [`SmtpConfig::extra_root_certificates_pem`]), one connection per mail. Each mail is `multipart/alternative` (text, then HTML).
#[derive(Clone)]
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// A transport for `config`; fails on a host name TLS cannot use.
    pub fn new(config: &SmtpConfig) -> Result<Self, helix_core::Error> {
        let bad = |m: &str| helix_core::Error::Config(format!("auth.mail.smtp: {m}"));
        if config.host.is_empty() {
            return Err(bad("host is required"));
        }
        let tls = || {
            let mut params = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.extra_root_certificates_pem {
                let roots = Certificate::from_pem(pem.as_bytes())
                    .map_err(|_| bad("extra_root_certificates_pem is not PEM certificates"))?;
                params = params.add_root_certificate(roots);
            }
            params
                .build()
                .map_err(|_| bad("host is not a valid TLS name"))
        };
        let tls = match config.security {
            SmtpSecurity::Starttls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .hello_name(ClientId::Domain(config.hello_name.clone()))
            .timeout(Some(Duration::from_millis(config.timeout_ms.max(1))));
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (None, None) => {}
            _ => return Err(bad("username and password go together")),
        }
        Ok(Self {
            inner: builder.build(),
            host: config.host.clone(),
        })
    }
}

#[async_trait::async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, m: &MailMessage) -> Result<(), MailError> {
        let from: Mailbox = m
            .from
            .parse()
            .map_err(|_| MailError::Permanent("invalid From address".into()))?;
        let to: Mailbox =
            m.to.parse()
                .map_err(|_| MailError::Permanent("invalid recipient address".into()))?;
        let email = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(format!("<{}>", m.message_id())))
            .multipart(MultiPart::alternative_plain_html(
                m.text.clone(),
                m.html.clone(),
            ))
            .map_err(|_| MailError::Permanent("the mail could not be built".into()))?;
        match self.inner.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::Permanent(format!(
                "smtp rejected the mail ({})",
                e.status()
                    .map_or_else(|| "5xx".to_owned(), |c| c.to_string())
            ))),
            Err(e) => Err(MailError::Transient(if e.is_timeout() {
                "smtp timed out".into()
            } else if let Some(code) = e.status() {
                format!("smtp answered {code}")
            } else {
                "smtp connection failed".into()
            })),
        }
    }
}
