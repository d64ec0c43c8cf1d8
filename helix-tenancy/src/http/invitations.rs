//! `/invitations`: list, create, read, revoke, resend, accept.
//!
//! Responses that carry an invitation token (create, resend) are marked
//! `Cache-Control: no-store` and carry the [`NoStore`] extension, so the idempotency
//! middleware never stores or replays the token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use helix_core::Error;
use helix_core::http::extract::{Principal, Tenant};
use helix_core::http::idempotency::NoStore;
use helix_core::list::{ListQuery, Page};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::email::CallerEmail;
use crate::{
    Invitation, InvitationToken, IssuedInvitation, Membership, NewInvitation, TenancyService,
};
use helix_core::http::body::{ApiJson, ApiPath};

#[derive(Debug, Deserialize)]
pub(crate) struct InvitationPath {
    id: Uuid,
}

/// The body of `POST /invitations/accept`. No `Debug`: it holds the token.
///
/// There is no e-mail field: the invitation's e-mail is compared with the caller's verified
/// e-mail address ([`CallerEmail`]), which the host's authentication glue supplies.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Accept {
    token: String,
}

/// An invitation with its token, shown once.
#[derive(Serialize)]
struct IssuedBody<'a> {
    #[serde(flatten)]
    invitation: &'a Invitation,
    token: &'a str,
}

fn issued(status: StatusCode, issued: &IssuedInvitation) -> Response {
    let body = IssuedBody {
        invitation: &issued.invitation,
        token: issued.token.expose(),
    };
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.extensions_mut().insert(NoStore);
    resp
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/invitations",
        operation_id = "list_invitations",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`field:asc` or `field:desc` (allow-listed fields); `filter[field]=value` and `filter[field.gte|lte]=value` filter likewise")),
        responses(
            (status = 200, description = "A page of invitations", body = super::openapi::InvitationPage),
            (status = 400, description = "Unknown sort or filter field", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn list(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    query: ListQuery,
) -> Result<Json<Page<Invitation>>, Error> {
    Ok(Json(svc.list_invitations(&tenant, &query).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/invitations",
        operation_id = "create_invitation",
        tag = "tenancy",
        security(("bearer" = [])),
        request_body = crate::NewInvitation,
        responses(
            (status = 201, description = "Created; the token is shown once (`Cache-Control: no-store`)", body = super::openapi::IssuedInvitation),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "Already a member (`ALREADY_MEMBER`) or a pending invitation exists (`INVITATION_PENDING`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn create(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(new): ApiJson<NewInvitation>,
) -> Result<Response, Error> {
    let out = svc.create_invitation(&tenant, new).await?;
    Ok(issued(StatusCode::CREATED, &out))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/invitations/{id}",
        operation_id = "get_invitation",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The invitation")),
        responses(
            (status = 200, description = "The invitation (never its token)", body = crate::Invitation),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<InvitationPath>,
) -> Result<Json<Invitation>, Error> {
    Ok(Json(svc.get_invitation(&tenant, path.id).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/invitations/{id}/revoke",
        operation_id = "revoke_invitation",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The invitation")),
        responses(
            (status = 200, description = "Revoked", body = crate::Invitation),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "Already accepted or revoked", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn revoke(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<InvitationPath>,
) -> Result<Json<Invitation>, Error> {
    Ok(Json(svc.revoke_invitation(&tenant, path.id).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/invitations/{id}/resend",
        operation_id = "resend_invitation",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The invitation")),
        responses(
            (status = 200, description = "A new token, shown once (`Cache-Control: no-store`); the old one is dead", body = super::openapi::IssuedInvitation),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "Already accepted or revoked", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn resend(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<InvitationPath>,
) -> Result<Response, Error> {
    let out = svc.resend_invitation(&tenant, path.id).await?;
    Ok(issued(StatusCode::OK, &out))
}

/// Platform path: the invitation names its organization; the caller needs no active one.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/invitations/accept",
        operation_id = "accept_invitation",
        tag = "tenancy",
        security(("bearer" = [])),
        request_body = Accept,
        responses(
            (status = 200, description = "Joined the invitation's organization", body = crate::Membership),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "No verified e-mail (`EMAIL_NOT_VERIFIED`), or the invitation was issued for another address (`INVITATION_EMAIL_MISMATCH`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Unknown token (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "Expired, revoked or already used (`INVITATION_EXPIRED`, `INVITATION_REVOKED`, `INVITATION_ALREADY_USED`), or already a member", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn accept(
    State(svc): State<TenancyService>,
    principal: Principal,
    email: CallerEmail,
    ApiJson(body): ApiJson<Accept>,
) -> Result<Json<Membership>, Error> {
    let token = InvitationToken::new(body.token);
    let member = svc
        .accept_invitation(&principal.platform_context(), &token, email.as_str())
        .await?;
    Ok(Json(member))
}
