//! `GET/PATCH /organization` (the active organization) and `POST /organizations`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use helix_core::Error;
use helix_core::http::extract::{Principal, Tenant};
use serde::Deserialize;

use super::body::ApiJson;
use super::email::CallerEmail;
use crate::{NewOrganization, Organization, OrganizationUpdate, Region, TenancyService};

/// The body of `POST /organizations`.
///
/// There is no e-mail field: the owner membership records the caller's verified e-mail
/// address ([`CallerEmail`]), which the host's authentication glue supplies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrganization {
    name: String,
    slug: String,
    region: Region,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    settings: Option<serde_json::Value>,
}

pub(crate) async fn create(
    State(svc): State<TenancyService>,
    principal: Principal,
    email: CallerEmail,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, Json<Organization>), Error> {
    let Some(user_id) = principal.user_id() else {
        return Err(Error::Forbidden(
            "only a signed-in user can create an organization".into(),
        ));
    };
    let new = NewOrganization {
        name: body.name,
        slug: body.slug,
        region: body.region,
        plan: body.plan,
        settings: body.settings,
    };
    let org = svc
        .create_organization(&principal.platform_context(), new, user_id, email.as_str())
        .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
) -> Result<Json<Organization>, Error> {
    Ok(Json(svc.get_organization(&tenant).await?))
}

pub(crate) async fn update(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(update): ApiJson<OrganizationUpdate>,
) -> Result<Json<Organization>, Error> {
    Ok(Json(svc.update_organization(&tenant, update).await?))
}
