//! Transactional e-mail wiring: helix-auth queues mails through the outbox; the dispatcher
//! of this server delivers them to a [`MailSubscriber`] that sends them through the
//! configured transport: the development mailbox (files in `auth.mail_dir`, the default) or
//! SMTP (`auth.mail.transport = "smtp"` and `auth.mail.smtp.*`).

use std::sync::Arc;

use helix_auth::crypto::KeyRing;
use helix_auth::mail::{
    FileTransport, MailConfig, MailError, MailSubscriber, MailTransport, SmtpTransport,
};
use helix_auth::otp::{Channel, MessageProvider, MessageSubscriber, TwilioProvider};

use crate::settings::{AuthSettings, MailTransportKind};

/// The transport `auth` configures.
pub fn transport(auth: &AuthSettings) -> anyhow::Result<Arc<dyn MailTransport>> {
    Ok(match auth.mail.transport {
        MailTransportKind::File => Arc::new(FileTransport::new(&auth.mail_dir)),
        MailTransportKind::Smtp => Arc::new(SmtpTransport::new(&auth.mail.smtp)?),
    })
}

/// What the mails say and where their links point (`auth.mail.*`).
pub fn config(auth: &AuthSettings) -> MailConfig {
    let m = &auth.mail;
    MailConfig {
        from: m.from.clone(),
        base_url: m.base_url.clone(),
        product_name: m.product_name.clone(),
        new_sign_in: m.new_sign_in,
        send_timeout_ms: m.send_timeout_ms,
    }
}

/// The mail subscriber for the dispatcher, opening sealed secrets with `keys`.
pub fn subscriber(auth: &AuthSettings, keys: Arc<KeyRing>) -> anyhow::Result<MailSubscriber> {
    Ok(MailSubscriber::new(keys, transport(auth)?, config(auth)))
}

/// The text-message subscriber: Twilio when `auth.otp.twilio` is set, else the
/// development mailbox.
pub fn message_subscriber(
    auth: &AuthSettings,
    keys: Arc<KeyRing>,
) -> anyhow::Result<MessageSubscriber> {
    let provider: Arc<dyn MessageProvider> = match &auth.otp.twilio {
        Some(twilio) => Arc::new(TwilioProvider::new(twilio.clone())?),
        None => Arc::new(FileMessages {
            dir: auth.mail_dir.clone().into(),
        }),
    };
    Ok(MessageSubscriber::new(keys, provider))
}

/// SMS and WhatsApp messages written as `<dir>/<id>.sms.txt` (development).
#[derive(Debug)]
struct FileMessages {
    dir: std::path::PathBuf,
}

#[async_trait::async_trait]
impl MessageProvider for FileMessages {
    async fn send(
        &self,
        id: uuid::Uuid,
        channel: Channel,
        to: &str,
        body: &str,
    ) -> Result<(), MailError> {
        let io = |_: std::io::Error| MailError::Transient("writing the mailbox failed".into());
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let text = format!("Channel: {}\nTo: {to}\n\n{body}\n", channel.as_str());
        tokio::fs::write(self.dir.join(format!("{id}.sms.txt")), text)
            .await
            .map_err(io)
    }
}
