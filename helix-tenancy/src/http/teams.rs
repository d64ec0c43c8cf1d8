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

use super::body::{ApiJson, ApiPath};
use crate::{NewTeam, Team, TeamMember, TeamUpdate, TenancyError, TenancyService};

#[derive(Debug, Deserialize)]
pub(crate) struct TeamPath {
    id: Uuid,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TeamMemberPath {
    id: Uuid,
    user_id: Uuid,
}

pub(crate) async fn list(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    query: ListQuery,
) -> Result<Json<Page<Team>>, Error> {
    Ok(Json(svc.list_teams(&tenant, &query).await?))
}

pub(crate) async fn create(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(new): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<Team>), Error> {
    let team = svc.create_team(&tenant, new).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
) -> Result<Json<Team>, Error> {
    Ok(Json(svc.get_team(&tenant, path.id).await?))
}

pub(crate) async fn update(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
    ApiJson(update): ApiJson<TeamUpdate>,
) -> Result<Json<Team>, Error> {
    Ok(Json(svc.update_team(&tenant, path.id, update).await?))
}

pub(crate) async fn delete(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamPath>,
) -> Result<StatusCode, Error> {
    svc.delete_team(&tenant, path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

pub(crate) async fn remove_member(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<TeamMemberPath>,
) -> Result<StatusCode, Error> {
    svc.remove_team_member(&tenant, path.id, path.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
