//! Rate limiting: GCRA quotas per route class and subject (IP, user, tenant, or anything),
//! kept in process for one node or in Redis for many, with 429 answers and `RateLimit-*`
//! headers over HTTP.
//!
//! - [`Quota`]: `rate` per `period` with a `burst`; [`RateKey`]: a class and a [`Subject`];
//!   [`Decision`]: allowed, remaining, reset and retry delays.
//! - [`RateLimitStore`]: [`InMemoryStore`] (sharded maps, idle keys evicted) and, with the
//!   `redis` feature, `RedisStore` (one atomic Lua script per decision).
//! - [`RateLimiter`]: a store plus a [`FailureMode`] (open by default) and breach reporting
//!   (a `warn` event on target `helix::security` with redacted subject, and a [`BreachSink`]).
//! - With the `http` feature, [`http::rate_limit`]: the axum middleware.
//!
//! The defaults below are the platform's binding limits; products may tighten them.

mod gcra;
#[cfg(feature = "http")]
pub mod http;
mod limiter;
mod memory;
mod quota;
#[cfg(feature = "redis")]
mod redis;
mod store;

pub use limiter::{Breach, BreachSink, FailureMode, RateLimiter, RateLimiterBuilder};
pub use memory::InMemoryStore;
pub use quota::{Decision, Quota, RateKey, Subject};
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisStore, TimeSource};
pub use store::{RateLimitStore, StoreError};

/// The class of routes not mapped to a more specific one.
pub const DEFAULT_CLASS: &str = "api";

/// Per user: 60 requests per minute, burst 60. A user at rest may therefore send up to 120
/// requests in the first 60 s ("2x burst for 60 s") and is then held to 60 per minute; no
/// window of 60 s ever holds more than about 120.
pub const USER_QUOTA: Quota = Quota::per_minute(60).with_burst(60);

/// Per tenant: 300 requests per minute, burst 300 (2x over 60 s, as for users).
pub const TENANT_QUOTA: Quota = Quota::per_minute(300).with_burst(300);

/// Login attempts per client IP: 10 per minute, burst 10.
pub const LOGIN_IP_QUOTA: Quota = Quota::per_minute(10);

/// Password-reset requests per user: 3 per hour, burst 3.
pub const PASSWORD_RESET_QUOTA: Quota = Quota::per_hour(3);

/// One-time-code sends per user: 3 per hour.
pub const OTP_SEND_QUOTA: Quota = Quota::per_hour(3);

/// One-time-code verifications per user: 5 per hour.
pub const OTP_VERIFY_QUOTA: Quota = Quota::per_hour(5);
