//! # helix-bench
//!
//! Load test of the Helix reference server, side by side with the bare axum + sqlx "floor"
//! server, on loopback:
//!
//! ```text
//! cargo run --release -p helix-bench -- all --db sqlite,postgres --target both
//! ```
//!
//! The bench starts the server as a separate process (itself in server mode, or
//! `--server-bin`), so the load generator never shares the server's runtime and the memory
//! figures are the server's own; seeds a fresh database with bulk SQL after the server has
//! migrated it; drives N keep-alive connections for a fixed time; and reports requests/s,
//! p50/p99 latency, errors, and the server's idle and peak RSS. See `book/src/performance.md`.
#![warn(missing_docs)]

pub mod argon2;
pub mod args;
pub mod bench;
pub mod client;
pub mod load;
pub mod seed;
pub mod server;
pub mod stats;
