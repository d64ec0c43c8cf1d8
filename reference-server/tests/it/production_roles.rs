//! The production set-up of the book's tenancy chapter: migrations by the owner, the server
//! logged in as a role that owns nothing and inherits nothing.

use helix_core::testing::{TestDb, run_postgres};
use reference_server::{Settings, build_app};
use sea_orm::ConnectionTrait;

async fn non_owner_server(t: TestDb) {
    // Migrate as the owner (the test database's superuser connection).
    let key = helix_auth::tokens::SigningKeyConfig::generate("prod-test");
    let mut owner = Settings::default();
    owner.database.url = t.url.clone();
    owner.auth.signing_key = Some(key.clone());
    let encryption = helix_auth::crypto::EncryptionKeyConfig::generate("prod-test");
    owner.auth.encryption_key = Some(encryption.clone());
    let hash_key = helix_auth::api_keys::HmacKey::generate();
    owner.auth.api_keys.hash_key = Some(hash_key.clone());
    let _owner_app = build_app(&owner).await.unwrap();

    let role = format!("helix_server_{}", uuid::Uuid::now_v7().simple());
    t.db.connection()
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT; GRANT helix_app, helix_platform TO {role};"
        ))
        .await
        .unwrap();

    let mut server = Settings::default();
    server.auth.signing_key = Some(key);
    server.auth.encryption_key = Some(encryption);
    server.auth.api_keys.hash_key = Some(hash_key);
    server.database.url = t.url.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(
        server.database.url, t.url,
        "the test URL names the postgres user"
    );
    let result = async {
        let reference_server::App {
            router: app, helix, ..
        } = build_app(&server).await?;
        assert!(helix.pending_migrations().await?.is_empty());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        let ready = reqwest::get(format!("http://{addr}/health/ready")).await?;
        assert_eq!(ready.status(), 200);
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await?
            .text()
            .await?;
        assert!(metrics.contains("helix_outbox_backlog 0"), "{metrics}");
        // Tenant tables are closed to the login role itself: only SET ROLE opens them.
        let direct = helix
            .db()
            .connection()
            .execute_unprepared("SELECT * FROM helix_audit_log")
            .await;
        assert!(direct.is_err());
        helix.db().clone().close().await?;
        anyhow::Ok(())
    }
    .await;
    t.db.connection()
        .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
        .await
        .ok();
    result.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_as_a_non_owner_noinherit_role() {
    run_postgres(non_owner_server).await;
}
