use helix_core::testing::TestDb;
use helix_core::{Backend, Helix, backend_test};
use sea_orm::{ConnectionTrait, Statement};

async fn builder_runs_kernel_migrations(t: TestDb) {
    let helix = Helix::builder(t.db.clone()).build().await.unwrap();
    assert!(helix.pending_migrations().await.unwrap().is_empty());
    // Idempotent: a second build applies nothing and still succeeds.
    Helix::builder(t.db.clone()).build().await.unwrap();
    if t.db.backend() == Backend::Postgres {
        let row =
            t.db.connection()
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'helix_app'",
                ))
                .await
                .unwrap()
                .expect("helix_app exists");
        assert!(!row.try_get::<bool>("", "rolsuper").unwrap());
        assert!(!row.try_get::<bool>("", "rolbypassrls").unwrap());
    }
}
backend_test!(
    builder_runs_kernel_migrations_test,
    builder_runs_kernel_migrations
);
