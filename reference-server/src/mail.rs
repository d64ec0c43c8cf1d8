//! A development mailbox: verification mails written as files into a directory, so a person
//! running the server locally can follow the link. Production hosts plug in their own
//! [`VerificationMailer`] (SMTP comes with helix-auth's transactional e-mail).

use std::path::PathBuf;

use helix_auth::VerificationMail;
use helix_auth::http::VerificationMailer;

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
}

#[async_trait::async_trait]
impl VerificationMailer for FileMailer {
    async fn send_verification(&self, mail: &VerificationMail) -> Result<(), helix_core::Error> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(helix_core::Error::internal)?;
        let name = format!(
            "{}-{}.txt",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            mail.account_id
        );
        let body = format!(
            "To: {}\nSubject: Verify your email address\n\nConfirm your address with this code (valid until {}):\n\n    {}\n\nPOST /api/v1/auth/verify-email {{\"token\": \"<the code>\"}}\n",
            mail.email,
            mail.expires_at.to_rfc3339(),
            mail.token.expose(),
        );
        tokio::fs::write(self.dir.join(name), body)
            .await
            .map_err(helix_core::Error::internal)?;
        Ok(())
    }
}
