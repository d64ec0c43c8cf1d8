//! The kernel's own migrations, in order.

mod m0001_kernel;

use sea_orm_migration::MigrationTrait;

/// The kernel's migrations (roles, audit log, outbox, idempotency keys), in order.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m0001_kernel::Migration)]
}
