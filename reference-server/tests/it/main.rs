//! End-to-end tests of the reference server over real HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
mod glue;
mod mail;
mod openapi;
mod production_roles;
mod revocation;
mod server;
mod support;
