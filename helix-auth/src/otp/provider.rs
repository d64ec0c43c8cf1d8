//! Text messages (SMS, WhatsApp): queued through the outbox like the mails, sent by a
//! [`MessageSubscriber`] through a [`MessageProvider`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use helix_core::PlatformTx;
use helix_core::outbox::{self, HandlerError, HandlerTx, OutboxEvent, Subscriber};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Channel;
use crate::crypto::KeyRing;
use crate::error::{AuthError, Result};
use crate::mail::MailError;

/// The outbox topic of queued text messages (platform events).
pub const MESSAGE_TOPIC: &str = "auth.message.requested";

/// Sends a text to a phone number over SMS or WhatsApp. Errors use [`MailError`]'s
/// transient/permanent split: a transient one is retried by the outbox.
#[async_trait::async_trait]
pub trait MessageProvider: Send + Sync + 'static {
    /// Sends `body` to `to` (E.164) over `channel` ([`Channel::Sms`] or
    /// [`Channel::WhatsApp`]). `id` is the same for every attempt of one message.
    async fn send(&self, id: Uuid, channel: Channel, to: &str, body: &str)
    -> Result<(), MailError>;
}

/// Twilio's Messages API settings (`auth.otp.twilio` in the reference server). `Debug`
/// masks the auth token.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    /// API base URL (`https://api.twilio.com`; a stand-in in tests).
    pub base_url: String,
    /// Account SID (the basic-auth user).
    pub account_sid: String,
    /// Auth token (the basic-auth password). Secret: never printed.
    #[serde(skip_serializing)]
    pub auth_token: String,
    /// Sender number for SMS (E.164).
    pub from: String,
    /// Sender number for WhatsApp (E.164, without the `whatsapp:` prefix).
    pub whatsapp_from: String,
    /// Request timeout in milliseconds.
    pub timeout_ms: u64,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            whatsapp_from: String::new(),
            timeout_ms: 4_000,
        }
    }
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"***")
            .field("from", &self.from)
            .field("whatsapp_from", &self.whatsapp_from)
            .finish_non_exhaustive()
    }
}

/// A [`MessageProvider`] speaking Twilio's Messages API:
/// `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded `To`, `From`,
/// `Body`, HTTP basic auth with the account SID and auth token; WhatsApp messages address
/// `whatsapp:+<number>`.
#[derive(Clone)]
pub struct TwilioProvider {
    config: TwilioConfig,
    client: reqwest::Client,
}

impl fmt::Debug for TwilioProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioProvider")
            .field("config", &self.config)
            .finish()
    }
}

impl TwilioProvider {
    /// A provider for `config`; fails when a required field is empty.
    pub fn new(config: TwilioConfig) -> Result<Self, helix_core::Error> {
        let bad = |m: &str| helix_core::Error::Config(format!("auth.otp.twilio: {m}"));
        if config.account_sid.is_empty() || config.auth_token.is_empty() {
            return Err(bad("account_sid and auth_token are required"));
        }
        if config.from.is_empty() && config.whatsapp_from.is_empty() {
            return Err(bad("from or whatsapp_from is required"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .build()
            .map_err(|_| bad("the HTTP client could not be built"))?;
        Ok(Self { config, client })
    }
}

#[async_trait::async_trait]
impl MessageProvider for TwilioProvider {
    async fn send(
        &self,
        _id: Uuid,
        channel: Channel,
        to: &str,
        body: &str,
    ) -> Result<(), MailError> {
        let (to, from) = match channel {
            Channel::Sms => (to.to_owned(), self.config.from.clone()),
            Channel::WhatsApp => (
                format!("whatsapp:{to}"),
                format!("whatsapp:{}", self.config.whatsapp_from),
            ),
            Channel::Email => return Err(MailError::Permanent("not a text channel".into())),
        };
        if from.is_empty() || from == "whatsapp:" {
            return Err(MailError::Permanent(
                "no sender configured for the channel".into(),
            ));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.base_url.trim_end_matches('/'),
            self.config.account_sid
        );
        let response = self
            .client
            .post(url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&[("To", to.as_str()), ("From", from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(|_| MailError::Transient("the message provider is unreachable".into()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status.as_u16() == 429 {
            Err(MailError::Transient(format!(
                "the message provider answered {}",
                status.as_u16()
            )))
        } else {
            Err(MailError::Permanent(format!(
                "the message provider answered {}",
                status.as_u16()
            )))
        }
    }
}

#[derive(Serialize, Deserialize)]
struct MessagePayload {
    channel: Channel,
    to: String,
    sealed: String,
}

fn seal_context(channel: Channel, to: &str) -> Vec<u8> {
    format!("helix-auth.message.v1\0{}\0{to}", channel.as_str()).into_bytes()
}

/// Publishes a text message on [`MESSAGE_TOPIC`] in `tx`, the body sealed with `keys`.
pub(crate) async fn queue_message(
    keys: &KeyRing,
    tx: &PlatformTx,
    correlation_id: &str,
    now: DateTime<Utc>,
    channel: Channel,
    to: &str,
    body: &str,
) -> Result<Uuid> {
    let sealed = keys
        .seal(body.as_bytes(), &seal_context(channel, to))
        .map_err(|_| {
            AuthError::Core(helix_core::Error::internal_msg("sealing a message failed"))
        })?;
    let payload = MessagePayload {
        channel,
        to: to.to_owned(),
        sealed,
    };
    Ok(outbox::publish_platform(tx, correlation_id, None, now, MESSAGE_TOPIC, &payload).await?)
}

/// Sends the text messages queued on [`MESSAGE_TOPIC`] through a [`MessageProvider`].
/// Register it with the dispatcher next to the [`crate::mail::MailSubscriber`].
pub struct MessageSubscriber {
    keys: Arc<KeyRing>,
    provider: Arc<dyn MessageProvider>,
    timeout: Duration,
}

impl fmt::Debug for MessageSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageSubscriber").finish_non_exhaustive()
    }
}

impl MessageSubscriber {
    /// Opens bodies with `keys`, sends with `provider` within 4 seconds.
    pub fn new(keys: Arc<KeyRing>, provider: Arc<dyn MessageProvider>) -> Self {
        Self {
            keys,
            provider,
            timeout: Duration::from_secs(4),
        }
    }
}

#[async_trait::async_trait]
impl Subscriber for MessageSubscriber {
    fn name(&self) -> &str {
        "helix-auth.message"
    }

    fn accepts(&self, topic: &str) -> bool {
        topic == MESSAGE_TOPIC
    }

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        if tx.platform().is_none() {
            return Err(HandlerError::permanent(
                "message events are platform events",
            ));
        }
        let payload: MessagePayload = serde_json::from_value(event.payload.clone())
            .map_err(|_| HandlerError::permanent("malformed message payload"))?;
        let body = self
            .keys
            .open(&payload.sealed, &seal_context(payload.channel, &payload.to))
            .map_err(|_| HandlerError::permanent("message body does not open"))?;
        let body = std::str::from_utf8(&body)
            .map_err(|_| HandlerError::permanent("malformed message body"))?;
        let sent = tokio::time::timeout(
            self.timeout,
            self.provider
                .send(event.id, payload.channel, &payload.to, body),
        )
        .await;
        match sent {
            Ok(Ok(())) => {
                tracing::info!(message.channel = payload.channel.as_str(), event.id = %event.id, "text message sent");
                Ok(())
            }
            Ok(Err(MailError::Permanent(m))) => Err(HandlerError::permanent(m)),
            Ok(Err(MailError::Transient(m))) => Err(HandlerError::retryable(m)),
            Err(_) => Err(HandlerError::retryable("message send timed out")),
        }
    }
}
