//! Integration tests of helix-auth, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
#[cfg(feature = "http")]
mod http;
mod mail;
#[cfg(feature = "http")]
mod organizations;
#[cfg(feature = "http")]
mod otp;
mod passwords;
#[cfg(feature = "http")]
mod reset;
mod sessions;
mod support;
mod tokens;
