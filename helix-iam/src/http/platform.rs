//! `/api/v1/iam/platform/roles`: platform-plane roles, for platform administrators.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use helix_core::Error;
use helix_core::http::body::ApiPath;
use helix_core::http::extract::Principal;
use helix_core::list::{ListQuery, Page};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::GuardedRouter;
use crate::service::Iam;
use crate::store::{PlatformRole, PlatformRoleGrant};

/// `{role}/accounts/{account_id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct GrantPath {
    role: String,
    account_id: Uuid,
}

impl GrantPath {
    fn role(&self) -> Result<PlatformRole, Error> {
        self.role.parse::<PlatformRole>().map_err(Error::from)
    }
}

/// The answer to a platform role revocation.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamPlatformRoleRevoked))]
pub(crate) struct Revoked {
    /// The account.
    account_id: Uuid,
    /// The role it no longer holds.
    role: PlatformRole,
    /// Always `true`.
    revoked: bool,
}

pub(crate) fn routes<S>() -> GuardedRouter<S>
where
    Iam: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    GuardedRouter::new()
        .route("/api/v1/iam/platform/roles", get(list))
        .route(
            "/api/v1/iam/platform/roles/{role}/accounts/{account_id}",
            axum::routing::put(grant).delete(revoke),
        )
}

pub(crate) async fn list(
    State(iam): State<Iam>,
    principal: Principal,
    query: ListQuery,
) -> Result<Json<Page<PlatformRoleGrant>>, Error> {
    let ctx = principal.platform_context();
    Ok(Json(iam.list_platform_roles(&ctx, &query).await?))
}

pub(crate) async fn grant(
    State(iam): State<Iam>,
    principal: Principal,
    ApiPath(path): ApiPath<GrantPath>,
) -> Result<Response, Error> {
    let role = path.role()?;
    let ctx = principal.platform_context();
    let outcome = iam.grant_platform_role(&ctx, path.account_id, role).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(outcome.grant)).into_response())
}

pub(crate) async fn revoke(
    State(iam): State<Iam>,
    principal: Principal,
    ApiPath(path): ApiPath<GrantPath>,
) -> Result<Json<Revoked>, Error> {
    let role = path.role()?;
    let ctx = principal.platform_context();
    iam.revoke_platform_role(&ctx, path.account_id, role)
        .await?;
    Ok(Json(Revoked {
        account_id: path.account_id,
        role,
        revoked: true,
    }))
}
