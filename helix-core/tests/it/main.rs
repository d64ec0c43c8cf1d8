//! Integration tests of helix-core, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod http;
mod kernel;
mod list;
mod outbox;
mod ratelimit;
mod tenant_tx;
