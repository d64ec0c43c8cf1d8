//! [`VerificationMailer`]: how the HTTP routes hand verification and password-reset tokens
//! to the host.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::accounts::{PasswordResetMail, PasswordResetToken, VerificationMail, VerificationToken};

/// Receives the mails the auth routes produce. The token never travels over HTTP: the routes
/// give it to this trait object, and the host delivers it (a link in an email).
///
/// Implementations should enqueue (for example an outbox row or a job) rather than talk to
/// an SMTP server inside the request: the request's latency must not depend on whether a
/// mail was produced, or it would reveal whether the email has an account. A failure is
/// logged by the route (without the token or the address) and the client still gets the same
/// answer; it can ask for another mail with `resend-verification`.
#[async_trait::async_trait]
pub trait VerificationMailer: Send + Sync + 'static {
    /// Deliver a verification link carrying `mail.token` to `mail.email`.
    async fn send_verification(&self, mail: &VerificationMail) -> Result<(), helix_core::Error>;

    /// Deliver a password-reset link carrying `mail.token` to `mail.email`. Required (no
    /// default): a host that silently dropped reset mails would leave its users locked out.
    async fn send_password_reset(&self, mail: &PasswordResetMail) -> Result<(), helix_core::Error>;

    /// Someone tried to register `email`, which already has an account. The default does
    /// nothing; a host may send a "someone tried to sign up with your address" notice.
    async fn already_registered(&self, email: &str) -> Result<(), helix_core::Error> {
        let _ = email;
        Ok(())
    }
}

/// One mail recorded by [`InMemoryMailer`]. `Debug` redacts the token and leaves out the
/// email.
#[derive(Clone)]
pub enum RecordedMail {
    /// A verification link.
    Verify(VerificationMail),
    /// An "already registered" notice to this address.
    AlreadyRegistered(String),
    /// A password-reset link.
    PasswordReset(PasswordResetMail),
}

impl RecordedMail {
    /// The address the mail goes to.
    pub fn email(&self) -> &str {
        match self {
            Self::Verify(m) => &m.email,
            Self::AlreadyRegistered(email) => email,
            Self::PasswordReset(m) => &m.email,
        }
    }

    /// The verification token, for a verification mail.
    pub fn token(&self) -> Option<&VerificationToken> {
        match self {
            Self::Verify(m) => Some(&m.token),
            Self::AlreadyRegistered(_) | Self::PasswordReset(_) => None,
        }
    }

    /// The password-reset token, for a password-reset mail.
    pub fn reset_token(&self) -> Option<&PasswordResetToken> {
        match self {
            Self::PasswordReset(m) => Some(&m.token),
            Self::Verify(_) | Self::AlreadyRegistered(_) => None,
        }
    }
}

impl fmt::Debug for RecordedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verify(m) => f.debug_tuple("Verify").field(m).finish(),
            Self::AlreadyRegistered(_) => f.write_str("AlreadyRegistered(..)"),
            Self::PasswordReset(m) => f.debug_tuple("PasswordReset").field(m).finish(),
        }
    }
}

/// A [`VerificationMailer`] that keeps every mail in memory, for development and tests.
/// Clones share the same mailbox.
#[derive(Clone, Default)]
pub struct InMemoryMailer {
    sent: Arc<Mutex<Vec<RecordedMail>>>,
}

impl InMemoryMailer {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mail so far, oldest first.
    pub fn sent(&self) -> Vec<RecordedMail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest verification token mailed to `email` (normalized form), if any.
    pub fn last_token_for(&self, email: &str) -> Option<VerificationToken> {
        self.sent()
            .iter()
            .rev()
            .filter(|m| m.email() == email)
            .find_map(|m| m.token().cloned())
    }

    /// The newest password-reset token mailed to `email` (normalized form), if any.
    pub fn last_reset_token_for(&self, email: &str) -> Option<PasswordResetToken> {
        self.sent()
            .iter()
            .rev()
            .filter(|m| m.email() == email)
            .find_map(|m| m.reset_token().cloned())
    }

    fn push(&self, mail: RecordedMail) {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
    }
}

impl fmt::Debug for InMemoryMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("InMemoryMailer").field("sent", &n).finish()
    }
}

#[async_trait::async_trait]
impl VerificationMailer for InMemoryMailer {
    async fn send_verification(&self, mail: &VerificationMail) -> Result<(), helix_core::Error> {
        self.push(RecordedMail::Verify(mail.clone()));
        Ok(())
    }

    async fn send_password_reset(&self, mail: &PasswordResetMail) -> Result<(), helix_core::Error> {
        self.push(RecordedMail::PasswordReset(mail.clone()));
        Ok(())
    }

    async fn already_registered(&self, email: &str) -> Result<(), helix_core::Error> {
        self.push(RecordedMail::AlreadyRegistered(email.to_owned()));
        Ok(())
    }
}
