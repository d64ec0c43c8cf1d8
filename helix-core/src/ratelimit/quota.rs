//! Quotas, keys and decisions: the vocabulary of the rate limiter.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The longest period a quota may have; longer periods are clamped to it.
const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

/// How much traffic one key may send: `rate` requests per `period`, and up to `burst`
/// requests at one instant.
///
/// The limiter is a GCRA (generic cell rate algorithm), which is a token bucket stored as one
/// timestamp: one request is "emitted" every `period / rate`, and a key that has been idle
/// may send `burst` requests at once. Over any window of length `period` a key therefore sends
/// at most about `burst + rate` requests; a key that keeps sending is held to `rate`.
///
/// `rate` and `burst` are at least 1 (0 is read as 1); `period` is at least 1 ms per request
/// and at most 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    rate: u32,
    period: Duration,
    burst: u32,
}

impl Quota {
    /// `rate` requests per `period`, with a burst equal to `rate`.
    pub const fn new(rate: u32, period: Duration) -> Self {
        let rate = if rate == 0 { 1 } else { rate };
        let min_period = Duration::from_millis(rate as u64);
        let period = if period.as_nanos() < min_period.as_nanos() {
            min_period
        } else if period.as_nanos() > MAX_PERIOD.as_nanos() {
            MAX_PERIOD
        } else {
            period
        };
        Self {
            rate,
            period,
            burst: rate,
        }
    }

    /// `rate` requests per second, burst `rate`.
    pub const fn per_second(rate: u32) -> Self {
        Self::new(rate, Duration::from_secs(1))
    }

    /// `rate` requests per minute, burst `rate`.
    pub const fn per_minute(rate: u32) -> Self {
        Self::new(rate, Duration::from_secs(60))
    }

    /// `rate` requests per hour, burst `rate`.
    pub const fn per_hour(rate: u32) -> Self {
        Self::new(rate, Duration::from_secs(3600))
    }

    /// The same rate with `burst` requests allowed at one instant (at least 1).
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = if burst == 0 { 1 } else { burst };
        self
    }

    /// Requests per period.
    pub const fn rate(&self) -> u32 {
        self.rate
    }

    /// The period.
    pub const fn period(&self) -> Duration {
        self.period
    }

    /// Requests allowed at one instant by a key that has been idle.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval `period / rate`, in microseconds (at least 1).
    pub const fn emission_interval_us(&self) -> i64 {
        let us = self.period.as_micros() / self.rate as u128;
        if us == 0 { 1 } else { us as i64 }
    }
}

/// The answer of the limiter for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (and was counted).
    pub allowed: bool,
    /// The quota's burst: the most requests the key can have available (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests the key may still send right now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Time until the key is back to a full burst (`RateLimit-Reset`).
    pub reset_after: Duration,
    /// When denied, the time until the same request would be allowed (`Retry-After`); zero
    /// when allowed.
    pub retry_after: Duration,
    /// True when the store could not be reached and the limiter failed open: the request is
    /// allowed and the numbers above mean nothing (no `RateLimit-*` headers are sent).
    pub degraded: bool,
}

impl Decision {
    /// A decision from the raw values a store computed (microseconds).
    pub fn from_micros(
        allowed: bool,
        limit: u32,
        remaining: u32,
        reset_after_us: i64,
        retry_after_us: i64,
    ) -> Self {
        Self {
            allowed,
            limit,
            remaining,
            reset_after: Duration::from_micros(reset_after_us.max(0).unsigned_abs()),
            retry_after: Duration::from_micros(retry_after_us.max(0).unsigned_abs()),
            degraded: false,
        }
    }

    /// The decision given when the store is unreachable and the limiter fails open.
    pub fn degraded(quota: &Quota) -> Self {
        Self {
            allowed: true,
            limit: quota.burst(),
            remaining: quota.burst(),
            reset_after: Duration::ZERO,
            retry_after: Duration::ZERO,
            degraded: true,
        }
    }

    /// `retry_after` in whole seconds, rounded up; at least 1 when denied, 0 when allowed.
    pub fn retry_after_secs(&self) -> u64 {
        if self.allowed {
            0
        } else {
            ceil_secs(self.retry_after).max(1)
        }
    }

    /// `reset_after` in whole seconds, rounded up.
    pub fn reset_after_secs(&self) -> u64 {
        ceil_secs(self.reset_after)
    }

    /// `Ok(self)` when allowed, else [`crate::Error::RateLimited`] with the retry delay.
    pub fn into_result(self) -> crate::Result<Self> {
        if self.allowed {
            Ok(self)
        } else {
            Err(crate::Error::RateLimited {
                retry_after_secs: self.retry_after_secs(),
            })
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Who is being limited.
///
/// `Debug` shows the redacted form ([`Subject::redacted`]), so a key can be logged with `?`
/// without leaking an address or an id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A client address. IPv4-mapped IPv6 addresses count as IPv4, and IPv6 addresses count
    /// per /64 (one customer network), so rotating addresses within a /64 does not help.
    Ip(IpAddr),
    /// An authenticated user.
    User(Uuid),
    /// An organization (tenant).
    Tenant(Uuid),
    /// Anything else (an email address being reset, an API key). Stored hashed.
    Custom(String),
}

impl Subject {
    /// The kind: `ip`, `user`, `tenant` or `custom`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ip(_) => "ip",
            Self::User(_) => "user",
            Self::Tenant(_) => "tenant",
            Self::Custom(_) => "custom",
        }
    }

    /// A form safe for logs: IPv4 truncated to its /24, IPv6 to its /48, and other subjects
    /// as the first 12 hex digits of a SHA-256 of their value.
    pub fn redacted(&self) -> String {
        match self {
            Self::Ip(ip) => match canonical_ip(*ip) {
                IpAddr::V4(v4) => {
                    let [a, b, c, _] = v4.octets();
                    format!("{a}.{b}.{c}.0/24")
                }
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    let net = Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                    format!("{net}/48")
                }
            },
            other => {
                let value = other.value();
                let digest = Sha256::digest(format!("{}:{value}", other.kind()).as_bytes());
                format!("sha256:{}", &hex::encode(digest)[..12])
            }
        }
    }

    fn value(&self) -> String {
        match self {
            Self::Ip(ip) => match canonical_ip(*ip) {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            Self::User(id) | Self::Tenant(id) => id.to_string(),
            Self::Custom(s) => s.clone(),
        }
    }

    /// The value as stored: the normalised address, the id, or a hash of a custom value.
    fn storage_value(&self) -> String {
        match self {
            Self::Custom(s) => hex::encode(&Sha256::digest(s.as_bytes())[..16]),
            other => other.value(),
        }
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.kind(), self.redacted())
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// What a limit is counted against: a route class and a subject.
///
/// Classes are short static names (`api`, `auth.login`, `auth.password_reset`); use
/// lowercase letters, digits, `.`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// The route class (or any named action).
    pub class: &'static str,
    /// Who is limited.
    pub subject: Subject,
}

impl RateKey {
    /// A key for `subject` in `class`.
    pub fn new(class: &'static str, subject: Subject) -> Self {
        Self { class, subject }
    }

    /// The key as the stores keep it: `<class>:<kind>:<value>` with the address normalised
    /// and custom values hashed.
    pub fn storage_key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.class,
            self.subject.kind(),
            self.subject.storage_value()
        )
    }

    /// A form safe for logs (see [`Subject::redacted`]).
    pub fn redacted(&self) -> String {
        format!(
            "{}:{}:{}",
            self.class,
            self.subject.kind(),
            self.subject.redacted()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a = RateKey::new(
            "c",
            Subject::Ip(
                "2001:db8:1:2:aaaa::1"
                    .parse()
                    .unwrap_or(IpAddr::V4([0; 4].into())),
            ),
        );
        let b = RateKey::new(
            "c",
            Subject::Ip(
                "2001:db8:1:2:bbbb::9"
                    .parse()
                    .unwrap_or(IpAddr::V4([0; 4].into())),
            ),
        );
        assert_eq!(a.storage_key(), b.storage_key());
        let m = RateKey::new(
            "c",
            Subject::Ip(
                "::ffff:192.0.2.7"
                    .parse()
                    .unwrap_or(IpAddr::V4([0; 4].into())),
            ),
        );
        assert_eq!(m.storage_key(), "c:ip:192.0.2.7");
        assert_eq!(m.redacted(), "c:ip:192.0.2.0/24");
    }

    #[test]
    fn custom_values_are_hashed_and_debug_is_redacted() {
        let k = RateKey::new("reset", Subject::Custom("alice@example.com".into()));
        assert!(!k.storage_key().contains("alice"));
        assert!(!format!("{k:?}").contains("alice"));
        let u = Uuid::now_v7();
        assert!(!format!("{:?}", Subject::User(u)).contains(&u.to_string()));
    }

    #[test]
    fn quota_clamps() {
        let q = Quota::per_minute(0).with_burst(0);
        assert_eq!((q.rate(), q.burst()), (1, 1));
        assert_eq!(Quota::per_hour(3).emission_interval_us(), 1_200_000_000);
        assert_eq!(
            Quota::new(10, Duration::ZERO).period(),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        let d = Decision::from_micros(false, 1, 0, 1_500_000, 1_000_001);
        assert_eq!(d.retry_after_secs(), 2);
        assert_eq!(d.reset_after_secs(), 2);
        let d = Decision::from_micros(false, 1, 0, 0, 1);
        assert_eq!(d.retry_after_secs(), 1);
    }
}
