//! # helix-iam
//!
//! Authorization for Helix: a permission catalog every module contributes to, roles that
//! each organization composes from it, assignments scoped to the whole organization, a team
//! or one object, and Zanzibar-style relationship tuples (`document:42#viewer@user:…`,
//! `team:…#member`) with relation rewrites declared in a small schema.
//!
//! [`Iam`] is the service the platform asks (`check`, `require`, `explain`, management of
//! roles, assignments and tuples with escalation guards); [`Engine`] answers from a compiled
//! per-organization index in memory; [`IamStore`] and [`IamSync`] keep that index in step
//! with the database on every instance; [`IamAuthorizer`] decides helix-tenancy's
//! operations; the `http` feature serves `/api/v1/iam/...` (platform roles included, see
//! [`platform`]) and the `Require<P>` guard, whose permissions are checked against the
//! catalog at startup.
//!
//! ```
//! use helix_iam::model::{ObjectRef, Subject, Tuple};
//!
//! let t: Tuple = "document:42#viewer@team:eng#member".parse()?;
//! assert_eq!(t.object, ObjectRef::new("document", "42"));
//! assert!(matches!(t.subject, Subject::Set { .. }));
//! assert_eq!(t.to_string(), "document:42#viewer@team:eng#member");
//! # Ok::<(), helix_iam::model::ParseError>(())
//! ```
#![warn(missing_docs)]

pub mod authorizer;
#[cfg(feature = "casbin")]
pub mod casbin_adapter;
pub mod catalog;
pub mod engine;
pub mod error;
pub mod filter;
#[cfg(feature = "http")]
pub mod http;
mod migrations;
pub mod model;
mod module;
pub mod oracle;
pub mod platform;
pub mod schema;
pub mod service;
pub mod store;
pub mod sync;
pub mod validation;

pub use authorizer::IamAuthorizer;
pub use catalog::{Catalog, PermId};
pub use engine::{Decision, Engine, EngineConfig, EngineError, Explanation, LoadError};
pub use error::IamError;
pub use migrations::migrations;
pub use module::{IamModule, MODULE_NAME};
pub use schema::Schema;
pub use service::{Consistency, Iam};
pub use store::IamStore;
pub use sync::{IamSync, PolicyCache, RevisionToken};
