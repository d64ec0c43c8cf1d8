//! [`ApiKeyService`]: create, list, revoke and resolve API keys.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, PlatformContext, RequestMeta};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use serde_json::json;
use uuid::Uuid;

use super::config::ApiKeyConfig;
use super::key::{self, ApiKeySecret, HmacKey};
use super::model::{ApiKey, ApiKeyPrincipal, NewApiKey};
use crate::accounts::SecurityEventKind;
use crate::accounts::events::Event;
use crate::error::{AuthError, Result};
use crate::service::AuthService;

const COLUMNS: &str = "id, owner_ref, name, secret_hash, scopes, created_by, created_at, \
                       expires_at, last_used_at, revoked_at";
const MAX_NAME_CHARS: usize = 100;
const MAX_OWNER_CHARS: usize = 200;
const MAX_SCOPE_PART_CHARS: usize = 64;

/// API keys over the auth service's kernel and security events. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiKeyService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    auth: AuthService,
    config: ApiKeyConfig,
    key: HmacKey,
}

impl ApiKeyService {
    /// The service. Fails (a configuration error naming `auth.api_keys.hash_key`) without a
    /// hash key, and on limits of zero.
    pub fn new(auth: AuthService, config: ApiKeyConfig) -> Result<Self> {
        let bad = |m: &str| AuthError::Core(helix_core::Error::Config(m.to_owned()));
        let key = config
            .hash_key
            .clone()
            .ok_or_else(|| bad("auth.api_keys.hash_key is required"))?;
        if config.max_scopes == 0 || config.max_keys_per_owner == 0 {
            return Err(bad(
                "auth.api_keys: max_scopes and max_keys_per_owner must be at least 1",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner { auth, config, key }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ApiKeyConfig {
        &self.inner.config
    }

    fn backend(&self) -> DbBackend {
        self.inner
            .auth
            .kernel()
            .db()
            .connection()
            .get_database_backend()
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.auth.kernel().now()
    }

    /// Creates a key of `new.owner` on behalf of `actor` and returns it with its secret,
    /// which is shown once and cannot be recovered. Validates the name (1–100 characters),
    /// the scopes (1 to [`ApiKeyConfig::max_scopes`] `resource:action` strings of
    /// `[a-z0-9_.-]`, duplicates merged) and the expiry (in the future); an owner already
    /// holding [`ApiKeyConfig::max_keys_per_owner`] unrevoked keys gets a 409
    /// `API_KEY_LIMIT`. Writes an `api_key_created` security event and a platform audit
    /// entry in the same transaction.
    pub async fn create(
        &self,
        meta: &RequestMeta,
        actor: Actor,
        new: NewApiKey,
    ) -> Result<(ApiKey, ApiKeySecret)> {
        let owner = validate_owner(&new.owner)?;
        let name = validate_name(&new.name)?;
        let scopes = validate_scopes(&new.scopes, self.inner.config.max_scopes)?;
        let now = self.now();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::invalid(
                "expires_at",
                "in_the_past",
                "must be in the future",
            ));
        }
        let id = self.inner.auth.kernel().new_id();
        let (secret, raw) = ApiKeySecret::generate(id);
        let record = ApiKey {
            id,
            owner,
            name,
            scopes,
            created_by: actor.user_id(),
            created_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        let backend = self.backend();
        let ctx = PlatformContext::with_meta(actor, Arc::new(meta.clone()));
        let tx = self.inner.auth.kernel().db().platform(&ctx).await?;
        let live = tx
            .raw()
            .query_one_raw(stmt(
                backend,
                "SELECT COUNT(*) AS n FROM auth_api_keys WHERE owner_ref = $1 AND revoked_at IS NULL",
                vec![record.owner.clone().into()],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if u64::try_from(live).unwrap_or(0) >= self.inner.config.max_keys_per_owner {
            tx.rollback().await?;
            return Err(AuthError::Core(helix_core::Error::conflict(
                "API_KEY_LIMIT",
                "this owner already has the maximum number of API keys; revoke one first",
            )));
        }
        tx.raw()
            .execute_raw(stmt(
                backend,
                &format!(
                    "INSERT INTO auth_api_keys ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                vec![
                    id.into(),
                    record.owner.clone().into(),
                    record.name.clone().into(),
                    key::hash(&self.inner.key, id, raw.as_ref()).into(),
                    serde_json::to_string(&record.scopes)
                        .unwrap_or_else(|_| "[]".into())
                        .into(),
                    record.created_by.into(),
                    now.into(),
                    record.expires_at.into(),
                    Value::ChronoDateTimeUtc(None),
                    Value::ChronoDateTimeUtc(None),
                ],
            ))
            .await?;
        let data = json!({
            "key_id": id,
            "owner": record.owner,
            "name": record.name,
            "scopes": record.scopes,
            "expires_at": record.expires_at,
        });
        let mut event = Event::new(SecurityEventKind::ApiKeyCreated).data(data.clone());
        if let Some(user) = record.created_by {
            event = event.account(user);
        }
        self.inner.auth.record_event(tx.raw(), meta, event).await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.api_key.created", "api_key", id).data(data),
        )
        .await?;
        tx.commit().await?;
        Ok((record, secret))
    }

    /// The keys of `owner`, newest first, revoked and expired ones included (their state is
    /// in the record). Never a secret or hash.
    pub async fn list(&self, owner: &str) -> Result<Vec<ApiKey>> {
        let ctx = PlatformContext::system("helix-auth.api-keys");
        let tx = self.inner.auth.kernel().db().platform_read(&ctx).await?;
        let rows = tx
            .raw()
            .query_all_raw(stmt(
                self.backend(),
                &format!(
                    "SELECT {COLUMNS} FROM auth_api_keys WHERE owner_ref = $1 \
                     ORDER BY created_at DESC, id DESC"
                ),
                vec![owner.to_owned().into()],
            ))
            .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| from_row(row).map(|(k, _)| k))
            .collect::<std::result::Result<_, _>>()
            .map_err(Into::into)
    }

    /// Revokes key `id` of `owner` on behalf of `actor`; it is refused from the next
    /// request. A key of another owner, or none, is a 404 (no existence leak); revoking a
    /// revoked key again is a no-op. Writes an `api_key_revoked` security event and a
    /// platform audit entry.
    pub async fn revoke(
        &self,
        meta: &RequestMeta,
        actor: Actor,
        owner: &str,
        id: Uuid,
    ) -> Result<()> {
        let backend = self.backend();
        let now = self.now();
        let user = actor.user_id();
        let ctx = PlatformContext::with_meta(actor, Arc::new(meta.clone()));
        let tx = self.inner.auth.kernel().db().platform(&ctx).await?;
        let row = tx
            .raw()
            .query_one_raw(stmt(
                backend,
                "SELECT revoked_at FROM auth_api_keys WHERE id = $1 AND owner_ref = $2",
                vec![id.into(), owner.to_owned().into()],
            ))
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(AuthError::Core(helix_core::Error::not_found("api key")));
        };
        let revoked_at: Option<DateTime<Utc>> = row.try_get("", "revoked_at")?;
        if revoked_at.is_some() {
            tx.rollback().await?;
            return Ok(());
        }
        tx.raw()
            .execute_raw(stmt(
                backend,
                "UPDATE auth_api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                vec![now.into(), id.into()],
            ))
            .await?;
        let data = json!({ "key_id": id, "owner": owner });
        let mut event = Event::new(SecurityEventKind::ApiKeyRevoked).data(data.clone());
        if let Some(user) = user {
            event = event.account(user);
        }
        self.inner.auth.record_event(tx.raw(), meta, event).await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.api_key.revoked", "api_key", id).data(data),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The principal of a presented key. Malformed, unknown, wrong-secret, revoked and
    /// expired keys are all [`AuthError::InvalidApiKey`]; each refusal is recorded as an
    /// `api_key_refused` security event whose `data.reason` says which (`malformed`,
    /// `unknown`, `mismatch`, `revoked`, `expired`). A valid use updates `last_used_at` when
    /// the stored value is older than [`ApiKeyConfig::last_used_interval_secs`] (a
    /// compare-and-set, so concurrent requests and instances write it once).
    pub async fn resolve(&self, meta: &RequestMeta, presented: &str) -> Result<ApiKeyPrincipal> {
        let Some(presented) = key::parse(presented) else {
            return Err(self.refuse(meta, None, "malformed").await);
        };
        let backend = self.backend();
        let ctx = PlatformContext::system("helix-auth.api-keys");
        let tx = self.inner.auth.kernel().db().platform_read(&ctx).await?;
        let row = tx
            .raw()
            .query_one_raw(stmt(
                backend,
                &format!("SELECT {COLUMNS} FROM auth_api_keys WHERE id = $1"),
                vec![presented.id.into()],
            ))
            .await?;
        tx.commit().await?;
        let Some(row) = row else {
            // The same HMAC work as a known key, so timing does not tell ids apart.
            let _ = key::matches(&self.inner.key, &presented, "");
            return Err(self.refuse(meta, Some(presented.id), "unknown").await);
        };
        let (record, stored_hash) = from_row(&row)?;
        if !key::matches(&self.inner.key, &presented, &stored_hash) {
            return Err(self.refuse(meta, Some(record.id), "mismatch").await);
        }
        let now = self.now();
        if record.revoked_at.is_some() {
            return Err(self.refuse(meta, Some(record.id), "revoked").await);
        }
        if record.expires_at.is_some_and(|at| now >= at) {
            return Err(self.refuse(meta, Some(record.id), "expired").await);
        }
        let interval = chrono::Duration::seconds(
            i64::try_from(self.inner.config.last_used_interval_secs).unwrap_or(i64::MAX / 1000),
        );
        if record.last_used_at.is_none_or(|at| now - at >= interval) {
            self.touch(record.id, record.last_used_at, now).await?;
        }
        Ok(ApiKeyPrincipal {
            key_id: record.id,
            owner: record.owner,
            scopes: record.scopes,
        })
    }

    /// Sets `last_used_at` to `now` if it still is `seen` (compare-and-set).
    async fn touch(&self, id: Uuid, seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<()> {
        let ctx = PlatformContext::system("helix-auth.api-keys");
        let tx = self.inner.auth.kernel().db().platform(&ctx).await?;
        let backend = self.backend();
        let statement = match seen {
            None => stmt(
                backend,
                "UPDATE auth_api_keys SET last_used_at = $1 WHERE id = $2 AND last_used_at IS NULL",
                vec![now.into(), id.into()],
            ),
            Some(seen) => stmt(
                backend,
                "UPDATE auth_api_keys SET last_used_at = $1 WHERE id = $2 AND last_used_at = $3",
                vec![now.into(), id.into(), seen.into()],
            ),
        };
        tx.raw().execute_raw(statement).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a refused use and returns the one error every refusal answers. A failure to
    /// record is logged (never the key) and the answer stays the same.
    async fn refuse(&self, meta: &RequestMeta, id: Option<Uuid>, reason: &str) -> AuthError {
        self.record_refusal(meta, json!({ "key_id": id, "reason": reason }))
            .await;
        AuthError::InvalidApiKey
    }

    /// Records that the client address of `meta` went over its quota of refused keys
    /// (`api_key_refused` with reason `rate_limited`; see [`super::RefusedKeyLimit`]).
    pub(crate) async fn record_rate_limited(&self, meta: &RequestMeta, retry_after_secs: u64) {
        let data = json!({
            "key_id": null,
            "reason": "rate_limited",
            "retry_after_secs": retry_after_secs,
        });
        self.record_refusal(meta, data).await;
    }

    async fn record_refusal(&self, meta: &RequestMeta, data: serde_json::Value) {
        let event = Event::new(SecurityEventKind::ApiKeyRefused).data(data);
        let write = async {
            let ctx = PlatformContext::system("helix-auth.api-keys");
            let tx = self.inner.auth.kernel().db().platform(&ctx).await?;
            self.inner.auth.record_event(tx.raw(), meta, event).await?;
            tx.commit().await?;
            Ok::<_, AuthError>(())
        };
        if let Err(e) = write.await {
            tracing::error!(
                error.code = e.code(),
                "api key refusal could not be recorded"
            );
        }
    }
}

fn stmt(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

fn from_row(row: &QueryResult) -> std::result::Result<(ApiKey, String), sea_orm::DbErr> {
    let scopes: String = row.try_get("", "scopes")?;
    let scopes: Vec<String> = serde_json::from_str(&scopes)
        .map_err(|_| sea_orm::DbErr::Type("auth_api_keys.scopes is not a JSON array".into()))?;
    Ok((
        ApiKey {
            id: row.try_get("", "id")?,
            owner: row.try_get("", "owner_ref")?,
            name: row.try_get("", "name")?,
            scopes,
            created_by: row.try_get("", "created_by")?,
            created_at: row.try_get("", "created_at")?,
            expires_at: row.try_get("", "expires_at")?,
            last_used_at: row.try_get("", "last_used_at")?,
            revoked_at: row.try_get("", "revoked_at")?,
        },
        row.try_get("", "secret_hash")?,
    ))
}

fn validate_owner(owner: &str) -> Result<String> {
    let owner = owner.trim();
    if owner.is_empty() || owner.chars().count() > MAX_OWNER_CHARS {
        return Err(AuthError::invalid(
            "owner",
            "invalid",
            "the owner reference must be 1-200 characters",
        ));
    }
    Ok(owner.to_owned())
}

fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(AuthError::invalid(
            "name",
            "length",
            "must be 1-100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::invalid(
            "name",
            "invalid",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Sorted, deduplicated scopes, or a validation error naming the offending entry.
pub(crate) fn validate_scopes(scopes: &[String], max: usize) -> Result<Vec<String>> {
    if scopes.is_empty() {
        return Err(AuthError::invalid(
            "scopes",
            "required",
            "at least one scope is required",
        ));
    }
    if scopes.len() > max {
        return Err(AuthError::invalid(
            "scopes",
            "too_many",
            format!("at most {max} scopes"),
        ));
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= MAX_SCOPE_PART_CHARS
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            })
    };
    let mut out = Vec::with_capacity(scopes.len());
    for (i, scope) in scopes.iter().enumerate() {
        let valid = scope
            .split_once(':')
            .is_some_and(|(resource, action)| part_ok(resource) && part_ok(action));
        if !valid {
            return Err(AuthError::invalid(
                &format!("scopes[{i}]"),
                "invalid_scope",
                "a scope is `resource:action` in lowercase letters, digits, `_`, `.`, `-`",
            ));
        }
        out.push(scope.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_validated() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            validate_scopes(&s(&["teams:read", "members:read", "teams:read"]), 4).unwrap(),
            s(&["members:read", "teams:read"])
        );
        for bad in [
            &[][..],
            &["members"][..],
            &[":read"][..],
            &["members:"][..],
            &["Members:read"][..],
            &["members:read:x"][..],
            &["members read"][..],
        ] {
            assert!(validate_scopes(&s(bad), 4).is_err(), "{bad:?}");
        }
        assert!(validate_scopes(&s(&["a:b", "c:d", "e:f"]), 2).is_err());
    }
}
