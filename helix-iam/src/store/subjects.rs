//! Validation of typed subjects, scopes and tuples (built in code, so not necessarily
//! well formed), and the column encoding of tuple subjects.

use crate::error::{IamError, Result};
use crate::model::{ObjectRef, Scope, Subject, Tuple, USER_TYPE, valid_name};

/// Checks a subject built in code: a set needs a valid object and relation.
pub(crate) fn check_subject(field: &str, subject: &Subject) -> Result<()> {
    match subject {
        Subject::User { .. } => Ok(()),
        Subject::Set { object, relation } => {
            check_object(field, object)?;
            if !valid_name(relation) {
                return Err(IamError::invalid(
                    field,
                    "invalid",
                    "the relation must match [a-z][a-z0-9_]* (at most 64 bytes)",
                ));
            }
            Ok(())
        }
    }
}

pub(crate) fn check_object(field: &str, object: &ObjectRef) -> Result<()> {
    if object.is_valid() {
        Ok(())
    } else {
        Err(IamError::invalid(
            field,
            "invalid",
            "an object is `type:id`: a type matching [a-z][a-z0-9_]* and an id of 1-128 bytes of letters, digits and _-.|=+/",
        ))
    }
}

pub(crate) fn check_scope(field: &str, scope: &Scope) -> Result<()> {
    match scope {
        Scope::Tenant | Scope::Team { .. } => Ok(()),
        Scope::Object { object } => check_object(field, object),
    }
}

pub(crate) fn check_tuple(field: &str, tuple: &Tuple) -> Result<()> {
    check_object(field, &tuple.object)?;
    if !valid_name(&tuple.relation) {
        return Err(IamError::invalid(
            field,
            "invalid",
            "the relation must match [a-z][a-z0-9_]* (at most 64 bytes)",
        ));
    }
    check_subject(field, &tuple.subject)
}

/// A subject as `(subject_type, subject_id, subject_relation)` columns.
pub(crate) fn subject_columns(subject: &Subject) -> (String, String, String) {
    match subject {
        Subject::User { id } => (USER_TYPE.to_owned(), id.to_string(), String::new()),
        Subject::Set { object, relation } => {
            (object.kind.clone(), object.id.clone(), relation.clone())
        }
    }
}

/// The subject stored in columns: an empty relation is a user.
pub(crate) fn subject_from_columns(kind: &str, id: &str, relation: &str) -> Result<Subject> {
    if relation.is_empty() {
        if kind != USER_TYPE {
            return Err(IamError::Corrupt(format!(
                "tuple subject `{kind}:{id}` has no relation"
            )));
        }
        let id = uuid::Uuid::parse_str(id)
            .map_err(|_| IamError::Corrupt("tuple user subject is not a UUID".into()))?;
        Ok(Subject::User { id })
    } else {
        Ok(Subject::Set {
            object: ObjectRef::new(kind, id),
            relation: relation.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn subjects_round_trip_through_columns() {
        for s in [
            Subject::user(Uuid::now_v7()),
            Subject::team_members(Uuid::now_v7()),
            Subject::Set {
                object: ObjectRef::new("folder", "a/b"),
                relation: "viewer".into(),
            },
        ] {
            let (k, i, r) = subject_columns(&s);
            assert_eq!(subject_from_columns(&k, &i, &r).unwrap(), s);
        }
        assert!(subject_from_columns("team", "x", "").is_err());
        assert!(subject_from_columns("user", "nope", "").is_err());
    }

    #[test]
    fn hand_built_values_are_validated() {
        let bad = Subject::Set {
            object: ObjectRef::new("Team", "x"),
            relation: "member".into(),
        };
        assert!(check_subject("subject", &bad).is_err());
        let bad = Scope::Object {
            object: ObjectRef::new("doc", "a b"),
        };
        assert!(check_scope("scope", &bad).is_err());
        assert!(check_scope("scope", &Scope::Tenant).is_ok());
    }
}
