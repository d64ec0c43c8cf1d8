//! API-key management routes: list, create (the key is shown once), revoke. For users only
//! ([`Authenticated`] refuses API keys, so a key cannot mint keys); the owner of the keys
//! and whether the caller may manage them come from the host's
//! [`crate::api_keys::ApiKeyOwners`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use helix_core::Error;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::account::no_store;
use super::extract::{Authenticated, JsonBody, Meta};
use super::state::AuthState;
use crate::api_keys::{ApiKey, ApiKeyOwners, ApiKeyService, NewApiKey};

/// A key to create (`POST /api/v1/auth/api-keys`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CreateApiKeyBody {
    /// A label, 1–100 characters.
    name: String,
    /// `resource:action` scopes (at least one), e.g. `members:read`.
    scopes: Vec<String>,
    /// When the key stops working (RFC 3339, in the future); none for no expiry.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// An API key as listed: never its secret.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ApiKeyView {
    /// The key id.
    id: Uuid,
    /// The label.
    name: String,
    /// The scopes.
    scopes: Vec<String>,
    /// `hx_<id>_…`: how the key starts, to recognise it (the secret is not kept).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    prefix: String,
    /// The account that created it.
    created_by: Option<Uuid>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// When it expires, if ever.
    expires_at: Option<DateTime<Utc>>,
    /// When it was last used (updated at most once a minute).
    last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            prefix: format!("hx_{}_", k.id.simple()),
            name: k.name,
            scopes: k.scopes,
            created_by: k.created_by,
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The keys of the caller's owner.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ApiKeyList {
    /// Newest first, revoked and expired keys included.
    data: Vec<ApiKeyView>,
}

/// A new key and, once, its secret.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CreatedApiKey {
    /// The key's record.
    #[serde(flatten)]
    record: ApiKeyView,
    /// The key, `hx_<id>_<secret>`: shown this once, never again. Send it as
    /// `Authorization: Bearer <key>`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    key: String,
}

/// The API-key service and the owner whose keys `auth` manages, or the refusal.
async fn managed<'a>(
    state: &'a AuthState,
    auth: &Authenticated,
) -> Result<(&'a ApiKeyService, String), Error> {
    let Some((keys, owners)) = state.api_keys() else {
        return Err(Error::NotFound { resource: "route" });
    };
    let owner = ApiKeyOwners::managed_owner(owners, auth.account_id(), auth.org_id()).await?;
    match owner {
        Some(owner) => Ok((keys, owner)),
        None => Err(Error::Forbidden(
            "you may not manage API keys in the active organization".into(),
        )),
    }
}

/// `GET /api/v1/auth/api-keys` → `{data: [key]}`, never a secret.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/auth/api-keys",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The keys of the caller's owner (the active organization in the reference server)", body = ApiKeyList),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller may not manage keys (`FORBIDDEN`), or is an API key (`USER_REQUIRED`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn list(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Response, Error> {
    let (keys, owner) = managed(&state, &auth).await?;
    let data = keys.list(&owner).await?;
    let mut response = Json(ApiKeyList {
        data: data.into_iter().map(Into::into).collect(),
    })
    .into_response();
    no_store(&mut response);
    Ok(response)
}

/// `POST /api/v1/auth/api-keys` `{name, scopes, expires_at?}` → 201 the key with its secret
/// (`key`), shown once; `Cache-Control: no-store`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/api-keys",
        tag = "auth",
        security(("bearer" = [])),
        request_body = CreateApiKeyBody,
        responses(
            (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON, or an invalid name, scope or expiry (`VALIDATION_ERROR`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller may not manage keys (`FORBIDDEN`), or is an API key (`USER_REQUIRED`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "The owner already has the maximum number of keys (`API_KEY_LIMIT`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn create(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<CreateApiKeyBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let (keys, owner) = managed(&state, &auth).await?;
    let mut new = NewApiKey::new(owner, body.name, body.scopes);
    new.expires_at = body.expires_at;
    let (record, secret) = keys.create(&meta, auth.actor(), new).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(CreatedApiKey {
            record: record.into(),
            key: secret.expose_secret().to_owned(),
        }),
    )
        .into_response();
    no_store(&mut response);
    Ok(response)
}

/// `DELETE /api/v1/auth/api-keys/{id}` → 204; the key is refused from the next request. A
/// key of another owner is 404.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/auth/api-keys/{id}",
        tag = "auth",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The key id")),
        responses(
            (status = 204, description = "Revoked (or already revoked)"),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller may not manage keys (`FORBIDDEN`), or is an API key (`USER_REQUIRED`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "No such key of the caller's owner", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn revoke(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    auth.deny_impersonation()?;
    let (keys, owner) = managed(&state, &auth).await?;
    let id = Uuid::try_parse(&id).map_err(|_| Error::not_found("api key"))?;
    keys.revoke(&meta, auth.actor(), &owner, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
