//! End-to-end tests of the reference server over real HTTP on loopback.

mod binary;
mod server;
