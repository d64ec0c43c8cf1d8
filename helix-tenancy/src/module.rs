//! [`TenancyModule`]: registers the tenancy migrations with the [`helix_core::Helix`] builder.

use sea_orm_migration::MigrationTrait;

/// The tenancy module. Depends on nothing but the kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenancyModule;

/// The name the module registers under.
pub const MODULE_NAME: &str = "helix-tenancy";

impl helix_core::Module for TenancyModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        crate::migrations::migrations()
    }

    fn permissions(&self) -> &'static [helix_core::PermissionDef] {
        crate::authz::PERMISSIONS
    }
}
