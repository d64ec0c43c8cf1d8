//! Integration tests of helix-core, on SQLite and PostgreSQL.

mod audit;
mod kernel;
mod outbox;
