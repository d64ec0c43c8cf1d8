//! Extractors: [`Authenticated`] (a bearer access token of an active session), the
//! [`authenticate`] middleware, and the JSON body and request-metadata helpers of the routes.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{
    ConnectInfo, FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use helix_core::{Actor, RequestContext, RequestMeta};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::state::AuthState;
use crate::tokens::AccessClaims;

/// The caller, authenticated by `Authorization: Bearer <access token>`.
///
/// Extraction verifies the token ([`crate::tokens::AccessTokens::verify_access`]: signature,
/// `alg`, `kid`, issuer, audience, expiry), then asks
/// [`crate::sessions::SessionService::is_active`] about its `sid`, so a signed-out or revoked
/// session is refused at once, not at token expiry. On success it sets the request's
/// [`RequestContext`] (actor [`Actor::User`], or [`Actor::Impersonated`] when the token has
/// an `act` claim, so every audit row names the impersonator; organization from the `org`
/// claim) and stores itself in the request extensions, so a second extraction in the same
/// request is free.
///
/// A missing or refused token is a 401 envelope (`UNAUTHORIZED`) with
/// `WWW-Authenticate: Bearer`; the client never learns which check failed.
///
/// `Option<Authenticated>` is `None` when no `Authorization` header is sent, and still a 401
/// when a token is sent but refused (a bad token never downgrades to anonymous).
#[derive(Clone, Debug)]
pub struct Authenticated {
    claims: AccessClaims,
}

impl Authenticated {
    /// The account (`sub`).
    pub fn account_id(&self) -> Uuid {
        self.claims.sub
    }

    /// The session (`sid`).
    pub fn session_id(&self) -> Uuid {
        self.claims.sid
    }

    /// The active organization (`org`), if one is selected.
    pub fn org_id(&self) -> Option<Uuid> {
        self.claims.org
    }

    /// All verified claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// The support account acting as the caller (the `act` claim), when the session is an
    /// impersonation.
    pub fn impersonator_id(&self) -> Option<Uuid> {
        self.claims.act.map(|a| a.sub)
    }

    /// Whether the session is an impersonation.
    pub fn is_impersonation(&self) -> bool {
        self.claims.act.is_some()
    }

    /// The caller as an [`Actor`]: [`Actor::Impersonated`] under impersonation, else
    /// [`Actor::User`].
    pub fn actor(&self) -> Actor {
        match self.impersonator_id() {
            Some(impersonator) => Actor::Impersonated {
                user: self.account_id(),
                impersonator,
            },
            None => Actor::User(self.account_id()),
        }
    }

    /// Refuses the request under impersonation: a 403 `IMPERSONATION_FORBIDDEN`. Call it
    /// first in every route that changes the account's credentials or sessions (password,
    /// MFA, API keys, sessions of the account).
    pub fn deny_impersonation(&self) -> Result<(), helix_core::Error> {
        if self.is_impersonation() {
            return Err(crate::AuthError::ImpersonationForbidden(
                "not allowed during an impersonation session",
            )
            .into());
        }
        Ok(())
    }
}

/// Why [`Authenticated`] was refused: a 401 with `WWW-Authenticate: Bearer`, or a server
/// error (the session store failed).
#[derive(Debug)]
pub struct AuthRejection {
    error: helix_core::Error,
    invalid_token: bool,
}

impl AuthRejection {
    fn missing() -> Self {
        Self {
            error: helix_core::Error::Unauthorized,
            invalid_token: false,
        }
    }

    fn invalid() -> Self {
        Self {
            error: helix_core::Error::Unauthorized,
            invalid_token: true,
        }
    }

    /// The kernel error it answers with.
    pub fn error(&self) -> &helix_core::Error {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let unauthorized = self.error.status() == 401;
        let mut response = self.error.into_response();
        if unauthorized {
            // RFC 6750: `error="invalid_token"` when a token was presented and refused.
            let challenge = if self.invalid_token {
                HeaderValue::from_static("Bearer error=\"invalid_token\"")
            } else {
                HeaderValue::from_static("Bearer")
            };
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// The token of `Authorization: Bearer <token>`: `None` without the header, `Err` when the
/// header is there but is not a bearer token.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthRejection> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthRejection::invalid())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(AuthRejection::invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthRejection::invalid());
    }
    Ok(Some(token))
}

async fn authenticate_parts(
    parts: &mut Parts,
    state: &AuthState,
) -> Result<Option<Authenticated>, AuthRejection> {
    if let Some(done) = parts.extensions.get::<Authenticated>() {
        return Ok(Some(done.clone()));
    }
    let Some(token) = bearer(&parts.headers)? else {
        return Ok(None);
    };
    let claims = state.tokens().verify_access(token).map_err(|e| {
        tracing::debug!(token.error = e.code(), "access token refused");
        AuthRejection::invalid()
    })?;
    let active = state
        .sessions()
        .is_active(claims.sid)
        .await
        .map_err(|e| AuthRejection {
            error: e.into(),
            invalid_token: false,
        })?;
    if !active {
        tracing::debug!(token.error = "SESSION_INACTIVE", "access token refused");
        return Err(AuthRejection::invalid());
    }
    let auth = Authenticated { claims };
    match parts.extensions.get_mut::<RequestContext>() {
        Some(ctx) => {
            ctx.actor = auth.actor();
            ctx.org_id = auth.org_id();
        }
        None => {
            let mut ctx = RequestContext::anonymous(meta_from_parts(parts));
            ctx.actor = auth.actor();
            ctx.org_id = auth.org_id();
            parts.extensions.insert(ctx);
        }
    }
    parts.extensions.insert(auth.clone());
    Ok(Some(auth))
}

impl<S> FromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AuthState::from_ref(state);
        authenticate_parts(parts, &state)
            .await?
            .ok_or_else(AuthRejection::missing)
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let state = AuthState::from_ref(state);
        authenticate_parts(parts, &state).await
    }
}

/// Middleware: authenticates the request when it carries `Authorization`, so the layers
/// inside it (idempotency, rate limits) see the principal in the [`RequestContext`].
/// Requests without the header pass through anonymous; a refused token is a 401 at once.
///
/// Install it inside `helix_core::http::request_context` and outside the layers that read the
/// principal:
///
/// ```ignore
/// app.layer(from_fn_with_state(app_state.clone(), rate_limit_or_idempotency))
///    .layer(from_fn_with_state(app_state.clone(), helix_auth::http::authenticate::<AppState>))
///    .layer(from_fn_with_state(metrics, request_context))
/// ```
pub async fn authenticate<S>(State(state): State<S>, req: Request, next: Next) -> Response
where
    AuthState: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    let (mut parts, body) = req.into_parts();
    let state = AuthState::from_ref(&state);
    if let Err(rejection) = authenticate_parts(&mut parts, &state).await {
        return rejection.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The request metadata: from the [`RequestContext`] the `request_context` middleware put in
/// the extensions, else built from the connection (fresh correlation id).
pub(crate) fn meta_from_parts(parts: &Parts) -> RequestMeta {
    if let Some(ctx) = parts.extensions.get::<RequestContext>() {
        return (*ctx.meta).clone();
    }
    RequestMeta {
        ip: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        ..RequestMeta::new_internal()
    }
}

/// Extractor: the request's [`RequestMeta`] (see [`meta_from_parts`]).
pub(crate) struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(meta_from_parts(parts)))
    }
}

/// Extractor: a JSON body whose rejections answer the standard envelope (415 without a JSON
/// content type, 413 when too large, 400 otherwise). The messages never echo the body: it
/// may hold a password.
pub(crate) struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = helix_core::Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_error(&rejection)),
        }
    }
}

fn json_error(rejection: &JsonRejection) -> helix_core::Error {
    use helix_core::Error;
    match rejection {
        JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType,
        JsonRejection::JsonSyntaxError(_) => Error::BadRequest("the body is not valid JSON".into()),
        JsonRejection::JsonDataError(_) => {
            Error::BadRequest("the body does not have the expected fields and types".into())
        }
        JsonRejection::BytesRejection(_) if rejection.status().as_u16() == 413 => {
            Error::PayloadTooLarge
        }
        _ => Error::BadRequest("the body could not be read".into()),
    }
}
