//! Queueing a mail: a platform outbox event with the secrets sealed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use helix_core::outbox;
use helix_core::{PlatformTx, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::KeyRing;
use crate::error::{AuthError, Result};

/// The outbox topic of queued mails (platform events).
pub const MAIL_TOPIC: &str = "auth.mail.requested";

/// A mail to queue: a template name, a recipient, plain values and secret values. `Debug`
/// shows the template only.
#[derive(Clone)]
pub struct OutgoingMail {
    pub(crate) template: String,
    pub(crate) to: String,
    pub(crate) data: BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, Zeroizing<String>>,
}

impl OutgoingMail {
    /// A mail of `template` (see [`super::Templates`]) to `to`.
    pub fn new(template: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            template: template.into(),
            to: to.into(),
            data: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }

    /// A plain value for the template's `{{name}}` (stored readable in the outbox).
    #[must_use]
    pub fn data(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(name.into(), value.into());
        self
    }

    /// A secret value for the template's `{{name}}`: sealed in the outbox payload, opened
    /// only by the [`super::MailSubscriber`]. A secret named `token` also gives the
    /// built-in templates their `{{link}}`.
    #[must_use]
    pub fn secret(mut self, name: impl Into<String>, value: &str) -> Self {
        self.secrets
            .insert(name.into(), Zeroizing::new(value.to_owned()));
        self
    }

    /// The template name.
    pub fn template(&self) -> &str {
        &self.template
    }
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

/// The payload of a [`MAIL_TOPIC`] event.
#[derive(Serialize, Deserialize)]
pub(crate) struct MailPayload {
    pub template: String,
    pub to: String,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// The secrets as one JSON object, sealed under [`seal_context`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// The associated data secrets are sealed with: a sealed value copied into another mail's
/// payload (another template or recipient) does not open.
pub(crate) fn seal_context(template: &str, to: &str) -> Vec<u8> {
    format!("helix-auth.mail.v1\0{template}\0{to}").into_bytes()
}

/// The associated data of a tenant event's secrets: also bound to the organization.
pub(crate) fn tenant_seal_context(template: &str, to: &str, org_id: Uuid) -> Vec<u8> {
    format!("helix-auth.mail.v1\0{template}\0{to}\0org:{org_id}").into_bytes()
}

/// Queues mails through the outbox, sealing their secrets with the key ring. Cheap to
/// clone.
#[derive(Clone)]
pub struct MailOutbox {
    keys: Arc<KeyRing>,
}

impl fmt::Debug for MailOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailOutbox")
            .field("key_id", &self.keys.active_key_id())
            .finish()
    }
}

impl MailOutbox {
    /// A queue sealing with `keys` (the [`super::MailSubscriber`] needs the same keys, or
    /// retired ones of the same ring, to open them).
    pub fn new(keys: Arc<KeyRing>) -> Self {
        Self { keys }
    }

    /// The key ring secrets are sealed with.
    pub(crate) fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Publishes `mail` as a platform event ([`MAIL_TOPIC`]) in `tx`: it is sent only if
    /// `tx` commits. Returns the event id.
    pub async fn queue(
        &self,
        tx: &PlatformTx,
        correlation_id: &str,
        now: DateTime<Utc>,
        mail: OutgoingMail,
    ) -> Result<Uuid> {
        let context = seal_context(&mail.template, &mail.to);
        let payload = self.payload(mail, &context)?;
        let id =
            outbox::publish_platform(tx, correlation_id, None, now, MAIL_TOPIC, &payload).await?;
        Ok(id)
    }

    /// Publishes `mail` as an event of `tx`'s organization ([`MAIL_TOPIC`]), for mails a
    /// tenant operation owes (an invitation, queued by a host hook in the invitation's own
    /// transaction): sent only if `tx` commits. The secrets are additionally bound to the
    /// organization, so they do not open in another tenant's event. The
    /// [`super::MailSubscriber`] sends tenant mails only of the templates it allows for
    /// tenants ([`super::MailSubscriber::tenant_templates`], by default [`INVITATION`]).
    ///
    /// [`INVITATION`]: super::INVITATION
    pub async fn queue_tenant(
        &self,
        tx: &TenantTx,
        now: DateTime<Utc>,
        mail: OutgoingMail,
    ) -> Result<Uuid> {
        let context = tenant_seal_context(&mail.template, &mail.to, tx.org_id());
        let payload = self.payload(mail, &context)?;
        let id = outbox::publish(tx, now, MAIL_TOPIC, &payload).await?;
        Ok(id)
    }

    /// The event payload of `mail`, its secrets sealed under `context`.
    fn payload(&self, mail: OutgoingMail, context: &[u8]) -> Result<MailPayload> {
        let sealed = if mail.secrets.is_empty() {
            None
        } else {
            let plain: BTreeMap<&str, &str> = mail
                .secrets
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let json = Zeroizing::new(
                serde_json::to_vec(&plain)
                    .map_err(|e| AuthError::Core(helix_core::Error::internal(e)))?,
            );
            let sealed = self.keys.seal(&json, context).map_err(|_| {
                AuthError::Core(helix_core::Error::internal_msg("sealing a mail failed"))
            })?;
            Some(sealed)
        };
        Ok(MailPayload {
            template: mail.template,
            to: mail.to,
            data: mail.data,
            sealed,
        })
    }
}
