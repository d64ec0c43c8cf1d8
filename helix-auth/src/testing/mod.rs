//! Test support (feature `testing`; never enable it in production builds).
//!
//! - [`oidc_provider`]: a local OpenID Connect provider stand-in that speaks the real
//!   protocol (discovery, JWKS, authorization endpoint with PKCE, token endpoint), for
//!   end-to-end tests of [`crate::oidc`].

pub mod oidc_provider;
