//! The login ceiling: argon2id verifications with the server's parameters on every core,
//! through helix-auth's own [`PasswordHasher`] (the blocking pool, bounded by the number of
//! cores, exactly as the server runs it).

use std::time::{Duration, Instant};

use helix_auth::{Argon2Config, Password, PasswordHasher};

use crate::seed::PASSWORD;
use crate::stats::{Latencies, Row};

/// Verifies the bench password against its hash for `duration` on every core.
pub async fn ceiling(duration: Duration) -> anyhow::Result<Row> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hasher = PasswordHasher::new(Argon2Config::default(), cores)?;
    let password = Password::new(PASSWORD);
    let hash = hasher.hash(&password).await?;
    let start = Instant::now();
    let deadline = start + duration;
    // One caller per permit: each latency is one hash, and every core stays busy.
    let tasks: Vec<_> = (0..cores)
        .map(|_| {
            let hasher = hasher.clone();
            let password = password.clone();
            let hash = hash.clone();
            tokio::spawn(async move {
                let mut lat = Latencies::new();
                let (mut ok, mut errors) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match hasher.verify(&password, &hash).await {
                        Ok(v) if v.is_match() => ok += 1,
                        _ => errors += 1,
                    }
                    lat.record(t.elapsed());
                }
                (lat, ok, errors)
            })
        })
        .collect();
    let mut row = Row {
        target: "argon2".into(),
        backend: "-".into(),
        scenario: "argon2".into(),
        connections: cores,
        note: format!(
            "m={} KiB t={} p={}, {cores} cores",
            Argon2Config::default().memory_kib,
            Argon2Config::default().iterations,
            Argon2Config::default().parallelism
        ),
        ..Row::default()
    };
    let mut all = Latencies::new();
    for t in tasks {
        let (lat, ok, errors) = t.await?;
        all.merge(lat);
        row.ok += ok;
        row.errors += errors;
    }
    row.elapsed = start.elapsed();
    row.latency = all.summary();
    Ok(row)
}
