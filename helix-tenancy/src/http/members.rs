//! `/members`: list, add, read, change role, remove.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use helix_core::Error;
use helix_core::http::extract::Tenant;
use helix_core::list::{ListQuery, Page};
use serde::Deserialize;
use uuid::Uuid;

use super::body::{ApiJson, ApiPath};
use crate::{Membership, NewMember, Role, TenancyService};

#[derive(Debug, Deserialize)]
pub(crate) struct MemberPath {
    user_id: Uuid,
}

/// The body of `PATCH /members/{user_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    role: Role,
}

pub(crate) async fn list(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    query: ListQuery,
) -> Result<Json<Page<Membership>>, Error> {
    Ok(Json(svc.list_members(&tenant, &query).await?))
}

pub(crate) async fn add(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<Membership>), Error> {
    let member = svc.add_member(&tenant, new).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<MemberPath>,
) -> Result<Json<Membership>, Error> {
    Ok(Json(svc.get_member(&tenant, path.user_id).await?))
}

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

pub(crate) async fn remove(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiPath(path): ApiPath<MemberPath>,
) -> Result<StatusCode, Error> {
    svc.remove_member(&tenant, path.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
