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

async fn instances_starting_together_migrate_once(t: TestDb) {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = t.url.clone();
        tasks.push(tokio::spawn(async move {
            let db = helix_core::Db::connect(&url, &helix_core::PoolOptions::default()).await?;
            let helix = Helix::builder(db.clone()).build().await?;
            let pending = helix.pending_migrations().await?;
            db.close().await?;
            Ok::<_, helix_core::Error>(pending)
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().unwrap().is_empty());
    }
}
backend_test!(
    concurrent_boots_migrate_once,
    instances_starting_together_migrate_once
);
