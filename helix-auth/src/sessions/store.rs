//! The SQL of sessions and refresh tokens. `$n` placeholders work on both backends; time
//! comparisons are made in Rust, so stored timestamp formats never matter.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use super::model::{Session, SessionKind};
use crate::tokens::AuthMethods;

pub(crate) const SESSION_COLUMNS: &str = "s.id, s.account_id, s.kind, s.actor_account_id, \
     s.user_agent, s.ip, s.created_at, s.last_seen_at, s.idle_expires_at, \
     s.absolute_expires_at, s.revoked_at, s.revoked_reason, s.active_org_id, s.amr";

pub(crate) fn stmt(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

pub(crate) fn session_from_row(row: &QueryResult) -> Result<Session, sea_orm::DbErr> {
    let kind: String = row.try_get("", "kind")?;
    let ip: Option<String> = row.try_get("", "ip")?;
    let amr: Option<String> = row.try_get("", "amr")?;
    Ok(Session {
        id: row.try_get("", "id")?,
        account_id: row.try_get("", "account_id")?,
        kind: SessionKind::parse(&kind)
            .ok_or_else(|| sea_orm::DbErr::Type(format!("unknown session kind `{kind}`")))?,
        actor_account_id: row.try_get("", "actor_account_id")?,
        user_agent: row.try_get("", "user_agent")?,
        ip: ip.and_then(|s| s.parse().ok()),
        created_at: row.try_get("", "created_at")?,
        last_seen_at: row.try_get("", "last_seen_at")?,
        idle_expires_at: row.try_get("", "idle_expires_at")?,
        absolute_expires_at: row.try_get("", "absolute_expires_at")?,
        revoked_at: row.try_get("", "revoked_at")?,
        revoked_reason: row.try_get("", "revoked_reason")?,
        active_org_id: row.try_get("", "active_org_id")?,
        amr: AuthMethods::from_names(amr.as_deref().unwrap_or_default().split_whitespace()),
    })
}

pub(crate) async fn insert_session(
    conn: &impl ConnectionTrait,
    s: &Session,
) -> Result<(), sea_orm::DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "INSERT INTO auth_sessions (id, account_id, kind, actor_account_id, user_agent, ip, \
         created_at, last_seen_at, idle_expires_at, absolute_expires_at, active_org_id, amr) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        vec![
            s.id.into(),
            s.account_id.into(),
            s.kind.as_str().into(),
            s.actor_account_id.into(),
            s.user_agent.clone().into(),
            s.ip.map(|ip| ip.to_string()).into(),
            s.created_at.into(),
            s.last_seen_at.into(),
            s.idle_expires_at.into(),
            s.absolute_expires_at.into(),
            s.active_org_id.into(),
            amr_text(s.amr).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The stored form of `amr`: its RFC 8176 names separated by spaces (`NULL` when empty).
pub(crate) fn amr_text(amr: AuthMethods) -> Option<String> {
    let names = amr.names();
    (!names.is_empty()).then(|| names.join(" "))
}

/// One generation of a refresh-token family, as stored.
pub(crate) struct TokenRow {
    pub hash: String,
    pub family_id: Uuid,
    pub generation: i64,
    pub parent_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub(crate) async fn insert_token(
    conn: &impl ConnectionTrait,
    t: &TokenRow,
) -> Result<(), sea_orm::DbErr> {
    conn.execute_raw(stmt(
        conn.get_database_backend(),
        "INSERT INTO auth_refresh_tokens \
         (token_hash, family_id, generation, parent_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        vec![
            t.hash.clone().into(),
            t.family_id.into(),
            t.generation.into(),
            t.parent_hash.clone().into(),
            t.created_at.into(),
            t.expires_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Revokes the sessions matching `filter` (a `WHERE` fragment whose placeholders start at
/// `$3`) that are not revoked yet; returns their ids.
pub(crate) async fn revoke_where(
    conn: &impl ConnectionTrait,
    filter: &str,
    mut values: Vec<Value>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let sql = format!(
        "UPDATE auth_sessions SET revoked_at = $1, revoked_reason = $2 \
         WHERE revoked_at IS NULL AND {filter} RETURNING id"
    );
    let mut all: Vec<Value> = vec![now.into(), reason.into()];
    all.append(&mut values);
    let rows = conn
        .query_all_raw(stmt(conn.get_database_backend(), &sql, all))
        .await?;
    rows.iter().map(|r| r.try_get("", "id")).collect()
}
