//! Integration tests of helix-auth, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod api_keys;
#[cfg(feature = "http")]
mod http;
mod impersonation;
mod mail;
mod mfa;
mod oidc;
#[cfg(feature = "http")]
mod organizations;
#[cfg(feature = "http")]
mod otp;
mod passwords;
#[cfg(feature = "http")]
mod reset;
mod revocation_feed;
mod sessions;
mod smtp_tls;
mod support;
mod tenant_mail;
mod tokens;
