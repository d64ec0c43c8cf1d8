//! The vocabulary every part of helix-iam shares: objects, subjects, tuples, scopes, roles,
//! assignments, revisions and the per-tenant snapshot the engine compiles.
//!
//! Text forms follow Zanzibar: an object is `type:id`, a subject is `user:<uuid>` or a
//! subject set `type:id#relation`, a tuple is `object#relation@subject`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The object type of users (`user:<uuid>`).
pub const USER_TYPE: &str = "user";
/// The object type of tenancy teams (`team:<uuid>`); `team:<id>#member` is its member set.
pub const TEAM_TYPE: &str = "team";
/// The relation that holds a team's members.
pub const MEMBER_RELATION: &str = "member";

/// Longest accepted object type, relation or object id, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest accepted object id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// A malformed object, subject, tuple or scope in text form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{input}` is malformed: {why}")]
pub struct ParseError {
    /// What was being parsed (`tuple`, `subject`, ...).
    pub what: &'static str,
    /// The input, cut to 200 bytes.
    pub input: String,
    /// Why it was refused.
    pub why: &'static str,
}

impl ParseError {
    fn new(what: &'static str, input: &str, why: &'static str) -> Self {
        let mut end = input.len().min(200);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            what,
            input: input[..end].to_owned(),
            why,
        }
    }
}

/// Checks an object type or relation name: `[a-z][a-z0-9_]*`, at most [`MAX_NAME_LEN`].
pub fn valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Checks an object id: 1 to [`MAX_ID_LEN`] bytes of `[A-Za-z0-9_.|=+/-]` (no `:`, `#`,
/// `@` or whitespace).
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_-.|=+/".contains(&c))
}

/// An object: `type:id` (`document:42`, `team:0192…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamObjectRef))]
pub struct ObjectRef {
    /// Object type (`document`).
    pub kind: String,
    /// Object id within the type (`42`).
    pub id: String,
}

impl ObjectRef {
    /// An object from its parts (not validated; [`FromStr`] validates).
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
        }
    }

    /// A team of the tenancy layer.
    pub fn team(id: Uuid) -> Self {
        Self::new(TEAM_TYPE, id.to_string())
    }

    /// Whether both parts are well formed.
    pub fn is_valid(&self) -> bool {
        valid_name(&self.kind) && valid_id(&self.id)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

impl FromStr for ObjectRef {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((kind, id)) = s.split_once(':') else {
            return Err(ParseError::new("object", s, "expected `type:id`"));
        };
        let o = Self::new(kind, id);
        if !valid_name(kind) {
            return Err(ParseError::new(
                "object",
                s,
                "the type must match [a-z][a-z0-9_]* (at most 64 bytes)",
            ));
        }
        if !valid_id(id) {
            return Err(ParseError::new(
                "object",
                s,
                "the id must be 1-128 bytes of letters, digits and _-.|=+/",
            ));
        }
        Ok(o)
    }
}

/// Who a tuple or an assignment is about: one user, or everyone holding a relation on an
/// object (a subject set such as `team:eng#member`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamSubject))]
pub enum Subject {
    /// One user (`user:<uuid>`).
    User {
        /// The user's id.
        id: Uuid,
    },
    /// Everyone with `relation` on `object` (`team:eng#member`).
    Set {
        /// The object.
        object: ObjectRef,
        /// The relation on it.
        relation: String,
    },
}

impl Subject {
    /// One user.
    pub fn user(id: Uuid) -> Self {
        Self::User { id }
    }

    /// The members of a tenancy team (`team:<id>#member`).
    pub fn team_members(team: Uuid) -> Self {
        Self::Set {
            object: ObjectRef::team(team),
            relation: MEMBER_RELATION.to_owned(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User { id } => write!(f, "{USER_TYPE}:{id}"),
            Self::Set { object, relation } => write!(f, "{object}#{relation}"),
        }
    }
}

impl FromStr for Subject {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('#') {
            Some((object, relation)) => {
                let object: ObjectRef = object.parse()?;
                if !valid_name(relation) {
                    return Err(ParseError::new(
                        "subject",
                        s,
                        "the relation must match [a-z][a-z0-9_]*",
                    ));
                }
                Ok(Self::Set {
                    object,
                    relation: relation.to_owned(),
                })
            }
            None => {
                let Some(rest) = s.strip_prefix("user:") else {
                    return Err(ParseError::new(
                        "subject",
                        s,
                        "expected `user:<uuid>` or `type:id#relation`",
                    ));
                };
                let id = Uuid::parse_str(rest)
                    .map_err(|_| ParseError::new("subject", s, "the user id must be a UUID"))?;
                Ok(Self::User { id })
            }
        }
    }
}

/// A relationship: `object#relation@subject`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tuple {
    /// The object the relation is on.
    pub object: ObjectRef,
    /// The relation (`viewer`).
    pub relation: String,
    /// Who holds it.
    pub subject: Subject,
}

impl Tuple {
    /// A tuple from its parts.
    pub fn new(object: ObjectRef, relation: impl Into<String>, subject: Subject) -> Self {
        Self {
            object,
            relation: relation.into(),
            subject,
        }
    }
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}@{}", self.object, self.relation, self.subject)
    }
}

impl FromStr for Tuple {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((left, subject)) = s.split_once('@') else {
            return Err(ParseError::new(
                "tuple",
                s,
                "expected `type:id#relation@subject`",
            ));
        };
        let Some((object, relation)) = left.split_once('#') else {
            return Err(ParseError::new(
                "tuple",
                s,
                "expected `type:id#relation@subject`",
            ));
        };
        if !valid_name(relation) {
            return Err(ParseError::new(
                "tuple",
                s,
                "the relation must match [a-z][a-z0-9_]*",
            ));
        }
        Ok(Self {
            object: object.parse()?,
            relation: relation.to_owned(),
            subject: subject.parse()?,
        })
    }
}

/// Where an assignment's permissions apply.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamScope))]
pub enum Scope {
    /// Everything in the organization.
    Tenant,
    /// The team and every object that belongs to it.
    Team {
        /// The team's id.
        id: Uuid,
    },
    /// One object.
    Object {
        /// The object.
        object: ObjectRef,
    },
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tenant => f.write_str("tenant"),
            Self::Team { id } => write!(f, "{TEAM_TYPE}:{id}"),
            Self::Object { object } => write!(f, "{object}"),
        }
    }
}

impl FromStr for Scope {
    type Err = ParseError;

    /// `tenant`, `team:<uuid>` or `type:id`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "tenant" {
            return Ok(Self::Tenant);
        }
        let object: ObjectRef = s.parse()?;
        if object.kind == TEAM_TYPE {
            let id = Uuid::parse_str(&object.id)
                .map_err(|_| ParseError::new("scope", s, "a team id must be a UUID"))?;
            return Ok(Self::Team { id });
        }
        Ok(Self::Object { object })
    }
}

/// What a check is about: the organization as a whole, a team, or one object (with the
/// team it belongs to, when it belongs to one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The organization itself (organization settings, member list, ...).
    Tenant,
    /// A team.
    Team(Uuid),
    /// One object.
    Object {
        /// The object.
        object: ObjectRef,
        /// The team owning it, if any: team-scoped assignments of that team apply.
        team: Option<Uuid>,
    },
}

/// The built-in role keys every organization has. Owner holds every permission of the
/// catalog, always; the other three start from the catalog's `default_roles` and can be
/// edited by the organization.
pub const BUILTIN_ROLES: [&str; 4] = ["owner", "admin", "member", "read_only"];

/// The owner role's key.
pub const OWNER_ROLE: &str = "owner";

/// A role of one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamRole))]
pub struct RoleRecord {
    /// Role id (UUID v7).
    pub id: Uuid,
    /// Stable key, unique in the organization (`owner`, `billing_admin`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Whether this is one of the built-in roles (`owner`, `admin`, `member`, `read_only`),
    /// which cannot be deleted or renamed.
    pub builtin: bool,
    /// Catalog permission names. For the owner role, every permission of the catalog.
    pub permissions: Vec<String>,
}

/// Where an assignment comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentSource {
    /// A row of `iam_assignments`, made through the IAM API.
    Explicit,
    /// The member's base role in `tenancy_memberships` (tenant scope).
    Membership,
}

/// A role granted to a subject at a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// Assignment id; for a membership, the membership's id.
    pub id: Uuid,
    /// Who holds it (a user, or a subject set such as `team:…#member`).
    pub subject: Subject,
    /// The role.
    pub role_id: Uuid,
    /// Where it applies.
    pub scope: Scope,
    /// Where it comes from.
    pub source: AssignmentSource,
}

/// A tenant's policy revision: it grows by one with every committed change to the
/// tenant's roles, assignments, tuples, memberships or team members.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Revision(pub u64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Everything the engine needs to answer checks for one organization at one revision.
///
/// Built by the store from `iam_roles`, `iam_assignments`, `iam_tuples`, the tenancy
/// memberships (as [`AssignmentSource::Membership`] assignments of the built-in role with
/// the membership's key) and the tenancy team members (as `team:<id>#member@user:<id>`
/// tuples).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSnapshot {
    /// The organization.
    pub org_id: Uuid,
    /// The revision this snapshot reflects.
    pub revision: Revision,
    /// Every role of the organization (built-in ones included).
    pub roles: Vec<RoleRecord>,
    /// Every assignment, explicit and from memberships.
    pub assignments: Vec<AssignmentRecord>,
    /// Every tuple, stored and from team members.
    pub tuples: Vec<Tuple>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        let u = Uuid::nil();
        for s in [
            format!("document:42#viewer@user:{u}"),
            "folder:a#parent@folder:b#self_".to_owned(),
            format!("team:{u}#member@user:{u}"),
        ] {
            let t: Tuple = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!("tenant".parse::<Scope>().unwrap(), Scope::Tenant);
        assert_eq!(
            format!("team:{u}").parse::<Scope>().unwrap(),
            Scope::Team { id: u }
        );
        assert!(matches!(
            "document:1".parse::<Scope>().unwrap(),
            Scope::Object { .. }
        ));
    }

    #[test]
    fn malformed_text_is_refused() {
        for s in [
            "",
            "document",
            "document:42",
            "document:42#viewer",
            "document:42#viewer@user:not-a-uuid",
            "Document:42#viewer@user:00000000-0000-0000-0000-000000000000",
            "document:4 2#viewer@user:00000000-0000-0000-0000-000000000000",
            "document:42#Viewer@user:00000000-0000-0000-0000-000000000000",
            "document:#viewer@user:00000000-0000-0000-0000-000000000000",
        ] {
            assert!(s.parse::<Tuple>().is_err(), "{s}");
        }
        assert!("team:eng".parse::<Scope>().is_err());
    }
}
