//! Integration tests of the helix-iam engine: the YAML validation runner and differential
//! property tests against casbin and a naive evaluator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod differential;
mod validation;

use helix_core::{DeclaredPermission, PermissionDef};
use helix_iam::Catalog;

/// A documents module's permissions, plus helix-iam's own.
pub const DOCS: &[PermissionDef] = &[
    PermissionDef {
        name: "docs.documents.read",
        description: "Read documents.",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "docs.documents.write",
        description: "Write documents.",
        default_roles: &["admin", "member"],
    },
    PermissionDef {
        name: "docs.documents.delete",
        description: "Delete documents.",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "billing.invoices.read",
        description: "Read invoices.",
        default_roles: &["admin"],
    },
];

pub fn declared() -> Vec<DeclaredPermission> {
    DOCS.iter()
        .map(|def| DeclaredPermission {
            module: "docs",
            def: *def,
        })
        .collect()
}

pub fn catalog() -> Catalog {
    Catalog::build(&declared()).unwrap()
}
