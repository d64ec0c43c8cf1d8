//! Impersonation routes: start (`POST /api/v1/auth/impersonate`) and end
//! (`DELETE /api/v1/auth/impersonate`). See [`crate::impersonation`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use helix_core::Error;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::account::no_store;
use super::extract::{Authenticated, JsonBody, Meta};
use super::state::AuthState;
use crate::impersonation::ImpersonationRequest;

/// Whom to impersonate and why (`impersonate`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ImpersonateBody {
    /// The account to act as.
    account_id: Uuid,
    /// Why (required, not blank, at most 500 characters); recorded in the security events
    /// and the audit log.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    reason: Option<String>,
}

/// An impersonation session's one access token: no refresh token, it cannot be renewed.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ImpersonationToken<'a> {
    /// The access token (its `sub` is the impersonated account, `act.sub` the caller). It
    /// lasts the whole session.
    access_token: &'a str,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token, and the session, expire.
    expires_in: i64,
    /// When the session ends (30 minutes after it started, by default).
    expires_at: DateTime<Utc>,
    /// The impersonation session.
    session_id: Uuid,
    /// The impersonated account.
    account_id: Uuid,
    /// The impersonated account's default organization (the token's `org`), if any.
    org_id: Option<Uuid>,
}

/// `POST /api/v1/auth/impersonate` `{account_id, reason}` (authenticated, platform support)
/// → 201 an access token of a new impersonation session of `account_id`, with no refresh
/// token.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/impersonate",
        operation_id = "start_impersonation",
        tag = "auth",
        security(("bearer" = [])),
        request_body = ImpersonateBody,
        responses(
            (status = 201, description = "Impersonating: the session's one access token (30 minutes, not renewable)", body = ImpersonationToken,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or a missing, blank or too long reason (`VALIDATION_ERROR`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller may not impersonate (`FORBIDDEN`), or not this account, or not from an impersonation session (`IMPERSONATION_FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "No such account (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn start(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<ImpersonateBody>,
) -> Result<Response, Error> {
    let org = match state.organizations() {
        Some(directory) if !auth.is_impersonation() => {
            directory.default_organization(body.account_id).await?
        }
        _ => None,
    };
    // An organization that requires MFA is entered only by a support session that used a
    // second factor itself (as `switch_organization` would demand).
    let org = match org {
        Some(o)
            if super::account::mfa_missing(
                &state,
                o,
                body.account_id,
                auth.claims().auth_methods(),
            )
            .await? =>
        {
            None
        }
        other => other,
    };
    let request = ImpersonationRequest {
        account_id: body.account_id,
        reason: body.reason,
        active_org_id: org,
    };
    let session = state
        .impersonation()
        .start(&meta, &auth.actor(), &request)
        .await?;
    let access = state.tokens().issue_access_until(
        &super::account::grant(&session),
        session.absolute_expires_at,
    )?;
    let claims = access.claims();
    let mut response = (
        StatusCode::CREATED,
        Json(ImpersonationToken {
            access_token: access.token(),
            token_type: "Bearer",
            expires_in: claims.exp.saturating_sub(claims.iat),
            expires_at: session.absolute_expires_at,
            session_id: session.id,
            account_id: session.account_id,
            org_id: session.active_org_id,
        }),
    )
        .into_response();
    no_store(&mut response);
    Ok(response)
}

/// `DELETE /api/v1/auth/impersonate` (authenticated, an impersonation session) → 204; the
/// session is refused from now on. `POST /api/v1/auth/logout` does the same.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/auth/impersonate",
        operation_id = "end_impersonation",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 204, description = "The impersonation session has ended"),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 404, description = "The caller's session is not an impersonation (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn end(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
) -> Result<StatusCode, Error> {
    if !auth.is_impersonation() {
        return Err(Error::not_found("impersonation session"));
    }
    state.impersonation().end(&meta, auth.session_id()).await?;
    Ok(StatusCode::NO_CONTENT)
}
