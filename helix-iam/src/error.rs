//! The one error type of helix-iam, with stable codes, and its conversion into
//! [`helix_core::Error`].

use helix_core::FieldError;

use crate::model::Revision;

/// Everything an IAM operation can fail with.
///
/// Each variant has a stable code ([`IamError::code`]) that clients match on. Messages never
/// contain database error text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    /// Input failed validation; each detail names the offending field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The resource does not exist in this organization (another organization's record
    /// gets the same answer: no existence leak).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The role is still assigned to someone: reassign before deleting it.
    #[error("the role is still assigned; remove its assignments first")]
    RoleInUse,
    /// Built-in roles cannot be deleted or renamed, and the owner role's permissions are
    /// always the whole catalog.
    #[error("built-in roles cannot be changed this way")]
    BuiltinRole,
    /// The caller belongs to the organization but lacks this catalog permission.
    #[error("missing permission `{0}`")]
    Forbidden(&'static str),
    /// The caller tried to hand out (or take away) more than it holds: a role with a
    /// permission it lacks, or the owner role without being an owner.
    #[error("{0}")]
    Escalation(String),
    /// Policy changes are refused while impersonating a user.
    #[error("authorization changes are not allowed while impersonating a user")]
    Impersonation,
    /// The change conflicts with an existing record (a role key or an assignment that
    /// already exists).
    #[error("{0}")]
    Conflict(&'static str),
    /// A revision token is malformed, or was issued for another organization.
    #[error("the revision token is invalid")]
    InvalidToken,
    /// A revision token names a revision the database has not reached (a token from
    /// another deployment, or a forged one).
    #[error("revision {requested} is ahead of the organization's revision {current}")]
    RevisionAhead {
        /// The revision the caller asked for.
        requested: Revision,
        /// The organization's revision in the database.
        current: Revision,
    },
    /// The policy cache refused a snapshot (the engine could not compile it).
    #[error("the policy of this organization could not be loaded")]
    Compile(String),
    /// A stored row could not be decoded (a database edited by hand). Logged, never shown.
    #[error("a stored authorization record is malformed")]
    Corrupt(String),
    /// A kernel error (database, configuration), passed through.
    #[error(transparent)]
    Core(#[from] helix_core::Error),
}

/// Shorthand for results with [`IamError`].
pub type Result<T, E = IamError> = std::result::Result<T, E>;

impl IamError {
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
            Self::Escalation(_) => "FORBIDDEN",
            Self::Impersonation => "IMPERSONATION_FORBIDDEN",
            Self::RoleInUse => "ROLE_IN_USE",
            Self::BuiltinRole => "BUILTIN_ROLE",
            Self::Conflict(_) => "CONFLICT",
            Self::InvalidToken => "INVALID_REVISION_TOKEN",
            Self::RevisionAhead { .. } => "REVISION_NOT_REACHED",
            Self::Compile(_) | Self::Corrupt(_) => "INTERNAL_ERROR",
            Self::Core(e) => e.code(),
        }
    }

    /// Maps a unique-constraint violation to [`IamError::Conflict`]; passes anything else
    /// through.
    pub(crate) fn on_unique(err: helix_core::Error, message: &'static str) -> Self {
        if err.is_unique_violation() {
            Self::Conflict(message)
        } else {
            Self::Core(err)
        }
    }
}

impl From<sea_orm::DbErr> for IamError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Core(helix_core::Error::Database(err))
    }
}

impl From<IamError> for helix_core::Error {
    fn from(err: IamError) -> Self {
        let code = err.code();
        match err {
            IamError::Validation(details) => Self::Validation { details },
            IamError::NotFound(resource) => Self::not_found(resource),
            IamError::InvalidToken => Self::invalid(
                "revision",
                "invalid_token",
                "the revision token is malformed or belongs to another organization",
            ),
            IamError::Compile(msg) | IamError::Corrupt(msg) => Self::internal_msg(msg),
            IamError::Forbidden(_) | IamError::Escalation(_) | IamError::Impersonation => {
                Self::forbidden(code, err.to_string())
            }
            IamError::Core(inner) => inner,
            other => Self::conflict(code, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_stable_codes_and_statuses() {
        let cases: [(IamError, u16, &str); 9] = [
            (IamError::Forbidden("iam.roles.manage"), 403, "FORBIDDEN"),
            (IamError::Escalation("no".into()), 403, "FORBIDDEN"),
            (IamError::RoleInUse, 409, "ROLE_IN_USE"),
            (IamError::BuiltinRole, 409, "BUILTIN_ROLE"),
            (IamError::Conflict("exists"), 409, "CONFLICT"),
            (IamError::NotFound("role"), 404, "NOT_FOUND"),
            (
                IamError::invalid("key", "invalid", "bad"),
                400,
                "VALIDATION_ERROR",
            ),
            (IamError::InvalidToken, 400, "VALIDATION_ERROR"),
            (
                IamError::RevisionAhead {
                    requested: Revision(9),
                    current: Revision(2),
                },
                409,
                "REVISION_NOT_REACHED",
            ),
        ];
        for (err, status, code) in cases {
            let core: helix_core::Error = err.into();
            assert_eq!((core.status(), core.code()), (status, code));
        }
        let core: helix_core::Error = IamError::Corrupt("row 1: bad subject".into()).into();
        assert_eq!(core.status(), 500);
        assert!(!core.public_message().contains("row 1"));
    }
}
