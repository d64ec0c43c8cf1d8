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

    /// The module's HTTP routes, with its state already applied.
    #[cfg(feature = "http")]
    fn router(&self) -> axum::Router {
        axum::Router::new()
    }
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
            #[cfg(feature = "http")]
            router,
        })
    }
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

    #[test]
    fn cycles_are_refused() {
        let mods: Vec<Box<dyn Module>> = vec![Box::new(M("a", &["b"])), Box::new(M("b", &["a"]))];
        assert!(dependency_order(&mods).is_err());
    }
}
