//! `Idempotency-Key` for mutating requests.
//!
//! A `POST`, `PUT`, `PATCH` or `DELETE` from an authenticated caller carrying
//! `Idempotency-Key` is recorded under the caller's scope (actor and organization from the
//! [`RequestContext`]) before it runs. Anonymous requests pass through untouched: a shared
//! anonymous key space would let one client read another's responses.
//! - the same key with the same request (method, path, query, content type and body hash)
//!   replays the first response, with `Idempotency-Replayed: true`;
//! - the same key with a different request is a 422 `IDEMPOTENCY_KEY_REUSED`;
//! - the same key while the first request is still running is a 409
//!   `IDEMPOTENCY_KEY_IN_PROGRESS`;
//! - keys expire after 24 hours (configurable); [`purge_expired`] deletes old rows.
//!
//! Server errors (5xx) and 401, 403, 409 and 429 are not stored, so the client can retry
//! with the same key. A handler whose response holds a one-time secret (an invitation token,
//! an API key) inserts [`NoStore`] into the response extensions: the key is then remembered
//! as used, but a retry answers 409 `IDEMPOTENCY_RESPONSE_NOT_REPLAYABLE` instead of
//! replaying the secret. Replays restore the status, body, `Content-Type` and `Location`.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, StatementBuilder};
use sha2::{Digest, Sha256};

use crate::context::{Actor, PlatformContext, RequestContext};
use crate::db::Db;
use crate::error::Error;
use crate::ids::Clock;

/// Response extension: the response must never be stored or replayed (it carries a
/// one-time secret).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStore;

/// The request header.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The response header set on replays.
pub const REPLAYED_HEADER: &str = "idempotency-replayed";
const TABLE: &str = "helix_idempotency_keys";
/// How long a first request may run before its key is considered abandoned.
const IN_FLIGHT_TIMEOUT: chrono::Duration = chrono::Duration::minutes(5);

/// Configuration and storage of the idempotency middleware.
#[derive(Clone, Debug)]
pub struct IdempotencyState {
    db: Db,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    max_body_bytes: usize,
}

impl IdempotencyState {
    /// Keys stored in `db`, expiring after 24 hours, bodies up to 1 MiB.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            clock,
            ttl: chrono::Duration::hours(24),
            max_body_bytes: 1024 * 1024,
        }
    }

    /// Changes how long keys are remembered.
    pub fn ttl(mut self, ttl: chrono::Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Changes the largest request or response body that is hashed and stored.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

struct Stored {
    request_hash: String,
    status: Option<i32>,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

fn platform() -> PlatformContext {
    PlatformContext::system("idempotency")
}

/// Runs one statement in its own platform transaction (the table is shared, not tenant data).
async fn exec(db: &Db, stmt: &impl StatementBuilder) -> Result<u64, sea_orm::DbErr> {
    let tx = db.platform(&platform()).await.map_err(to_db_err)?;
    let res = tx.raw().execute(stmt).await?;
    tx.commit().await.map_err(to_db_err)?;
    Ok(res.rows_affected())
}

fn to_db_err(e: Error) -> sea_orm::DbErr {
    match e {
        Error::Database(d) => d,
        other => sea_orm::DbErr::Custom(other.code().to_owned()),
    }
}

async fn load(db: &Db, scope: &str, key: &str) -> Result<Option<Stored>, Error> {
    let q = Query::select()
        .columns([
            a("request_hash"),
            a("status"),
            a("content_type"),
            a("location"),
            a("body"),
            a("created_at"),
            a("expires_at"),
        ])
        .from(a(TABLE))
        .and_where(Expr::col(a("scope")).eq(scope))
        .and_where(Expr::col(a("idem_key")).eq(key))
        .to_owned();
    let tx = db.platform_read(&platform()).await?;
    let row = tx.raw().query_one(&q).await?;
    tx.rollback().await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Stored {
        request_hash: row.try_get("", "request_hash")?,
        status: row.try_get("", "status")?,
        content_type: row.try_get("", "content_type")?,
        location: row.try_get("", "location")?,
        body: row.try_get("", "body")?,
        created_at: row.try_get("", "created_at")?,
        expires_at: row.try_get("", "expires_at")?,
    }))
}

/// Deletes the record `(scope, key)` created at `created_at`, and only that one: a
/// concurrent retry may already have replaced it.
async fn delete(db: &Db, scope: &str, key: &str, created_at: DateTime<Utc>) -> Result<(), Error> {
    let q = Query::delete()
        .from_table(a(TABLE))
        .and_where(Expr::col(a("scope")).eq(scope))
        .and_where(Expr::col(a("idem_key")).eq(key))
        .and_where(Expr::col(a("created_at")).eq(created_at))
        .to_owned();
    exec(db, &q).await?;
    Ok(())
}

/// Deletes keys that expired before `now`; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, Error> {
    let q = Query::delete()
        .from_table(a(TABLE))
        .and_where(Expr::col(a("expires_at")).lt(now))
        .to_owned();
    Ok(exec(db, &q).await?)
}

fn replay(stored: &Stored) -> Result<Response, Error> {
    let Some(body) = stored.body.clone() else {
        return Err(Error::conflict(
            "IDEMPOTENCY_RESPONSE_NOT_REPLAYABLE",
            "a request with this Idempotency-Key already succeeded; its response cannot be shown again",
        ));
    };
    let status = stored
        .status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = [
        (header::CONTENT_TYPE, stored.content_type.as_deref()),
        (header::LOCATION, stored.location.as_deref()),
    ];
    for (name, value) in headers {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            resp.headers_mut().insert(name, v);
        }
    }
    resp.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    Ok(resp)
}

/// Middleware: install with `axum::middleware::from_fn_with_state(state, idempotency)`,
/// inside (after) the layer that authenticates and fills the [`RequestContext`].
pub async fn idempotency(
    State(state): State<IdempotencyState>,
    req: Request,
    next: Next,
) -> Response {
    match handle(state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(state: IdempotencyState, req: Request, next: Next) -> Result<Response, Error> {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_HEADER) else {
        return Ok(next.run(req).await);
    };
    if !mutating {
        return Ok(next.run(req).await);
    }
    let key = raw_key
        .to_str()
        .ok()
        .filter(|k| valid_key(k))
        .ok_or_else(|| {
            Error::invalid(
                "Idempotency-Key",
                "invalid",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?
        .to_owned();
    let scope = match req.extensions().get::<RequestContext>() {
        Some(c) if c.actor != Actor::Anonymous => match c.org_id {
            Some(org) => format!("{}@{org}", c.actor.as_ref_string()),
            None => c.actor.as_ref_string(),
        },
        _ => return Ok(next.run(req).await),
    };

    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update([0]);
    h.update(parts.uri.path().as_bytes());
    h.update([0]);
    h.update(parts.uri.query().unwrap_or("").as_bytes());
    h.update([0]);
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        h.update(ct.as_bytes());
    }
    h.update([0]);
    h.update(&bytes);
    let request_hash = hex::encode(h.finalize());

    let db = &state.db;
    let now = state.clock.now();
    for _ in 0..2 {
        if let Some(stored) = load(db, &scope, &key).await? {
            // Expired, or abandoned mid-flight (the process died or the client went away).
            let abandoned = stored.status.is_none() && stored.created_at + IN_FLIGHT_TIMEOUT <= now;
            if stored.expires_at <= now || abandoned {
                delete(db, &scope, &key, stored.created_at).await?;
                continue;
            }
            if stored.request_hash != request_hash {
                return Err(Error::Unprocessable {
                    code: "IDEMPOTENCY_KEY_REUSED",
                    message: "this Idempotency-Key was used with a different request".into(),
                });
            }
            if stored.status.is_none() {
                return Err(Error::conflict(
                    "IDEMPOTENCY_KEY_IN_PROGRESS",
                    "a request with this Idempotency-Key is still being processed",
                ));
            }
            return replay(&stored);
        }
        let insert = Query::insert()
            .into_table(a(TABLE))
            .columns([
                a("scope"),
                a("idem_key"),
                a("request_hash"),
                a("created_at"),
                a("expires_at"),
            ])
            .values_panic([
                Expr::value(scope.clone()),
                Expr::value(key.clone()),
                Expr::value(request_hash.clone()),
                Expr::value(now),
                Expr::value(now + state.ttl),
            ])
            .to_owned();
        match exec(db, &insert).await {
            Ok(_) => {
                let req = Request::from_parts(parts, Body::from(bytes));
                return finish(&state, &scope, &key, now, next.run(req).await).await;
            }
            // Lost a race with a concurrent first use: look again.
            Err(e) if crate::error::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::conflict(
        "IDEMPOTENCY_KEY_IN_PROGRESS",
        "a request with this Idempotency-Key is still being processed",
    ))
}

/// Statuses that say "try again later" or "not you": not stored, so a retry runs again.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::CONFLICT
                | StatusCode::TOO_MANY_REQUESTS
        )
}

async fn finish(
    state: &IdempotencyState,
    scope: &str,
    key: &str,
    created_at: DateTime<Utc>,
    resp: Response,
) -> Result<Response, Error> {
    let db = &state.db;
    let status = resp.status();
    if retryable(status) {
        delete(db, scope, key, created_at).await?;
        return Ok(resp);
    }
    let no_store = resp.extensions().get::<NoStore>().is_some();
    let content_type = header_text(resp.headers(), header::CONTENT_TYPE);
    let location = header_text(resp.headers(), header::LOCATION);
    let (parts, body) = resp.into_parts();
    // A body too large to keep, or one carrying a secret, is remembered as "done, not
    // replayable": a retry must not run the mutation again.
    let (bytes, stored_body) = if no_store {
        (
            to_bytes(body, usize::MAX).await.map_err(Error::internal)?,
            None,
        )
    } else {
        match to_bytes(body, state.max_body_bytes).await {
            Ok(b) => (b.clone(), Some(b.to_vec())),
            Err(_) => {
                mark_done(db, scope, key, created_at, status, None, None, None).await?;
                return Err(Error::internal_msg(
                    "response too large to store for Idempotency-Key",
                ));
            }
        }
    };
    mark_done(
        db,
        scope,
        key,
        created_at,
        status,
        content_type,
        location,
        stored_body,
    )
    .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn header_text(headers: &axum::http::HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Records the outcome on our own in-flight record (never on one a later retry created).
#[allow(clippy::too_many_arguments)]
async fn mark_done(
    db: &Db,
    scope: &str,
    key: &str,
    created_at: DateTime<Utc>,
    status: StatusCode,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
) -> Result<(), Error> {
    let update = Query::update()
        .table(a(TABLE))
        .value(a("status"), Expr::value(i32::from(status.as_u16())))
        .value(a("content_type"), Expr::value(content_type))
        .value(a("location"), Expr::value(location))
        .value(a("body"), Expr::value(body))
        .and_where(Expr::col(a("scope")).eq(scope))
        .and_where(Expr::col(a("idem_key")).eq(key))
        .and_where(Expr::col(a("created_at")).eq(created_at))
        .and_where(Expr::col(a("status")).is_null())
        .to_owned();
    exec(db, &update).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_visible_ascii() {
        assert!(super::valid_key("abc-123"));
        assert!(!super::valid_key("a b"));
        assert!(!super::valid_key(""));
        assert!(!super::valid_key(&"k".repeat(256)));
    }
}
