//! Extractors over the [`RequestContext`]: who is calling ([`Principal`]) and in which
//! organization ([`Tenant`]).
//!
//! Both read the context that [`request_context`](super::request_context) put into the
//! request extensions and that authentication then completed (actor, active organization).
//! They work with any router state, so library routers can use them without knowing the
//! host's state type:
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use helix_core::http::extract::{Principal, Tenant};
//!
//! async fn me(principal: Principal) -> String {
//!     principal.actor().as_ref_string()
//! }
//!
//! async fn org(tenant: Tenant) -> Json<uuid::Uuid> {
//!     Json(tenant.org_id())
//! }
//!
//! async fn maybe(principal: Option<Principal>) -> &'static str {
//!     if principal.is_some() { "signed in" } else { "anonymous" }
//! }
//!
//! fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
//!     Router::new()
//!         .route("/me", get(me))
//!         .route("/org", get(org))
//!         .route("/maybe", get(maybe))
//! }
//! # let _ = routes::<()>();
//! ```
//!
//! Rejections use the standard error envelope:
//! - no authenticated actor: 401 `UNAUTHORIZED` with `WWW-Authenticate: Bearer`;
//! - an authenticated actor without an active organization ([`Tenant`] only): 403
//!   `NO_ACTIVE_ORGANIZATION`;
//! - no [`RequestContext`] at all (the middleware is not installed): 500, logged, because
//!   it is a composition mistake; the extractors fail closed rather than guess.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::context::{
    Actor, PlatformContext, RequestContext, RequestMeta, TenantContext, current_correlation_id,
};
use crate::error::{Error, ErrorEnvelope};

/// The code of the 403 answered when an authenticated caller has no active organization.
pub const NO_ACTIVE_ORGANIZATION: &str = "NO_ACTIVE_ORGANIZATION";

/// Why [`Principal`] or [`Tenant`] rejected a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextRejection {
    /// The request carries no [`RequestContext`]: `request_context` is not installed.
    #[error("the request_context middleware is not installed")]
    MissingContext,
    /// Nobody authenticated.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller is authenticated but has no active organization.
    #[error("no active organization: select an organization first")]
    NoActiveOrganization,
}

impl ContextRejection {
    /// The HTTP status of this rejection.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingContext => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::NoActiveOrganization => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for ContextRejection {
    fn into_response(self) -> Response {
        match self {
            Self::MissingContext => Error::Config(self.to_string()).into_response(),
            Self::Unauthenticated => {
                let mut resp = Error::Unauthorized.into_response();
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                resp
            }
            Self::NoActiveOrganization => {
                let correlation_id =
                    current_correlation_id().unwrap_or_else(crate::ids::new_v7_string);
                let err = Error::Forbidden(self.to_string().into());
                let mut envelope = ErrorEnvelope::from_error(&err, correlation_id);
                NO_ACTIVE_ORGANIZATION.clone_into(&mut envelope.error.code);
                (self.status(), axum::Json(envelope)).into_response()
            }
        }
    }
}

fn request_context(parts: &Parts) -> Result<&RequestContext, ContextRejection> {
    parts
        .extensions
        .get::<RequestContext>()
        .ok_or(ContextRejection::MissingContext)
}

/// The authenticated caller: any actor but [`Actor::Anonymous`].
///
/// Use `Option<Principal>` on routes that also serve anonymous callers.
#[derive(Debug, Clone)]
pub struct Principal {
    actor: Actor,
    meta: Arc<RequestMeta>,
}

impl Principal {
    /// The actor (never [`Actor::Anonymous`]).
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The user id, when the caller is a user (not an API key or a system component).
    pub fn user_id(&self) -> Option<Uuid> {
        self.actor.user_id()
    }

    /// The request metadata (correlation id, IP, user agent).
    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }

    /// A platform context for this caller, carrying the request metadata, for the
    /// platform-plane operations a caller may start (creating an organization, accepting an
    /// invitation).
    pub fn platform_context(&self) -> PlatformContext {
        PlatformContext::with_meta(self.actor.clone(), self.meta.clone())
    }

    fn from_context(ctx: &RequestContext) -> Option<Self> {
        match ctx.actor {
            Actor::Anonymous => None,
            ref actor => Some(Self {
                actor: actor.clone(),
                meta: ctx.meta.clone(),
            }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ContextRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_context(request_context(parts)?).ok_or(ContextRejection::Unauthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = ContextRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(Self::from_context(request_context(parts)?))
    }
}

/// The tenant context of the request: the authenticated actor acting in its active
/// organization. The organization comes from authentication, never from request input.
///
/// Dereferences to [`TenantContext`]; pass `&tenant` wherever a `&TenantContext` is taken.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantContext);

impl Tenant {
    /// The tenant context.
    pub fn into_inner(self) -> TenantContext {
        self.0
    }
}

impl Deref for Tenant {
    type Target = TenantContext;

    fn deref(&self) -> &TenantContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ContextRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ctx = request_context(parts)?;
        if ctx.actor == Actor::Anonymous {
            return Err(ContextRejection::Unauthenticated);
        }
        ctx.tenant()
            .map(Self)
            .ok_or(ContextRejection::NoActiveOrganization)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    fn parts(ctx: Option<RequestContext>) -> Parts {
        let mut req = axum::http::Request::new(());
        if let Some(ctx) = ctx {
            req.extensions_mut().insert(ctx);
        }
        req.into_parts().0
    }

    fn context(actor: Actor, org_id: Option<Uuid>) -> RequestContext {
        let mut ctx = RequestContext::anonymous(RequestMeta::new_internal());
        ctx.actor = actor;
        ctx.org_id = org_id;
        ctx
    }

    #[tokio::test]
    async fn principal_and_tenant_follow_the_context() {
        let user = Uuid::now_v7();
        let org = Uuid::now_v7();
        let mut p = parts(Some(context(Actor::User(user), Some(org))));
        let principal = <Principal as FromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert_eq!(principal.user_id(), Some(user));
        assert_eq!(principal.platform_context().actor(), &Actor::User(user));
        let tenant = <Tenant as FromRequestParts<()>>::from_request_parts(&mut p, &())
            .await
            .unwrap();
        assert_eq!((tenant.org_id(), tenant.actor()), (org, &Actor::User(user)));

        let mut p = parts(Some(context(Actor::Anonymous, Some(org))));
        let anonymous = <Tenant as FromRequestParts<()>>::from_request_parts(&mut p, &()).await;
        assert_eq!(anonymous.unwrap_err(), ContextRejection::Unauthenticated);
        let optional =
            <Principal as OptionalFromRequestParts<()>>::from_request_parts(&mut p, &()).await;
        assert!(optional.unwrap().is_none());

        let mut p = parts(Some(context(Actor::User(user), None)));
        let no_org = <Tenant as FromRequestParts<()>>::from_request_parts(&mut p, &()).await;
        assert_eq!(no_org.unwrap_err(), ContextRejection::NoActiveOrganization);

        let mut p = parts(None);
        let missing = <Principal as FromRequestParts<()>>::from_request_parts(&mut p, &()).await;
        assert_eq!(missing.unwrap_err(), ContextRejection::MissingContext);
    }

    #[tokio::test]
    async fn rejections_are_enveloped() {
        let resp = ContextRejection::Unauthenticated.into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");

        let resp = ContextRejection::NoActiveOrganization.into_response();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = to_bytes(resp.into_body(), 4096).await.unwrap();
        let env: ErrorEnvelope = serde_json::from_slice(&body).unwrap();
        assert_eq!(env.error.code, NO_ACTIVE_ORGANIZATION);

        let resp = ContextRejection::MissingContext.into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
