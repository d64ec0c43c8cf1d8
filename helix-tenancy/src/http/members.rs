//! `/members`: list, add, read, change role, remove.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use helix_core::Error;
use helix_core::http::extract::Tenant;
use helix_core::list::{ListQuery, Page};
use serde::Deserialize;
use uuid::Uuid;

use crate::{Membership, NewMember, Role, TenancyService};
use helix_core::http::body::{ApiJson, ApiPath};

#[derive(Debug, Deserialize)]
pub(crate) struct MemberPath {
    user_id: Uuid,
}

/// The body of `PATCH /members/{user_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RoleChange {
    role: Role,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/members",
        operation_id = "list_members",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`field:asc` or `field:desc` (allow-listed fields); `filter[field]=value` and `filter[field.gte|lte]=value` filter likewise")),
        responses(
            (status = 200, description = "A page of memberships", body = super::openapi::MembershipPage),
            (status = 400, description = "Unknown sort or filter field", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn list(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    query: ListQuery,
) -> Result<Json<Page<Membership>>, Error> {
    Ok(Json(svc.list_members(&tenant, &query).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/members",
        operation_id = "add_member",
        tag = "tenancy",
        security(("bearer" = [])),
        request_body = crate::NewMember,
        responses(
            (status = 201, description = "Added", body = crate::Membership),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "Already a member (`ALREADY_MEMBER`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn add(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<Membership>), Error> {
    let member = svc.add_member(&tenant, new).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/members/{user_id}",
        operation_id = "get_member",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("user_id" = Uuid, Path, description = "The member's user id")),
        responses(
            (status = 200, description = "The membership", body = crate::Membership),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<MemberPath>,
) -> Result<Json<Membership>, Error> {
    Ok(Json(svc.get_member(&tenant, path.user_id).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        patch,
        path = "/api/v1/members/{user_id}",
        operation_id = "change_member_role",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("user_id" = Uuid, Path, description = "The member's user id")),
        request_body = RoleChange,
        responses(
            (status = 200, description = "The role changed", body = crate::Membership),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "The organization would lose its last owner (`LAST_OWNER`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn change_role(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<MemberPath>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<Membership>, Error> {
    let member = svc
        .change_member_role(&tenant, path.user_id, body.role)
        .await?;
    Ok(Json(member))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/members/{user_id}",
        operation_id = "remove_member",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("user_id" = Uuid, Path, description = "The member's user id")),
        responses(
            (status = 204, description = "Removed"),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "The organization would lose its last owner (`LAST_OWNER`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn remove(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<MemberPath>,
) -> Result<StatusCode, Error> {
    svc.remove_member(&tenant, path.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
