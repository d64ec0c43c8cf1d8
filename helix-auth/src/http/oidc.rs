//! OpenID Connect routes: authorize (anonymous), link (signed in) and callback. Thin:
//! extract, call [`crate::AuthService`], map the result; the callback answers the same
//! token pair as `login`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use helix_core::Error;
use serde::{Deserialize, Serialize};

use super::account::{SessionMode, browser, limit_ip, no_store, primary_sign_in};
use super::cookies::CsrfFailed;
use super::extract::{Authenticated, JsonBody, Meta};
use super::state::AuthState;
use crate::oidc::{OidcAuthorization, OidcOutcome};

/// The rate-limit class of OpenID Connect authorize and callback requests (counted per
/// client IP, with the login quota).
pub const OIDC_CLASS: &str = "auth.oidc";

/// Query of `authorize`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub(crate) struct AuthorizeQuery {
    /// Where the provider sends the browser back (default: the provider's `redirect_uri`;
    /// otherwise it must be in `allowed_redirect_uris`).
    redirect_uri: Option<String>,
    /// `true`: answer `302 Found` to the provider instead of JSON.
    #[serde(default)]
    redirect: bool,
}

/// Body of `link`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct LinkBody {
    /// As for `authorize`.
    #[serde(default)]
    redirect_uri: Option<String>,
}

/// Body of `callback`: what the provider returned to the redirect URI.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CallbackBody {
    /// The authorization code.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    code: String,
    /// The `state` of the attempt.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    state: String,
    /// `bearer` (default): tokens in the body; `cookie`: a browser session, tokens in
    /// cookies (as `login`).
    #[serde(default)]
    mode: SessionMode,
}

/// The answer of `authorize` and `link`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuthorizationView {
    /// The provider's authorization URL to send the browser to.
    authorization_url: String,
    /// When the attempt stops working.
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// The answer of a linking `callback`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Linked {
    /// Always `true`.
    linked: bool,
    /// The provider name.
    provider: String,
}

fn authorization_response(auth: OidcAuthorization, redirect: bool) -> Response {
    let mut response = if redirect {
        match HeaderValue::from_str(&auth.authorization_url) {
            Ok(location) => {
                let mut r = StatusCode::FOUND.into_response();
                r.headers_mut().insert(header::LOCATION, location);
                r
            }
            Err(_) => {
                Error::internal_msg("authorization URL is not a header value").into_response()
            }
        }
    } else {
        Json(AuthorizationView {
            authorization_url: auth.authorization_url,
            expires_at: auth.expires_at,
        })
        .into_response()
    };
    // The URL carries the attempt's state: never cached, never replayed.
    no_store(&mut response);
    response
}

/// `GET /api/v1/auth/oidc/{provider}/authorize?redirect_uri=..&redirect=..` → 200
/// `{authorization_url, expires_at}` (or 302 to it with `redirect=true`); 404 unknown
/// provider; 400 `redirect_uri` not allowed; 503 provider unreachable.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/auth/oidc/{provider}/authorize",
        tag = "auth",
        params(("provider" = String, Path, description = "A configured provider name"), AuthorizeQuery),
        responses(
            (status = 200, description = "The provider's authorization URL (valid 10 minutes, once)", body = AuthorizationView,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 302, description = "With `redirect=true`: to the provider's authorization URL"),
            (status = 400, description = "Bad query (`BAD_REQUEST`) or a `redirect_uri` that is not allowed (`VALIDATION_ERROR`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Unknown provider", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many sign-in requests from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
            (status = 503, description = "The provider's discovery document cannot be fetched", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn authorize(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    Path(provider): Path<String>,
    query: Result<Query<AuthorizeQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query
        .map_err(|_| Error::BadRequest("the query does not have the expected parameters".into()))?;
    limit_ip(&state, &meta, OIDC_CLASS, state.login_quota()).await?;
    let auth = state
        .auth()
        .oidc_authorize(&meta, &provider, query.redirect_uri.as_deref())
        .await?;
    Ok(authorization_response(auth, query.redirect))
}

/// `POST /api/v1/auth/oidc/{provider}/link` `{redirect_uri?}` (`{}` for the default) (authenticated) → 200
/// `{authorization_url, expires_at}`; the callback of this attempt links the identity to
/// the caller's account.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/oidc/{provider}/link",
        tag = "auth",
        security(("bearer" = [])),
        params(("provider" = String, Path, description = "A configured provider name")),
        request_body = LinkBody,
        responses(
            (status = 200, description = "The provider's authorization URL; its callback links the identity to the caller", body = AuthorizationView,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON or a `redirect_uri` that is not allowed", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Unknown provider", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 503, description = "The provider's discovery document cannot be fetched", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn link(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    Path(provider): Path<String>,
    JsonBody(body): JsonBody<LinkBody>,
) -> Result<Response, Error> {
    // A linked identity signs in to the account for good: never from an impersonation.
    auth.deny_impersonation()?;
    let attempt = state
        .auth()
        .oidc_link(
            &meta,
            auth.account_id(),
            &provider,
            body.redirect_uri.as_deref(),
        )
        .await?;
    Ok(authorization_response(attempt, false))
}

/// `POST /api/v1/auth/oidc/{provider}/callback` `{code, state, mode?}` → 200 the token pair
/// of a new session (as `login`; with `"mode": "cookie"` the tokens are set as browser-session
/// cookies), or `{linked: true, provider}` for an attempt started with `link`. An account
/// with MFA on gets the MFA challenge instead, which remembers the mode and the federated
/// first factor.
/// A new account with a provider-verified e-mail is handed to
/// [`crate::OrganizationDirectory::on_email_verified`] first, as `verify-email` does.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/oidc/{provider}/callback",
        tag = "auth",
        params(("provider" = String, Path, description = "A configured provider name")),
        request_body = CallbackBody,
        responses(
            (status = 200, description = "Signed in: a new session and its token pair (as `login`; in `Set-Cookie` with `mode: cookie`), or `MfaRequired` when the account has MFA on; or, for an attempt started with `link`, `{linked: true, provider}`", body = super::account::TokenPair,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON, or cookie mode on a server without browser sessions", body = helix_core::ErrorEnvelope),
            (status = 401, description = "`OIDC_CODE_REJECTED` (bad code, PKCE mismatch), `OIDC_INVALID_SIGNATURE`, `OIDC_INVALID_AUDIENCE`, `OIDC_INVALID_ISSUER`, `OIDC_TOKEN_EXPIRED`, `OIDC_INVALID_NONCE`, `OIDC_INVALID_ID_TOKEN`", body = helix_core::ErrorEnvelope),
            (status = 404, description = "Unknown provider", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Cookie mode from an origin that is not allowed (`CSRF_FAILED`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "`ACCOUNT_EXISTS_LINK_REQUIRED` (an account has this e-mail; sign in and link) or `OIDC_IDENTITY_IN_USE`", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 422, description = "`OIDC_INVALID_STATE` (unknown, expired, replayed or other provider), `OIDC_EMAIL_REQUIRED`, `OIDC_EMAIL_NOT_VERIFIED`, `EMAIL_NOT_VERIFIED`", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many sign-in requests from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
            (status = 503, description = "The provider cannot be reached", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn callback(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    caller: Option<Authenticated>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CallbackBody>,
) -> Result<Response, Error> {
    // Cookie mode as at login: browser sessions must be enabled and the origin allowed,
    // checked before the attempt is consumed.
    let browser = match body.mode {
        SessionMode::Bearer => None,
        SessionMode::Cookie => {
            let browser = browser(&state)?;
            if !browser.origin_allowed(&headers) {
                return Ok(CsrfFailed.into_response());
            }
            Some(browser)
        }
    };
    limit_ip(&state, &meta, OIDC_CLASS, state.login_quota()).await?;
    let caller = caller.map(|c| c.account_id());
    let signed_in = state
        .auth()
        .oidc_callback(&meta, &provider, &body.code, &body.state, caller)
        .await?;
    if signed_in.outcome == OidcOutcome::Linked {
        return Ok(Json(Linked {
            linked: true,
            provider: signed_in.provider,
        })
        .into_response());
    }
    let account = &signed_in.account;
    if signed_in.outcome == OidcOutcome::AccountCreated && account.email_verified {
        // Like `verify-email`: the host may set the new account up (a personal
        // organization); a failure there is logged and the sign-in goes on.
        if let Some(directory) = state.organizations()
            && let Err(e) = directory
                .on_email_verified(account.account_id, &account.email)
                .await
        {
            tracing::error!(
                error.code = e.code(),
                account.id = %account.account_id,
                "post-verification hook failed"
            );
        }
    }
    primary_sign_in(
        &state,
        &meta,
        account.account_id,
        crate::tokens::AuthMethods::FEDERATED,
        browser,
    )
    .await
}
