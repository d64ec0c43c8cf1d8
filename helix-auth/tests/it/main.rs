//! Integration tests of helix-auth, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod api_keys;
#[cfg(feature = "http")]
mod http;
mod impersonation;
mod mfa;
mod oidc;
#[cfg(feature = "http")]
mod organizations;
mod passwords;
#[cfg(feature = "http")]
mod reset;
mod revocation_feed;
mod sessions;
mod support;
mod tokens;
