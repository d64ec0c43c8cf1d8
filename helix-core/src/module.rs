//! Modules and the builder that composes them.
//!
//! Each crate implements [`Module`]: its name, the modules it needs, its migrations and (with
//! the `http` feature) its router. [`Helix::builder`] registers modules, refuses a missing
//! dependency with a clear error, runs every migration in dependency order and merges the
//! routers.

use sea_orm_migration::MigrationTrait;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::migrate::{self, ModuleMigrations};

/// The name the kernel registers itself under.
pub const CORE_MODULE: &str = "helix-core";

/// A unit of Helix functionality that the builder composes.
pub trait Module: Send + Sync + 'static {
    /// The module's unique name (`helix-tenancy`).
    fn name(&self) -> &'static str;

    /// Names of the modules this one needs (the kernel is always present).
    fn depends_on(&self) -> &'static [&'static str] {
        &[]
    }

    /// The module's migrations, in order, with crate-prefixed names.
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }

    /// The permissions this module contributes to the platform's permission catalog.
    ///
    /// Names are `<module>.<resource>.<action>` (`tenancy.members.manage`). The catalog is
    /// fixed when the platform is built; an authorization layer refuses to start when
    /// anything names a permission no module declared.
    fn permissions(&self) -> &'static [PermissionDef] {
        &[]
    }

    /// A fragment of the relationship schema (object types, relations and their rewrites)
    /// in the authorization layer's text format; empty when the module declares none.
    fn authz_schema(&self) -> &'static str {
        ""
    }

    /// The module's HTTP routes, with its state already applied.
    #[cfg(feature = "http")]
    fn router(&self) -> axum::Router {
        axum::Router::new()
    }
}

/// One permission of the catalog, as a module declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionDef {
    /// Dotted name, unique across the platform (`tenancy.members.manage`).
    pub name: &'static str,
    /// One line for people choosing permissions for a role.
    pub description: &'static str,
    /// The built-in roles a new organization grants it to, among `admin`, `member` and
    /// `read_only` (the owner role holds every permission).
    pub default_roles: &'static [&'static str],
}

/// A permission with the module that declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeclaredPermission {
    /// The declaring module's name.
    pub module: &'static str,
    /// The declaration.
    pub def: PermissionDef,
}

/// Composes modules over one database.
pub struct HelixBuilder {
    db: Db,
    modules: Vec<Box<dyn Module>>,
    run_migrations: bool,
}

impl std::fmt::Debug for HelixBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.modules.iter().map(|m| m.name()).collect();
        f.debug_struct("HelixBuilder")
            .field("modules", &names)
            .finish()
    }
}

/// The composed platform: its database, its migrations and its merged router.
pub struct Helix {
    db: Db,
    migrations: Vec<ModuleMigrations>,
    order: Vec<&'static str>,
    permissions: Vec<DeclaredPermission>,
    schemas: Vec<(&'static str, &'static str)>,
    #[cfg(feature = "http")]
    router: axum::Router,
}

impl std::fmt::Debug for Helix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Helix")
            .field("modules", &self.order)
            .finish_non_exhaustive()
    }
}

impl Helix {
    /// Starts composing over `db`.
    pub fn builder(db: Db) -> HelixBuilder {
        HelixBuilder {
            db,
            modules: Vec::new(),
            run_migrations: true,
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Module names in dependency order.
    pub fn modules(&self) -> &[&'static str] {
        &self.order
    }

    /// Every permission the registered modules declared, in module order.
    pub fn permissions(&self) -> &[DeclaredPermission] {
        &self.permissions
    }

    /// The non-empty relationship-schema fragments, as `(module, text)` in module order.
    pub fn authz_schemas(&self) -> &[(&'static str, &'static str)] {
        &self.schemas
    }

    /// Migrations not yet applied (empty when the schema is current).
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        migrate::pending(&self.db, &self.migrations).await
    }

    /// The merged router of every module.
    #[cfg(feature = "http")]
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }
}

impl HelixBuilder {
    /// Registers a module.
    pub fn module(mut self, module: impl Module) -> Self {
        self.modules.push(Box::new(module));
        self
    }

    /// Skips running migrations at build (for processes that only check them).
    pub fn skip_migrations(mut self) -> Self {
        self.run_migrations = false;
        self
    }

    /// Checks dependencies, orders modules, runs migrations and merges routers.
    pub async fn build(self) -> Result<Helix> {
        let order = dependency_order(&self.modules)?;
        let mut migrations = vec![ModuleMigrations {
            module: CORE_MODULE,
            migrations: crate::schema::migrations(),
        }];
        #[cfg(feature = "http")]
        let mut router = axum::Router::new();
        let mut names = vec![CORE_MODULE];
        let (permissions, schemas) = declarations(&self.modules, &order)?;
        for idx in order {
            let m = &self.modules[idx];
            migrations.push(ModuleMigrations {
                module: m.name(),
                migrations: m.migrations(),
            });
            #[cfg(feature = "http")]
            {
                router = router.merge(m.router());
            }
            names.push(m.name());
        }
        if self.run_migrations {
            migrate::run(&self.db, &migrations).await?;
        }
        Ok(Helix {
            db: self.db,
            migrations,
            order: names,
            permissions,
            schemas,
            #[cfg(feature = "http")]
            router,
        })
    }
}

/// Collects the modules' permissions (refusing a name declared twice) and their non-empty
/// relationship-schema fragments, in module order.
#[allow(clippy::type_complexity)]
fn declarations(
    modules: &[Box<dyn Module>],
    order: &[usize],
) -> Result<(Vec<DeclaredPermission>, Vec<(&'static str, &'static str)>)> {
    let mut permissions = Vec::new();
    let mut schemas = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for &idx in order {
        let m = &modules[idx];
        for def in m.permissions() {
            if let Some(first) = seen.insert(def.name, m.name()) {
                return Err(Error::Config(format!(
                    "permission `{}` is declared by both `{first}` and `{}`",
                    def.name,
                    m.name()
                )));
            }
            permissions.push(DeclaredPermission {
                module: m.name(),
                def: *def,
            });
        }
        if !m.authz_schema().trim().is_empty() {
            schemas.push((m.name(), m.authz_schema()));
        }
    }
    Ok((permissions, schemas))
}

/// Orders modules so each comes after its dependencies; errors on a missing dependency,
/// a duplicate, or a cycle.
fn dependency_order(modules: &[Box<dyn Module>]) -> Result<Vec<usize>> {
    let mut index = std::collections::HashMap::new();
    for (i, m) in modules.iter().enumerate() {
        if m.name() == CORE_MODULE || index.insert(m.name(), i).is_some() {
            return Err(Error::Config(format!(
                "module `{}` is registered twice",
                m.name()
            )));
        }
    }
    for m in modules {
        for dep in m.depends_on() {
            if *dep != CORE_MODULE && !index.contains_key(dep) {
                return Err(Error::Config(format!(
                    "module `{}` requires module `{dep}`, which is not registered; register it with `.module(...)` before building",
                    m.name()
                )));
            }
        }
    }
    // Depth-first topological sort, stable in registration order.
    let mut state = vec![0u8; modules.len()]; // 0 new, 1 visiting, 2 done
    let mut out = Vec::with_capacity(modules.len());
    fn visit(
        i: usize,
        modules: &[Box<dyn Module>],
        index: &std::collections::HashMap<&'static str, usize>,
        state: &mut [u8],
        out: &mut Vec<usize>,
    ) -> Result<()> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                return Err(Error::Config(format!(
                    "module dependency cycle through `{}`",
                    modules[i].name()
                )));
            }
            _ => {}
        }
        state[i] = 1;
        for dep in modules[i].depends_on() {
            if let Some(&j) = index.get(dep) {
                visit(j, modules, index, state, out)?;
            }
        }
        state[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..modules.len() {
        visit(i, modules, &index, &mut state, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct M(&'static str, &'static [&'static str]);
    impl Module for M {
        fn name(&self) -> &'static str {
            self.0
        }
        fn depends_on(&self) -> &'static [&'static str] {
            self.1
        }
    }

    #[test]
    fn orders_by_dependency() {
        let mods: Vec<Box<dyn Module>> = vec![Box::new(M("b", &["a"])), Box::new(M("a", &[]))];
        let order = dependency_order(&mods).unwrap();
        assert_eq!(order, vec![1, 0]);
    }

    #[test]
    fn missing_dependency_is_a_clear_error() {
        let mods: Vec<Box<dyn Module>> = vec![Box::new(M("helix-crm", &["helix-iam"]))];
        let err = dependency_order(&mods).unwrap_err().to_string();
        assert!(
            err.contains("helix-crm") && err.contains("helix-iam"),
            "{err}"
        );
    }

    struct P(&'static str, &'static [PermissionDef]);
    impl Module for P {
        fn name(&self) -> &'static str {
            self.0
        }
        fn permissions(&self) -> &'static [PermissionDef] {
            self.1
        }
    }

    const READ: &[PermissionDef] = &[PermissionDef {
        name: "crm.contacts.read",
        description: "Read contacts",
        default_roles: &["member"],
    }];

    #[test]
    fn permissions_are_collected_and_duplicates_refused() {
        let mods: Vec<Box<dyn Module>> = vec![Box::new(P("helix-crm", READ))];
        let (perms, schemas) = declarations(&mods, &[0]).unwrap();
        assert_eq!(perms.len(), 1);
        assert_eq!(perms[0].module, "helix-crm");
        assert!(schemas.is_empty());
        let mods: Vec<Box<dyn Module>> = vec![
            Box::new(P("helix-crm", READ)),
            Box::new(P("helix-other", READ)),
        ];
        let err = declarations(&mods, &[0, 1]).unwrap_err().to_string();
        assert!(
            err.contains("crm.contacts.read") && err.contains("helix-other"),
            "{err}"
        );
    }

    #[test]
    fn cycles_are_refused() {
        let mods: Vec<Box<dyn Module>> = vec![Box::new(M("a", &["b"])), Box::new(M("b", &["a"]))];
        assert!(dependency_order(&mods).is_err());
    }
}
