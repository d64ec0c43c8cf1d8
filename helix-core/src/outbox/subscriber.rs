//! In-process subscribers: what the dispatcher delivers events to.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use crate::db::{PlatformTx, TenantTx};
use crate::error::Error;

/// An event as handed to a [`Subscriber`].
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Event id (UUID v7).
    pub id: Uuid,
    /// The tenant that emitted it, or `None` for platform events.
    pub org_id: Option<Uuid>,
    /// Topic (`tenancy.organization.created`).
    pub topic: String,
    /// JSON payload.
    pub payload: serde_json::Value,
    /// Correlation id of the request that emitted it.
    pub correlation_id: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Which delivery attempt this is for this subscriber (1 for the first).
    pub attempt: u32,
}

/// Why a handler failed. The message is stored in the delivery's `last_error` and logged:
/// it must never hold secrets or payload data (the `From` conversions keep only codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// A transient failure: the delivery is retried with backoff until `max_attempts`.
    #[error("{0}")]
    Retryable(String),
    /// A permanent failure: the delivery goes to the dead letters at once.
    #[error("{0}")]
    Permanent(String),
}

impl HandlerError {
    /// A transient failure.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable(message.into())
    }

    /// A permanent failure (retrying cannot help: a malformed payload, say).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent(message.into())
    }

    /// Whether retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable(m) | Self::Permanent(m) => m,
        }
    }
}

impl From<sea_orm::DbErr> for HandlerError {
    /// Database errors are transient; their text (which may quote values) is dropped.
    fn from(_: sea_orm::DbErr) -> Self {
        Self::Retryable("database error".into())
    }
}

impl From<Error> for HandlerError {
    /// Server-side and availability errors are transient, client-class errors (validation,
    /// not found, conflict) permanent. Only the code and public message are kept.
    fn from(err: Error) -> Self {
        let message = format!("{}: {}", err.code(), err.public_message());
        match err {
            Error::RateLimited { .. } | Error::Unavailable => Self::Retryable(message),
            e if e.is_server_error() => Self::Retryable(message),
            _ => Self::Permanent(message),
        }
    }
}

/// The transaction a [`Subscriber`] handles an event in: the handler writes its effects
/// here, and the dispatcher inserts the subscriber's idempotency record here too, so both
/// commit or roll back together.
///
/// - A tenant event (`org_id = Some(org)`) is handled in a [`TenantTx`] of that
///   organization (the dispatcher's system actor, the event's correlation id). Its
///   tenant-filtered helpers ([`TenantTx::find`], [`TenantTx::insert`], ...) see and write
///   only that tenant, on both backends. On PostgreSQL it runs as the application role with
///   `helix.org_id` set, so Row Level Security confines even raw SQL on [`HandlerTx::raw`]
///   to that tenant: another tenant's rows are invisible and cannot be written, and
///   platform-only tables (deliveries, say) cannot be read at all. On SQLite (no RLS) raw SQL
///   is not confined: filter it by the tenant yourself, or use the `TenantTx` helpers.
/// - A platform event (`org_id = None`) is handled in a [`PlatformTx`]: platform plane, not
///   confined to any tenant (on PostgreSQL the platform role). Audit what it does.
#[derive(Debug, Clone, Copy)]
pub enum HandlerTx<'a> {
    /// A tenant event's transaction, bound to the event's organization.
    Tenant(&'a TenantTx),
    /// A platform event's transaction.
    Platform(&'a PlatformTx),
}

impl<'a> HandlerTx<'a> {
    /// The raw transaction, for sea-orm queries and raw SQL. For a tenant event it is not
    /// filtered by the application, but RLS confines it on PostgreSQL (see [`HandlerTx`]).
    pub fn raw(&self) -> &'a DatabaseTransaction {
        match self {
            Self::Tenant(tx) => tx.raw(),
            Self::Platform(tx) => tx.raw(),
        }
    }

    /// The tenant-scoped transaction of a tenant event; `None` for a platform event.
    pub fn tenant(&self) -> Option<&'a TenantTx> {
        match self {
            Self::Tenant(tx) => Some(tx),
            Self::Platform(_) => None,
        }
    }

    /// The platform transaction of a platform event; `None` for a tenant event.
    pub fn platform(&self) -> Option<&'a PlatformTx> {
        match self {
            Self::Tenant(_) => None,
            Self::Platform(tx) => Some(tx),
        }
    }

    /// The tenant the transaction is bound to (the event's `org_id`); `None` on the platform
    /// plane.
    pub fn org_id(&self) -> Option<Uuid> {
        self.tenant().map(TenantTx::org_id)
    }
}

/// A consumer of outbox events, run by the [`Dispatcher`](super::Dispatcher).
///
/// Delivery is at least once; the dispatcher makes the handler's *database effects* happen
/// once per (event, subscriber) by inserting an idempotency record in `tx`, the same
/// transaction the handler writes in. Effects outside the database (an e-mail, an HTTP call)
/// can repeat and should be idempotent on [`OutboxEvent::id`].
///
/// **The transaction is the event's tenant's** (see [`HandlerTx`]): a tenant event is handled
/// in a [`TenantTx`] of its organization, which on PostgreSQL Row Level Security confines to
/// that tenant; a platform event (`org_id = None`) in a platform transaction. A handler that
/// must act on other tenants because of an event has to take the platform path explicitly
/// (and audit it), not borrow the event's transaction.
///
/// **Handlers must be short and database-only.** The handler runs inside an open
/// transaction: on SQLite that transaction holds the database-wide write lock, so every other
/// writer waits for the handler (and fails after the 10 s busy timeout); the dispatcher
/// therefore caps the handler timeout at 5 s on SQLite. On PostgreSQL a slow handler holds
/// row locks and a pooled connection. Do not call HTTP services, send mail or wait on
/// anything slow in `handle`: record the work in `tx` (a job or "mail to send" row keyed by
/// the event id) and perform it outside or after the transaction, idempotently keyed by
/// [`OutboxEvent::id`], so that a retry does not repeat it.
///
/// ```
/// use helix_core::outbox::{HandlerError, HandlerTx, OutboxEvent, Subscriber};
///
/// struct WelcomeMail;
///
/// #[helix_core::async_trait::async_trait]
/// impl Subscriber for WelcomeMail {
///     fn name(&self) -> &str {
///         "auth.welcome_mail"
///     }
///     fn accepts(&self, topic: &str) -> bool {
///         topic == "auth.user.registered"
///     }
///     async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError> {
///         // A tenant event: write the mail job through the tenant's transaction.
///         let Some(tenant) = tx.tenant() else {
///             return Err(HandlerError::permanent("expected a tenant event"));
///         };
///         let _ = (event, tenant.raw());
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// A stable, unique name (1 to 100 characters of `[a-z0-9._-]`); it keys deliveries and
    /// idempotency records, so renaming a subscriber makes it a new one.
    fn name(&self) -> &str;

    /// Whether this subscriber wants events of `topic` (see [`topic_matches`]).
    fn accepts(&self, topic: &str) -> bool;

    /// Handles one event, writing its effects in `tx`: a [`TenantTx`] of the event's tenant
    /// for a tenant event (RLS-bound to that tenant on PostgreSQL), a platform transaction
    /// for a platform event (see [`HandlerTx`]). An error, a panic or a timeout rolls `tx`
    /// back and schedules a retry; so does leaving `tx` unusable (on PostgreSQL, a failed
    /// statement aborts the transaction: run statements that may fail in a savepoint,
    /// `tx.raw().begin()`, if the handler is to carry on). Keep it short and database-only
    /// (see the trait documentation): it runs within the handler timeout, at most 5 s on
    /// SQLite. Do not commit or roll back `tx` yourself.
    async fn handle(&self, event: &OutboxEvent, tx: HandlerTx<'_>) -> Result<(), HandlerError>;
}

/// Matches a topic against a pattern: exact (`crm.deal.won`), a prefix wildcard
/// (`crm.*` matches `crm.deal.won`, not `crmx.a`), or `*` for every topic.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => topic
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
        None => pattern == topic,
    }
}

/// Whether `name` is a valid subscriber name.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("*", "a.b"));
        assert!(topic_matches("crm.deal.won", "crm.deal.won"));
        assert!(topic_matches("crm.*", "crm.deal.won"));
        assert!(!topic_matches("crm.*", "crmx.deal"));
        assert!(!topic_matches("crm.*", "crm"));
        assert!(!topic_matches("crm.deal", "crm.deal.won"));
    }

    #[test]
    fn errors_keep_only_codes() {
        let e: HandlerError = sea_orm::DbErr::Custom("email=a@b.c".into()).into();
        assert!(!e.is_permanent());
        assert!(!e.message().contains("a@b.c"));
        let e: HandlerError = Error::not_found("contact").into();
        assert!(e.is_permanent());
        let e: HandlerError = Error::internal_msg("secret=1").into();
        assert!(!e.is_permanent());
        assert!(!e.message().contains("secret"));
    }

    #[test]
    fn names() {
        assert!(valid_name("crm.deal_sync-2"));
        assert!(!valid_name(""));
        assert!(!valid_name("Upper"));
        assert!(!valid_name(&"a".repeat(101)));
    }
}
