//! [`MailSubscriber`]: the outbox subscriber that renders and sends queued mails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use helix_core::outbox::{HandlerError, HandlerTx, OutboxEvent, Subscriber};

use super::MailConfig;
use super::outbox::{MAIL_TOPIC, MailPayload, seal_context, tenant_seal_context};
use super::templates::{INVITATION, PASSWORD_RESET, Templates, VERIFICATION};
use super::transport::{MailError, MailMessage, MailTransport};
use crate::crypto::KeyRing;

/// The subscriber name (it keys deliveries: stable).
const NAME: &str = "helix-auth.mail";

/// Renders and sends the mails queued on [`MAIL_TOPIC`]. Register it with the host's
/// [`Dispatcher`](helix_core::outbox::Dispatcher) on every instance.
///
/// A transport error is a failed delivery: a transient one ([`MailError::Transient`]) is
/// retried with backoff, a permanent one goes to the dead letters; so do a payload that
/// does not parse, an unknown template and secrets that do not open.
///
/// Mails are platform events ([`super::MailOutbox::queue`]), except the ones a tenant
/// operation owes, queued as events of the organization
/// ([`super::MailOutbox::queue_tenant`]); those are sent only for the templates allowed
/// for tenants ([`MailSubscriber::tenant_templates`], by default [`INVITATION`]), and their
/// secrets open only under the event's organization.
pub struct MailSubscriber {
    keys: Arc<KeyRing>,
    templates: Arc<Templates>,
    tenant_templates: Arc<BTreeSet<String>>,
    transport: Arc<dyn MailTransport>,
    config: MailConfig,
}

impl fmt::Debug for MailSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSubscriber")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MailSubscriber {
    /// A subscriber opening secrets with `keys`, rendering the built-in [`Templates`] and
    /// sending through `transport`.
    pub fn new(keys: Arc<KeyRing>, transport: Arc<dyn MailTransport>, config: MailConfig) -> Self {
        Self {
            keys,
            templates: Arc::new(Templates::default()),
            tenant_templates: Arc::new(BTreeSet::from([INVITATION.to_owned()])),
            transport,
            config,
        }
    }

    /// Replaces the templates (start from [`Templates::new`] and [`Templates::set`] the ones
    /// to override).
    #[must_use]
    pub fn templates(mut self, templates: Templates) -> Self {
        self.templates = Arc::new(templates);
        self
    }

    /// Replaces the templates that tenant events may ask for (default: [`INVITATION`]).
    /// A tenant mail of any other template goes to the dead letters unsent.
    #[must_use]
    pub fn tenant_templates<I, T>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tenant_templates = Arc::new(names.into_iter().map(Into::into).collect());
        self
    }

    /// Renders the event's mail (what [`Subscriber::handle`] sends).
    fn message(&self, event: &OutboxEvent) -> Result<MailMessage, HandlerError> {
        let payload: MailPayload = serde_json::from_value(event.payload.clone())
            .map_err(|_| HandlerError::permanent("malformed mail payload"))?;
        let context = match event.org_id {
            None => seal_context(&payload.template, &payload.to),
            Some(_) if !self.tenant_templates.contains(&payload.template) => {
                return Err(HandlerError::permanent(
                    "mail template not allowed for tenant events",
                ));
            }
            Some(org_id) => tenant_seal_context(&payload.template, &payload.to, org_id),
        };
        let mut values: BTreeMap<String, String> = payload.data;
        if let Some(sealed) = &payload.sealed {
            let plain = self
                .keys
                .open(sealed, &context)
                .map_err(|_| HandlerError::permanent("mail secrets do not open"))?;
            let secrets: BTreeMap<String, String> = serde_json::from_slice(&plain)
                .map_err(|_| HandlerError::permanent("malformed mail secrets"))?;
            for (k, v) in secrets {
                // Moved, not copied: the values are wiped with `values` below.
                values.insert(k, v);
            }
        }
        let base = self.config.base_url.trim_end_matches('/');
        if let (Some(path), Some(token)) = (link_path(&payload.template), values.get("token")) {
            let link = format!("{base}{path}{token}");
            values.insert("link".into(), link);
        }
        values.insert("product_name".into(), self.config.product_name.clone());
        values.insert("base_url".into(), base.to_owned());
        values.insert("to".into(), payload.to.clone());
        let rendered = self
            .templates
            .render(&payload.template, &values)
            .ok_or_else(|| HandlerError::permanent("unknown mail template"))?;
        // The values (tokens among them) are wiped with the map.
        for v in values.values_mut() {
            zeroize::Zeroize::zeroize(v);
        }
        Ok(MailMessage {
            id: event.id,
            template: payload.template,
            from: self.config.from.clone(),
            to: payload.to,
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        })
    }
}

/// Where the built-in templates' links point; the token follows.
fn link_path(template: &str) -> Option<&'static str> {
    match template {
        VERIFICATION => Some("/verify-email?token="),
        PASSWORD_RESET => Some("/reset-password?token="),
        INVITATION => Some("/invitations/accept?token="),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Subscriber for MailSubscriber {
    fn name(&self) -> &str {
        NAME
    }

    fn accepts(&self, topic: &str) -> bool {
        topic == MAIL_TOPIC
    }

    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
        if tx.org_id() != event.org_id {
            // The dispatcher handles a tenant event in that tenant's transaction; anything
            // else is not a mail this subscriber queued.
            return Err(HandlerError::permanent(
                "mail event in the wrong transaction",
            ));
        }
        let message = self.message(event)?;
        let timeout = Duration::from_millis(self.config.send_timeout_ms.max(1));
        let sent = tokio::time::timeout(timeout, self.transport.send(&message)).await;
        match sent {
            Ok(Ok(())) => {
                tracing::info!(
                    mail.template = %message.template,
                    event.id = %event.id,
                    attempt = event.attempt,
                    "mail sent"
                );
                Ok(())
            }
            Ok(Err(MailError::Permanent(m))) => Err(HandlerError::permanent(m)),
            Ok(Err(MailError::Transient(m))) => Err(HandlerError::retryable(m)),
            Err(_) => Err(HandlerError::retryable("mail send timed out")),
        }
    }
}
