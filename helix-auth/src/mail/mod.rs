//! Transactional e-mail: queued through the outbox in the business transaction, rendered
//! from templates and sent by a subscriber after commit, never inside a request.
//!
//! 1. A service operation that owes the user a mail (registration, a verification resend,
//!    a password-reset request, a sign-in from a new device, a one-time code) calls
//!    [`MailOutbox::queue`] in its own platform transaction. That publishes a platform
//!    outbox event on [`MAIL_TOPIC`] whose payload names the template, the recipient and
//!    non-secret values; secret values (tokens, codes) are sealed together with the
//!    [`KeyRing`](crate::crypto::KeyRing), bound to the template and the recipient, so a
//!    database reader never sees a usable token. A rolled-back transaction queues nothing.
//!    A mail a tenant operation owes (an invitation) is queued with
//!    [`MailOutbox::queue_tenant`] as an event of that organization, in the tenant's own
//!    transaction; its secrets are also bound to the organization.
//! 2. The [`MailSubscriber`], registered with the host's
//!    [`Dispatcher`](helix_core::outbox::Dispatcher), opens the secrets, renders the
//!    template ([`Templates`]: a text and an HTML part, `{{name}}` placeholders, values
//!    HTML-escaped in the HTML part) and sends it through a [`MailTransport`]: SMTP
//!    ([`SmtpTransport`], `lettre` with rustls), files ([`FileTransport`], the development
//!    mailbox) or memory ([`InMemoryTransport`], tests).
//! 3. A failed send is an error of the handler: the outbox retries it with backoff and
//!    moves it to the dead letters after `max_attempts`; an SMTP 5xx answer (a permanent
//!    rejection) goes to the dead letters at once. Each message carries a `Message-ID`
//!    derived from the event id, so a receiving system can drop the rare duplicate of an
//!    at-least-once delivery.
//!
//! **Sending happens inside the handler.** The outbox asks handlers to be short; a mail
//! send is bounded by [`MailConfig::send_timeout_ms`] (default 4 s), below the dispatcher's
//! handler timeout (5 s on SQLite, where the handler's transaction holds the write lock for
//! that long). Point production at a nearby relay (a local MTA or the provider's submission
//! endpoint) so that sends take milliseconds.

mod notices;
mod outbox;
mod subscriber;
mod templates;
mod transport;

pub use notices::{MfaChange, invitation_mail};
pub use outbox::{MAIL_TOPIC, MailOutbox, OutgoingMail};
pub use subscriber::MailSubscriber;
pub use templates::{
    INVITATION, MFA_CHANGED, NEW_SIGN_IN, ONE_TIME_CODE, PASSWORD_RESET, RenderedMail, Template,
    Templates, VERIFICATION, escape_html,
};
pub use transport::{
    FileTransport, InMemoryTransport, MailError, MailMessage, MailTransport, SmtpConfig,
    SmtpSecurity, SmtpTransport,
};

use serde::{Deserialize, Serialize};

/// What the mails say about the product and where their links point (`auth.mail.*` in
/// the reference server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The `From` address (`Helix <no-reply@example.com>` or a bare address).
    pub from: String,
    /// The base URL of the product's web front end; links are `<base_url>/verify-email?token=...`,
    /// `<base_url>/reset-password?token=...`, `<base_url>/invitations/accept?token=...`.
    pub base_url: String,
    /// The product's name, in subjects and greetings.
    pub product_name: String,
    /// Mail the account on a successful sign-in from a device (IP address and user agent)
    /// it has not signed in from before.
    pub new_sign_in: bool,
    /// The longest one send may take, in milliseconds (keep it below the dispatcher's
    /// handler timeout).
    pub send_timeout_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Helix <no-reply@localhost>".into(),
            base_url: "http://localhost:8080".into(),
            product_name: "Helix".into(),
            new_sign_in: true,
            send_timeout_ms: 4_000,
        }
    }
}
