//! The configured providers and their discovery documents, fetched lazily and cached, so a
//! provider being down never blocks the boot (only its own sign-ins answer 503).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreClientAuthMethod, CoreProviderMetadata};
use openidconnect::{IssuerUrl, RedirectUrl};

use super::config::{OidcConfig, OidcProviderConfig};
use super::error::OidcError;
use crate::error::{AuthError, Result};

/// One configured provider and its cached discovery document (with its keys).
pub(crate) struct Provider {
    pub(crate) name: String,
    pub(crate) config: OidcProviderConfig,
    pub(crate) issuer: IssuerUrl,
    cache: tokio::sync::Mutex<Option<(CoreProviderMetadata, DateTime<Utc>)>>,
}

impl Provider {
    /// Whether the token endpoint takes the client secret in the body rather than HTTP
    /// Basic (only when the provider advertises `client_secret_post` and not `_basic`).
    pub(crate) fn secret_in_body(metadata: &CoreProviderMetadata) -> bool {
        metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                !methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && methods.contains(&CoreClientAuthMethod::ClientSecretPost)
            })
    }
}

/// The providers of an [`OidcConfig`], and the HTTP client that talks to them.
pub(crate) struct OidcProviders {
    pub(crate) config: OidcConfig,
    providers: BTreeMap<String, Arc<Provider>>,
    pub(crate) http: reqwest::Client,
}

impl std::fmt::Debug for OidcProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviders")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl OidcProviders {
    /// Checks `config` (issuers, redirect URIs) without any network access.
    pub(crate) fn new(config: OidcConfig) -> Result<Self> {
        let bad = |m: String| AuthError::Core(helix_core::Error::Config(m));
        if config.state_ttl_secs == 0 || config.discovery_ttl_secs == 0 {
            return Err(bad(
                "auth.oidc: state_ttl_secs and discovery_ttl_secs must be at least 1".into(),
            ));
        }
        for uri in &config.allowed_redirect_uris {
            RedirectUrl::new(uri.clone()).map_err(|_| {
                bad(format!(
                    "auth.oidc.allowed_redirect_uris: `{uri}` is not a URL"
                ))
            })?;
        }
        let mut providers = BTreeMap::new();
        for (name, p) in &config.providers {
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid_name {
                return Err(bad(format!(
                    "auth.oidc.providers: `{name}` must be lowercase letters, digits, `-` or `_`"
                )));
            }
            let issuer = p
                .issuer_url()
                .and_then(|u| IssuerUrl::new(u).map_err(|_| "the issuer is not a URL".into()))
                .map_err(|m| bad(format!("auth.oidc.providers.{name}: {m}")))?;
            RedirectUrl::new(p.redirect_uri.clone()).map_err(|_| {
                bad(format!(
                    "auth.oidc.providers.{name}.redirect_uri is not a URL"
                ))
            })?;
            if p.client_id.trim().is_empty() {
                return Err(bad(format!(
                    "auth.oidc.providers.{name}.client_id is required"
                )));
            }
            providers.insert(
                name.clone(),
                Arc::new(Provider {
                    name: name.clone(),
                    config: p.clone(),
                    issuer,
                    cache: tokio::sync::Mutex::new(None),
                }),
            );
        }
        // Never follow redirects from a provider (SSRF), and bound every request.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(config.http_timeout_secs.max(1)))
            .build()
            .map_err(|_| bad("auth.oidc: the HTTP client cannot be built".into()))?;
        Ok(Self {
            config,
            providers,
            http,
        })
    }

    /// The provider called `name`.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Provider>> {
        self.providers
            .get(name)
            .cloned()
            .ok_or(AuthError::Oidc(OidcError::UnknownProvider))
    }

    /// The provider's discovery document and keys: cached for `discovery_ttl_secs`, fetched
    /// on first use. A failure is not cached (the next sign-in tries again).
    pub(crate) async fn metadata(
        &self,
        provider: &Provider,
        now: DateTime<Utc>,
    ) -> Result<CoreProviderMetadata> {
        let ttl = chrono::Duration::seconds(
            i64::try_from(self.config.discovery_ttl_secs).unwrap_or(i64::MAX / 1000),
        );
        let mut cache = provider.cache.lock().await;
        if let Some((metadata, fetched_at)) = cache.as_ref()
            && now < *fetched_at + ttl
            && *fetched_at <= now
        {
            return Ok(metadata.clone());
        }
        match CoreProviderMetadata::discover_async(provider.issuer.clone(), &self.http).await {
            Ok(metadata) => {
                *cache = Some((metadata.clone(), now));
                Ok(metadata)
            }
            Err(e) => {
                tracing::warn!(
                    oidc.provider = %provider.name,
                    error.kind = discovery_error_kind(&e),
                    "OpenID Connect discovery failed"
                );
                Err(AuthError::Oidc(OidcError::ProviderUnavailable))
            }
        }
    }
}

fn discovery_error_kind<E: std::error::Error + 'static>(
    e: &openidconnect::DiscoveryError<E>,
) -> &'static str {
    match e {
        openidconnect::DiscoveryError::Request(_) => "request",
        openidconnect::DiscoveryError::Response(..) => "response",
        openidconnect::DiscoveryError::Parse(_) => "parse",
        openidconnect::DiscoveryError::Validation(_) => "validation",
        openidconnect::DiscoveryError::UrlParse(_) => "url",
        _ => "other",
    }
}
