//! The one error type of helix-tenancy, with stable codes, and its conversion into
//! [`helix_core::Error`].

use helix_core::FieldError;

/// Everything a tenancy operation can fail with.
///
/// Each variant has a stable code ([`TenancyError::code`]) that clients match on. Messages
/// never contain invitation tokens, token hashes or database error text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenancyError {
    /// Input failed validation; each detail names the offending field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The resource does not exist, or belongs to another tenant, or the caller is not a
    /// member of the organization (the same answer: no existence leak).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller is a member but its role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller has standing in the organization but lacks this catalog permission.
    #[error("missing permission `{0}`")]
    MissingPermission(&'static str),
    /// The accepting user's email does not match the invitation's email.
    #[error("this invitation was issued for another email address")]
    InvitationEmailMismatch,
    /// The slug is already used by another organization.
    #[error("the organization slug is already taken")]
    SlugTaken,
    /// The slug is already used by another team of this organization.
    #[error("the team slug is already taken in this organization")]
    TeamSlugTaken,
    /// The change would leave the organization without an owner.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// The user (or email) is already a member of the organization.
    #[error("already a member of this organization")]
    AlreadyMember,
    /// The user is already a member of the team.
    #[error("already a member of this team")]
    AlreadyTeamMember,
    /// A pending invitation for this email already exists.
    #[error("a pending invitation for this email already exists")]
    InvitationPending,
    /// The invitation has expired.
    #[error("the invitation has expired")]
    InvitationExpired,
    /// The invitation was revoked.
    #[error("the invitation was revoked")]
    InvitationRevoked,
    /// The invitation was already accepted (invitations are single use).
    #[error("the invitation was already used")]
    InvitationUsed,
    /// A kernel error (database, configuration), passed through.
    #[error(transparent)]
    Core(#[from] helix_core::Error),
}

/// Shorthand for results with [`TenancyError`].
pub type Result<T, E = TenancyError> = std::result::Result<T, E>;

impl TenancyError {
    /// A validation error with one field detail.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::MissingPermission(_) => "FORBIDDEN",
            Self::InvitationEmailMismatch => "INVITATION_EMAIL_MISMATCH",
            Self::SlugTaken => "SLUG_TAKEN",
            Self::TeamSlugTaken => "TEAM_SLUG_TAKEN",
            Self::LastOwner => "LAST_OWNER",
            Self::AlreadyMember => "ALREADY_MEMBER",
            Self::AlreadyTeamMember => "ALREADY_TEAM_MEMBER",
            Self::InvitationPending => "INVITATION_PENDING",
            Self::InvitationExpired => "INVITATION_EXPIRED",
            Self::InvitationRevoked => "INVITATION_REVOKED",
            Self::InvitationUsed => "INVITATION_ALREADY_USED",
            Self::Core(e) => e.code(),
        }
    }

    /// Maps a unique-constraint violation to `conflict`; passes anything else through.
    pub(crate) fn on_unique(err: helix_core::Error, conflict: Self) -> Self {
        if err.is_unique_violation() {
            conflict
        } else {
            Self::Core(err)
        }
    }
}

impl From<sea_orm::DbErr> for TenancyError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Core(helix_core::Error::Database(err))
    }
}

impl From<TenancyError> for helix_core::Error {
    fn from(err: TenancyError) -> Self {
        let code = err.code();
        match err {
            TenancyError::Validation(details) => Self::Validation { details },
            TenancyError::NotFound(resource) => Self::not_found(resource),
            TenancyError::Forbidden(message) => Self::Forbidden(message.into()),
            TenancyError::InvitationEmailMismatch | TenancyError::MissingPermission(_) => {
                Self::forbidden(code, err.to_string())
            }
            TenancyError::Core(inner) => inner,
            other => Self::conflict(code, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_keep_their_code() {
        let err: helix_core::Error = TenancyError::LastOwner.into();
        assert_eq!(err.code(), "LAST_OWNER");
        assert_eq!(err.status(), 409);
        let err: helix_core::Error = TenancyError::NotFound("organization").into();
        assert_eq!(err.status(), 404);
        let err: helix_core::Error = TenancyError::Forbidden("owners only").into();
        assert_eq!(err.status(), 403);
        let err: helix_core::Error = TenancyError::InvitationEmailMismatch.into();
        assert_eq!(
            (err.status(), err.code()),
            (403, "INVITATION_EMAIL_MISMATCH")
        );
        let err: helix_core::Error = TenancyError::MissingPermission("tenancy.teams.manage").into();
        assert_eq!((err.status(), err.code()), (403, "FORBIDDEN"));
        let err: helix_core::Error = TenancyError::invalid("slug", "invalid", "bad").into();
        assert_eq!(err.details()[0].field, "slug");
    }
}
