//! The glue between helix-auth's API keys and helix-tenancy.
//!
//! - [`OrganizationKeyOwners`] implements helix-auth's `ApiKeyOwners`: a user manages the
//!   keys of the session's active organization (owner reference `org:<uuid>`) when they are
//!   an owner or admin of it; a key of `org:<uuid>` acts in that organization.
//! - [`api_key_scopes`] is the scope check for API keys until helix-iam brings the
//!   permission model: each tenancy route that an API key may call is listed in
//!   [`SCOPED_ROUTES`] with the one scope it needs. A key without that scope, and a key on any
//!   route not listed (every write, organization creation, invitations), gets 403
//!   `INSUFFICIENT_SCOPE`. The auth routes (`/api/v1/auth/...`) refuse API keys on their own
//!   (403 `USER_REQUIRED`). Behind the scope check helix-tenancy treats a key like a
//!   read-only member of its organization.

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use helix_auth::api_keys::{ApiKeyOwners, ApiKeyPrincipal};
use helix_core::context::current_correlation_id;
use helix_core::{Actor, ErrorEnvelope, PlatformContext};
use helix_tenancy::TenancyService;
use uuid::Uuid;

/// The code of the 403 answered when an API key's scopes do not cover the route.
pub const INSUFFICIENT_SCOPE: &str = "INSUFFICIENT_SCOPE";

/// The prefix of organization owner references.
const ORG_OWNER_PREFIX: &str = "org:";

/// The routes an API key may call, by method and route template, with the scope each needs.
pub const SCOPED_ROUTES: [(Method, &str, &str); 6] = [
    (Method::GET, "/api/v1/organization", "organization:read"),
    (Method::GET, "/api/v1/members", "members:read"),
    (Method::GET, "/api/v1/members/{user_id}", "members:read"),
    (Method::GET, "/api/v1/teams", "teams:read"),
    (Method::GET, "/api/v1/teams/{id}", "teams:read"),
    (Method::GET, "/api/v1/teams/{id}/members", "teams:read"),
];

/// The scope an API key needs for `method` on the route template `route`, if any may call it.
pub fn required_scope(method: &Method, route: &str) -> Option<&'static str> {
    SCOPED_ROUTES
        .iter()
        .find(|(m, r, _)| m == method && *r == route)
        .map(|(_, _, scope)| *scope)
}

/// helix-auth's API-key owners over helix-tenancy.
#[derive(Clone, Debug)]
pub struct OrganizationKeyOwners {
    tenancy: TenancyService,
}

impl OrganizationKeyOwners {
    /// The owners over `tenancy`.
    pub fn new(tenancy: TenancyService) -> Self {
        Self { tenancy }
    }
}

/// The owner reference of organization `org_id`.
pub fn owner_of(org_id: Uuid) -> String {
    format!("{ORG_OWNER_PREFIX}{org_id}")
}

#[async_trait]
impl ApiKeyOwners for OrganizationKeyOwners {
    async fn managed_owner(
        &self,
        account_id: Uuid,
        active_org: Option<Uuid>,
    ) -> Result<Option<String>, helix_core::Error> {
        let Some(org) = active_org else {
            return Ok(None);
        };
        let ctx = PlatformContext::new(Actor::User(account_id));
        let memberships = self.tenancy.memberships_of_user(&ctx, account_id).await?;
        let manages = memberships
            .iter()
            .any(|(id, role)| *id == org && role.can_manage());
        Ok(manages.then(|| owner_of(org)))
    }

    async fn organization_of(&self, owner: &str) -> Result<Option<Uuid>, helix_core::Error> {
        Ok(owner
            .strip_prefix(ORG_OWNER_PREFIX)
            .and_then(|id| Uuid::try_parse(id).ok()))
    }
}

/// Middleware: for requests authenticated by an API key, requires the scope of the route
/// ([`required_scope`]); 403 `INSUFFICIENT_SCOPE` otherwise. Users and anonymous requests
/// pass untouched; so do the auth routes, which refuse API keys themselves.
///
/// Install it inside `helix_auth::http::authenticate` (an earlier `.layer(...)` call) with
/// `Router::layer`, so it sees the principal and the matched route.
pub async fn api_key_scopes(req: Request, next: Next) -> Response {
    let Some(principal) = req.extensions().get::<ApiKeyPrincipal>() else {
        return next.run(req).await;
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if route.starts_with("/api/v1/auth/") || route.starts_with("/.well-known/") {
        return next.run(req).await;
    }
    let allowed = required_scope(req.method(), &route).is_some_and(|s| principal.has_scope(s));
    if allowed {
        return next.run(req).await;
    }
    tracing::debug!(api_key.id = %principal.key_id, http.route = %route, "api key scope refused");
    let err = helix_core::Error::Forbidden("the API key's scopes do not allow this request".into());
    let correlation_id = current_correlation_id().unwrap_or_else(helix_core::ids::new_v7_string);
    let mut envelope = ErrorEnvelope::from_error(&err, correlation_id);
    INSUFFICIENT_SCOPE.clone_into(&mut envelope.error.code);
    (StatusCode::FORBIDDEN, axum::Json(envelope)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_reads_have_a_scope() {
        assert_eq!(
            required_scope(&Method::GET, "/api/v1/members"),
            Some("members:read")
        );
        assert_eq!(required_scope(&Method::POST, "/api/v1/members"), None);
        assert_eq!(required_scope(&Method::GET, "/api/v1/invitations"), None);
    }

    #[tokio::test]
    async fn owners_map_to_organizations() {
        let org = Uuid::now_v7();
        let db = helix_core::Db::connect("sqlite::memory:", &helix_core::PoolOptions::default())
            .await
            .unwrap();
        let owners = OrganizationKeyOwners::new(TenancyService::new(helix_core::Kernel::new(db)));
        assert_eq!(
            owners.organization_of(&owner_of(org)).await.unwrap(),
            Some(org)
        );
        assert_eq!(owners.organization_of("team:x").await.unwrap(), None);
        assert_eq!(owners.organization_of("org:nope").await.unwrap(), None);
    }
}
