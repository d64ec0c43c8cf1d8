//! Account routes: register, verify-email, resend-verification, password-reset (request and
//! confirm), login, refresh, logout, me, password, organization. Thin: extract, call the service, map the result.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use helix_core::http::idempotency::NoStore;
use helix_core::ratelimit::{RateKey, Subject};
use helix_core::{Error, RequestMeta};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cookies::{BrowserSessions, CsrfFailed, session_of_refresh_token};
use super::extract::{Authenticated, JsonBody, Meta};
use super::state::AuthState;
use helix_core::ratelimit::Quota;

use crate::accounts::SecurityEventKind;
use crate::accounts::events::Event;
use crate::accounts::{PasswordResetToken, VerificationToken};
use crate::passwords::Password;
use crate::sessions::{RefreshToken, RevokeReason, Session, SessionKind, SessionMeta};
use crate::tokens::{AccessGrant, AuthMethods};

/// The rate-limit class of login attempts (counted per client IP).
pub const LOGIN_CLASS: &str = "auth.login";

/// The rate-limit class of registrations (counted per client IP).
pub const REGISTER_CLASS: &str = "auth.register";

/// The rate-limit class of verification resends (counted per client IP).
pub const RESEND_CLASS: &str = "auth.resend";

/// The rate-limit class of password-reset requests (counted per client IP).
pub const PASSWORD_RESET_CLASS: &str = "auth.reset";

/// The one answer of `password-reset`, whatever happened.
const RESET_ACCEPTED: &str =
    "if the address has an account, an email with a password reset link is on its way";

/// The one answer of `register` and `resend-verification`, whatever happened.
const MAIL_ACCEPTED: &str =
    "if the address can receive it, an email with a verification link is on its way";

/// An e-mail address and a password (`register`, `login`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Credentials {
    /// The account's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// The password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    password: String,
}

/// How `login` hands out the tokens.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) enum SessionMode {
    /// In the JSON body, for API clients (the default).
    #[default]
    Bearer,
    /// In `httpOnly` cookies, for browsers; the body carries no token.
    Cookie,
}

/// An e-mail address, a password and the session mode (`login`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct LoginBody {
    /// The account's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// The password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    password: String,
    /// `bearer` (default): tokens in the body; `cookie`: tokens in cookies.
    #[serde(default)]
    mode: SessionMode,
}

/// The token of a verification link (`verify-email`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct TokenBody {
    /// The verification token from the e-mail.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    token: String,
}

/// An e-mail address (`resend-verification`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct EmailBody {
    /// The account's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
}

/// A password-reset token and the new password (`password-reset/confirm`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ResetConfirmBody {
    /// The password-reset token from the e-mail.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    token: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    new_password: String,
}

/// A refresh token to exchange (`refresh`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RefreshBody {
    /// The refresh token of the last token pair; it is consumed. Omit it (send `{}`) in
    /// cookie mode: the refresh cookie is used, with the CSRF check.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    #[serde(default)]
    refresh_token: Option<String>,
}

/// A password change (`password`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PasswordBody {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    current_password: String,
    /// The new password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    new_password: String,
}

/// The organization to switch to (`organization`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OrganizationBody {
    /// An organization the caller belongs to.
    org_id: Uuid,
}

/// The answer of `organization`: a new access token for the same session, now in the chosen
/// organization (sent with `Cache-Control: no-store`). The session's refresh token is
/// unchanged and its next refresh stays in this organization.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OrganizationToken<'a> {
    /// The access token (a JWT) whose `org` claim is `org_id`. Absent when the caller
    /// authenticated with the access cookie: the new token is then set as that cookie.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The session (unchanged).
    session_id: Uuid,
    /// The session's active organization.
    org_id: Uuid,
}

/// The token pair answered by `login` and `refresh` (sent with `Cache-Control: no-store`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct TokenPair<'a> {
    /// The access token (a JWT), sent as `Authorization: Bearer <access_token>`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    access_token: &'a str,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The refresh token: single use, exchanged at `/api/v1/auth/refresh`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    refresh_token: &'a str,
    /// When the refresh token expires.
    refresh_token_expires_at: chrono::DateTime<chrono::Utc>,
    /// The session the tokens belong to.
    session_id: Uuid,
    /// The session's active organization (the access token's `org` claim), if any.
    org_id: Option<Uuid>,
    /// Present when the account's default (or the session's) organization requires MFA and
    /// this session did not use a second factor: the tokens carry no organization. Enrol
    /// (`POST /api/v1/auth/mfa/totp`, then `.../confirm`, which upgrades this session) or
    /// sign in again with MFA, then switch to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_required_org_id: Option<Uuid>,
}

/// The answer of `login` when the account has MFA on: no session yet; send the token with a
/// code to `/api/v1/auth/mfa/challenge` (sent with `Cache-Control: no-store`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MfaRequired<'a> {
    /// Always `true`.
    mfa_required: bool,
    /// The opaque MFA token: single use, bound to the account.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    mfa_token: &'a str,
    /// Seconds until the MFA token expires.
    expires_in: i64,
}

/// The answer of `login` and `refresh` in cookie mode: the tokens are in cookies (see
/// [`super::cookies`]), never in the body.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CookieSession {
    /// Always `Cookie`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    token_type: &'static str,
    /// Seconds until the access cookie expires.
    expires_in: i64,
    /// When the refresh cookie expires.
    refresh_token_expires_at: chrono::DateTime<chrono::Utc>,
    /// The session.
    session_id: Uuid,
    /// The session's active organization, if any.
    org_id: Option<Uuid>,
    /// The organization left out because it requires MFA and this session has no second
    /// factor (as in the token pair).
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_required_org_id: Option<Uuid>,
    /// The CSRF token (also in the JS-readable CSRF cookie): send it as `X-CSRF-Token` on
    /// every state-changing request.
    csrf_token: String,
}

/// The caller (`me`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Me {
    /// The account.
    account_id: Uuid,
    /// The account's e-mail address.
    #[cfg_attr(feature = "openapi", schema(format = Email))]
    email: String,
    /// Whether the address is verified.
    email_verified: bool,
    /// The session of the presented access token.
    session_id: Uuid,
}

/// The answer of `register`, `resend-verification` and `password-reset`, whatever happened.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MailAccepted {
    /// Always `accepted`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    status: &'static str,
    /// A fixed message that reveals nothing about the address.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    message: &'static str,
}

/// The answer of `verify-email`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct EmailVerified {
    /// Always `true`.
    email_verified: bool,
}

/// The answer of `password-reset/confirm`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PasswordResetConfirmed {
    /// Always `true`.
    password_reset: bool,
    /// How many sessions of the account were revoked (all of them).
    revoked_sessions: u64,
}

/// How many sessions were revoked (`password`, `sessions/revoke-others`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct RevokedSessions {
    /// The number of sessions revoked.
    pub(crate) revoked_sessions: u64,
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(MailAccepted {
            status: "accepted",
            message: MAIL_ACCEPTED,
        }),
    )
        .into_response()
}

/// `POST /api/v1/auth/register` `{email, password}` → 202, the same body whether or not the
/// email already has an account. The verification mail is queued in the outbox (sent after
/// commit by the mail subscriber); the token never goes into the response.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/register",
        tag = "auth",
        request_body = Credentials,
        responses(
            (status = 202, description = "Accepted; the same answer whether or not the address already has an account", body = MailAccepted),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or an invalid e-mail address or a password that is too weak (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many registrations from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn register(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Error> {
    limit_ip(&state, &meta, REGISTER_CLASS, state.register_quota()).await?;
    let password = Password::new(body.password);
    // The service queued the verification mail in its own transaction (outbox): nothing is
    // sent inside the request, and the token never reaches the response.
    state.auth().register(&meta, &body.email, &password).await?;
    Ok(accepted())
}

/// `POST /api/v1/auth/verify-email` `{token}` → 200 `{email_verified: true}`; an unknown,
/// expired or used token is 422 `INVALID_VERIFICATION_TOKEN`. With an
/// [`crate::OrganizationDirectory`], a successful verification then calls its
/// `on_email_verified`; a failure there is logged and the answer is still 200 (the
/// verification is committed and is not undone).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/verify-email",
        tag = "auth",
        request_body = TokenBody,
        responses(
            (status = 200, description = "The address is verified", body = EmailVerified),
            (status = 400, description = "Malformed JSON", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 422, description = "Unknown, expired or used token (`INVALID_VERIFICATION_TOKEN`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn verify_email(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response, Error> {
    let token = VerificationToken::new(body.token);
    let account_id = state.auth().verify_email(&meta, &token).await?;
    // This process's next `/me` must not wait for the change's announcement.
    state.sessions().forget_accounts([account_id]);
    if let Some(directory) = state.organizations() {
        let hook = async {
            let profile = state.auth().account(account_id).await?;
            directory
                .on_email_verified(account_id, &profile.email)
                .await
                .map_err(crate::AuthError::Core)
        };
        if let Err(e) = hook.await {
            // The address stays verified; never the address or the token here.
            tracing::error!(
                error.code = e.code(),
                account.id = %account_id,
                "post-verification hook failed"
            );
        }
    }
    Ok(Json(EmailVerified {
        email_verified: true,
    })
    .into_response())
}

/// `POST /api/v1/auth/resend-verification` `{email}` → always 202 (an unknown, verified or
/// over-limit address gets the same answer).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/resend-verification",
        tag = "auth",
        request_body = EmailBody,
        responses(
            (status = 202, description = "Accepted; the same answer for an unknown, verified or over-limit address", body = MailAccepted),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many resend requests from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn resend_verification(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<Response, Error> {
    limit_ip(&state, &meta, RESEND_CLASS, state.resend_quota()).await?;
    state.auth().resend_verification(&meta, &body.email).await?;
    Ok(accepted())
}

/// `POST /api/v1/auth/password-reset` `{email}` → always 200 with the same body (an unknown
/// address, or one over its per-account limit, gets the same answer). The reset mail is queued in
/// the outbox; the token never goes into the response. At most [`AuthState::password_reset_quota`] requests per
/// client IP (429 with `Retry-After` beyond).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/password-reset",
        tag = "auth",
        request_body = EmailBody,
        responses(
            (status = 200, description = "Accepted; the same answer whether or not the address has an account or is over its hourly limit", body = MailAccepted),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or an invalid e-mail address (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many password-reset requests from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn password_reset(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<Response, Error> {
    limit_ip(
        &state,
        &meta,
        PASSWORD_RESET_CLASS,
        state.password_reset_quota(),
    )
    .await?;
    state
        .auth()
        .request_password_reset(&meta, &body.email)
        .await?;
    Ok(Json(MailAccepted {
        status: "accepted",
        message: RESET_ACCEPTED,
    })
    .into_response())
}

/// `POST /api/v1/auth/password-reset/confirm` `{token, new_password}` → 200
/// `{password_reset: true, revoked_sessions}`: the password is replaced and every session of
/// the account is revoked (sign in again). An unknown, expired, used or invalidated token is
/// 422 `INVALID_RESET_TOKEN`; a new password that fails the policy or was used recently is
/// 400 and leaves the token usable.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/password-reset/confirm",
        tag = "auth",
        request_body = ResetConfirmBody,
        responses(
            (status = 200, description = "Password reset; every session of the account is revoked", body = PasswordResetConfirmed),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or a new password that fails the policy or was used recently (`VALIDATION_ERROR`, with field details); the token stays usable", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 422, description = "Unknown, expired, used or invalidated token (`INVALID_RESET_TOKEN`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn confirm_password_reset(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    JsonBody(body): JsonBody<ResetConfirmBody>,
) -> Result<Response, Error> {
    let token = PasswordResetToken::new(body.token);
    let new_password = Password::new(body.new_password);
    let done = state
        .auth()
        .reset_password(&meta, &token, &new_password, state.sessions())
        .await?;
    // A reset proves the address: the cached profile may say "unverified".
    state.sessions().forget_accounts([done.account_id]);
    Ok(Json(PasswordResetConfirmed {
        password_reset: true,
        revoked_sessions: done.revoked_sessions,
    })
    .into_response())
}

/// `POST /api/v1/auth/login` `{email, password}` → 200 token pair; at most
/// [`AuthState::login_quota`] attempts per client IP (429 with `Retry-After` beyond). When
/// the account has MFA on, the answer is 200 `{mfa_required: true, mfa_token, expires_in}`
/// with no session: the second step is `POST /api/v1/auth/mfa/challenge`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/login",
        tag = "auth",
        request_body = LoginBody,
        responses(
            (status = 200, description = "Signed in: a new session and its token pair (`mode: bearer`), or the session with the tokens in `Set-Cookie` (`mode: cookie`); or, when the account has MFA on, `MfaRequired` (no session yet)", body = TokenPair,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Unknown e-mail, wrong password or locked account (`INVALID_CREDENTIALS`)", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Cookie mode from an origin that is not allowed (`CSRF_FAILED`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 422, description = "Correct password but the e-mail address is not verified (`EMAIL_NOT_VERIFIED`)", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many login attempts from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn login(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, Error> {
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
    limit_login(&state, &meta).await?;
    let password = Password::new(body.password);
    let account = state.auth().login(&meta, &body.email, &password).await?;
    primary_sign_in(
        &state,
        &meta,
        account.account_id,
        AuthMethods::PASSWORD,
        browser,
    )
    .await
}

/// What follows a first factor (a password, an OpenID Connect provider): the MFA challenge
/// when the account has MFA on (no session yet), else the session and its token pair.
pub(super) async fn primary_sign_in(
    state: &AuthState,
    meta: &RequestMeta,
    account_id: Uuid,
    amr: AuthMethods,
    browser: Option<&BrowserSessions>,
) -> Result<Response, Error> {
    // The challenge remembers the first factor and the mode, so that completing it signs
    // in the same way (`amr` `["otp", "fed"]` after OpenID Connect; cookies for a browser).
    let first = crate::mfa::FirstStep::new(amr).browser(browser.is_some());
    if let Some(challenge) = state
        .auth()
        .begin_mfa_challenge_after(meta, account_id, first)
        .await?
    {
        let mut response = Json(MfaRequired {
            mfa_required: true,
            mfa_token: challenge.token.expose(),
            expires_in: i64::try_from(state.auth().config().mfa.challenge_ttl_secs)
                .unwrap_or(i64::MAX),
        })
        .into_response();
        no_store(&mut response);
        return Ok(response);
    }
    sign_in(state, meta, account_id, amr, browser).await
}

/// Starts a session for `account_id`, authenticated with `amr`, in its default organization,
/// and answers the token pair. When that organization requires MFA and `amr` has no second
/// factor, the session starts in no organization and the pair says which organization was
/// withheld (`mfa_required_org_id`). Shared by `login`, `mfa/challenge` and the OpenID
/// Connect callback.
pub(crate) async fn sign_in(
    state: &AuthState,
    meta: &RequestMeta,
    account_id: Uuid,
    amr: AuthMethods,
    browser: Option<&BrowserSessions>,
) -> Result<Response, Error> {
    let org = match state.organizations() {
        Some(directory) => directory.default_organization(account_id).await?,
        None => None,
    };
    let withheld = match org {
        Some(org) if mfa_missing(state, org, account_id, amr).await? => Some(org),
        _ => None,
    };
    let org = if withheld.is_some() { None } else { org };
    let session_meta = SessionMeta::from_request(meta)
        .in_organization(org)
        .authenticated_with(amr);
    let (session, refresh) = state.sessions().start(account_id, session_meta).await?;
    token_response(state, &session, &refresh, withheld, browser)
}

/// Browser sessions, or a 400 when the host did not enable them.
pub(super) fn browser(state: &AuthState) -> Result<&BrowserSessions, Error> {
    state
        .browser_sessions()
        .ok_or_else(|| Error::BadRequest("cookie mode is not enabled on this server".into()))
}

/// The session of the request's refresh cookie after the CSRF check, or the answer to give.
async fn cookie_session(
    state: &AuthState,
    browser: &BrowserSessions,
    headers: &HeaderMap,
) -> Result<(String, Uuid), Response> {
    let Some(token) = browser.refresh_cookie(headers) else {
        return Err(
            Error::from(crate::sessions::SessionError::InvalidRefreshToken).into_response(),
        );
    };
    let session = session_of_refresh_token(state.auth().kernel(), token)
        .await
        .map_err(IntoResponse::into_response)?;
    let Some(session) = session else {
        return Err(
            Error::from(crate::sessions::SessionError::InvalidRefreshToken).into_response(),
        );
    };
    browser
        .check(headers, session)
        .map_err(IntoResponse::into_response)?;
    Ok((token.to_owned(), session))
}

/// Whether `org_id` requires MFA (see [`AuthState::with_mfa_requirement`]) and `amr` lacks a
/// second factor.
pub(crate) async fn mfa_missing(
    state: &AuthState,
    org_id: Uuid,
    account_id: Uuid,
    amr: AuthMethods,
) -> Result<bool, Error> {
    if amr.is_multi_factor() {
        return Ok(false);
    }
    state
        .sessions()
        .organization_requires_mfa(state.mfa_requirement(), org_id, account_id)
        .await
}

async fn limit_login(state: &AuthState, meta: &RequestMeta) -> Result<(), Error> {
    limit_ip(state, meta, LOGIN_CLASS, state.login_quota()).await
}

/// Counts one request of `class` against the client IP: 429 with `Retry-After` beyond
/// `quota`. Runs before any hashing, so an over-limit client costs no argon2 work.
pub(crate) async fn limit_ip(
    state: &AuthState,
    meta: &RequestMeta,
    class: &'static str,
    quota: Quota,
) -> Result<(), Error> {
    // Without a client address (no request-context middleware and no `ConnectInfo`) there is
    // nothing to count against; the per-account limits still apply.
    if let Some(ip) = meta.ip {
        let key = RateKey::new(class, Subject::Ip(ip));
        state.limiter().enforce(&key, &quota).await?;
    }
    Ok(())
}

/// `POST /api/v1/auth/refresh` `{refresh_token}` → 200 a new token pair (the presented token
/// is consumed; reusing it later revokes the session).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/refresh",
        tag = "auth",
        request_body = RefreshBody,
        responses(
            (status = 200, description = "A new token pair; the presented refresh token is consumed", body = TokenPair,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Unknown, expired or reused refresh token (reuse revokes the session), or no refresh cookie", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Cookie mode: missing or wrong `X-CSRF-Token`, or an origin that is not allowed (`CSRF_FAILED`)", body = helix_core::ErrorEnvelope),
            (status = 409, description = "A concurrent refresh of the same token is in progress (`REFRESH_RACE`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn refresh(
    State(state): State<AuthState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response, Error> {
    let (token, browser) = match body.refresh_token {
        Some(token) => (token, None),
        None => {
            let browser = browser(&state)?;
            match cookie_session(&state, browser, &headers).await {
                Ok((token, _)) => (token, Some(browser)),
                Err(response) => return Ok(response),
            }
        }
    };
    let (mut session, next) = state.sessions().refresh(&token).await?;
    // The session's organization may have started requiring MFA since it was selected.
    let mut withheld = None;
    if let Some(org) = session.active_org_id
        && mfa_missing(&state, org, session.account_id, session.amr).await?
    {
        session = state
            .sessions()
            .set_active_org(session.account_id, session.id, None)
            .await?;
        withheld = Some(org);
    }
    token_response(&state, &session, &next, withheld, browser)
}

fn token_response(
    state: &AuthState,
    session: &Session,
    refresh: &RefreshToken,
    mfa_required_org_id: Option<Uuid>,
    browser: Option<&BrowserSessions>,
) -> Result<Response, Error> {
    let access = state.tokens().issue_access(&grant(session))?;
    let claims = access.claims();
    let expires_in = claims.exp.saturating_sub(claims.iat);
    if let Some(browser) = browser {
        let refresh_max_age = (refresh.expires_at() - state.auth().kernel().now()).num_seconds();
        let mut response = Json(CookieSession {
            token_type: "Cookie",
            expires_in,
            refresh_token_expires_at: refresh.expires_at(),
            session_id: session.id,
            org_id: session.active_org_id,
            mfa_required_org_id,
            csrf_token: browser.csrf_token(session.id),
        })
        .into_response();
        browser.set(
            response.headers_mut(),
            session.id,
            (access.token(), expires_in),
            Some((refresh.expose_secret(), refresh_max_age)),
        );
        no_store(&mut response);
        return Ok(response);
    }
    let body = TokenPair {
        access_token: access.token(),
        token_type: "Bearer",
        expires_in,
        refresh_token: refresh.expose_secret(),
        refresh_token_expires_at: refresh.expires_at(),
        session_id: session.id,
        org_id: session.active_org_id,
        mfa_required_org_id,
    };
    let mut response = Json(body).into_response();
    no_store(&mut response);
    Ok(response)
}

/// The access grant of `session`: its account, id, active organization and, for an
/// impersonation, its actor, and `amr`.
pub(super) fn grant(session: &Session) -> AccessGrant {
    let mut grant = AccessGrant::new(session.account_id, session.id).amr(session.amr);
    if let Some(org) = session.active_org_id {
        grant = grant.org(org);
    }
    if let Some(actor) = session.actor_account_id {
        grant = grant.actor(actor);
    }
    grant
}

/// `POST /api/v1/auth/organization` `{org_id}` (authenticated) → 200 a new access token of
/// the same session in that organization. The session remembers it, so the existing refresh
/// token keeps working and its refreshes stay in the organization. An organization the
/// caller does not belong to, or that does not exist, is 404 (one answer: no existence
/// leak); so is every organization when the host connected no
/// [`crate::OrganizationDirectory`]. An organization that requires MFA (see
/// [`AuthState::with_mfa_requirement`]) is 403 `MFA_REQUIRED` unless the session used a
/// second factor (at sign-in, or by confirming a TOTP enrolment in the session).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/organization",
        tag = "auth",
        security(("bearer" = [])),
        request_body = OrganizationBody,
        responses(
            (status = 200, description = "Switched: a new access token of the same session, in the organization", body = OrganizationToken,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or invalid fields (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 403, description = "The organization requires MFA and the session did not use a second factor (`MFA_REQUIRED`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "No such organization of the caller (`NOT_FOUND`), whether or not it exists", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn switch_organization(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<OrganizationBody>,
) -> Result<Response, Error> {
    let member = match state.organizations() {
        Some(directory) => directory.is_member(auth.account_id(), body.org_id).await?,
        None => false,
    };
    let event = |kind| {
        Event::new(kind)
            .account(auth.account_id())
            .data(serde_json::json!({
                "org_id": body.org_id,
                "session_id": auth.session_id(),
                "impersonator_id": auth.impersonator_id(),
            }))
    };
    if !member {
        state
            .auth()
            .record_standalone_event(&meta, event(SecurityEventKind::OrganizationSwitchRefused))
            .await?;
        return Err(Error::not_found("organization"));
    }
    let amr = state
        .sessions()
        .get(auth.session_id())
        .await?
        .map_or(AuthMethods::NONE, |s| s.amr);
    if mfa_missing(&state, body.org_id, auth.account_id(), amr).await? {
        return Ok(super::mfa::mfa_required_response());
    }
    let session = state
        .sessions()
        .set_active_org(auth.account_id(), auth.session_id(), Some(body.org_id))
        .await?;
    state
        .auth()
        .record_standalone_event(&meta, event(SecurityEventKind::OrganizationSwitched))
        .await?;
    // An impersonation session has no refresh token: its access token lasts the session.
    let access = match session.kind {
        SessionKind::Impersonation => state
            .tokens()
            .issue_access_until(&grant(&session), session.absolute_expires_at)?,
        _ => state.tokens().issue_access(&grant(&session))?,
    };
    let claims = access.claims();
    let expires_in = claims.exp.saturating_sub(claims.iat);
    let browser = state.browser_sessions().filter(|_| auth.via_cookie());
    let mut response = Json(OrganizationToken {
        access_token: browser.is_none().then(|| access.token()),
        token_type: if browser.is_some() {
            "Cookie"
        } else {
            "Bearer"
        },
        expires_in,
        session_id: session.id,
        org_id: body.org_id,
    })
    .into_response();
    if let Some(browser) = browser {
        browser.set(
            response.headers_mut(),
            session.id,
            (access.token(), expires_in),
            None,
        );
    }
    no_store(&mut response);
    Ok(response)
}

/// Marks a response that carries secrets: never cached (RFC 6749 §5.1), never replayed by the
/// idempotency layer.
pub(crate) fn no_store(response: &mut Response) {
    response.extensions_mut().insert(NoStore);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `POST /api/v1/auth/logout` (authenticated) → 204; the session is refused at once. Under
/// impersonation it ends the impersonation (as `DELETE /api/v1/auth/impersonate`).
/// In cookie mode the answer deletes the cookies, and logout also works with only the
/// refresh cookie (an expired access cookie), with the CSRF check against its session.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/logout",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 204, description = "Signed out; the session is refused from now on"),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Cookie mode: missing or wrong `X-CSRF-Token`, or an origin that is not allowed (`CSRF_FAILED`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn logout(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    auth: Option<Authenticated>,
) -> Result<Response, Error> {
    if let Some(auth) = &auth
        && auth.is_impersonation()
    {
        // Records the end of the impersonation on both accounts.
        state.impersonation().end(&meta, auth.session_id()).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (session, browser) = match (auth, state.browser_sessions()) {
        (Some(auth), browser) => (auth.session_id(), browser.filter(|_| auth.via_cookie())),
        (None, Some(browser)) if browser.refresh_cookie(&headers).is_some() => {
            match cookie_session(&state, browser, &headers).await {
                Ok((_, session)) => (session, Some(browser)),
                Err(response) => return Ok(response),
            }
        }
        (None, _) => return Err(Error::Unauthorized),
    };
    state
        .sessions()
        .revoke(session, RevokeReason::Logout)
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(browser) = browser {
        browser.clear(response.headers_mut());
    }
    Ok(response)
}

/// `GET /api/v1/auth/me` (authenticated) → `{account_id, email, email_verified, session_id}`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/auth/me",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The caller", body = Me),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn me(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Response, Error> {
    // The session was checked by the extractor (from memory while the revocation feed is
    // live); the profile comes from the same feed-guarded memory, else from the database.
    let account_id = auth.account_id();
    let profile = state
        .sessions()
        .account_profile(account_id, || state.auth().account(account_id))
        .await?;
    let mut response = Json(Me {
        account_id: profile.account_id,
        email: profile.email,
        email_verified: profile.email_verified,
        session_id: auth.session_id(),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /api/v1/auth/password` `{current_password, new_password}` (authenticated) → 200
/// `{revoked_sessions}`: the caller's other sessions are revoked.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/password",
        tag = "auth",
        security(("bearer" = [])),
        request_body = PasswordBody,
        responses(
            (status = 200, description = "Password changed; the caller's other sessions are revoked", body = RevokedSessions),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or a wrong current password, or a new password that fails the policy or was used recently (`VALIDATION_ERROR`, with field details)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Not allowed during an impersonation session (`IMPERSONATION_FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn change_password(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let current = Password::new(body.current_password);
    let new = Password::new(body.new_password);
    state
        .auth()
        .change_password(&meta, auth.account_id(), &current, &new)
        .await?;
    let revoked = state
        .sessions()
        .revoke_all_except(
            auth.account_id(),
            auth.session_id(),
            RevokeReason::PasswordChanged,
        )
        .await?;
    Ok(Json(RevokedSessions {
        revoked_sessions: revoked,
    })
    .into_response())
}

/// `GET /.well-known/jwks.json` → the public keys that verify access tokens.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/.well-known/jwks.json",
        tag = "auth",
        responses(
            (status = 200, description = "The public keys that verify access tokens (RFC 7517)", body = super::openapi::Jwks,
                headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        )
    )
)]
pub(crate) async fn jwks(State(state): State<AuthState>) -> Response {
    let mut response = Json(state.tokens().jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
