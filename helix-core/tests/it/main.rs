//! Integration tests of helix-core, on SQLite and PostgreSQL.

mod audit;
mod http;
mod kernel;
mod list;
mod outbox;
