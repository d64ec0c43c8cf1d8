//! Integration tests of helix-tenancy: every database test runs on SQLite and PostgreSQL.

mod common;
mod invitations;
mod isolation;
mod memberships;
mod organizations;
mod rls;
mod teams;
