//! Sessions (signed-in devices) and their refresh-token families.
//!
//! A session is started at sign-in ([`SessionService::start`]) and gets the first refresh
//! token of its family. Each [`SessionService::refresh`] consumes the presented token and
//! issues the next generation; the session ends at its idle timeout (no refresh for 30
//! minutes), at its absolute lifetime (12 hours; 4 for admin sessions), or when revoked.
//! Access tokens carry the session id (`sid`); [`SessionService::is_active`] answers whether
//! it still holds, and a revocation made through this process is refused from memory at
//! once.
//!
//! Sessions are keyed by an opaque `account_id`: this module does not depend on how
//! accounts are stored. Refresh tokens are 256-bit random strings; only their SHA-256 is
//! stored.
//!
//! ```no_run
//! use helix_auth::sessions::{SessionConfig, SessionMeta, SessionService};
//!
//! # async fn demo(kernel: helix_core::Kernel, account: uuid::Uuid) -> Result<(), helix_auth::sessions::SessionError> {
//! let sessions = SessionService::new(kernel, SessionConfig::default())?;
//! let (session, refresh) = sessions.start(account, SessionMeta::normal()).await?;
//! let (_, next) = sessions.refresh(refresh.expose_secret()).await?;
//! assert!(sessions.is_active(session.id).await?);
//! # let _ = next; Ok(()) }
//! ```

mod config;
mod error;
pub(crate) mod model;
mod profiles;
mod refresh;
mod revoked;
mod service;
pub(crate) mod store;

pub use config::SessionConfig;
pub use error::SessionError;
pub use model::{RefreshToken, RevokeReason, Session, SessionKind, SessionMeta};
pub use profiles::ACCOUNT_CHANNEL;
pub use service::{REVOCATION_CHANNEL, Result, SessionService};
