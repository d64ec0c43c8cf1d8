//! Integration tests of helix-core, on SQLite and PostgreSQL.

mod kernel;
