//! The per-tenant hash chain.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::canonical;
use crate::error::{Error, Result};

/// The `prev_hash` of the first row of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) const HEADS: &str = "helix_audit_heads";

/// The fields that are hashed.
pub(crate) struct Canonical<'a> {
    pub org_id: Uuid,
    pub seq: i64,
    pub occurred_at: &'a DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Option<&'a str>,
    pub correlation_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub impersonator: Option<&'a str>,
    pub data: &'a Value,
    pub prev_hash: &'a str,
}

impl Canonical<'_> {
    /// The row as one canonical JSON object (see [`super::canonical`]): its members in
    /// UTF-8 byte order of their names, `occurred_at` as RFC 3339 UTC with microseconds,
    /// UUIDs hyphenated lowercase, absent values as `null`. `impersonator` (added after
    /// rows were already chained) is a member only when present, so rows written without
    /// it keep the encoding, and the hash, they were written with.
    pub(crate) fn encode(&self) -> String {
        fn opt(out: &mut String, v: Option<&str>) {
            match v {
                Some(s) => canonical::write_str(out, s),
                None => out.push_str("null"),
            }
        }
        let mut out = String::with_capacity(512);
        out.push_str("{\"action\":");
        canonical::write_str(&mut out, self.action);
        out.push_str(",\"actor\":");
        canonical::write_str(&mut out, self.actor);
        out.push_str(",\"correlation_id\":");
        canonical::write_str(&mut out, self.correlation_id);
        out.push_str(",\"data\":");
        canonical::write_value(&mut out, self.data);
        out.push_str(",\"entity_id\":");
        opt(&mut out, self.entity_id);
        out.push_str(",\"entity_type\":");
        canonical::write_str(&mut out, self.entity_type);
        if let Some(impersonator) = self.impersonator {
            out.push_str(",\"impersonator\":");
            canonical::write_str(&mut out, impersonator);
        }
        out.push_str(",\"ip\":");
        opt(&mut out, self.ip);
        out.push_str(",\"occurred_at\":");
        let ts = self
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        canonical::write_str(&mut out, &ts);
        out.push_str(",\"org_id\":");
        canonical::write_str(&mut out, &self.org_id.hyphenated().to_string());
        out.push_str(",\"prev_hash\":");
        canonical::write_str(&mut out, self.prev_hash);
        out.push_str(",\"seq\":");
        canonical::write_i64(&mut out, self.seq);
        out.push_str(",\"user_agent\":");
        opt(&mut out, self.user_agent);
        out.push('}');
        out
    }
}

/// `sha256(prev_hash ‖ canonical JSON of the row)` as lowercase hex.
pub(crate) fn compute_hash(row: &Canonical<'_>) -> String {
    let mut h = Sha256::new();
    h.update(row.prev_hash.as_bytes());
    h.update(row.encode().as_bytes());
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{Value, json};

    use super::{Canonical, GENESIS_HASH, compute_hash};

    #[test]
    fn the_row_encoding_is_canonical_json_of_its_fields() {
        let at = chrono::Utc
            .with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
            .single()
            .unwrap_or_default();
        let data = json!({"b": [1.5, -0.0], "a": "x\"y"});
        let row = Canonical {
            org_id: uuid::Uuid::nil(),
            seq: 7,
            occurred_at: &at,
            actor: "user:1",
            action: "thing.created",
            entity_type: "thing",
            entity_id: None,
            correlation_id: "c",
            ip: Some("127.0.0.1"),
            user_agent: None,
            impersonator: None,
            data: &data,
            prev_hash: GENESIS_HASH,
        };
        let as_value = json!({
            "org_id": "00000000-0000-0000-0000-000000000000",
            "seq": 7,
            "occurred_at": "2024-05-06T07:08:09.000000Z",
            "actor": "user:1",
            "action": "thing.created",
            "entity_type": "thing",
            "entity_id": Value::Null,
            "correlation_id": "c",
            "ip": "127.0.0.1",
            "user_agent": Value::Null,
            "data": data,
            "prev_hash": GENESIS_HASH,
        });
        assert_eq!(row.encode(), super::canonical::to_canonical(&as_value));
        assert!(
            row.encode()
                .contains(r#""data":{"a":"x\"y","b":[15e-1,0]}"#)
        );
        assert_eq!(compute_hash(&row).len(), 64);
        // Without an impersonator the encoding is the one above, which has no
        // `impersonator` member: rows chained before the column existed still verify.
        let impersonated = Canonical {
            impersonator: Some("user:2"),
            ..row
        };
        let mut with = as_value.clone();
        with["impersonator"] = Value::from("user:2");
        assert_eq!(impersonated.encode(), super::canonical::to_canonical(&with));
        assert_ne!(compute_hash(&impersonated), compute_hash(&row));
    }
}
