//! Integration tests of helix-iam's storage and sync layer: every database test runs on
//! SQLite and PostgreSQL (`backend_test!`); cross-instance tests need PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assignments;
mod authorizer;
#[cfg(feature = "casbin")]
mod casbin_adapter;
mod common;
mod filtered_lists;
mod isolation;
mod management;
mod migrations;
mod platform;
mod revisions;
mod roles;
mod snapshot;
mod sync;
mod tuples;
