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

use super::body::{ApiJson, ApiPath};
use super::email::CallerEmail;
use crate::{
    Invitation, InvitationToken, IssuedInvitation, Membership, NewInvitation, TenancyService,
};

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

pub(crate) async fn list(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    query: ListQuery,
) -> Result<Json<Page<Invitation>>, Error> {
    Ok(Json(svc.list_invitations(&tenant, &query).await?))
}

pub(crate) async fn create(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(new): ApiJson<NewInvitation>,
) -> Result<Response, Error> {
    let out = svc.create_invitation(&tenant, new).await?;
    Ok(issued(StatusCode::CREATED, &out))
}

pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<InvitationPath>,
) -> Result<Json<Invitation>, Error> {
    Ok(Json(svc.get_invitation(&tenant, path.id).await?))
}

pub(crate) async fn revoke(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<InvitationPath>,
) -> Result<Json<Invitation>, Error> {
    Ok(Json(svc.revoke_invitation(&tenant, path.id).await?))
}

pub(crate) async fn resend(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<InvitationPath>,
) -> Result<Response, Error> {
    let out = svc.resend_invitation(&tenant, path.id).await?;
    Ok(issued(StatusCode::OK, &out))
}

/// Platform path: the invitation names its organization; the caller needs no active one.
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
