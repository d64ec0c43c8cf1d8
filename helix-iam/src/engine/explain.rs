//! Why a check was allowed or denied.

use std::fmt;

use uuid::Uuid;

use crate::model::Revision;

/// The answer to a check, with the revision it was computed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the permission (or relation) holds.
    pub allowed: bool,
    /// The tenant revision the decision reflects (compare with a write's revision token
    /// for read-your-writes).
    pub revision: Revision,
}

impl Decision {
    /// Whether it was allowed.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }
}

/// Why a check came out the way it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A role assignment grants the permission.
    Assignment {
        /// The subject set the user belongs to, when the assignment names one
        /// (`team:…#member`); `None` when the user is assigned directly.
        via: Option<String>,
        /// The assignment's id.
        assignment_id: Uuid,
        /// The role's key.
        role: String,
        /// The assignment's scope (`tenant`, `team:…`, `document:1`).
        scope: String,
    },
    /// A relationship path: the schema binds the permission to a relation of the object's
    /// type and the user holds it.
    Relationship {
        /// The relation the permission is bound to (`document#view`).
        binding: String,
        /// The nodes from the user up to the object's relation
        /// (`["user:…", "team:eng#member", "document:1#viewer", "document:1#view"]`).
        path: Vec<String>,
    },
    /// Nothing grants it: no role of the user's grants it at a scope covering the resource,
    /// and no relationship path reaches a relation it is bound to.
    NoGrant {
        /// The relations the permission is bound to on the resource's type (empty when
        /// none, or when the resource is not an object).
        bindings: Vec<String>,
    },
    /// The user is not a member of the organization: only members hold anything, and what
    /// its tuples or assignments still name is inert (as [`crate::Iam::check`] decides).
    NotAMember,
    /// The organization's policy is not loaded in this process.
    TenantNotLoaded,
}

/// A decision with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Whether it was allowed.
    pub allowed: bool,
    /// The revision (`None` when the tenant is not loaded).
    pub revision: Option<Revision>,
    /// The user.
    pub user: Uuid,
    /// The permission's name.
    pub permission: String,
    /// The resource, in text form (`tenant`, `team:…`, `document:1`).
    pub resource: String,
    /// Why.
    pub reason: Reason,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = format!("user:{}", self.user);
        match &self.reason {
            Reason::Assignment {
                via,
                role,
                scope,
                assignment_id,
            } => {
                write!(f, "allowed: {user} -> ")?;
                if let Some(v) = via {
                    write!(f, "{v} -> ")?;
                }
                write!(
                    f,
                    "assignment {assignment_id} (role {role}, scope {scope}) -> {} on {}",
                    self.permission, self.resource
                )
            }
            Reason::Relationship { binding, path } => {
                write!(f, "allowed: {} (bound to {binding}) = ", self.permission)?;
                let mut first = true;
                for n in path.iter().rev() {
                    if !first {
                        f.write_str(" <- ")?;
                    }
                    first = false;
                    f.write_str(n)?;
                }
                Ok(())
            }
            Reason::NoGrant { bindings } => {
                write!(
                    f,
                    "denied: no role of {user} grants {} on {}",
                    self.permission, self.resource
                )?;
                if bindings.is_empty() {
                    f.write_str(", and no relation of the resource's type is bound to it")
                } else {
                    write!(
                        f,
                        ", and no relationship path reaches {}",
                        bindings.join(" or ")
                    )
                }
            }
            Reason::NotAMember => write!(
                f,
                "denied: {user} is not a member of the organization (nothing it is granted holds)"
            ),
            Reason::TenantNotLoaded => write!(
                f,
                "denied: the organization's policy is not loaded (fail closed)"
            ),
        }
    }
}
