//! [`OidcConfig`]: the OpenID Connect providers a product accepts, and where sign-ins may
//! return to.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// OpenID Connect sign-in settings. Empty by default: no provider, no OIDC sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The providers, by the name used in the routes (`/api/v1/auth/oidc/{name}/...`).
    pub providers: BTreeMap<String, OidcProviderConfig>,
    /// Where a sign-in may return to afterwards (exact matches). A `redirect_uri` asked for
    /// at `authorize` that is not listed here is refused.
    pub allowed_redirect_uris: Vec<String>,
    /// How long a sign-in attempt (its `state`, `nonce` and PKCE verifier) stays usable, in
    /// seconds (10 minutes).
    pub state_ttl_secs: u64,
    /// How long a provider's discovery document and keys are cached, in seconds (1 hour).
    pub discovery_ttl_secs: u64,
    /// Timeout of each request to a provider, in seconds.
    pub http_timeout_secs: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            providers: BTreeMap::new(),
            allowed_redirect_uris: Vec::new(),
            state_ttl_secs: 10 * 60,
            discovery_ttl_secs: 60 * 60,
            http_timeout_secs: 10,
        }
    }
}

/// Well-known issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OidcPreset {
    /// Google: issuer `https://accounts.google.com`.
    Google,
    /// Microsoft Entra ID: issuer `https://login.microsoftonline.com/{tenant}/v2.0`; needs
    /// [`OidcProviderConfig::tenant`] (a tenant id or domain). The multi-tenant aliases
    /// `common`, `organizations` and `consumers` are refused: their discovery document names
    /// the templated issuer `https://login.microsoftonline.com/{tenantid}/v2.0`, which no
    /// ID token carries, so strict issuer validation could never pass.
    Microsoft,
}

/// One OpenID Connect provider. `Debug` redacts the client secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer URL, discovered at `{issuer}/.well-known/openid-configuration`. Exactly one
    /// of `issuer` and `preset` is required.
    #[serde(default)]
    pub issuer: Option<String>,
    /// A well-known issuer instead of `issuer`.
    #[serde(default)]
    pub preset: Option<OidcPreset>,
    /// The Microsoft tenant (id or domain), with `preset = "microsoft"` only.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The client id registered with the provider.
    pub client_id: String,
    /// The client secret (confidential client). Secret: never logged or printed.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<ClientSecret>,
    /// The redirect URI registered with the provider: the page that receives `code` and
    /// `state` and posts them to `/api/v1/auth/oidc/{provider}/callback`.
    pub redirect_uri: String,
    /// Scopes asked for besides `openid` (default `email`, `profile`).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Whether a sign-in whose provider-verified e-mail matches an existing account links
    /// to that account (default `false`: it is refused with `ACCOUNT_EXISTS_LINK_REQUIRED`).
    /// Enable only for providers that own the e-mail domains they assert.
    #[serde(default)]
    pub link_verified_email: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

impl OidcProviderConfig {
    /// A provider discovered at `issuer`, with the default scopes and no linking by e-mail.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<ClientSecret>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            issuer: Some(issuer.into()),
            preset: None,
            tenant: None,
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            scopes: default_scopes(),
            link_verified_email: false,
        }
    }

    /// The issuer URL, from `issuer` or the preset.
    pub fn issuer_url(&self) -> Result<String, String> {
        match (&self.issuer, self.preset) {
            (Some(issuer), None) => Ok(issuer.trim_end_matches('/').to_owned()),
            (None, Some(OidcPreset::Google)) => Ok("https://accounts.google.com".into()),
            (None, Some(OidcPreset::Microsoft)) => {
                let tenant = self
                    .tenant
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or("`preset = \"microsoft\"` needs `tenant` (a tenant id or domain)")?;
                if matches!(
                    tenant.to_ascii_lowercase().as_str(),
                    "common" | "organizations" | "consumers"
                ) {
                    return Err(format!(
                        "Microsoft tenant `{tenant}` is multi-tenant: its issuer cannot be \
                         validated; configure a tenant id or domain"
                    ));
                }
                if !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                {
                    return Err("the Microsoft tenant must be a tenant id or domain".into());
                }
                Ok(format!("https://login.microsoftonline.com/{tenant}/v2.0"))
            }
            (Some(_), Some(_)) => Err("set either `issuer` or `preset`, not both".into()),
            (None, None) => Err("needs `issuer` or `preset`".into()),
        }
    }
}

impl fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("issuer", &self.issuer)
            .field("preset", &self.preset)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("link_verified_email", &self.link_verified_email)
            .finish()
    }
}

/// An OAuth client secret: redacted `Debug`, zeroed on drop, never serialized back.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(Zeroizing<String>);

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Zeroizing::new(secret.into()))
    }

    /// The secret text, for the token request. Handle it as a secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

impl Serialize for ClientSecret {
    /// Serializes as `"[REDACTED]"`: a secret never leaves through a configuration dump.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_and_presets_resolve() {
        let mut p = OidcProviderConfig::new(
            "https://id.example.com/",
            "client",
            Some(ClientSecret::new("hunter2-secret")),
            "https://app.example.com/cb",
        );
        assert!(!format!("{p:?}").contains("hunter2"));
        assert_eq!(p.issuer_url().unwrap(), "https://id.example.com");
        p.issuer = None;
        p.preset = Some(OidcPreset::Google);
        assert_eq!(p.issuer_url().unwrap(), "https://accounts.google.com");
        p.preset = Some(OidcPreset::Microsoft);
        assert!(p.issuer_url().is_err());
        p.tenant = Some("common".into());
        assert!(p.issuer_url().unwrap_err().contains("multi-tenant"));
        p.tenant = Some("contoso.onmicrosoft.com".into());
        assert_eq!(
            p.issuer_url().unwrap(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"
        );
        let json: OidcProviderConfig = serde_json::from_str(
            r#"{"preset": "google", "client_id": "c", "client_secret": "s3cr3t", "redirect_uri": "https://a/cb"}"#,
        )
        .unwrap();
        assert_eq!(json.scopes, ["email", "profile"]);
        assert!(!json.link_verified_email);
        assert!(!serde_json::to_string(&json).unwrap().contains("s3cr3t"));
    }
}
