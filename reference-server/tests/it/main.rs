//! End-to-end tests of the reference server over real HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_key_abuse;
mod api_keys;
mod binary;
mod browser_sign_in;
mod cookies;
mod glue;
mod iam;
mod iam_isolation;
mod iam_platform;
mod iam_schemas;
mod impersonation;
mod invitations;
mod log_secrets;
mod mail;
mod mfa;
mod oidc;
mod openapi;
mod platform_admin;
mod production_roles;
mod revocation;
mod server;
mod support;
