//! [`GuardedRouter`]: routes registered with the catalog permissions their [`Require`]
//! guards name, checked against the permission catalog when the application is built.
//!
//! `Require<P>` is a type; the catalog is known only once every module is registered. A
//! route that names a permission nobody declared (a typo, a module that was not
//! registered) would otherwise deny every request at run time. Registering the route with
//! [`GuardedRouter::guarded`] records `P`, and [`GuardedRouter::into_router`] refuses to
//! build the router, naming the permission and the route, when `P` is not in the catalog:
//! the product does not start.
//!
//! ```
//! use axum::routing::get;
//! use helix_iam::http::{GuardedRouter, Require};
//!
//! helix_iam::permission!(ContactsRead = "crm.contacts.read");
//!
//! async fn contacts(_: Require<ContactsRead>) -> &'static str {
//!     "[]"
//! }
//!
//! let routes: GuardedRouter<helix_iam::Iam> =
//!     GuardedRouter::new().guarded::<ContactsRead>("/api/v1/contacts", get(contacts));
//! assert_eq!(routes.guards()[0].permission, "crm.contacts.read");
//! // At startup: `routes.into_router(&iam)?` fails unless the catalog has the permission.
//! ```
//!
//! [`Require`]: super::Require

use std::fmt;

use axum::Router;
use axum::routing::MethodRouter;

use super::Permission;
use crate::catalog::Catalog;
use crate::error::IamError;
use crate::service::Iam;

/// One recorded guard: a route and the catalog permission its `Require<P>` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The permission's catalog name (`P::NAME`).
    pub permission: &'static str,
    /// The route path the guard protects.
    pub path: String,
    /// The guard's type name, for the startup message.
    pub type_name: &'static str,
}

/// Guards that name permissions missing from the catalog: the reason the application
/// must not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownGuards(pub Vec<Guard>);

impl fmt::Display for UnknownGuards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("route guards name permissions that are not in the permission catalog: ")?;
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "`{}` (Require<{}> on {})",
                g.permission, g.type_name, g.path
            )?;
        }
        f.write_str(
            " (declare the permission in the module that owns it, register that module, or \
             fix the name)",
        )
    }
}

impl std::error::Error for UnknownGuards {}

impl From<UnknownGuards> for IamError {
    fn from(e: UnknownGuards) -> Self {
        IamError::Core(helix_core::Error::Config(e.to_string()))
    }
}

/// An axum [`Router`] under construction that remembers which catalog permission each
/// guarded route requires. Build it with [`GuardedRouter::into_router`] (or check it with
/// [`GuardedRouter::check`]) once the catalog is known.
#[derive(Debug)]
pub struct GuardedRouter<S = ()> {
    router: Router<S>,
    guards: Vec<Guard>,
}

impl<S> Default for GuardedRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> GuardedRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// No routes.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            guards: Vec::new(),
        }
    }

    /// Adds a route whose handlers check permissions in the service layer (no `Require`).
    pub fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, method_router);
        self
    }

    /// Adds a route whose handlers take `Require<P>`, recording `P`.
    pub fn guarded<P: Permission>(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, method_router);
        self.require::<P>(path)
    }

    /// Records that a route already added takes `Require<P>` too (one route may have
    /// several handlers with different guards).
    pub fn require<P: Permission>(mut self, path: &str) -> Self {
        self.guards.push(Guard {
            permission: P::NAME,
            path: path.to_owned(),
            type_name: short_type_name::<P>(),
        });
        self
    }

    /// Merges another set of routes and their guards.
    pub fn merge(mut self, other: GuardedRouter<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.guards.extend(other.guards);
        self
    }

    /// The recorded guards, in registration order.
    pub fn guards(&self) -> &[Guard] {
        &self.guards
    }

    /// Checks every recorded guard against `catalog`.
    pub fn check(&self, catalog: &Catalog) -> Result<(), UnknownGuards> {
        let unknown: Vec<Guard> = self
            .guards
            .iter()
            .filter(|g| catalog.resolve(g.permission).is_err())
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(UnknownGuards(unknown))
        }
    }

    /// The router, once every recorded guard names a permission of `iam`'s catalog; a
    /// configuration error naming each unknown permission and its route otherwise.
    pub fn into_router(self, iam: &Iam) -> Result<Router<S>, IamError> {
        self.check(iam.engine().catalog())?;
        Ok(self.router)
    }

    /// The router without the check, for tests and hosts that run
    /// [`GuardedRouter::check`] themselves.
    pub fn into_router_unchecked(self) -> Router<S> {
        self.router
    }
}

fn short_type_name<P>() -> &'static str {
    let full = std::any::type_name::<P>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use helix_core::{DeclaredPermission, PermissionDef};

    use super::*;

    crate::permission!(ContactsRead = "crm.contacts.read");
    crate::permission!(ContactsTypo = "crm.contacs.read");

    fn catalog() -> Catalog {
        let declared = [DeclaredPermission {
            module: "crm",
            def: PermissionDef {
                name: "crm.contacts.read",
                description: "Read contacts",
                default_roles: &[],
            },
        }];
        Catalog::build(&declared).unwrap()
    }

    async fn ok() -> &'static str {
        "ok"
    }

    #[test]
    fn known_guards_pass_and_unknown_ones_are_named() {
        let good: GuardedRouter = GuardedRouter::new()
            .route("/open", get(ok))
            .guarded::<ContactsRead>("/contacts", get(ok));
        assert!(good.check(&catalog()).is_ok());

        let bad = good.merge(GuardedRouter::new().guarded::<ContactsTypo>("/typo", get(ok)));
        let err = bad.check(&catalog()).unwrap_err();
        assert_eq!(err.0.len(), 1);
        let message = err.to_string();
        assert!(message.contains("`crm.contacs.read`"), "{message}");
        assert!(
            message.contains("Require<ContactsTypo> on /typo"),
            "{message}"
        );
        let core: helix_core::Error = IamError::from(err).into();
        assert_eq!(core.status(), 500);
    }
}
