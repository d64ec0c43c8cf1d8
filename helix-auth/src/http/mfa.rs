//! MFA routes: TOTP enrolment and confirmation, status, disabling, backup-code
//! regeneration, and the second step of login. Thin: extract, call the service, map the
//! result.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use helix_core::Error;
use serde::{Deserialize, Serialize};

use super::account::{browser, limit_ip, no_store, sign_in};
use super::cookies::CsrfFailed;
use super::extract::{Authenticated, JsonBody, Meta};
use super::state::AuthState;
use crate::mfa::{BackupCode, MfaProof, MfaToken};
use crate::passwords::Password;
use crate::tokens::AuthMethods;

/// The rate-limit class of MFA challenges (counted per client IP, with the login quota).
pub const MFA_CHALLENGE_CLASS: &str = "auth.mfa";

/// The 403 `MFA_REQUIRED` envelope: the organization requires MFA and the session did not
/// use a second factor.
pub(crate) fn mfa_required_response() -> Response {
    Error::forbidden(
        "MFA_REQUIRED",
        "this organization requires multi-factor authentication",
    )
    .into_response()
}

/// A pending TOTP enrolment (`POST /mfa/totp`), shown once.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct TotpEnrolmentView<'a> {
    /// The secret in base32, for manual entry in an authenticator app.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    secret: &'a str,
    /// The `otpauth://totp/<issuer>:<email>?secret=...` URI.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    otpauth_uri: &'a str,
    /// The URI's QR code, an SVG document.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    qr_svg: &'a str,
}

/// A TOTP code (`POST /mfa/totp/confirm`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CodeBody {
    /// The current 6-digit code of the authenticator app.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    code: String,
    /// The account's current password (re-authentication).
    #[cfg_attr(feature = "openapi", schema(write_only))]
    password: String,
}

/// Backup codes, shown once (`confirm`, `backup-codes`).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct BackupCodesView {
    /// Single-use codes (`xxxx-xxxx-xxxx`); store them somewhere safe.
    backup_codes: Vec<String>,
}

impl BackupCodesView {
    fn new(codes: &[BackupCode]) -> Self {
        Self {
            backup_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
        }
    }
}

/// `GET /mfa`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct MfaStatusView {
    /// Whether a TOTP authenticator is active.
    totp: bool,
    /// Unused backup codes.
    backup_codes_remaining: u32,
}

/// The second step of login (`POST /mfa/challenge`): the MFA token and exactly one of `code`
/// and `backup_code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ChallengeBody {
    /// The MFA token of the login answer.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    mfa_token: String,
    /// A current TOTP code.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    code: Option<String>,
    /// An unused backup code.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    backup_code: Option<String>,
}

/// Re-authentication to disable MFA (`DELETE /mfa`): the current password and exactly one of
/// `code` and `backup_code`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct DisableBody {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    password: String,
    /// A current TOTP code.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    code: Option<String>,
    /// An unused backup code.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    backup_code: Option<String>,
}

/// Re-authentication to regenerate backup codes (`POST /mfa/backup-codes`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ReauthBody {
    /// The current password.
    #[cfg_attr(feature = "openapi", schema(format = Password, write_only))]
    password: String,
}

/// Exactly one of a TOTP code and a backup code.
fn proof(code: Option<String>, backup_code: Option<String>) -> Result<MfaProof, Error> {
    match (code, backup_code) {
        (Some(code), None) => Ok(MfaProof::totp(code)),
        (None, Some(code)) => Ok(MfaProof::backup_code(code)),
        _ => Err(Error::invalid(
            "code",
            "required",
            "give exactly one of `code` and `backup_code`",
        )),
    }
}

/// `POST /api/v1/auth/mfa/totp` (authenticated) → 200 `{secret, otpauth_uri, qr_svg}`: a
/// pending enrolment (replacing a pending one), confirmed by `mfa/totp/confirm`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/mfa/totp",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "A pending TOTP secret, shown once", body = TotpEnrolmentView,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 409, description = "MFA is already on (`MFA_ALREADY_ENABLED`); disable it first", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn enrol_totp(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let enrolment = state.auth().enrol_totp(&meta, auth.account_id()).await?;
    let mut response = Json(TotpEnrolmentView {
        secret: &enrolment.secret,
        otpauth_uri: &enrolment.otpauth_uri,
        qr_svg: &enrolment.qr_svg,
    })
    .into_response();
    no_store(&mut response);
    Ok(response)
}

/// `POST /api/v1/auth/mfa/totp/confirm` `{code}` (authenticated) → 200 `{backup_codes}`: MFA
/// is on, the 10 backup codes are shown this once, and the calling session counts as
/// multi-factor from now on (`amr` `["pwd", "otp"]` on its next tokens).
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/mfa/totp/confirm",
        tag = "auth",
        security(("bearer" = [])),
        request_body = CodeBody,
        responses(
            (status = 200, description = "MFA is on; the backup codes, shown once", body = BackupCodesView,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or a wrong code (`VALIDATION_ERROR` on `code`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 409, description = "No pending enrolment (`MFA_NOT_PENDING`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn confirm_totp(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let codes = state
        .auth()
        .confirm_totp(
            &meta,
            auth.account_id(),
            &Password::new(body.password),
            &body.code,
        )
        .await?;
    state
        .sessions()
        .add_auth_methods(auth.account_id(), auth.session_id(), AuthMethods::OTP)
        .await?;
    let mut response = Json(BackupCodesView::new(&codes)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// `GET /api/v1/auth/mfa` (authenticated) → `{totp, backup_codes_remaining}`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/auth/mfa",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The caller's MFA status", body = MfaStatusView),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn status(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Json<MfaStatusView>, Error> {
    let status = state.auth().mfa_status(auth.account_id()).await?;
    Ok(Json(MfaStatusView {
        totp: status.totp,
        backup_codes_remaining: status.backup_codes_remaining,
    }))
}

/// `DELETE /api/v1/auth/mfa` `{password, code | backup_code}` (authenticated) → 204: MFA is
/// off, the secret and the backup codes are deleted.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/auth/mfa",
        tag = "auth",
        security(("bearer" = [])),
        request_body = DisableBody,
        responses(
            (status = 204, description = "MFA is off"),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or a wrong password or code (`VALIDATION_ERROR` on `password` or `code`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 409, description = "MFA is not on (`MFA_NOT_ENABLED`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn disable(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<DisableBody>,
) -> Result<StatusCode, Error> {
    auth.deny_impersonation()?;
    let proof = proof(body.code, body.backup_code)?;
    let password = Password::new(body.password);
    state
        .auth()
        .disable_mfa(&meta, auth.account_id(), &password, &proof)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/mfa/backup-codes` `{password}` (authenticated) → 200 `{backup_codes}`:
/// 10 new codes, shown once; the old ones stop working.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/mfa/backup-codes",
        tag = "auth",
        security(("bearer" = [])),
        request_body = ReauthBody,
        responses(
            (status = 200, description = "New backup codes, shown once", body = BackupCodesView,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`) or a wrong password (`VALIDATION_ERROR` on `password`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 409, description = "MFA is not on (`MFA_NOT_ENABLED`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn regenerate_backup_codes(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<ReauthBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let password = Password::new(body.password);
    let codes = state
        .auth()
        .regenerate_backup_codes(&meta, auth.account_id(), &password)
        .await?;
    let mut response = Json(BackupCodesView::new(&codes)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// `POST /api/v1/auth/mfa/challenge` `{mfa_token, code | backup_code}` → 200 the token pair
/// of a new session with `amr` `["pwd", "otp"]` (`["otp", "fed"]` when the first step was an
/// OpenID Connect sign-in); when the first step asked for cookie mode, the answer sets the
/// browser-session cookies instead, as the cookie-mode login does. At most
/// [`AuthState::login_quota`] attempts per client IP.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/mfa/challenge",
        tag = "auth",
        request_body = ChallengeBody,
        responses(
            (status = 200, description = "Signed in: a new session and its token pair, or, when the sign-in started in cookie mode, the session with the tokens in `Set-Cookie`", body = super::account::TokenPair,
                headers(("Cache-Control" = String, description = "`no-store`"))),
            (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or neither or both of `code` and `backup_code` (`VALIDATION_ERROR`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Wrong or reused code (`INVALID_MFA_CODE`; counts toward the token's 5 attempts and the account lockout), or an unknown, expired, used or dead MFA token (`INVALID_MFA_TOKEN`: sign in again)", body = helix_core::ErrorEnvelope),
            (status = 403, description = "A cookie-mode sign-in completed from an origin that is not allowed (`CSRF_FAILED`)", body = helix_core::ErrorEnvelope),
            (status = 415, description = "Not a JSON content type", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Too many attempts from this client address", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn challenge(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ChallengeBody>,
) -> Result<Response, Error> {
    limit_ip(&state, &meta, MFA_CHALLENGE_CLASS, state.login_quota()).await?;
    let proof = proof(body.code, body.backup_code)?;
    let token = MfaToken::new(body.mfa_token);
    let verified = state
        .auth()
        .complete_mfa_challenge(&meta, &token, &proof)
        .await?;
    // A browser sign-in keeps its mode: cookies and a CSRF token, from an allowed origin
    // (checked like the cookie-mode login, before any session exists).
    let browser = if verified.first_step.browser {
        let browser = browser(&state)?;
        if !browser.origin_allowed(&headers) {
            return Ok(CsrfFailed.into_response());
        }
        Some(browser)
    } else {
        None
    };
    sign_in(&state, &meta, verified.account_id, verified.amr(), browser).await
}
