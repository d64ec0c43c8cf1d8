//! A development mailbox: verification and password-reset mails written as files into a directory, so a person
//! running the server locally can follow the link. Production hosts plug in their own
//! [`VerificationMailer`] (SMTP comes with helix-auth's transactional e-mail).

use std::path::PathBuf;

use helix_auth::http::VerificationMailer;
use helix_auth::{PasswordResetMail, VerificationMail};

/// Writes each mail to `<dir>/<utc timestamp>-<account id>.txt`.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// A mailbox in `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    async fn write(&self, account_id: uuid::Uuid, body: String) -> Result<(), helix_core::Error> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(helix_core::Error::internal)?;
        let name = format!(
            "{}-{}.txt",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            account_id
        );
        tokio::fs::write(self.dir.join(name), body)
            .await
            .map_err(helix_core::Error::internal)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl VerificationMailer for FileMailer {
    async fn send_verification(&self, mail: &VerificationMail) -> Result<(), helix_core::Error> {
        let body = format!(
            "To: {}\nSubject: Verify your email address\n\nConfirm your address with this code (valid until {}):\n\n    {}\n\nPOST /api/v1/auth/verify-email {{\"token\": \"<the code>\"}}\n",
            mail.email,
            mail.expires_at.to_rfc3339(),
            mail.token.expose(),
        );
        self.write(mail.account_id, body).await
    }

    async fn send_password_reset(&self, mail: &PasswordResetMail) -> Result<(), helix_core::Error> {
        let body = format!(
            "To: {}\nSubject: Reset your password\n\nSomeone asked to reset the password of your account. If it was you, use this code (valid until {}, once):\n\n    {}\n\nPOST /api/v1/auth/password-reset/confirm {{\"token\": \"<the code>\", \"new_password\": \"...\"}}\n\nEvery session of the account is signed out. If it was not you, ignore this mail.\n",
            mail.email,
            mail.expires_at.to_rfc3339(),
            mail.token.expose(),
        );
        self.write(mail.account_id, body).await
    }
}
