//! Integration tests of helix-core, on SQLite and PostgreSQL.

mod audit;
mod http;
mod list;
mod kernel;
mod outbox;
