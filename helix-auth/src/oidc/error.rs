//! [`OidcError`]: why an OpenID Connect sign-in failed, with stable codes.

/// Everything an OpenID Connect sign-in can fail with. Messages never contain codes,
/// tokens, secrets or e-mail addresses, nor the provider's own error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// No provider of that name is configured (404).
    #[error("unknown sign-in provider")]
    UnknownProvider,
    /// The post-login `redirect_uri` is not in the allow-list (400, field `redirect_uri`).
    #[error("redirect_uri is not allowed")]
    RedirectUriNotAllowed,
    /// The `state` is unknown, expired, already used, or belongs to another provider
    /// (422 `OIDC_INVALID_STATE`).
    #[error("the sign-in attempt is unknown, expired or already used")]
    InvalidState,
    /// The provider's discovery document or keys could not be fetched (503).
    #[error("the sign-in provider is unavailable")]
    ProviderUnavailable,
    /// The token endpoint refused the code (unknown, used, PKCE mismatch, client
    /// credentials) (401 `OIDC_CODE_REJECTED`).
    #[error("the provider refused the authorization code")]
    CodeRejected,
    /// The ID token's signature does not verify with the provider's keys
    /// (401 `OIDC_INVALID_SIGNATURE`).
    #[error("the ID token signature is invalid")]
    InvalidSignature,
    /// The ID token is not for this client (401 `OIDC_INVALID_AUDIENCE`).
    #[error("the ID token audience is invalid")]
    InvalidAudience,
    /// The ID token comes from another issuer (401 `OIDC_INVALID_ISSUER`).
    #[error("the ID token issuer is invalid")]
    InvalidIssuer,
    /// The ID token has expired (401 `OIDC_TOKEN_EXPIRED`).
    #[error("the ID token has expired")]
    TokenExpired,
    /// The ID token's nonce is missing or not the one of this sign-in attempt
    /// (401 `OIDC_INVALID_NONCE`).
    #[error("the ID token nonce is invalid")]
    InvalidNonce,
    /// The token response has no usable ID token (401 `OIDC_INVALID_ID_TOKEN`).
    #[error("the ID token is invalid")]
    InvalidIdToken,
    /// The provider asserted no e-mail address (422 `OIDC_EMAIL_REQUIRED`).
    #[error("the provider did not share an e-mail address")]
    EmailRequired,
    /// A new account would need a verified e-mail and the provider does not assert it
    /// (422 `OIDC_EMAIL_NOT_VERIFIED`).
    #[error("the provider did not verify the e-mail address")]
    EmailNotVerified,
    /// An account with this e-mail exists and is not linked to this identity; it is never
    /// merged silently: sign in to that account and link the provider
    /// (409 `ACCOUNT_EXISTS_LINK_REQUIRED`).
    #[error("an account with this e-mail address exists; sign in and link this provider to it")]
    AccountExistsLinkRequired,
    /// The external identity is already linked to another account
    /// (409 `OIDC_IDENTITY_IN_USE`).
    #[error("this identity is linked to another account")]
    IdentityInUse,
}

impl OidcError {
    /// The stable code clients match on.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownProvider => "NOT_FOUND",
            Self::RedirectUriNotAllowed => "VALIDATION_ERROR",
            Self::InvalidState => "OIDC_INVALID_STATE",
            Self::ProviderUnavailable => "SERVICE_UNAVAILABLE",
            Self::CodeRejected => "OIDC_CODE_REJECTED",
            Self::InvalidSignature => "OIDC_INVALID_SIGNATURE",
            Self::InvalidAudience => "OIDC_INVALID_AUDIENCE",
            Self::InvalidIssuer => "OIDC_INVALID_ISSUER",
            Self::TokenExpired => "OIDC_TOKEN_EXPIRED",
            Self::InvalidNonce => "OIDC_INVALID_NONCE",
            Self::InvalidIdToken => "OIDC_INVALID_ID_TOKEN",
            Self::EmailRequired => "OIDC_EMAIL_REQUIRED",
            Self::EmailNotVerified => "OIDC_EMAIL_NOT_VERIFIED",
            Self::AccountExistsLinkRequired => "ACCOUNT_EXISTS_LINK_REQUIRED",
            Self::IdentityInUse => "OIDC_IDENTITY_IN_USE",
        }
    }

    /// The snake_case reason recorded in security events.
    pub(crate) fn reason(self) -> String {
        self.code().to_ascii_lowercase()
    }
}

impl From<OidcError> for helix_core::Error {
    fn from(err: OidcError) -> Self {
        let code = err.code();
        let message = err.to_string().into();
        match err {
            OidcError::UnknownProvider => Self::not_found("oidc provider"),
            OidcError::RedirectUriNotAllowed => Self::Validation {
                details: vec![helix_core::FieldError::new(
                    "redirect_uri",
                    "not_allowed",
                    "redirect_uri is not in the allow-list",
                )],
            },
            OidcError::ProviderUnavailable => Self::Unavailable,
            OidcError::InvalidState | OidcError::EmailRequired | OidcError::EmailNotVerified => {
                Self::Unprocessable { code, message }
            }
            OidcError::AccountExistsLinkRequired | OidcError::IdentityInUse => {
                Self::Conflict { code, message }
            }
            OidcError::CodeRejected
            | OidcError::InvalidSignature
            | OidcError::InvalidAudience
            | OidcError::InvalidIssuer
            | OidcError::TokenExpired
            | OidcError::InvalidNonce
            | OidcError::InvalidIdToken => Self::AuthenticationFailed { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases = [
            (OidcError::UnknownProvider, 404),
            (OidcError::RedirectUriNotAllowed, 400),
            (OidcError::InvalidState, 422),
            (OidcError::ProviderUnavailable, 503),
            (OidcError::InvalidNonce, 401),
            (OidcError::AccountExistsLinkRequired, 409),
        ];
        for (e, status) in cases {
            let core: helix_core::Error = e.into();
            assert_eq!(core.status(), status, "{e:?}");
            if status != 404 && status != 400 && status != 503 {
                assert_eq!(core.code(), e.code());
            }
        }
    }
}
