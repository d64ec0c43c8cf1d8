//! [`AuthConfig`]: every setting of helix-auth, with the architecture's security defaults.
//!
//! Deserialize it from the host's configuration (`deny_unknown_fields`: a typo is an error,
//! not a silently ignored setting); every field has a default, so `AuthConfig::default()` is
//! the secure baseline.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of the identity layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The product's name; the password strength check treats it as a guessable word.
    pub product_name: String,
    /// The password policy.
    pub password: PasswordPolicyConfig,
    /// argon2id cost parameters.
    pub argon2: Argon2Config,
    /// How many password hashes may run at once on the blocking pool. `None` (the default)
    /// means the machine's available parallelism.
    pub hashing_concurrency: Option<usize>,
    /// Account lockout and progressive delay.
    pub lockout: LockoutConfig,
    /// Email verification.
    pub email_verification: EmailVerificationConfig,
    /// Password reset.
    pub password_reset: PasswordResetConfig,
    /// Multi-factor authentication.
    pub mfa: MfaConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            product_name: "Helix".into(),
            password: PasswordPolicyConfig::default(),
            argon2: Argon2Config::default(),
            hashing_concurrency: None,
            lockout: LockoutConfig::default(),
            email_verification: EmailVerificationConfig::default(),
            password_reset: PasswordResetConfig::default(),
            mfa: MfaConfig::default(),
        }
    }
}

impl AuthConfig {
    /// The effective hashing concurrency: the configured value, or the available parallelism.
    pub fn effective_hashing_concurrency(&self) -> usize {
        self.hashing_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }
}

/// The password policy (architecture: 12+ characters, 3 of 4 classes, last 5 not reusable,
/// no forced rotation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicyConfig {
    /// Fewest characters (Unicode scalar values).
    pub min_length: usize,
    /// Most characters; bounds the work of the strength check and the hash.
    pub max_length: usize,
    /// How many of the four classes (lowercase, uppercase, digit, other) must appear.
    pub min_classes: u8,
    /// Lowest acceptable zxcvbn score (0–4).
    pub min_strength: u8,
    /// How many previous passwords (the current one included) may not be reused.
    pub history: usize,
}

impl Default for PasswordPolicyConfig {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            min_classes: 3,
            min_strength: 3,
            history: 5,
        }
    }
}

/// argon2id cost parameters. Defaults are OWASP's first recommendation: m = 19 MiB
/// (19456 KiB), t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Iterations (time cost).
    pub iterations: u32,
    /// Lanes (parallelism).
    pub parallelism: u32,
}

/// OWASP's argon2id memory cost, in KiB.
pub const OWASP_ARGON2_MEMORY_KIB: u32 = 19_456;
/// OWASP's argon2id iteration count.
pub const OWASP_ARGON2_ITERATIONS: u32 = 2;
/// OWASP's argon2id parallelism.
pub const OWASP_ARGON2_PARALLELISM: u32 = 1;

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: OWASP_ARGON2_MEMORY_KIB,
            iterations: OWASP_ARGON2_ITERATIONS,
            parallelism: OWASP_ARGON2_PARALLELISM,
        }
    }
}

/// Lockout after consecutive failures, and the progressive delay before answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Consecutive failed logins that lock the account.
    pub max_failures: u32,
    /// How long a lock lasts, in seconds (15 minutes).
    pub lock_secs: u64,
    /// Delay after the first recent failure, in milliseconds; it doubles with each further
    /// failure. `0` disables the delay.
    pub delay_base_ms: u64,
    /// Largest delay, in milliseconds.
    pub delay_max_ms: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_secs: 15 * 60,
            delay_base_ms: 250,
            delay_max_ms: 4_000,
        }
    }
}

impl LockoutConfig {
    /// The delay before answering a login attempt preceded by `recent_failures` failures
    /// for the same email: none for 0, then `base`, `2 × base`, `4 × base`, ... capped at
    /// `delay_max_ms`.
    pub fn delay_for(&self, recent_failures: u32) -> Duration {
        if recent_failures == 0 || self.delay_base_ms == 0 {
            return Duration::ZERO;
        }
        let shift = (recent_failures - 1).min(20);
        let ms = self
            .delay_base_ms
            .saturating_mul(1u64 << shift)
            .min(self.delay_max_ms);
        Duration::from_millis(ms)
    }

    /// The lock duration.
    pub fn lock_duration(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.lock_secs).unwrap_or(i64::MAX / 1000))
    }
}

/// Email verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailVerificationConfig {
    /// Whether an account must verify its email before it can log in.
    pub required: bool,
    /// How long a verification token is valid, in seconds (24 hours).
    pub token_ttl_secs: u64,
    /// How many verification emails one account may be sent per hour (registration included).
    pub max_sends_per_hour: u32,
}

impl Default for EmailVerificationConfig {
    fn default() -> Self {
        Self {
            required: true,
            token_ttl_secs: 24 * 60 * 60,
            max_sends_per_hour: 3,
        }
    }
}

impl EmailVerificationConfig {
    /// The token lifetime.
    pub fn token_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.token_ttl_secs).unwrap_or(i64::MAX / 1000))
    }
}

/// Password reset (architecture: 3 requests per hour per account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordResetConfig {
    /// How long a reset token is valid, in seconds (1 hour).
    pub token_ttl_secs: u64,
    /// How many reset emails one account may be sent per hour (a sliding hour, counted in
    /// the database so every server instance agrees).
    pub max_requests_per_hour: u32,
}

impl Default for PasswordResetConfig {
    fn default() -> Self {
        Self {
            token_ttl_secs: 60 * 60,
            max_requests_per_hour: 3,
        }
    }
}

impl PasswordResetConfig {
    /// The token lifetime.
    pub fn token_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.token_ttl_secs).unwrap_or(i64::MAX / 1000))
    }
}

/// Multi-factor authentication (TOTP per RFC 6238 and backup codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// The issuer shown by authenticator apps (`otpauth://totp/<issuer>:<email>`); empty
    /// means the product name.
    pub issuer: String,
    /// How many 30-second steps before and after the current one a code may come from
    /// (clock skew; 1, at most 2).
    pub skew_steps: u8,
    /// How long the MFA token of a login lasts, in seconds (5 minutes).
    pub challenge_ttl_secs: u64,
    /// Wrong codes after which an MFA token dies (5).
    pub max_challenge_attempts: u32,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            skew_steps: 1,
            challenge_ttl_secs: 5 * 60,
            max_challenge_attempts: 5,
        }
    }
}

impl MfaConfig {
    /// The MFA token lifetime.
    pub fn challenge_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.challenge_ttl_secs).unwrap_or(i64::MAX / 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_and_caps() {
        let l = LockoutConfig::default();
        assert_eq!(l.delay_for(0), Duration::ZERO);
        assert_eq!(l.delay_for(1), Duration::from_millis(250));
        assert_eq!(l.delay_for(2), Duration::from_millis(500));
        assert_eq!(l.delay_for(3), Duration::from_millis(1000));
        assert_eq!(l.delay_for(10), Duration::from_millis(4000));
        assert_eq!(l.delay_for(u32::MAX), Duration::from_millis(4000));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<AuthConfig>(r#"{"lockout": {"max_failure": 3}}"#);
        assert!(err.is_err());
        let ok: AuthConfig = serde_json::from_str(r#"{"lockout": {"max_failures": 3}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.lockout.max_failures, 3);
        assert_eq!(ok.lockout.lock_secs, 900);
    }
}
