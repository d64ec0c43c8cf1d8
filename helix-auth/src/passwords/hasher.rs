//! [`PasswordHasher`]: argon2id on tokio's blocking pool, bounded by a semaphore so hashing
//! never stalls the async runtime and never takes more cores than configured.
//!
//! Each running hash works in one of at most `max_concurrency` memory buffers (`m_cost`
//! KiB each, 19 MiB at the OWASP parameters) that the hasher keeps and reuses, instead of
//! allocating a fresh buffer per hash. A fresh 19 MiB allocation per hash, made and freed on
//! whichever blocking-pool thread runs it, leaves a freed block cached in many of glibc's
//! per-thread malloc arenas: the process's resident memory after a login storm grew to
//! hundreds of MiB, bounded by the number of arenas rather than by the hashing bound. With
//! reused buffers the argon2 memory is `max_concurrency × m_cost` for the life of the
//! process, and no hash pays for page faults on new memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    params: Params,
    config: Argon2Config,
    /// Argon2 working memory of finished hashes, for the next ones: at most one per permit.
    buffers: Mutex<Vec<Vec<Block>>>,
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
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let mut memory = Vec::new();
        let dummy_hash = hash_with(&argon2, &params, &hex::encode(random), &mut memory)?;
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                params,
                config,
                buffers: Mutex::new(vec![memory]),
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
        self.run(move |inner, memory| {
            hash_with(&inner.argon2, &inner.params, password.expose(), memory)
        })
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
        self.run(move |_, memory| {
            let parsed = PasswordHash::new(&hash).map_err(|_| {
                tracing::error!("stored password hash cannot be parsed");
                AuthError::Hashing
            })?;
            match verify_with(password.expose().as_bytes(), &parsed, memory) {
                Ok(true) => Ok(Verification::Match {
                    needs_rehash: differs(&parsed, config),
                }),
                Ok(false) => Ok(Verification::Mismatch),
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
        let _ = self
            .run(move |inner, memory| {
                if let Ok(parsed) = PasswordHash::new(&inner.dummy_hash) {
                    let _ = verify_with(password.expose().as_bytes(), &parsed, memory);
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

    /// Runs `job` on the blocking pool once a permit is free, with a reused working-memory
    /// buffer (empty the first time: the job sizes it). The permit moves into the job, so the
    /// bound holds even when the caller's future is dropped mid-hash; the buffer goes back
    /// before the permit is released, so there are never more buffers than permits.
    async fn run<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &mut Vec<Block>) -> T + Send + 'static,
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
            let mut memory = inner
                .buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default();
            let out = job(&inner, &mut memory);
            // Wipe before keeping or freeing: the blocks are derived from the password, and
            // a memory dump of a kept (or reused) buffer would let guesses be tested without
            // the memory cost. The buffer is read again by the next hash, so these writes
            // are not elided.
            memory.fill(Block::default());
            if memory.len() > inner.params.block_count() {
                // A stored hash with a larger memory cost than configured (the parameters
                // were lowered): do not keep its memory.
                memory = Vec::new();
            }
            inner
                .buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(memory);
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

/// `memory` grown to the block count of `params` (it keeps its size for the next hash).
fn working_memory<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    &mut memory[..needed]
}

/// Argon2 of `password` and `salt` into an output of `output_len` bytes, in `memory`.
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    memory: &mut Vec<Block>,
) -> std::result::Result<Output, argon2::password_hash::Error> {
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks = working_memory(memory, params);
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut *blocks)
            .map_err(Into::into)
    })
}

/// Hashes `password` with a fresh 128-bit salt into a PHC string (what `argon2`'s
/// `PasswordHasher::hash_password` makes), working in `memory`.
fn hash_with(
    argon2: &Argon2<'static>,
    params: &Params,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String> {
    let failed = |e: argon2::password_hash::Error| {
        tracing::error!(error.kind = %e, "password hashing failed");
        AuthError::Hashing
    };
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt_string = SaltString::encode_b64(&salt).map_err(|_| AuthError::Hashing)?;
    let output = compute(argon2, params, password.as_bytes(), &salt, memory).map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(failed)?,
        salt: Some(salt_string.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC `hash`, computed with the hash's own algorithm,
/// version, parameters and salt (what `argon2`'s `PasswordVerifier` does), working in
/// `memory`. The outputs are compared in constant time (`Output`'s `PartialEq`). A hash
/// without salt or output never matches.
fn verify_with(
    password: &[u8],
    hash: &PasswordHash<'_>,
    memory: &mut Vec<Block>,
) -> std::result::Result<bool, argon2::password_hash::Error> {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(hash.algorithm)?;
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(hash)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let computed = compute(&argon2, &params, password, salt, memory)?;
    Ok(computed == *expected)
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

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    const PASSWORD: &str = "Correct-Horse-Battery-9";

    fn small() -> Argon2Config {
        Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn reference(config: Argon2Config) -> Argon2<'static> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    #[tokio::test]
    async fn hashes_are_interchangeable_with_the_argon2_crates_own() {
        let hasher = PasswordHasher::new(small(), 2).unwrap();
        let password = Password::new(PASSWORD.to_owned());
        // Ours, checked by the argon2 crate.
        let ours = hasher.hash(&password).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            reference(small())
                .verify_password(PASSWORD.as_bytes(), &parsed)
                .is_ok()
        );
        assert!(
            reference(small())
                .verify_password(b"Correct-Horse-Battery-8", &parsed)
                .is_err()
        );
        // The argon2 crate's, checked by ours, including other parameters and lanes.
        for config in [
            small(),
            Argon2Config {
                memory_kib: 512,
                iterations: 2,
                parallelism: 2,
            },
        ] {
            let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
            let theirs = reference(config)
                .hash_password(PASSWORD.as_bytes(), &salt)
                .unwrap()
                .to_string();
            assert_eq!(
                hasher.verify(&password, &theirs).await.unwrap(),
                Verification::Match {
                    needs_rehash: config != small()
                }
            );
            assert_eq!(
                hasher
                    .verify(&Password::new(format!("{PASSWORD}!")), &theirs)
                    .await
                    .unwrap(),
                Verification::Mismatch
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn working_memory_is_reused_never_more_buffers_than_permits() {
        let hasher = PasswordHasher::new(small(), 2).unwrap();
        let stored = hasher
            .hash(&Password::new(PASSWORD.to_owned()))
            .await
            .unwrap();
        let jobs: Vec<_> = (0..16)
            .map(|i| {
                let h = hasher.clone();
                let stored = stored.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        h.hash(&Password::new(format!("{PASSWORD}{i}"))).await?;
                    } else {
                        let v = h
                            .verify(&Password::new(PASSWORD.to_owned()), &stored)
                            .await?;
                        assert!(v.is_match());
                    }
                    Ok::<_, AuthError>(())
                })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        let buffers = hasher.inner.buffers.lock().unwrap();
        assert!(
            (1..=2).contains(&buffers.len()),
            "{} buffers",
            buffers.len()
        );
        let blocks = Params::new(256, 1, 1, None).unwrap().block_count();
        assert!(buffers.iter().all(|b| b.len() == blocks));
        // Kept buffers hold nothing derived from a password.
        assert!(
            buffers
                .iter()
                .flatten()
                .all(|b| AsRef::<[u64]>::as_ref(b).iter().all(|w| *w == 0))
        );
    }

    #[tokio::test]
    async fn a_costlier_stored_hash_verifies_without_keeping_its_memory() {
        let hasher = PasswordHasher::new(small(), 1).unwrap();
        let costlier = Argon2Config {
            memory_kib: 1024,
            ..small()
        };
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let stored = reference(costlier)
            .hash_password(PASSWORD.as_bytes(), &salt)
            .unwrap()
            .to_string();
        let v = hasher
            .verify(&Password::new(PASSWORD.to_owned()), &stored)
            .await
            .unwrap();
        assert_eq!(v, Verification::Match { needs_rehash: true });
        let buffers = hasher.inner.buffers.lock().unwrap();
        let configured = Params::new(256, 1, 1, None).unwrap().block_count();
        assert!(buffers.iter().all(|b| b.len() <= configured));
    }
}
