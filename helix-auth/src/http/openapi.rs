//! The OpenAPI 3.1 description of the auth routes (feature `openapi`): [`AuthApi`], for the
//! host to merge into its own document.
//!
//! ```
//! use utoipa::OpenApi;
//!
//! let doc = helix_auth::http::openapi::AuthApi::openapi();
//! assert!(doc.paths.paths.contains_key("/api/v1/auth/login"));
//! ```

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::ToSchema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{account, impersonation, mfa, oidc, otp, sessions};

/// The name of the bearer security scheme the authenticated routes require.
pub const BEARER_SCHEME: &str = "bearer";

/// The auth routes (`/api/v1/auth/...`, `/.well-known/jwks.json`), their schemas and the
/// `bearer` security scheme (an access token from `login` or `refresh`).
#[derive(OpenApi)]
#[openapi(
    paths(
        account::register,
        account::verify_email,
        account::resend_verification,
        account::password_reset,
        account::confirm_password_reset,
        account::login,
        account::refresh,
        account::logout,
        account::me,
        account::change_password,
        account::switch_organization,
        mfa::challenge,
        mfa::status,
        mfa::enrol_totp,
        mfa::confirm_totp,
        mfa::disable,
        mfa::regenerate_backup_codes,
        sessions::list,
        sessions::revoke,
        sessions::revoke_others,
        impersonation::start,
        impersonation::end,
        oidc::authorize,
        oidc::link,
        oidc::callback,
        super::api_keys::list,
        super::api_keys::create,
        super::api_keys::revoke,
        otp::set_phone,
        otp::get_phone,
        otp::send,
        otp::verify,
        account::jwks,
    ),
    components(schemas(
        account::Credentials,
        account::LoginBody,
        account::SessionMode,
        account::CookieSession,
        super::api_keys::CreateApiKeyBody,
        super::api_keys::ApiKeyView,
        super::api_keys::ApiKeyList,
        super::api_keys::CreatedApiKey,
        account::TokenBody,
        account::EmailBody,
        account::ResetConfirmBody,
        account::PasswordResetConfirmed,
        account::RefreshBody,
        account::PasswordBody,
        account::TokenPair,
        account::OrganizationBody,
        account::OrganizationToken,
        account::Me,
        account::MailAccepted,
        account::EmailVerified,
        account::RevokedSessions,
        oidc::CallbackBody,
        oidc::LinkBody,
        oidc::AuthorizationView,
        oidc::Linked,
        account::MfaRequired,
        mfa::TotpEnrolmentView,
        mfa::CodeBody,
        mfa::BackupCodesView,
        mfa::MfaStatusView,
        mfa::ChallengeBody,
        mfa::DisableBody,
        mfa::ReauthBody,
        otp::PhoneBody,
        otp::PhoneView,
        otp::SendBody,
        otp::CodeSent,
        otp::VerifyBody,
        otp::CodeVerified,
        sessions::SessionView,
        sessions::SessionList,
        impersonation::ImpersonateBody,
        impersonation::ImpersonationToken,
        SessionKind,
        Jwks,
        Jwk,
        helix_core::ErrorEnvelope,
        helix_core::error::ErrorBody,
        helix_core::FieldError,
    )),
    modifiers(&BearerScheme),
    tags((name = "auth", description = "Accounts, sign-in, sessions and token keys"))
)]
pub struct AuthApi;

/// Adds the `bearer` HTTP security scheme (a JWT access token).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/v1/auth/login` or `/refresh`",
                    ))
                    .build(),
            ),
        );
    }
}

/// What kind of session, which sets its lifetime (documentation of
/// [`crate::sessions::SessionKind`]).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum SessionKind {
    /// A user's session.
    Normal,
    /// A platform administrator's session.
    Admin,
    /// Support impersonating a user.
    Impersonation,
}

/// A JSON Web Key Set (documentation of [`crate::tokens::Jwks`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Jwks {
    /// The keys.
    keys: Vec<Jwk>,
}

/// One public Ed25519 key (RFC 8037; documentation of [`crate::tokens::Jwk`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Jwk {
    /// Key type: `OKP`.
    kty: String,
    /// Curve: `Ed25519`.
    crv: String,
    /// Algorithm: `EdDSA`.
    alg: String,
    /// Use: `sig`.
    #[schema(rename = "use")]
    key_use: String,
    /// Key id.
    kid: String,
    /// The public key, base64url without padding.
    x: String,
}
