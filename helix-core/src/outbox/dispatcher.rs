//! The dispatcher: fans events out into per-subscriber deliveries, claims due deliveries
//! under a lease, runs the subscribers, and retries with backoff into the dead letters.

use std::collections::HashSet;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::backoff::Backoff;
use super::store::{self, Claimed};
use super::subscriber::{HandlerError, Subscriber, valid_name};
use crate::context::PlatformContext;
use crate::error::{Error, Result};
use crate::kernel::Kernel;

/// Dispatcher settings (the `outbox` section of a configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherConfig {
    /// Events fanned out, and deliveries claimed, per round.
    pub batch_size: u32,
    /// Deliveries processed at once within a round (keep 1 on SQLite: writes serialize).
    pub concurrency: u32,
    /// Sleep between rounds when there is no work, in milliseconds.
    pub poll_interval_ms: u64,
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// Delay after the first failure, in milliseconds (doubles per attempt, with jitter).
    pub backoff_base_ms: u64,
    /// Largest delay between attempts, in milliseconds.
    pub backoff_cap_ms: u64,
    /// How long a claimed delivery stays reserved for its dispatcher, in milliseconds; a
    /// crashed dispatcher's deliveries become due again when it expires.
    pub lease_ms: u64,
    /// How long a handler may run before it counts as failed, in milliseconds; must be
    /// shorter than the lease.
    pub handler_timeout_ms: u64,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: 1,
            poll_interval_ms: 1_000,
            max_attempts: 12,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 3_600_000,
            lease_ms: 120_000,
            handler_timeout_ms: 60_000,
        }
    }
}

/// What one [`Dispatcher::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events fanned out into deliveries.
    pub events_fanned_out: u64,
    /// Deliveries created by the fan-out.
    pub deliveries_created: u64,
    /// Deliveries claimed.
    pub claimed: u64,
    /// Deliveries whose handler succeeded.
    pub delivered: u64,
    /// Deliveries found already processed (idempotency record present) and marked delivered.
    pub duplicates_skipped: u64,
    /// Failed deliveries scheduled for a retry.
    pub retried: u64,
    /// Failed deliveries moved to the dead letters.
    pub dead: u64,
    /// Claimed deliveries this dispatcher lost the lease on or could not settle; they are
    /// retried when the lease expires.
    pub abandoned: u64,
}

impl RunStats {
    /// Whether the round found nothing to do.
    pub fn is_idle(&self) -> bool {
        self.events_fanned_out == 0 && self.claimed == 0
    }
}

enum Outcome {
    Delivered,
    Duplicate,
    Retried,
    Dead,
    Abandoned,
}

/// Builds a [`Dispatcher`].
pub struct DispatcherBuilder {
    kernel: Kernel,
    subscribers: Vec<Arc<dyn Subscriber>>,
    config: DispatcherConfig,
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field(
                "subscribers",
                &self
                    .subscribers
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>(),
            )
            .field("config", &self.config)
            .finish()
    }
}

impl DispatcherBuilder {
    /// Registers a subscriber.
    pub fn subscriber(mut self, subscriber: impl Subscriber) -> Self {
        self.subscribers.push(Arc::new(subscriber));
        self
    }

    /// Registers a shared subscriber.
    pub fn subscriber_arc(mut self, subscriber: Arc<dyn Subscriber>) -> Self {
        self.subscribers.push(subscriber);
        self
    }

    /// Replaces all settings.
    pub fn config(mut self, config: DispatcherConfig) -> Self {
        self.config = config;
        self
    }

    /// Events and deliveries per round.
    pub fn batch_size(mut self, n: u32) -> Self {
        self.config.batch_size = n;
        self
    }

    /// Deliveries processed at once within a round.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.config.concurrency = n;
        self
    }

    /// Sleep between rounds when idle.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.config.poll_interval_ms = millis(every);
        self
    }

    /// Attempts before a delivery becomes a dead letter.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }

    /// Backoff delay after the first failure, and the largest delay.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.config.backoff_base_ms = millis(base);
        self.config.backoff_cap_ms = millis(cap);
        self
    }

    /// Lease on claimed deliveries, and the handler timeout (shorter than the lease).
    pub fn lease(mut self, lease: Duration, handler_timeout: Duration) -> Self {
        self.config.lease_ms = millis(lease);
        self.config.handler_timeout_ms = millis(handler_timeout);
        self
    }

    /// Validates the settings and subscriber names, and builds the dispatcher.
    pub fn build(self) -> Result<Dispatcher> {
        let c = &self.config;
        let bad = |msg: &str| Err(Error::Config(format!("outbox dispatcher: {msg}")));
        if c.batch_size == 0 || c.batch_size > 10_000 {
            return bad("batch_size must be 1 to 10000");
        }
        if c.concurrency == 0 || c.concurrency > c.batch_size {
            return bad("concurrency must be 1 to batch_size");
        }
        if c.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if c.backoff_base_ms == 0 || c.backoff_cap_ms < c.backoff_base_ms {
            return bad("backoff_base_ms must be positive and at most backoff_cap_ms");
        }
        if c.handler_timeout_ms == 0 || c.handler_timeout_ms >= c.lease_ms {
            return bad("handler_timeout_ms must be positive and shorter than lease_ms");
        }
        if c.lease_ms > MAX_DELAY_MS || c.backoff_cap_ms > MAX_DELAY_MS {
            return bad("lease_ms and backoff_cap_ms must be at most 30 days");
        }
        let mut names = HashSet::new();
        for s in &self.subscribers {
            if !valid_name(s.name()) {
                return bad("subscriber names are 1 to 100 characters of [a-z0-9._-]");
            }
            if !names.insert(s.name().to_owned()) {
                return Err(Error::Config(format!(
                    "outbox dispatcher: subscriber `{}` is registered twice",
                    s.name()
                )));
            }
        }
        let names = self
            .subscribers
            .iter()
            .map(|s| s.name().to_owned())
            .collect();
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                owner: self.kernel.new_id(),
                ctx: PlatformContext::system("outbox-dispatcher"),
                backoff: Backoff {
                    base: Duration::from_millis(self.config.backoff_base_ms),
                    cap: Duration::from_millis(self.config.backoff_cap_ms),
                },
                kernel: self.kernel,
                subscribers: self.subscribers,
                names,
                config: self.config,
            }),
        })
    }
}

/// Upper bound of the lease and the backoff cap: 30 days.
const MAX_DELAY_MS: u64 = 30 * 24 * 3_600_000;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct Inner {
    kernel: Kernel,
    subscribers: Vec<Arc<dyn Subscriber>>,
    names: Vec<String>,
    config: DispatcherConfig,
    backoff: Backoff,
    /// This dispatcher's id: the owner recorded on the deliveries it leases.
    owner: Uuid,
    ctx: PlatformContext,
}

/// Delivers outbox events to in-process subscribers, at least once, with each subscriber's
/// database effects applied once. Cheap to clone. Several dispatchers (in one process or in
/// many) may run over one database at once; all of them should register the same
/// subscribers, since an event is fanned out to the subscribers of the dispatcher that picks
/// it up. No ordering between events is guaranteed (retries reorder).
///
/// ```no_run
/// # async fn demo(kernel: helix_core::Kernel) -> helix_core::Result<()> {
/// use helix_core::outbox::{CancellationToken, Dispatcher};
///
/// let dispatcher = Dispatcher::builder(kernel).batch_size(50).build()?;
/// let shutdown = CancellationToken::new();
/// let task = tokio::spawn({
///     let (d, s) = (dispatcher.clone(), shutdown.clone());
///     async move { d.run(s).await }
/// });
/// shutdown.cancel(); // on SIGTERM: finishes the batch in flight, then returns
/// let _ = task.await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("owner", &self.inner.owner)
            .field("subscribers", &self.inner.names)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Dispatcher {
    /// Starts building a dispatcher over the kernel's database and clock.
    pub fn builder(kernel: Kernel) -> DispatcherBuilder {
        DispatcherBuilder {
            kernel,
            subscribers: Vec::new(),
            config: DispatcherConfig::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DispatcherConfig {
        &self.inner.config
    }

    /// One round: fans out up to `batch_size` new events, then claims and processes up to
    /// `batch_size` due deliveries. Tests drive the dispatcher with this.
    pub async fn run_once(&self) -> Result<RunStats> {
        let inner = &*self.inner;
        let db = inner.kernel.db();
        let mut stats = RunStats::default();
        let now = inner.kernel.now();
        let (fanned, created) = store::fan_out(
            &inner.kernel,
            &inner.ctx,
            &inner.subscribers,
            inner.config.batch_size,
            now,
        )
        .await?;
        stats.events_fanned_out = fanned;
        stats.deliveries_created = created;

        let now = inner.kernel.now();
        let lease_until = after(now, inner.config.lease_ms);
        let claimed = store::claim(
            db,
            &inner.ctx,
            &inner.names,
            inner.owner,
            inner.config.batch_size,
            now,
            lease_until,
        )
        .await?;
        stats.claimed = claimed.len() as u64;
        let concurrency = usize::try_from(inner.config.concurrency)
            .unwrap_or(1)
            .max(1);
        let outcomes: Vec<Outcome> = futures::stream::iter(claimed)
            .map(|c| self.process(c))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for o in outcomes {
            match o {
                Outcome::Delivered => stats.delivered += 1,
                Outcome::Duplicate => stats.duplicates_skipped += 1,
                Outcome::Retried => stats.retried += 1,
                Outcome::Dead => stats.dead += 1,
                Outcome::Abandoned => stats.abandoned += 1,
            }
        }
        if !stats.is_idle() {
            tracing::debug!(
                outbox.fanned_out = stats.events_fanned_out,
                outbox.claimed = stats.claimed,
                outbox.delivered = stats.delivered,
                outbox.retried = stats.retried,
                outbox.dead = stats.dead,
                "outbox round"
            );
        }
        Ok(stats)
    }

    /// Runs rounds until `shutdown` is cancelled, sleeping `poll_interval` when idle. The
    /// round in flight when `shutdown` fires is finished before this returns. Errors of a
    /// round (the database is down) are logged and retried after the poll interval.
    pub async fn run(&self, shutdown: CancellationToken) {
        let idle = Duration::from_millis(self.inner.config.poll_interval_ms);
        let batch = u64::from(self.inner.config.batch_size);
        tracing::info!(outbox.dispatcher = %self.inner.owner, "outbox dispatcher started");
        while !shutdown.is_cancelled() {
            let pause = match self.run_once().await {
                // A full batch: more work is probably waiting.
                Ok(s) if s.claimed >= batch || s.events_fanned_out >= batch => None,
                Ok(_) => Some(idle),
                Err(e) => {
                    tracing::warn!(error.code = e.code(), error.detail = %e, "outbox round failed");
                    Some(idle)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        tracing::info!(outbox.dispatcher = %self.inner.owner, "outbox dispatcher stopped");
    }

    async fn process(&self, c: Claimed) -> Outcome {
        match self.try_process(&c).await {
            Ok(o) => o,
            Err(e) => {
                // Infrastructure failure (not the handler's): keep the lease; the delivery is
                // retried when it expires.
                tracing::warn!(
                    outbox.delivery_id = %c.delivery_id,
                    outbox.subscriber = %c.subscriber,
                    error.code = e.code(),
                    error.detail = %e,
                    "outbox delivery could not be settled"
                );
                Outcome::Abandoned
            }
        }
    }

    async fn try_process(&self, c: &Claimed) -> Result<Outcome> {
        let inner = &*self.inner;
        let db = inner.kernel.db();
        let Some(event) = &c.event else {
            return self
                .fail(c, &HandlerError::permanent("event not found"))
                .await;
        };
        let Some(sub) = inner.subscribers.iter().find(|s| s.name() == c.subscriber) else {
            return Ok(Outcome::Abandoned);
        };
        let tx = db.platform(&inner.ctx).await?;
        // The idempotency record goes first, in the handler's transaction: if the subscriber
        // already committed its effects for this event, skip the handler.
        if !store::mark_processed(tx.raw(), &c.subscriber, event.id, inner.kernel.now()).await? {
            let settled =
                store::mark_delivered(tx.raw(), c.delivery_id, inner.owner, inner.kernel.now())
                    .await?;
            tx.commit().await?;
            return Ok(if settled {
                Outcome::Duplicate
            } else {
                Outcome::Abandoned
            });
        }
        let timeout = Duration::from_millis(inner.config.handler_timeout_ms);
        let run = AssertUnwindSafe(sub.handle(event, tx.raw())).catch_unwind();
        let failure = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(_panic)) => Some(HandlerError::retryable("handler panicked")),
            Err(_elapsed) => Some(HandlerError::retryable("handler timed out")),
        };
        if let Some(err) = failure {
            tx.rollback().await?;
            return self.fail(c, &err).await;
        }
        let settled =
            store::mark_delivered(tx.raw(), c.delivery_id, inner.owner, inner.kernel.now()).await;
        match settled {
            Ok(true) => {
                if tx.commit().await.is_err() {
                    return self
                        .fail(c, &HandlerError::retryable("commit failed: database error"))
                        .await;
                }
                tracing::debug!(
                    outbox.event_id = %event.id,
                    outbox.subscriber = %c.subscriber,
                    outbox.attempt = c.attempts,
                    "outbox event delivered"
                );
                Ok(Outcome::Delivered)
            }
            // Lease lost: the new owner delivers it; drop our effects.
            Ok(false) => {
                tx.rollback().await?;
                Ok(Outcome::Abandoned)
            }
            // The handler may have left the transaction unusable (PostgreSQL aborts it on
            // any error the handler swallowed).
            Err(_) => {
                tx.rollback().await?;
                self.fail(
                    c,
                    &HandlerError::retryable("could not record delivery: database error"),
                )
                .await
            }
        }
    }

    async fn fail(&self, c: &Claimed, err: &HandlerError) -> Result<Outcome> {
        let inner = &*self.inner;
        let now = inner.kernel.now();
        let dead = err.is_permanent() || c.attempts >= inner.config.max_attempts;
        let retry_at =
            (!dead).then(|| after(now, millis(inner.backoff.delay(c.delivery_id, c.attempts))));
        let settled = store::record_failure(
            inner.kernel.db(),
            &inner.ctx,
            c.delivery_id,
            inner.owner,
            now,
            retry_at,
            err.message(),
        )
        .await?;
        if !settled {
            return Ok(Outcome::Abandoned);
        }
        if dead {
            tracing::warn!(
                outbox.delivery_id = %c.delivery_id,
                outbox.subscriber = %c.subscriber,
                outbox.attempt = c.attempts,
                error.permanent = err.is_permanent(),
                error.detail = %store::truncate_error(err.message()),
                "outbox delivery dead-lettered"
            );
            Ok(Outcome::Dead)
        } else {
            tracing::info!(
                outbox.delivery_id = %c.delivery_id,
                outbox.subscriber = %c.subscriber,
                outbox.attempt = c.attempts,
                error.detail = %store::truncate_error(err.message()),
                "outbox delivery failed; retry scheduled"
            );
            Ok(Outcome::Retried)
        }
    }
}

/// `now + ms`, saturating at `now` on overflow (settings are bounded, so it never does).
fn after(now: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::TimeDelta::try_milliseconds)
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now)
}
