//! The IAM migrations apply on both backends, once.

use helix_core::backend_test;
use helix_core::migrate::MIGRATIONS_TABLE;
use helix_core::sea_orm::{ConnectionTrait, Statement};
use helix_core::testing::TestDb;
use helix_core::{Helix, Module};
use helix_iam::IamModule;
use helix_tenancy::TenancyModule;

use crate::common::*;

async fn migrations_apply_once(t: TestDb) {
    setup(&t).await;
    let names: Vec<String> = IamModule
        .migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "helix_iam_0001_roles",
            "helix_iam_0002_tuples",
            "helix_iam_0003_revisions",
            "helix_iam_0004_platform_roles",
        ]
    );
    assert_eq!(IamModule.depends_on(), ["helix-tenancy"]);
    let backend = t.db.connection().get_database_backend();
    let rows = t
        .db
        .connection()
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT name FROM {MIGRATIONS_TABLE} WHERE module = 'helix-iam' ORDER BY name"),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    // A second build applies nothing and fails nothing.
    Helix::builder(t.db.clone())
        .module(TenancyModule)
        .module(IamModule)
        .build()
        .await
        .unwrap();
    // IAM needs tenancy.
    assert!(
        Helix::builder(t.db.clone())
            .module(IamModule)
            .build()
            .await
            .is_err()
    );
}
backend_test!(migrations_apply_once, migrations_apply_once);
