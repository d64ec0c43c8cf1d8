//! The limiter: a store, a failure mode, and breach reporting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::quota::{Decision, Quota, RateKey};
use super::store::{RateLimitStore, StoreError};
use crate::error::{Error, Result};
use crate::ids::{Clock, SystemClock};

/// What the limiter does when its store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Allow the request (availability first). The default: a Redis outage must not take the
    /// whole API down. The failure is logged at `error` once per interval.
    #[default]
    Open,
    /// Refuse the request with [`Error::Unavailable`] (503). For limits that protect
    /// against brute force where availability matters less (login, password reset, OTP).
    Closed,
}

/// A denied request: the security event reported to the [`BreachSink`].
#[derive(Debug, Clone)]
pub struct Breach {
    /// The key that went over its quota (raw: the sink decides what to keep; log it with
    /// [`RateKey::redacted`]).
    pub key: RateKey,
    /// The quota that was exceeded.
    pub quota: Quota,
    /// The denial.
    pub decision: Decision,
    /// The correlation id of the request, when there is one.
    pub correlation_id: Option<String>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// Receives every denied request, for example to write a security event.
///
/// Called synchronously on the request path, once per denied request, so it must be cheap
/// and must not block: an attacker controls how often it runs. Hand the breach to a bounded
/// channel (`try_send`, dropping when full) and do slow work, such as database writes, in a
/// task that reads it.
pub trait BreachSink: Send + Sync + std::fmt::Debug {
    /// One request was denied.
    fn on_breach(&self, breach: &Breach);
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn RateLimitStore>,
    failure_mode: FailureMode,
    error_log_interval_us: i64,
    last_error_log_us: AtomicI64,
    clock: Arc<dyn Clock>,
    sink: Option<Arc<dyn BreachSink>>,
}

/// The rate limiter: counts requests per [`RateKey`] under a [`Quota`] in a
/// [`RateLimitStore`], applies the [`FailureMode`] when the store fails, and reports breaches
/// (a `warn` event with target `helix::security` and the [`BreachSink`]).
///
/// Cheap to clone; clones share everything.
///
/// ```
/// use helix_core::ratelimit::{InMemoryStore, Quota, RateKey, RateLimiter, Subject};
///
/// # async fn demo() -> helix_core::Result<()> {
/// let limiter = RateLimiter::new(InMemoryStore::new());
/// let key = RateKey::new("auth.password_reset", Subject::Custom("alice@example.com".into()));
/// // Err(Error::RateLimited { .. }) (a 429) once over the quota:
/// limiter.enforce(&key, &Quota::per_hour(3)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl RateLimiter {
    /// A limiter over `store`, failing open, without a breach sink.
    pub fn new(store: impl RateLimitStore + 'static) -> Self {
        Self::builder(store).build()
    }

    /// A builder to set the failure mode, the breach sink, and the clock.
    pub fn builder(store: impl RateLimitStore + 'static) -> RateLimiterBuilder {
        RateLimiterBuilder {
            store: Arc::new(store),
            failure_mode: FailureMode::Open,
            error_log_interval: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            sink: None,
        }
    }

    /// The failure mode.
    pub fn failure_mode(&self) -> FailureMode {
        self.inner.failure_mode
    }

    /// Counts one request against `key`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the store fails and the mode is [`FailureMode::Closed`].
    /// A denial is not an error here: see [`Decision::allowed`], or use
    /// [`RateLimiter::enforce`].
    pub async fn check(&self, key: &RateKey, quota: &Quota) -> Result<Decision> {
        self.check_n(key, quota, 1).await
    }

    /// Counts `cost` requests against `key` at once (all or nothing).
    ///
    /// # Errors
    /// [`Error::Config`] when `cost` is 0 or larger than the quota's burst (it could never
    /// be allowed); otherwise as [`RateLimiter::check`].
    pub async fn check_n(&self, key: &RateKey, quota: &Quota, cost: u32) -> Result<Decision> {
        if cost == 0 || cost > quota.burst() {
            return Err(Error::Config(format!(
                "rate-limit cost {cost} outside 1..={} for class {}",
                quota.burst(),
                key.class
            )));
        }
        match self.inner.store.acquire(key, quota, cost).await {
            Ok(decision) => {
                if !decision.allowed {
                    self.report_breach(key, quota, &decision);
                }
                Ok(decision)
            }
            Err(err) => self.on_store_error(key, quota, &err),
        }
    }

    /// Counts one request against `key` and turns a denial into [`Error::RateLimited`]
    /// (429 with `Retry-After`): the one-liner for service code.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when denied; otherwise as [`RateLimiter::check`].
    pub async fn enforce(&self, key: &RateKey, quota: &Quota) -> Result<Decision> {
        self.check(key, quota).await?.into_result()
    }

    fn report_breach(&self, key: &RateKey, quota: &Quota, decision: &Decision) {
        let correlation_id = crate::context::current_correlation_id();
        tracing::warn!(
            target: "helix::security",
            event = "rate_limit.exceeded",
            rate_limit.class = key.class,
            rate_limit.subject_kind = key.subject.kind(),
            rate_limit.subject = %key.subject.redacted(),
            rate_limit.limit = quota.burst(),
            rate_limit.rate = quota.rate(),
            rate_limit.period_s = quota.period().as_secs(),
            retry_after_ms = u64::try_from(decision.retry_after.as_millis()).unwrap_or(u64::MAX),
            correlation_id = correlation_id.as_deref().unwrap_or(""),
            "rate limit exceeded"
        );
        if let Some(sink) = &self.inner.sink {
            sink.on_breach(&Breach {
                key: key.clone(),
                quota: *quota,
                decision: *decision,
                correlation_id,
                at: self.inner.clock.now(),
            });
        }
    }

    fn on_store_error(&self, key: &RateKey, quota: &Quota, err: &StoreError) -> Result<Decision> {
        let now = self.inner.clock.now().timestamp_micros();
        let last = self.inner.last_error_log_us.load(Ordering::Relaxed);
        let due = last == i64::MIN || now.saturating_sub(last) >= self.inner.error_log_interval_us;
        if due
            && self
                .inner
                .last_error_log_us
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(
                target: "helix::ratelimit",
                error = %err,
                rate_limit.class = key.class,
                failure_mode = ?self.inner.failure_mode,
                "rate-limit store failed; further failures are not logged for a while"
            );
        }
        match self.inner.failure_mode {
            FailureMode::Open => Ok(Decision::degraded(quota)),
            FailureMode::Closed => Err(Error::Unavailable),
        }
    }
}

/// Configures a [`RateLimiter`].
#[derive(Debug)]
pub struct RateLimiterBuilder {
    store: Arc<dyn RateLimitStore>,
    failure_mode: FailureMode,
    error_log_interval: Duration,
    clock: Arc<dyn Clock>,
    sink: Option<Arc<dyn BreachSink>>,
}

impl RateLimiterBuilder {
    /// What to do when the store fails (default [`FailureMode::Open`]).
    pub fn failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// How often a failing store is logged at most (default 60 s).
    pub fn error_log_interval(mut self, interval: Duration) -> Self {
        self.error_log_interval = interval;
        self
    }

    /// The clock for breach timestamps and log throttling (not for GCRA: stores keep their
    /// own time).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where breaches are reported, in addition to the `warn` log event.
    pub fn breach_sink(mut self, sink: Arc<dyn BreachSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The limiter.
    pub fn build(self) -> RateLimiter {
        RateLimiter {
            inner: Arc::new(Inner {
                store: self.store,
                failure_mode: self.failure_mode,
                error_log_interval_us: i64::try_from(self.error_log_interval.as_micros())
                    .unwrap_or(i64::MAX),
                last_error_log_us: AtomicI64::new(i64::MIN),
                clock: self.clock,
                sink: self.sink,
            }),
        }
    }
}
