//! Session lifetimes.

use chrono::Duration;
use serde::Deserialize;

/// Session and refresh-token lifetimes, in seconds. The defaults are the architecture's:
/// idle 30 minutes, absolute 12 hours, admin 4 hours, impersonation 30 minutes (not
/// renewable), refresh tokens 7 days (never beyond the session's absolute lifetime), and a
/// 10-second grace window for concurrent refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused (not refreshed) for this long ends.
    pub idle_timeout_secs: u64,
    /// A normal session ends this long after sign-in, whatever its use.
    pub absolute_lifetime_secs: u64,
    /// An admin session ends this long after sign-in.
    pub admin_lifetime_secs: u64,
    /// An impersonation session ends this long after it starts; it cannot be refreshed.
    pub impersonation_lifetime_secs: u64,
    /// A refresh token expires this long after it is issued.
    pub refresh_ttl_secs: u64,
    /// A request presenting a refresh token that was rotated less than this long ago, by a
    /// concurrent request, gets `REFRESH_RACE` instead of revoking the family.
    pub refresh_grace_secs: u64,
    /// Wait for PostgreSQL to flush a refresh's rotation to disk (and for synchronous
    /// standbys) before answering (`true` by default). With `false`, a crash of the database
    /// server in the moment after an answer (by default at most about 0.6 s of commits), or
    /// a failover to a standby (up to its replication lag), can undo that rotation: the
    /// client's new refresh token is then unknown and it signs in again, while the token it
    /// presented is usable once more, as it was before it refreshed, and a copy of that
    /// token held by someone else can then be used once without tripping reuse detection.
    /// Nothing becomes valid that was not valid a moment before, and revocations and reuse
    /// detection always wait for the flush. On the 2-core bench machine, with a fast disk,
    /// not waiting made no measurable difference (see the book's performance page); it
    /// matters where the flush is slow. SQLite always waits.
    pub durable_refresh: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_lifetime_secs: 12 * 3600,
            admin_lifetime_secs: 4 * 3600,
            impersonation_lifetime_secs: 30 * 60,
            refresh_ttl_secs: 7 * 24 * 3600,
            refresh_grace_secs: 10,
            durable_refresh: true,
        }
    }
}

/// The validated lifetimes as durations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub idle: Duration,
    pub absolute: Duration,
    pub admin: Duration,
    pub impersonation: Duration,
    pub refresh_ttl: Duration,
    pub grace: Duration,
}

impl SessionConfig {
    pub(crate) fn lifetimes(&self) -> Result<Lifetimes, helix_core::Error> {
        // Ten years bounds every setting, so the arithmetic on timestamps cannot overflow.
        const MAX: u64 = 10 * 365 * 24 * 3600;
        let secs = |name: &str, v: u64| -> Result<Duration, helix_core::Error> {
            if v == 0 || v > MAX {
                return Err(helix_core::Error::Config(format!(
                    "auth.sessions.{name} must be between 1 and {MAX} seconds"
                )));
            }
            Ok(Duration::seconds(i64::try_from(v).unwrap_or(i64::MAX)))
        };
        let l = Lifetimes {
            idle: secs("idle_timeout_secs", self.idle_timeout_secs)?,
            absolute: secs("absolute_lifetime_secs", self.absolute_lifetime_secs)?,
            admin: secs("admin_lifetime_secs", self.admin_lifetime_secs)?,
            impersonation: secs(
                "impersonation_lifetime_secs",
                self.impersonation_lifetime_secs,
            )?,
            refresh_ttl: secs("refresh_ttl_secs", self.refresh_ttl_secs)?,
            grace: secs("refresh_grace_secs", self.refresh_grace_secs)?,
        };
        if l.grace >= l.idle {
            return Err(helix_core::Error::Config(
                "auth.sessions.refresh_grace_secs must be shorter than idle_timeout_secs".into(),
            ));
        }
        Ok(l)
    }
}
