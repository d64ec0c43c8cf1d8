//! The database handle: one URL, SQLite or PostgreSQL, and the only two ways to reach data:
//! a tenant-scoped transaction ([`TenantTx`]) or an audited platform transaction
//! ([`PlatformTx`]). A platform hot path whose work is one database function may call it
//! with the same role and actor in one round trip instead ([`Db::platform_call`]).

mod call;
mod scoped;

use std::fmt;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use serde::Deserialize;

pub use call::{CallArg, Commit};
pub use scoped::{PlatformTx, TenantEntity, TenantTx};

use crate::error::{Error, Result};

/// The PostgreSQL role tenant transactions run as: not superuser, not owner, not BYPASSRLS.
pub const APP_ROLE: &str = "helix_app";
/// The PostgreSQL role platform-plane transactions run as (a separate, audited path).
pub const PLATFORM_ROLE: &str = "helix_platform";

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: the embedded default.
    Sqlite,
    /// PostgreSQL: production, with Row Level Security.
    Postgres,
}

/// A pooled connection idle for at least this long is pinged before it is handed out; a
/// busier one is not (see [`Db::connect`]).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connection pool settings.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolOptions {
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long to wait for a connection before failing, in seconds.
    pub acquire_timeout_secs: u64,
    /// How long an idle connection is kept, in seconds.
    pub idle_timeout_secs: u64,
    /// Log every SQL statement at debug level (never in production: values may be sensitive).
    pub sql_logging: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            acquire_timeout_secs: 5,
            idle_timeout_secs: 300,
            sql_logging: false,
        }
    }
}

impl fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolOptions")
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .finish()
    }
}

/// A cheap-to-clone handle on the database pool.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    backend: Backend,
    /// The sqlx pool under `conn`, when this handle made it ([`Db::connect`] on PostgreSQL),
    /// for [`Db::platform_call`]'s single-message calls.
    #[cfg(feature = "postgres")]
    pg_pool: Option<sea_orm::sqlx::PgPool>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Connects to `url` (`sqlite:` or `postgres:`). SQLite files are created when missing
    /// and run in WAL mode with foreign keys on.
    pub async fn connect(url: &str, pool: &PoolOptions) -> Result<Self> {
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") && !url.contains(":memory:") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        // Each connection to an in-memory SQLite database is its own empty database: keep
        // exactly one, forever.
        let in_memory =
            backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"));
        let (max, min, idle) = if in_memory {
            (1, 1, Duration::from_secs(u64::from(u32::MAX)))
        } else {
            (
                pool.max_connections.max(1),
                pool.min_connections.min(pool.max_connections.max(1)),
                Duration::from_secs(pool.idle_timeout_secs.max(1)),
            )
        };
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(max)
            .min_connections(min)
            .acquire_timeout(Duration::from_secs(pool.acquire_timeout_secs.max(1)))
            .idle_timeout(idle)
            // A connection in use a moment ago is handed out without a ping: pinging on
            // every checkout (sqlx's default) costs one round trip per transaction. One
            // idle for longer (where a restart, a pooler or a firewall may have dropped
            // it) is still pinged first.
            .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
            .sqlx_logging(pool.sql_logging);
        if in_memory {
            opts.max_lifetime(None);
        }
        #[cfg(feature = "sqlite")]
        if backend == Backend::Sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            });
        }
        let conn = Database::connect(opts).await.map_err(|e| {
            // The URL may hold a password: name the backend, not the URL.
            Error::Config(format!(
                "cannot connect to the {backend:?} database: {}",
                redact_db_error(&e)
            ))
        })?;
        // `Database::connect` with a PostgreSQL URL makes a sqlx pool (the getter panics for
        // any other kind of connection, which `backend_of` has ruled out here).
        #[cfg(feature = "postgres")]
        let pg_pool =
            (backend == Backend::Postgres).then(|| conn.get_postgres_connection_pool().clone());
        Ok(Self {
            conn,
            backend,
            #[cfg(feature = "postgres")]
            pg_pool,
        })
    }

    /// Wraps an existing sea-orm connection.
    pub fn from_connection(conn: DatabaseConnection) -> Self {
        let backend = match conn.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        };
        Self {
            conn,
            backend,
            #[cfg(feature = "postgres")]
            pg_pool: None,
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool. Use it for migrations and health checks; tenant data goes
    /// through [`Db::tenant`] and cross-tenant work through [`Db::platform`].
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.conn.ping().await.map_err(|_| Error::Unavailable)
    }

    /// Closes the pool.
    pub async fn close(self) -> Result<()> {
        self.conn.close().await?;
        Ok(())
    }
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Backend::Postgres)
    } else {
        Err(Error::Config(
            "database.url must start with `sqlite:` or `postgres:`".into(),
        ))
    }
}

fn redact_db_error(e: &sea_orm::DbErr) -> String {
    // sqlx errors do not echo the URL, but be defensive.
    redact_url(&e.to_string())
}

/// Masks credentials in every URL inside `text`: the password of `scheme://user:password@host`
/// (the userinfo ends at the authority's last `@`, so a password containing `@` is masked
/// whole) and the value of any `password=` parameter. For log lines, errors and `Debug`.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme) = rest.find("://") {
        let authority_start = scheme + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..authority_len];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_len..];
    }
    out.push_str(rest);
    let mut masked = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(p) = rest.find("password=") {
        let start = p + "password=".len();
        masked.push_str(&rest[..start]);
        masked.push_str("***");
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c == '&' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    masked.push_str(rest);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_in_urls() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("x postgres://h/db?user=u&password=s&a=1 y"),
            "x postgres://h/db?user=u&password=***&a=1 y"
        );
        assert_eq!(redact_url("no url here, é@x"), "no url here, é@x");
        assert_eq!(redact_url("a://ü:ß@h b://c@d"), "a://ü:***@h b://c@d");
    }

    #[test]
    fn rejects_unknown_schemes() {
        assert!(backend_of("mysql://x").is_err());
        assert_eq!(backend_of("sqlite:./a.db").ok(), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://a@b/c").ok(), Some(Backend::Postgres));
    }
}
