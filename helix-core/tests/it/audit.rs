use helix_core::audit::{self, AuditEntry};
use helix_core::testing::TestDb;
use helix_core::{Actor, Helix, TenantContext, backend_test};
use sea_orm::EntityTrait as _;
use serde_json::json;
use uuid::Uuid;

async fn records_chain_in_business_transaction(t: TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    let ctx = TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()));
    for i in 0..3 {
        let tx = t.db.tenant(&ctx).await.unwrap();
        audit::record(
            &tx,
            chrono::Utc::now(),
            AuditEntry::new("thing.created", "thing", i).data(json!({"n": i, "password": "p"})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let tx = t.db.tenant(&ctx).await.unwrap();
    let rows = tx.find::<audit::entity::Entity>().all(tx.raw()).await.unwrap();
    assert_eq!(rows.len(), 3);
    let mut rows = rows;
    rows.sort_by_key(|r| r.seq);
    assert_eq!(rows[0].prev_hash, audit::GENESIS_HASH);
    for w in rows.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    for r in &rows {
        assert_eq!(r.recompute_hash(), r.hash);
        assert_eq!(r.data["password"], "[REDACTED]");
    }
}
backend_test!(records_chain, records_chain_in_business_transaction);
