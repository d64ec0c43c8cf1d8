//! `/teams` and `/teams/{id}/members`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use helix_core::Error;
use helix_core::http::extract::Tenant;
use helix_core::list::{ListQuery, Page};
use serde::Deserialize;
use uuid::Uuid;

use crate::{NewTeam, Team, TeamMember, TeamUpdate, TenancyError, TenancyService};
use helix_core::http::body::{ApiJson, ApiPath};

#[derive(Debug, Deserialize)]
pub(crate) struct TeamPath {
    id: Uuid,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TeamMemberPath {
    id: Uuid,
    user_id: Uuid,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/teams",
        operation_id = "list_teams",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`field:asc` or `field:desc` (allow-listed fields); `filter[field]=value` and `filter[field.gte|lte]=value` filter likewise")),
        responses(
            (status = 200, description = "A page of teams", body = super::openapi::TeamPage),
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
) -> Result<Json<Page<Team>>, Error> {
    Ok(Json(svc.list_teams(&tenant, &query).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/teams",
        operation_id = "create_team",
        tag = "tenancy",
        security(("bearer" = [])),
        request_body = crate::NewTeam,
        responses(
            (status = 201, description = "Created", body = crate::Team),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "The slug is taken in this organization (`TEAM_SLUG_TAKEN`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn create(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(new): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<Team>), Error> {
    let team = svc.create_team(&tenant, new).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/teams/{id}",
        operation_id = "get_team",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The team")),
        responses(
            (status = 200, description = "The team", body = crate::Team),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
) -> Result<Json<Team>, Error> {
    Ok(Json(svc.get_team(&tenant, path.id).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        patch,
        path = "/api/v1/teams/{id}",
        operation_id = "update_team",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The team")),
        request_body = crate::TeamUpdate,
        responses(
            (status = 200, description = "Updated", body = crate::Team),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "The slug is taken in this organization (`TEAM_SLUG_TAKEN`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn update(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
    ApiJson(update): ApiJson<TeamUpdate>,
) -> Result<Json<Team>, Error> {
    Ok(Json(svc.update_team(&tenant, path.id, update).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/teams/{id}",
        operation_id = "delete_team",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The team")),
        responses(
            (status = 204, description = "Deleted"),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn delete(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
) -> Result<StatusCode, Error> {
    svc.delete_team(&tenant, path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/teams/{id}/members",
        operation_id = "list_team_members",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The team"), ("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`field:asc` or `field:desc` (allow-listed fields); `filter[field]=value` and `filter[field.gte|lte]=value` filter likewise")),
        responses(
            (status = 200, description = "A page of team members", body = super::openapi::TeamMemberPage),
            (status = 400, description = "Unknown sort or filter field", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn list_members(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
    query: ListQuery,
) -> Result<Json<Page<TeamMember>>, Error> {
    Ok(Json(svc.list_team_members(&tenant, path.id, &query).await?))
}

/// `PUT` makes the user a member of the team: 201 with the team membership when it is
/// new, 204 when the user already was one (so a retried `PUT` succeeds).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        put,
        path = "/api/v1/teams/{id}/members/{user_id}",
        operation_id = "put_team_member",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The team"), ("user_id" = Uuid, Path, description = "The member's user id")),
        responses(
            (status = 201, description = "The user joined the team", body = crate::TeamMember),
            (status = 204, description = "The user already was a member"),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn put_member(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamMemberPath>,
) -> Result<Response, Error> {
    match svc.add_team_member(&tenant, path.id, path.user_id).await {
        Ok(member) => Ok((StatusCode::CREATED, Json(member)).into_response()),
        Err(TenancyError::AlreadyTeamMember) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Err(e.into()),
    }
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/teams/{id}/members/{user_id}",
        operation_id = "remove_team_member",
        tag = "tenancy",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The team"), ("user_id" = Uuid, Path, description = "The member's user id")),
        responses(
            (status = 204, description = "The user left the team"),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Not found, or not in the caller's active organization (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn remove_member(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamMemberPath>,
) -> Result<StatusCode, Error> {
    svc.remove_team_member(&tenant, path.id, path.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
