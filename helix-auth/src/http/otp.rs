//! One-time-code routes: the account's phone number, sending and verifying codes. All need
//! an access token; without [`super::AuthState::with_otp`] they answer 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use helix_core::Error;
use serde::{Deserialize, Serialize};

use super::extract::{Authenticated, JsonBody, Meta};
use super::state::AuthState;
use crate::otp::{Channel, OneTimeCode, OtpService};

/// A phone number (`PUT phone`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PhoneBody {
    /// An international number in E.164 form (`+14155550123`; spaces and dashes are
    /// removed).
    phone: String,
}

/// The account's phone number.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct PhoneView {
    /// The E.164 number, if one is set.
    phone: Option<String>,
    /// Whether a `verify_phone` code sent to it was verified.
    verified: bool,
}

/// Which code to send (`otp/send`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct SendBody {
    /// `email`, `sms` or `whatsapp`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "sms"))]
    channel: Channel,
    /// What the code is for: `verify_phone` (by sms or whatsapp, verifies the phone number)
    /// or a purpose of the product's own (`step_up`), 1–40 characters of `a-z` and `_`.
    purpose: String,
}

/// The answer of `otp/send` (never the code).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CodeSent {
    /// Always `sent`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    status: &'static str,
    /// The channel.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    channel: &'static str,
    /// When the code stops working.
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// A code to check (`otp/verify`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct VerifyBody {
    /// The purpose the code was sent for.
    purpose: String,
    /// The code.
    #[cfg_attr(feature = "openapi", schema(write_only))]
    code: String,
}

/// The answer of `otp/verify`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct CodeVerified {
    /// Always `true`.
    verified: bool,
    /// The purpose.
    purpose: String,
}

fn otp(state: &AuthState) -> Result<&OtpService, Error> {
    state.otp().ok_or(Error::NotFound { resource: "route" })
}

/// `PUT /api/v1/auth/phone` `{phone}` → 200 `{phone, verified: false}`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        put,
        path = "/api/v1/auth/phone",
        tag = "auth",
        security(("bearer" = [])),
        request_body = PhoneBody,
        responses(
            (status = 200, description = "The number is set, unverified (unchanged if it was already the account's)", body = PhoneView),
            (status = 400, description = "Malformed JSON or not an E.164 number (`VALIDATION_ERROR` on `phone`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "One-time codes are not enabled", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn set_phone(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<PhoneBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let status = otp(&state)?
        .set_phone(&meta, auth.account_id(), &body.phone)
        .await?;
    Ok(Json(PhoneView {
        phone: status.phone,
        verified: status.verified,
    })
    .into_response())
}

/// `GET /api/v1/auth/phone` → `{phone, verified}`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/auth/phone",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The account's phone number", body = PhoneView),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "One-time codes are not enabled", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn get_phone(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let status = otp(&state)?.phone(auth.account_id()).await?;
    Ok(Json(PhoneView {
        phone: status.phone,
        verified: status.verified,
    })
    .into_response())
}

/// `POST /api/v1/auth/otp/send` `{channel, purpose}` → 202; the code is queued through the
/// outbox, never answered.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/otp/send",
        tag = "auth",
        security(("bearer" = [])),
        request_body = SendBody,
        responses(
            (status = 202, description = "A code is on its way (valid 30 minutes, once)", body = CodeSent),
            (status = 400, description = "Malformed JSON, an unknown channel, an invalid purpose, or no (verified) phone number for sms/whatsapp (`VALIDATION_ERROR`)", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "One-time codes are not enabled", body = helix_core::ErrorEnvelope),
            (status = 429, description = "3 codes were sent in the last hour, or codes are locked", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn send(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<SendBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let sent = otp(&state)?
        .send(&meta, auth.account_id(), body.channel, &body.purpose)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSent {
            status: "sent",
            channel: sent.channel.as_str(),
            expires_at: sent.expires_at,
        }),
    )
        .into_response())
}

/// `POST /api/v1/auth/otp/verify` `{purpose, code}` → 200 `{verified: true, purpose}`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/otp/verify",
        tag = "auth",
        security(("bearer" = [])),
        request_body = VerifyBody,
        responses(
            (status = 200, description = "The code was right; it is used up", body = CodeVerified),
            (status = 400, description = "Malformed JSON or an invalid purpose", body = helix_core::ErrorEnvelope),
            (status = 401, description = "Missing, invalid or expired access token", body = helix_core::ErrorEnvelope),
            (status = 404, description = "One-time codes are not enabled", body = helix_core::ErrorEnvelope),
            (status = 422, description = "Wrong, expired or used code (`INVALID_CODE`)", body = helix_core::ErrorEnvelope),
            (status = 429, description = "Codes are locked for 30 minutes after 5 attempts in an hour", body = helix_core::ErrorEnvelope,
                headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        )
    )
)]
pub(crate) async fn verify(
    State(state): State<AuthState>,
    Meta(meta): Meta,
    auth: Authenticated,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Response, Error> {
    auth.deny_impersonation()?;
    let code = OneTimeCode::new(body.code);
    otp(&state)?
        .verify(&meta, auth.account_id(), &body.purpose, &code)
        .await?;
    Ok(Json(CodeVerified {
        verified: true,
        purpose: body.purpose,
    })
    .into_response())
}
