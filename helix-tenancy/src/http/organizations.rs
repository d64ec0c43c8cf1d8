//! `GET/PATCH /organization` (the active organization) and `POST /organizations`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use helix_core::Error;
use helix_core::http::extract::{Principal, Tenant};
use serde::Deserialize;

use super::email::CallerEmail;
use crate::{NewOrganization, Organization, OrganizationUpdate, Region, TenancyService};
use helix_core::http::body::ApiJson;

/// The body of `POST /organizations`.
///
/// There is no e-mail field: the owner membership records the caller's verified e-mail
/// address (`CallerEmail`), which the host's authentication glue supplies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CreateOrganization {
    /// Display name.
    name: String,
    /// Unique, URL-safe identifier (`[a-z0-9-]`, 3 to 63 characters).
    slug: String,
    /// Data region, fixed for the organization's lifetime; absent: the service's default
    /// region (`TenancyService::default_region`).
    #[serde(default)]
    region: Option<Region>,
    /// Commercial plan identifier (default `free`).
    #[serde(default)]
    plan: Option<String>,
    /// Free-form settings (a JSON object; default `{}`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    settings: Option<serde_json::Value>,
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/organizations",
        operation_id = "create_organization",
        tag = "tenancy",
        security(("bearer" = [])),
        request_body = CreateOrganization,
        responses(
            (status = 201, description = "Created; the caller is its owner", body = crate::Organization),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller has no verified e-mail (`EMAIL_NOT_VERIFIED`) or is not a user (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "The slug is taken (`SLUG_TAKEN`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
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
        region: body.region.unwrap_or_else(|| svc.default_region()),
        plan: body.plan,
        settings: body.settings,
    };
    let org = svc
        .create_organization(&principal.platform_context(), new, user_id, email.as_str())
        .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/organization",
        operation_id = "get_organization",
        tag = "tenancy",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The active organization", body = crate::Organization),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "No active organization, or not a member (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn get(
    State(svc): State<TenancyService>,
    tenant: Tenant,
) -> Result<Json<Organization>, Error> {
    Ok(Json(svc.get_organization(&tenant).await?))
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        patch,
        path = "/api/v1/organization",
        operation_id = "update_organization",
        tag = "tenancy",
        security(("bearer" = [])),
        request_body = crate::OrganizationUpdate,
        responses(
            (status = 200, description = "Updated", body = crate::Organization),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The caller's role does not allow this (`FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "No active organization, or not a member (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn update(
    State(svc): State<TenancyService>,
    tenant: Tenant,
    ApiJson(update): ApiJson<OrganizationUpdate>,
) -> Result<Json<Organization>, Error> {
    Ok(Json(svc.update_organization(&tenant, update).await?))
}
