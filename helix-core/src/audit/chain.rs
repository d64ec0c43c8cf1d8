//! The per-tenant hash chain.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The `prev_hash` of the first row of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) const HEADS: &str = "helix_audit_heads";

/// The fields that are hashed, in a fixed order.
#[derive(Serialize)]
pub(crate) struct Canonical<'a> {
    pub org_id: Uuid,
    pub seq: i64,
    #[serde(serialize_with = "ts")]
    pub occurred_at: &'a DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<&'a str>,
    pub correlation_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub data: &'a Value,
    pub prev_hash: &'a str,
}

fn ts<S: serde::Serializer>(t: &&DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// `sha256(prev_hash ‖ canonical JSON)` as lowercase hex. Object keys in `data` are sorted
/// (serde_json's map is ordered), so the hash does not depend on storage key order.
pub(crate) fn compute_hash(row: &Canonical<'_>) -> String {
    let json = serde_json::to_vec(row).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(row.prev_hash.as_bytes());
    h.update(&json);
    hex::encode(h.finalize())
}

/// Locks the tenant's chain head and moves it one step: returns the new row's `seq` and the
/// previous row's hash. Concurrent appenders of one tenant queue on the head row.
pub(crate) async fn advance_head(
    conn: &DatabaseTransaction,
    org_id: Uuid,
) -> Result<(i64, String)> {
    let backend = conn.get_database_backend();
    let init = Query::insert()
        .into_table(Alias::new(HEADS))
        .columns([Alias::new("org_id"), Alias::new("seq"), Alias::new("hash")])
        .values_panic([
            Expr::value(org_id),
            Expr::value(0i64),
            Expr::value(GENESIS_HASH),
        ])
        .on_conflict(
            OnConflict::column(Alias::new("org_id"))
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    conn.execute_raw(backend.build(&init)).await?;
    let bump = Query::update()
        .table(Alias::new(HEADS))
        .value(Alias::new("seq"), Expr::col(Alias::new("seq")).add(1))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .returning(Query::returning().columns([Alias::new("seq"), Alias::new("hash")]))
        .to_owned();
    let row = conn
        .query_one_raw(backend.build(&bump))
        .await?
        .ok_or_else(|| Error::internal_msg("audit chain head missing after insert"))?;
    let seq: i64 = row.try_get("", "seq")?;
    let hash: String = row.try_get("", "hash")?;
    Ok((seq, hash))
}

/// Records `hash` as the tenant's chain head.
pub(crate) async fn set_head_hash(
    conn: &DatabaseTransaction,
    org_id: Uuid,
    hash: &str,
) -> Result<()> {
    let backend = conn.get_database_backend();
    let upd = Query::update()
        .table(Alias::new(HEADS))
        .value(Alias::new("hash"), Expr::value(hash))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .to_owned();
    conn.execute_raw(backend.build(&upd)).await?;
    Ok(())
}
