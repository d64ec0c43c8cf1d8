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
use super::subscriber::{HandlerError, HandlerTx, Subscriber, valid_name};
use crate::context::{PlatformContext, RequestMeta};
use crate::db::{Backend, Db, PlatformTx, TenantTx};
use crate::error::{Error, Result};
use crate::kernel::Kernel;

/// Dispatcher settings (the `outbox` section of a configuration file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherConfig {
    /// Events fanned out per round, and the most deliveries claimed per round. Fewer are
    /// claimed when the lease could not cover them: at most
    /// `concurrency * floor(lease_ms / handler timeout)` (at least 1), see
    /// [`Dispatcher::claim_size`].
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
    /// shorter than the lease. On SQLite the effective timeout is at most 5 s (see
    /// [`Dispatcher::handler_timeout`]): the handler holds the database-wide write lock, and
    /// other writers give up after the 10 s busy timeout.
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
            handler_timeout_ms: 10_000,
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
    /// Claimed deliveries skipped because their lease had expired before their turn came;
    /// they are reclaimed (by any dispatcher) without counting an attempt.
    pub lease_expired: u64,
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
    LeaseExpired,
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

    /// Lease on claimed deliveries, and the handler timeout (shorter than the lease; capped
    /// at 5 s on SQLite).
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
        let handler_timeout = effective_handler_timeout(self.kernel.db().backend(), c);
        let claim_size = claim_size(c, handler_timeout);
        if millis(handler_timeout) < c.handler_timeout_ms {
            tracing::debug!(
                outbox.handler_timeout_ms = millis(handler_timeout),
                "outbox handler timeout capped on SQLite"
            );
        }
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                owner: self.kernel.new_id(),
                handler_timeout,
                claim_size,
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

/// Longest a handler may run on SQLite. Its transaction holds the database-wide write lock
/// (`BEGIN IMMEDIATE`) while it runs, and every other writer gives up after the 10 s busy
/// timeout of [`crate::db::Db::connect`]: the handler must finish well within it.
const SQLITE_MAX_HANDLER_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured handler timeout, capped on SQLite.
fn effective_handler_timeout(backend: Backend, c: &DispatcherConfig) -> Duration {
    let configured = Duration::from_millis(c.handler_timeout_ms);
    match backend {
        Backend::Sqlite => configured.min(SQLITE_MAX_HANDLER_TIMEOUT),
        Backend::Postgres => configured,
    }
}

/// Deliveries claimed per round: no more than the dispatcher can start within one lease,
/// each slot running handlers one after the other for up to `handler_timeout` each:
/// `min(batch_size, concurrency * floor(lease / handler_timeout))`, at least 1.
fn claim_size(c: &DispatcherConfig, handler_timeout: Duration) -> u32 {
    let per_slot = c.lease_ms / millis(handler_timeout).max(1);
    let n = u64::from(c.concurrency)
        .saturating_mul(per_slot)
        .min(u64::from(c.batch_size))
        .max(1);
    u32::try_from(n).unwrap_or(c.batch_size)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

struct Inner {
    kernel: Kernel,
    subscribers: Vec<Arc<dyn Subscriber>>,
    names: Vec<String>,
    config: DispatcherConfig,
    backoff: Backoff,
    /// The handler timeout in force (the configured one, capped on SQLite).
    handler_timeout: Duration,
    /// Deliveries claimed per round (see [`claim_size`]).
    claim_size: u32,
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

    /// The handler timeout in force: `handler_timeout_ms`, capped at 5 s on SQLite (where
    /// a handler holds the database-wide write lock while it runs).
    pub fn handler_timeout(&self) -> Duration {
        self.inner.handler_timeout
    }

    /// Deliveries claimed per round: `batch_size`, reduced to what can be processed within
    /// one lease, `concurrency * floor(lease / handler_timeout)` (at least 1), so claimed
    /// deliveries do not wait in line until their lease expires.
    pub fn claim_size(&self) -> u32 {
        self.inner.claim_size
    }

    /// One round: fans out up to `batch_size` new events, then claims and processes up to
    /// [`claim_size`](Self::claim_size) due deliveries. A claimed delivery whose lease has
    /// expired when its turn comes is skipped (another dispatcher may have reclaimed it),
    /// and a handler never runs past its delivery's lease. Tests drive the dispatcher with
    /// this.
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
            inner.claim_size,
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
                Outcome::LeaseExpired => stats.lease_expired += 1,
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
        let claim = u64::from(self.inner.claim_size);
        tracing::info!(outbox.dispatcher = %self.inner.owner, "outbox dispatcher started");
        while !shutdown.is_cancelled() {
            let pause = match self.run_once().await {
                // A full batch: more work is probably waiting.
                Ok(s) if s.claimed >= claim || s.events_fanned_out >= batch => None,
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

    async fn process(&self, mut c: Claimed) -> Outcome {
        // Claimed deliveries wait here for a free slot: one whose lease ran out meanwhile
        // may already be running elsewhere. It is reclaimed once due, with no attempt used.
        if self.inner.kernel.now() >= c.lease_until {
            tracing::debug!(
                outbox.delivery_id = %c.delivery_id,
                outbox.subscriber = %c.subscriber,
                "outbox delivery skipped: lease expired before processing"
            );
            return Outcome::LeaseExpired;
        }
        match self.try_process(&mut c).await {
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

    async fn try_process(&self, c: &mut Claimed) -> Result<Outcome> {
        let inner = &*self.inner;
        let db = inner.kernel.db();
        let Some(sub) = inner.subscribers.iter().find(|s| s.name() == c.subscriber) else {
            return Ok(Outcome::Abandoned);
        };
        // The attempt counts from here (not from the claim), whatever happens next.
        let Some(attempts) = store::begin_attempt(
            db,
            &inner.ctx,
            c.delivery_id,
            inner.owner,
            inner.kernel.now(),
        )
        .await?
        else {
            return Ok(Outcome::LeaseExpired);
        };
        c.attempts = attempts;
        if let Some(event) = &mut c.event {
            event.attempt = attempts;
        }
        let c = &*c;
        let Some(event) = &c.event else {
            return self
                .fail(c, &HandlerError::permanent("event not found"))
                .await;
        };
        // The handler's transaction belongs to the event's tenant (RLS-bound on PostgreSQL),
        // or to the platform plane for a platform event; it carries the event's correlation
        // id (for the audit rows the handler writes).
        let ctx = PlatformContext::with_meta(
            inner.ctx.actor().clone(),
            Arc::new(RequestMeta {
                correlation_id: event.correlation_id.clone(),
                ..RequestMeta::default()
            }),
        );
        let tx = OwnedHandlerTx::open(db, &ctx, event.org_id).await?;
        // The idempotency record goes first, in the handler's transaction: if the subscriber
        // already committed its effects for this event, skip the handler. A concurrent
        // handler of the same delivery (a lease lost to a slow handler) waits here on
        // PostgreSQL, and finds the record if the other one commits.
        let now = inner.kernel.now();
        if !store::mark_processed(tx.raw(), &c.subscriber, event.org_id, event.id, now).await? {
            tx.rollback().await?;
            return self.settle(c, Outcome::Duplicate).await;
        }
        // Never past the lease: another dispatcher could then run the handler too.
        let lease_left = (c.lease_until - inner.kernel.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let timeout = inner.handler_timeout.min(lease_left);
        let run = AssertUnwindSafe(sub.handle(event, tx.handler())).catch_unwind();
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
        // The handler may have left the transaction unusable: PostgreSQL aborts it on any
        // error, even one the handler swallowed, and its COMMIT then silently rolls back.
        // Reading the record back fails in that case, so a lost commit is never taken for a
        // delivery.
        if !matches!(
            store::is_processed(tx.raw(), &c.subscriber, event.id).await,
            Ok(true)
        ) {
            tx.rollback().await?;
            return self
                .fail(
                    c,
                    &HandlerError::retryable("handler left its transaction unusable"),
                )
                .await;
        }
        if tx.commit().await.is_err() {
            return self
                .fail(c, &HandlerError::retryable("commit failed: database error"))
                .await;
        }
        // Effects and idempotency record are committed. Marking the delivery delivered is a
        // separate, platform transaction (tenants cannot touch deliveries); if the process
        // dies before it, the redelivery finds the record and only marks it.
        let outcome = self.settle(c, Outcome::Delivered).await?;
        if matches!(outcome, Outcome::Delivered) {
            tracing::debug!(
                outbox.event_id = %event.id,
                outbox.subscriber = %c.subscriber,
                outbox.attempt = c.attempts,
                "outbox event delivered"
            );
        }
        Ok(outcome)
    }

    /// Marks a delivery whose idempotency record is committed as delivered, in a short
    /// platform transaction, if this dispatcher still holds its lease: `outcome` then, and
    /// [`Outcome::Abandoned`] when the lease was lost (the new owner finds the record and
    /// settles it without running the handler). A database error leaves the delivery leased:
    /// it is redelivered, as a duplicate, when the lease expires.
    async fn settle(&self, c: &Claimed, outcome: Outcome) -> Result<Outcome> {
        let inner = &*self.inner;
        let settled = store::mark_delivered(
            inner.kernel.db(),
            &inner.ctx,
            c.delivery_id,
            inner.owner,
            inner.kernel.now(),
        )
        .await?;
        if !settled {
            tracing::debug!(
                outbox.delivery_id = %c.delivery_id,
                outbox.subscriber = %c.subscriber,
                "outbox delivery processed, but its lease was lost: left to the new owner"
            );
            return Ok(Outcome::Abandoned);
        }
        Ok(outcome)
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

/// The handler's transaction, owned by the dispatcher: a tenant transaction of the event's
/// organization, or a platform transaction for a platform event (see [`HandlerTx`]).
enum OwnedHandlerTx {
    Tenant(TenantTx),
    Platform(PlatformTx),
}

impl OwnedHandlerTx {
    async fn open(db: &Db, ctx: &PlatformContext, org_id: Option<Uuid>) -> Result<Self> {
        Ok(match org_id {
            Some(org) => Self::Tenant(db.tenant(&ctx.for_tenant(org)).await?),
            None => Self::Platform(db.platform(ctx).await?),
        })
    }

    fn handler(&self) -> HandlerTx<'_> {
        match self {
            Self::Tenant(tx) => HandlerTx::Tenant(tx),
            Self::Platform(tx) => HandlerTx::Platform(tx),
        }
    }

    fn raw(&self) -> &sea_orm::DatabaseTransaction {
        self.handler().raw()
    }

    async fn commit(self) -> Result<()> {
        match self {
            Self::Tenant(tx) => tx.commit().await,
            Self::Platform(tx) => tx.commit().await,
        }
    }

    async fn rollback(self) -> Result<()> {
        match self {
            Self::Tenant(tx) => tx.rollback().await,
            Self::Platform(tx) => tx.rollback().await,
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
