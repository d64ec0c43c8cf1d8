//! # helix-core
//!
//! The kernel every Helix crate stands on: one error type and JSON envelope, the request,
//! tenant and platform contexts, an injectable clock and UUID v7 ids, the database handle for
//! SQLite and PostgreSQL with tenant-scoped transactions and Row Level Security, composed
//! migrations, the [`Module`] trait with the [`Helix`] builder, the standard list query, the
//! append-only hash-chained audit log, the transactional outbox, `Idempotency-Key` handling,
//! and observability (JSON logs, Prometheus metrics, health).
//!
//! ```no_run
//! use helix_core::{Db, Helix, PoolOptions};
//!
//! # async fn demo() -> helix_core::Result<()> {
//! let db = Db::connect("sqlite:./helix.db", &PoolOptions::default()).await?;
//! let helix = Helix::builder(db).build().await?; // runs the kernel's migrations
//! assert_eq!(helix.modules(), ["helix-core"]);
//! # Ok(()) }
//! ```
//!
//! Features: `sqlite` and `postgres` (backends), `http` (axum integration), `openapi`
//! (OpenAPI schemas), `testing` (a fresh database per test).
#![warn(missing_docs)]

pub mod audit;
pub mod context;
pub mod db;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod ids;
pub mod kernel;
pub mod list;
pub mod migrate;
pub mod module;
pub mod notify;
pub mod outbox;
pub mod ratelimit;
pub mod rls;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;

pub use context::{
    Actor, PlatformContext, RequestContext, RequestMeta, TenantContext, VerifiedEmail,
};
pub use db::{Backend, Db, PlatformTx, PoolOptions, TenantEntity, TenantTx};
pub use error::{Error, ErrorEnvelope, FieldError, Result};
pub use ids::{Clock, IdGenerator, ManualClock, SystemClock, UuidV7};
pub use kernel::Kernel;
pub use module::{DeclaredPermission, Helix, HelixBuilder, Module, PermissionDef};

/// Re-exports for migrations and entities of crates built on the kernel.
pub use {async_trait, sea_orm, sea_orm_migration};
