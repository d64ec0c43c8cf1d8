//! [`IamModule`]: registers the IAM migrations with the [`helix_core::Helix`] builder.

use sea_orm_migration::MigrationTrait;

/// The IAM module. Depends on helix-tenancy (its tables hold memberships and teams, and
/// the IAM change triggers watch them).
#[derive(Debug, Clone, Copy, Default)]
pub struct IamModule;

/// The name the module registers under.
pub const MODULE_NAME: &str = "helix-iam";

impl helix_core::Module for IamModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &[helix_tenancy::MODULE_NAME]
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        crate::migrations::migrations()
    }

    fn permissions(&self) -> &'static [helix_core::PermissionDef] {
        crate::catalog::PERMISSIONS
    }
}
