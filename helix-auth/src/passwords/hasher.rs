//! [`PasswordHasher`]: argon2id on tokio's blocking pool, bounded by a semaphore so hashing
//! never stalls the async runtime and never takes more cores than configured.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

use super::Password;
use crate::config::Argon2Config;
use crate::error::{AuthError, Result};

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password does not match.
    Mismatch,
    /// The password matches.
    Match {
        /// The stored hash was made with other parameters (or another algorithm/version)
        /// than the configured ones: hash the password again and store the new hash.
        needs_rehash: bool,
    },
}

impl Verification {
    /// Whether the password matched.
    pub fn is_match(self) -> bool {
        matches!(self, Self::Match { .. })
    }
}

/// Counters of the hasher's blocking jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherStats {
    /// The configured bound.
    pub max_concurrency: usize,
    /// Jobs running right now.
    pub in_flight: usize,
    /// The most jobs that ever ran at once.
    pub peak_in_flight: usize,
}

struct Inner {
    argon2: Argon2<'static>,
    config: Argon2Config,
    dummy_hash: String,
    max_concurrency: usize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// argon2id hashing and verification. Cheap to clone; clones share the bound.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("argon2", &self.inner.config)
            .field("max_concurrency", &self.inner.max_concurrency)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `config`'s parameters running at most `max_concurrency` hashes at once.
    /// Computes the dummy hash used by [`PasswordHasher::dummy_verify`] (one hash, on the
    /// calling thread).
    pub fn new(config: Argon2Config, max_concurrency: usize) -> Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| {
            AuthError::Core(helix_core::Error::Config(format!(
                "invalid argon2 parameters: {e}"
            )))
        })?;
        if max_concurrency == 0 {
            return Err(AuthError::Core(helix_core::Error::Config(
                "auth.hashing_concurrency must be at least 1".into(),
            )));
        }
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let dummy_hash = hash_with(&argon2, &hex::encode(random))?;
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                config,
                dummy_hash,
                max_concurrency,
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
            permits: Arc::new(Semaphore::new(max_concurrency)),
        })
    }

    /// The configured parameters.
    pub fn config(&self) -> Argon2Config {
        self.inner.config
    }

    /// Hashes `password` with a fresh 128-bit salt; returns the PHC string
    /// (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let password = password.clone();
        self.run(move |argon2| hash_with(argon2, password.expose()))
            .await?
    }

    /// Checks `password` against the stored PHC `hash`, and reports whether the hash should
    /// be replaced because the configured parameters changed. A hash that cannot be parsed
    /// is an error (logged without its content), not a mismatch.
    pub async fn verify(&self, password: &Password, hash: &str) -> Result<Verification> {
        if hash == super::NO_PASSWORD_HASH {
            // A password-less account: the same argon2 work, and never a match.
            self.dummy_verify(password).await;
            return Ok(Verification::Mismatch);
        }
        let password = password.clone();
        let hash = hash.to_owned();
        let config = self.inner.config;
        self.run(move |argon2| {
            let parsed = PasswordHash::new(&hash).map_err(|_| {
                tracing::error!("stored password hash cannot be parsed");
                AuthError::Hashing
            })?;
            match argon2.verify_password(password.expose().as_bytes(), &parsed) {
                Ok(()) => Ok(Verification::Match {
                    needs_rehash: differs(&parsed, config),
                }),
                Err(argon2::password_hash::Error::Password) => Ok(Verification::Mismatch),
                Err(e) => {
                    tracing::error!(error.kind = %e, "password verification failed");
                    Err(AuthError::Hashing)
                }
            }
        })
        .await?
    }

    /// Verifies `password` against a dummy hash made with the current parameters and
    /// discards the result: an unknown account costs the same time as a known one.
    pub async fn dummy_verify(&self, password: &Password) {
        let password = password.clone();
        let inner = self.inner.clone();
        let _ = self
            .run(move |argon2| {
                if let Ok(parsed) = PasswordHash::new(&inner.dummy_hash) {
                    let _ = argon2.verify_password(password.expose().as_bytes(), &parsed);
                }
            })
            .await;
    }

    /// Whether `hash` was made with other parameters than the configured ones.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        PasswordHash::new(hash).map_or(true, |p| differs(&p, self.inner.config))
    }

    /// Current and peak number of hashing jobs.
    pub fn stats(&self) -> HasherStats {
        HasherStats {
            max_concurrency: self.inner.max_concurrency,
            in_flight: self.inner.in_flight.load(Ordering::SeqCst),
            peak_in_flight: self.inner.peak.load(Ordering::SeqCst),
        }
    }

    /// Runs `job` on the blocking pool once a permit is free. The permit moves into the
    /// job, so the bound holds even when the caller's future is dropped mid-hash.
    async fn run<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'static>) -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AuthError::Hashing)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            inner.peak.fetch_max(now, Ordering::SeqCst);
            let out = job(&inner.argon2);
            inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            out
        })
        .await
        .map_err(|_| {
            tracing::error!("password hashing job panicked or was cancelled");
            AuthError::Hashing
        })
    }
}

fn hash_with(argon2: &Argon2<'static>, password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| AuthError::Hashing)?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error.kind = %e, "password hashing failed");
            AuthError::Hashing
        })
}

/// Whether `hash` differs from argon2id v19 with `config`'s parameters.
fn differs(hash: &PasswordHash<'_>, config: Argon2Config) -> bool {
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.version != Some(Version::V0x13.into())
    {
        return true;
    }
    match Params::try_from(hash) {
        Ok(p) => {
            p.m_cost() != config.memory_kib
                || p.t_cost() != config.iterations
                || p.p_cost() != config.parallelism
        }
        Err(_) => true,
    }
}
