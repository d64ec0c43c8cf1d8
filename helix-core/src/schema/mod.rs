//! The kernel's own migrations, in order.

mod m0001_kernel;
mod m0002_audit;
mod m0003_outbox;
mod m0004_idempotency;
mod m0005_audit_impersonator;

use sea_orm_migration::MigrationTrait;

/// The kernel's migrations (roles, audit log, outbox, idempotency keys, the audit log's
/// impersonator column), in order.
pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m0001_kernel::Migration),
        Box::new(m0002_audit::Migration),
        Box::new(m0003_outbox::Migration),
        Box::new(m0004_idempotency::Migration),
        Box::new(m0005_audit_impersonator::Migration),
    ]
}
