//! Configuration: defaults, then a TOML file, then `HELIX__...` environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use helix_core::PoolOptions;
use serde::{Deserialize, Serialize};

/// Everything the server can be told.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// HTTP listener.
    pub server: ServerSettings,
    /// Database connection.
    pub database: DatabaseSettings,
    /// Logging.
    pub log: LogSettings,
    /// Background outbox dispatcher.
    pub outbox: OutboxSettings,
    /// Periodic maintenance (audit retention, expired idempotency keys).
    pub jobs: JobsSettings,
    /// Identity: tokens, sessions, accounts.
    pub auth: AuthSettings,
    /// Organizations.
    pub tenancy: TenancySettings,
}

/// Organization settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenancySettings {
    /// The region (`us`, `eu` or `uk`) new organizations are pinned to when the request
    /// names none, and the region of personal organizations (`HELIX__TENANCY__DEFAULT_REGION`).
    pub default_region: String,
}

impl Default for TenancySettings {
    fn default() -> Self {
        Self {
            default_region: "us".into(),
        }
    }
}

impl TenancySettings {
    /// The parsed default region.
    pub fn region(&self) -> Result<helix_tenancy::Region, SettingsError> {
        self.default_region.parse().map_err(|_| SettingsError::Bad {
            key: "tenancy.default_region",
            reason: format!(
                "`{}` is not a region: expected `us`, `eu` or `uk`",
                self.default_region
            ),
        })
    }
}

/// Impersonation settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImpersonationSettings {
    /// The platform-support accounts, by id (UUID) or e-mail address: they may impersonate
    /// users and cannot be impersonated. Empty (the default): nobody may impersonate.
    pub support_accounts: Vec<String>,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Listen address (`HELIX__SERVER__ADDR`); port 0 picks a free port.
    pub addr: String,
    /// How long in-flight requests may run after a shutdown signal, in seconds.
    pub shutdown_grace_secs: u64,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Longest a request may run, in seconds.
    pub request_timeout_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            shutdown_grace_secs: 20,
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
        }
    }
}

/// Database settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite:` or `postgres:` URL (`HELIX__DATABASE__URL`). May hold a password: never
    /// printed.
    pub url: String,
    /// Pool settings.
    #[serde(skip_serializing)]
    pub pool: PoolOptions,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite:./helix.db".into(),
            pool: PoolOptions::default(),
        }
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &helix_core::db::redact_url(&self.url))
            .field("pool", &self.pool)
            .finish()
    }
}

/// Log output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (default) or `pretty`.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `helix_core=debug,info`).
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// Outbox dispatcher settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// Run the dispatcher in this process.
    pub enabled: bool,
    /// Poll interval in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 500,
        }
    }
}

/// Maintenance job settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSettings {
    /// Run maintenance in this process (one instance is enough; running it on several is safe).
    pub enabled: bool,
    /// Seconds between passes.
    pub interval_secs: u64,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 3600,
        }
    }
}

/// Identity settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The `iss` of access tokens.
    pub issuer: String,
    /// The `aud` of access tokens.
    pub audience: String,
    /// The active signing key (`kid`, `private_key`: Ed25519 PKCS#8 PEM or base64 seed).
    /// Required on PostgreSQL; on SQLite (development) a missing key is replaced by an
    /// ephemeral one, with a warning. Secret: never printed.
    #[serde(skip_serializing)]
    pub signing_key: Option<helix_auth::tokens::SigningKeyConfig>,
    /// Previous keys whose tokens still verify during a rotation.
    #[serde(skip_serializing)]
    pub previous_keys: Vec<helix_auth::tokens::SigningKeyConfig>,
    /// Access-token lifetime in seconds (at most 3600).
    pub access_token_ttl_secs: u64,
    /// Password policy, hashing, lockout and e-mail verification.
    pub accounts: helix_auth::AuthConfig,
    /// Session and refresh-token lifetimes.
    #[serde(skip_serializing)]
    pub sessions: helix_auth::sessions::SessionConfig,
    /// Where the development mailbox (`auth.mail.transport = "file"`) writes mails.
    pub mail_dir: String,
    /// Transactional e-mail: sender, links, transport.
    pub mail: MailSettings,
    /// One-time codes: limits and the SMS/WhatsApp provider.
    pub otp: OtpSettings,
    /// The active key that encrypts secrets at rest (`id`, `key`: base64 of 32 bytes, e.g.
    /// `openssl rand -base64 32`). Required on PostgreSQL; on SQLite (development) a missing
    /// key is generated once and kept in [`AuthSettings::dev_encryption_key_file`], with a
    /// warning. Secret: never printed.
    #[serde(skip_serializing)]
    pub encryption_key: Option<helix_auth::crypto::EncryptionKeyConfig>,
    /// Retired encryption keys: values sealed under them still open (and are re-sealed
    /// under the active key when next written).
    #[serde(skip_serializing)]
    pub retired_encryption_keys: Vec<helix_auth::crypto::EncryptionKeyConfig>,
    /// Where the SQLite development default keeps its generated encryption key (never used
    /// on PostgreSQL).
    pub dev_encryption_key_file: String,
    /// Who may impersonate users (platform support).
    pub impersonation: ImpersonationSettings,
    /// Sign in with OpenID Connect: `auth.oidc.providers.<name> = { issuer | preset,
    /// client_id, client_secret, redirect_uri, scopes, link_verified_email }` and
    /// `auth.oidc.allowed_redirect_uris`. Client secrets are redacted in `Debug` and never
    /// serialized.
    #[serde(skip_serializing)]
    pub oidc: helix_auth::oidc::OidcConfig,
    /// API keys: `hash_key` (base64, at least 32 bytes; the server secret of the keyed hash
    /// of every key, and the root of the CSRF-token key) is required on PostgreSQL; on
    /// SQLite (development) a missing key is replaced by an ephemeral one, with a warning.
    /// Secret: never printed.
    #[serde(skip_serializing)]
    pub api_keys: helix_auth::api_keys::ApiKeyConfig,
    /// Browser sessions: `secure` (default `true`) and `allowed_origins`.
    #[serde(skip_serializing)]
    pub cookies: helix_auth::http::CookieConfig,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "helix".into(),
            audience: "helix".into(),
            signing_key: None,
            previous_keys: Vec::new(),
            access_token_ttl_secs: 600,
            accounts: helix_auth::AuthConfig::default(),
            sessions: helix_auth::sessions::SessionConfig::default(),
            mail_dir: "./helix-mail".into(),
            mail: MailSettings::default(),
            otp: OtpSettings::default(),
            encryption_key: None,
            retired_encryption_keys: Vec::new(),
            dev_encryption_key_file: "./helix-dev-encryption.key".into(),
            impersonation: ImpersonationSettings::default(),
            oidc: helix_auth::oidc::OidcConfig::default(),
            api_keys: helix_auth::api_keys::ApiKeyConfig::default(),
            cookies: helix_auth::http::CookieConfig::default(),
        }
    }
}

/// Where mails go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    /// The development mailbox: one file per mail in `auth.mail_dir`.
    File,
    /// An SMTP server (`auth.mail.smtp`).
    Smtp,
}

/// Transactional e-mail settings (`auth.mail.*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// The `From` address.
    pub from: String,
    /// The base URL of the web front end that mail links point to.
    pub base_url: String,
    /// The product name in subjects and texts.
    pub product_name: String,
    /// Mail the account after a sign-in from a new device (IP address and user agent).
    pub new_sign_in: bool,
    /// The longest one send may take, in milliseconds (below the outbox handler timeout).
    pub send_timeout_ms: u64,
    /// `file` (default, the development mailbox) or `smtp`.
    pub transport: MailTransportKind,
    /// SMTP server (host, port, security `starttls`/`tls`/`none`, username, password,
    /// hello_name, timeout_ms). The password is never printed.
    pub smtp: helix_auth::mail::SmtpConfig,
}

impl Default for MailSettings {
    fn default() -> Self {
        let c = helix_auth::mail::MailConfig::default();
        Self {
            from: c.from,
            base_url: c.base_url,
            product_name: c.product_name,
            new_sign_in: c.new_sign_in,
            send_timeout_ms: c.send_timeout_ms,
            transport: MailTransportKind::File,
            smtp: helix_auth::mail::SmtpConfig::default(),
        }
    }
}

/// One-time-code settings (`auth.otp.*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtpSettings {
    /// Serve `PUT/GET /api/v1/auth/phone` and `POST /api/v1/auth/otp/{send,verify}`.
    pub enabled: bool,
    /// Code length, validity, send and verify limits, lockout.
    pub limits: helix_auth::otp::OtpConfig,
    /// Twilio's Messages API for SMS and WhatsApp. Without it, text messages are written
    /// to the development mailbox (`auth.mail_dir`, `<id>.sms.txt`).
    pub twilio: Option<helix_auth::otp::TwilioConfig>,
}

impl Default for OtpSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            limits: helix_auth::otp::OtpConfig::default(),
            twilio: None,
        }
    }
}

/// A setting that stops the boot, with the name of the setting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The sources could not be read or did not fit the schema.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A value is out of range or malformed.
    #[error("invalid setting `{key}`: {reason}")]
    Bad {
        /// The dotted setting name (`server.addr`).
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl Settings {
    /// Loads defaults, then `file` (when given; it must exist), then `HELIX__...` variables
    /// (`HELIX__SERVER__ADDR` sets `server.addr`).
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError::Invalid(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(Env::prefixed("HELIX__").split("__").lowercase(true));
        // figment's messages name the key and may echo the offending value: mask any
        // credentials before the message is shown.
        let settings: Settings = fig
            .extract()
            .map_err(|e| SettingsError::Invalid(helix_core::db::redact_url(&e.to_string())))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that the types alone do not.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.listen_addr()?;
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(SettingsError::Bad {
                key: "database.url",
                reason: "must start with `sqlite:` or `postgres:`".into(),
            });
        }
        if self.database.pool.max_connections == 0 {
            return Err(SettingsError::Bad {
                key: "database.pool.max_connections",
                reason: "must be at least 1".into(),
            });
        }
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if postgres && self.auth.signing_key.is_none() {
            return Err(SettingsError::Bad {
                key: "auth.signing_key",
                reason: "required on PostgreSQL (set HELIX__AUTH__SIGNING_KEY__KID and \
                         HELIX__AUTH__SIGNING_KEY__PRIVATE_KEY); only the SQLite development \
                         default may sign with an ephemeral key"
                    .into(),
            });
        }
        if postgres && self.auth.encryption_key.is_none() {
            return Err(SettingsError::Bad {
                key: "auth.encryption_key",
                reason: "required on PostgreSQL (set HELIX__AUTH__ENCRYPTION_KEY__ID and \
                         HELIX__AUTH__ENCRYPTION_KEY__KEY); only the SQLite development \
                         default may generate one"
                    .into(),
            });
        }
        if postgres && self.auth.api_keys.hash_key.is_none() {
            return Err(SettingsError::Bad {
                key: "auth.api_keys.hash_key",
                reason: "required on PostgreSQL (set HELIX__AUTH__API_KEYS__HASH_KEY to at \
                         least 32 random bytes in base64, e.g. `openssl rand -base64 32`); \
                         only the SQLite development default may use an ephemeral key"
                    .into(),
            });
        }
        for origin in &self.auth.cookies.allowed_origins {
            if !(origin.starts_with("https://") || origin.starts_with("http://")) {
                return Err(SettingsError::Bad {
                    key: "auth.cookies.allowed_origins",
                    reason: format!("`{origin}` is not an origin such as https://app.example.com"),
                });
            }
        }
        if self.auth.mail.transport == MailTransportKind::Smtp {
            helix_auth::mail::SmtpTransport::new(&self.auth.mail.smtp).map_err(|e| {
                SettingsError::Bad {
                    key: "auth.mail.smtp",
                    reason: e.to_string(),
                }
            })?;
        }
        if self.auth.mail.send_timeout_ms == 0 {
            return Err(SettingsError::Bad {
                key: "auth.mail.send_timeout_ms",
                reason: "must be at least 1".into(),
            });
        }
        if self.jobs.interval_secs == 0 {
            return Err(SettingsError::Bad {
                key: "jobs.interval_secs",
                reason: "must be at least 1".into(),
            });
        }
        if self.server.body_limit_bytes == 0 {
            return Err(SettingsError::Bad {
                key: "server.body_limit_bytes",
                reason: "must be at least 1".into(),
            });
        }
        self.tenancy.region()?;
        crate::platform_roles::validate_entries(&self.auth.impersonation.support_accounts)
            .map_err(|reason| SettingsError::Bad {
                key: "auth.impersonation.support_accounts",
                reason,
            })?;
        Ok(())
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.server.addr.parse().map_err(|_| SettingsError::Bad {
            key: "server.addr",
            reason: format!(
                "`{}` is not a socket address such as 127.0.0.1:8080",
                self.server.addr
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let s = DatabaseSettings {
            url: "postgres://u:hunter2@h/db".into(),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn postgres_requires_both_keys() {
        let mut s = Settings::default();
        s.database.url = "postgres://postgres@127.0.0.1/x".into();
        s.auth.signing_key = Some(helix_auth::tokens::SigningKeyConfig::generate("k"));
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("auth.encryption_key"), "{err}");
        let key = helix_auth::crypto::EncryptionKeyConfig::generate("e");
        s.auth.encryption_key = Some(key.clone());
        s.auth.api_keys.hash_key = Some(helix_auth::api_keys::HmacKey::generate());
        s.validate().unwrap();
        assert!(!format!("{s:?}").contains(&key.key));
    }

    #[test]
    fn oidc_client_secrets_are_masked() {
        let toml = r#"
            [auth.oidc.providers.google]
            preset = "google"
            client_id = "app.apps.googleusercontent.com"
            client_secret = "GOCSPX-very-secret"
            redirect_uri = "https://app.example.com/oidc/callback"
        "#;
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(toml))
            .extract()
            .unwrap();
        let google = &settings.auth.oidc.providers["google"];
        assert_eq!(
            google.client_secret.as_ref().map(|s| s.expose()),
            Some("GOCSPX-very-secret")
        );
        assert!(!google.link_verified_email);
        assert!(!format!("{settings:?}").contains("very-secret"));
    }

    #[test]
    fn postgres_needs_the_api_key_hash_key_which_is_never_printed() {
        let mut s = Settings::default();
        s.database.url = "postgres://u@h/db".into();
        s.auth.signing_key = Some(helix_auth::tokens::SigningKeyConfig::generate("k"));
        s.auth.encryption_key = Some(helix_auth::crypto::EncryptionKeyConfig::generate("e"));
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("auth.api_keys.hash_key"), "{err}");
        let secret = "S2V5LW9mLXRoZS1hcGkta2V5LWhhc2gtMzItYnl0ZXMh";
        s.auth.api_keys.hash_key =
            Some(helix_auth::api_keys::HmacKey::from_base64(secret).unwrap());
        s.validate().unwrap();
        assert!(!format!("{s:?}").contains(secret));
        s.auth.cookies.allowed_origins = vec!["app.example.com".into()];
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("auth.cookies.allowed_origins"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let mut s = Settings::default();
        s.server.addr = "nope".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("server.addr")
        );
        let mut s = Settings::default();
        s.tenancy.default_region = "mars".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("tenancy.default_region")
        );
        s.tenancy.default_region = "EU".into();
        assert!(s.validate().is_ok());
        s.auth.impersonation.support_accounts = vec!["nope".into()];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("auth.impersonation.support_accounts")
        );
        let mut s = Settings::default();
        s.database.url = "mysql://x".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("database.url")
        );
    }
}
