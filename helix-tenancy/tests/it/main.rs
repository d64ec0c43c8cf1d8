//! Integration tests of helix-tenancy: every database test runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod concurrency;
mod http;
mod invitation_notifier;
mod invitations;
mod isolation;
mod memberships;
mod organizations;
mod rls;
mod teams;
