//! Extractors: [`Authenticated`] (a user: an access token of an active session, from the
//! `Authorization: Bearer` header or the browser's access cookie), [`Caller`] (a user or an
//! API key), the [`authenticate`] middleware, and the JSON body and request-metadata helpers
//! of the routes.
//!
//! How a request authenticates, in order:
//!
//! 1. `Authorization: Bearer hx_...`: an API key ([`crate::api_keys`]), when the host enabled
//!    them ([`AuthState::with_api_keys`]); actor [`Actor::ApiKey`], organization from
//!    [`crate::api_keys::ApiKeyOwners::organization_of`]. Refused: 401 `INVALID_API_KEY`.
//! 2. `Authorization: Bearer <access token>`: actor [`Actor::User`], organization from the
//!    `org` claim. Refused: 401 `UNAUTHORIZED`. Cookies are then ignored and no CSRF token
//!    is needed.
//! 3. The access cookie ([`super::BrowserSessions`]), when the host enabled browser
//!    sessions: like 2, and a state-changing method must pass the CSRF check (403
//!    `CSRF_FAILED`). An invalid or stale access cookie counts as no credential (the
//!    browser sends it unasked; anonymous routes such as refresh must keep working).

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

use super::cookies::{CSRF_FAILED, is_unsafe};
use super::state::AuthState;
use crate::api_keys::{ApiKeyPrincipal, is_api_key};
use crate::tokens::AccessClaims;

/// The code of the 403 answered when an API key calls a route that is for users only.
pub const USER_REQUIRED: &str = "USER_REQUIRED";

/// A user, authenticated by an access token of an active session: from
/// `Authorization: Bearer <access token>` or, with browser sessions, the access cookie.
///
/// Extraction verifies the token ([`crate::tokens::AccessTokens::verify_access`]: signature,
/// `alg`, `kid`, issuer, audience, expiry), then asks
/// [`crate::sessions::SessionService::is_active`] about its `sid`, so a signed-out or revoked
/// session is refused at once, not at token expiry. On success it sets the request's
/// [`RequestContext`] (actor [`Actor::User`], or [`Actor::Impersonated`] when the token has
/// an `act` claim, so every audit row names the impersonator; organization from the `org`
/// claim) and stores the [`Caller`] in the request extensions, so a second extraction in the
/// same request is free.
///
/// A missing or refused token is a 401 envelope (`UNAUTHORIZED`) with
/// `WWW-Authenticate: Bearer`; the client never learns which check failed. An API key is a
/// 403 `USER_REQUIRED`: the routes that take `Authenticated` (`/api/v1/auth/me`, sessions,
/// password, API-key management) are for users.
///
/// `Option<Authenticated>` is `None` when no credential is sent, and still a 401 when a
/// token is sent but refused (a bad token never downgrades to anonymous).
#[derive(Clone, Debug)]
pub struct Authenticated {
    claims: AccessClaims,
    via_cookie: bool,
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

    /// Whether the token came from the browser's access cookie (not the `Authorization`
    /// header): answers that issue tokens then set cookies instead of returning them.
    pub fn via_cookie(&self) -> bool {
        self.via_cookie
    }
}

/// Any authenticated caller: a user or an API key. Extracting it fails like
/// [`Authenticated`] (401), but accepts API keys.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A user with an access token.
    User(Authenticated),
    /// A system with an API key.
    ApiKey(ApiKeyPrincipal),
}

impl Caller {
    /// The actor of the request context.
    pub fn actor(&self) -> Actor {
        match self {
            Self::User(u) => u.actor(),
            Self::ApiKey(k) => Actor::ApiKey(k.key_id),
        }
    }
}

/// Why authentication was refused: a 401 with `WWW-Authenticate: Bearer`, a 403
/// (`CSRF_FAILED`, `USER_REQUIRED`), or a server error (a store failed).
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

    fn server(error: helix_core::Error) -> Self {
        Self {
            error,
            invalid_token: false,
        }
    }

    fn forbidden(code: &'static str, message: &'static str) -> Self {
        Self {
            error: helix_core::Error::forbidden(code, message),
            invalid_token: false,
        }
    }

    pub(crate) fn csrf() -> Self {
        Self::forbidden(
            CSRF_FAILED,
            "the CSRF check failed: send the X-CSRF-Token header",
        )
    }

    fn user_required() -> Self {
        Self::forbidden(USER_REQUIRED, "this route is for users, not API keys")
    }

    /// The kernel error it answers with.
    pub fn error(&self) -> &helix_core::Error {
        &self.error
    }

    /// The code of the answer (`UNAUTHORIZED`, `INVALID_API_KEY`, `CSRF_FAILED`, ...).
    pub fn code(&self) -> &'static str {
        self.error.code()
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

/// A verified access token of an active session, or why not.
async fn user(
    state: &AuthState,
    token: &str,
    via_cookie: bool,
) -> Result<Authenticated, AuthRejection> {
    let claims = state.tokens().verify_access(token).map_err(|e| {
        tracing::debug!(token.error = e.code(), "access token refused");
        AuthRejection::invalid()
    })?;
    let active = state
        .sessions()
        .is_active(claims.sid)
        .await
        .map_err(|e| AuthRejection::server(e.into()))?;
    if !active {
        tracing::debug!(token.error = "SESSION_INACTIVE", "access token refused");
        return Err(AuthRejection::invalid());
    }
    Ok(Authenticated { claims, via_cookie })
}

/// An API key's principal and the organization it acts in.
async fn api_key(
    state: &AuthState,
    parts: &Parts,
    token: &str,
) -> Result<(ApiKeyPrincipal, Option<Uuid>), AuthRejection> {
    let refused = || AuthRejection {
        error: crate::AuthError::InvalidApiKey.into(),
        invalid_token: true,
    };
    let Some((keys, owners)) = state.api_keys() else {
        return Err(refused());
    };
    let meta = meta_from_parts(parts);
    // Refused keys are limited per client IP: a blocked address is answered 429 before any
    // database work (see `RefusedKeyLimit`).
    let limit = state.api_key_refusals();
    let now = state.auth().kernel().now();
    if let Some(ip) = meta.ip {
        limit.check(ip, now).map_err(AuthRejection::server)?;
    }
    let principal = match keys.resolve(&meta, token).await {
        Ok(principal) => principal,
        Err(crate::AuthError::InvalidApiKey) => {
            if let Some(ip) = meta.ip {
                limit
                    .count(state.limiter(), keys, &meta, ip, now)
                    .await
                    .map_err(AuthRejection::server)?;
            }
            return Err(refused());
        }
        Err(other) => return Err(AuthRejection::server(other.into())),
    };
    let org = owners
        .organization_of(&principal.owner)
        .await
        .map_err(AuthRejection::server)?;
    if org.is_none() {
        tracing::debug!(api_key.id = %principal.key_id, "api key owner maps to no organization");
        return Err(refused());
    }
    Ok((principal, org))
}

async fn authenticate_parts(
    parts: &mut Parts,
    state: &AuthState,
) -> Result<Option<Caller>, AuthRejection> {
    if let Some(done) = parts.extensions.get::<Caller>() {
        return Ok(Some(done.clone()));
    }
    let (caller, org) = if let Some(token) = bearer(&parts.headers)? {
        if is_api_key(token) {
            let (principal, org) = api_key(state, parts, token).await?;
            (Caller::ApiKey(principal), org)
        } else {
            let auth = user(state, token, false).await?;
            let org = auth.org_id();
            (Caller::User(auth), org)
        }
    } else if let Some(browser) = state.browser_sessions()
        && let Some(token) = browser.access_cookie(&parts.headers)
    {
        // A stale cookie is no credential; only a valid one must pass the CSRF check. A store
        // failure is not "no credential": it answers the server error.
        let auth = match user(state, token, true).await {
            Ok(auth) => auth,
            Err(rejection) if rejection.invalid_token => return Ok(None),
            Err(rejection) => return Err(rejection),
        };
        if is_unsafe(&parts.method) && browser.check(&parts.headers, auth.session_id()).is_err() {
            return Err(AuthRejection::csrf());
        }
        let org = auth.org_id();
        (Caller::User(auth), org)
    } else {
        return Ok(None);
    };
    let actor = caller.actor();
    match parts.extensions.get_mut::<RequestContext>() {
        Some(ctx) => {
            ctx.actor = actor;
            ctx.org_id = org;
        }
        None => {
            let mut ctx = RequestContext::anonymous(meta_from_parts(parts));
            ctx.actor = actor;
            ctx.org_id = org;
            parts.extensions.insert(ctx);
        }
    }
    if let Caller::ApiKey(principal) = &caller {
        parts.extensions.insert(principal.clone());
    }
    parts.extensions.insert(caller.clone());
    Ok(Some(caller))
}

fn user_only(caller: Caller) -> Result<Authenticated, AuthRejection> {
    match caller {
        Caller::User(auth) => Ok(auth),
        Caller::ApiKey(_) => Err(AuthRejection::user_required()),
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AuthState::from_ref(state);
        let caller = authenticate_parts(parts, &state)
            .await?
            .ok_or_else(AuthRejection::missing)?;
        user_only(caller)
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
        authenticate_parts(parts, &state)
            .await?
            .map(user_only)
            .transpose()
    }
}

impl<S> FromRequestParts<S> for Caller
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

/// Middleware: authenticates the request when it carries a credential (an API key or an
/// access token in `Authorization: Bearer`, else the access cookie; see [`Authenticated`]
/// and [`Caller`]), so the layers inside it (idempotency, rate limits, scope checks)
/// see the principal in the [`RequestContext`] (and an API key's [`ApiKeyPrincipal`] in the
/// extensions). Requests without one pass through anonymous; a refused bearer token or API
/// key is a 401 at once, a failed CSRF check a 403.
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
