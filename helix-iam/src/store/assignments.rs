//! Explicit role assignments: a subject holds a role at a scope.

use chrono::{DateTime, Utc};
use helix_core::TenantTx;
use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use sea_orm::{ColumnTrait, QueryFilter, Set};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::entity::{assignment, role};
use super::subjects::{check_scope, check_subject};
use super::{IamStore, audit, current_revision};
use crate::error::{IamError, Result};
use crate::model::{AssignmentRecord, AssignmentSource, Revision, Scope, Subject};

/// An assignment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssignment {
    /// Who receives the role (a user or a subject set such as `team:<id>#member`).
    pub subject: Subject,
    /// The role (of this organization).
    pub role_id: Uuid,
    /// Where it applies.
    pub scope: Scope,
}

/// A stored assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamAssignment))]
pub struct Assignment {
    /// Assignment id.
    pub id: Uuid,
    /// Who holds the role.
    pub subject: Subject,
    /// The role.
    pub role_id: Uuid,
    /// Where it applies.
    pub scope: Scope,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it (`user:<uuid>`, `system:<name>`).
    pub created_by: String,
}

impl Assignment {
    /// The engine's view of it.
    pub fn record(&self) -> AssignmentRecord {
        AssignmentRecord {
            id: self.id,
            subject: self.subject.clone(),
            role_id: self.role_id,
            scope: self.scope.clone(),
            source: AssignmentSource::Explicit,
        }
    }
}

/// Which assignments to list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    /// Only this subject's assignments.
    pub subject: Option<Subject>,
    /// Only assignments of this role.
    pub role_id: Option<Uuid>,
}

pub(crate) fn decode(row: assignment::Model) -> Result<Assignment> {
    let subject = row
        .subject
        .parse()
        .map_err(|_| IamError::Corrupt(format!("assignment {}: malformed subject", row.id)))?;
    let scope = row
        .scope
        .parse()
        .map_err(|_| IamError::Corrupt(format!("assignment {}: malformed scope", row.id)))?;
    Ok(Assignment {
        id: row.id,
        subject,
        role_id: row.role_id,
        scope,
        created_at: row.created_at,
        created_by: row.created_by,
    })
}

/// The sort and filter fields of the assignment list (default: oldest first).
pub fn assignment_list_spec() -> ListSpec<assignment::Entity> {
    ListSpec::<assignment::Entity>::new()
        .field("subject", assignment::Column::Subject, FieldKind::Text)
        .field("scope", assignment::Column::Scope, FieldKind::Text)
        .field(
            "created_at",
            assignment::Column::CreatedAt,
            FieldKind::Timestamp,
        )
        .default_sort(assignment::Column::CreatedAt, SortDir::Asc)
        .tiebreak(assignment::Column::Id)
}

impl IamStore {
    /// Assigns a role of this organization to a subject at a scope. A role of another
    /// organization is "role not found"; the same assignment twice is
    /// [`IamError::Conflict`].
    pub async fn create_assignment(
        &self,
        tx: &TenantTx,
        new: NewAssignment,
    ) -> Result<(Assignment, Revision)> {
        check_subject("subject", &new.subject)?;
        check_scope("scope", &new.scope)?;
        if tx
            .find_by_id::<role::Entity, _>(new.role_id)
            .await?
            .is_none()
        {
            return Err(IamError::NotFound("role"));
        }
        let am = assignment::ActiveModel {
            id: Set(self.kernel().new_id()),
            org_id: Set(tx.org_id()),
            subject: Set(new.subject.to_string()),
            role_id: Set(new.role_id),
            scope: Set(new.scope.to_string()),
            created_at: Set(self.kernel().now()),
            created_by: Set(tx.context().actor().as_ref_string()),
        };
        let created = tx
            .insert(am)
            .await
            .map_err(|e| IamError::on_unique(e, "this assignment already exists"))?;
        let data = json!({
            "assignment_id": created.id, "subject": created.subject,
            "role_id": created.role_id, "scope": created.scope,
        });
        audit(
            self,
            tx,
            "iam.assignment.created",
            "assignment",
            created.id,
            data,
        )
        .await?;
        let revision = current_revision(tx).await?;
        Ok((decode(created)?, revision))
    }

    /// One assignment; another organization's is not found.
    pub async fn get_assignment(&self, tx: &TenantTx, id: Uuid) -> Result<Assignment> {
        let row = tx
            .find_by_id::<assignment::Entity, _>(id)
            .await?
            .ok_or(IamError::NotFound("assignment"))?;
        decode(row)
    }

    /// One page of the organization's assignments, optionally for one subject and/or one
    /// role (standard list query; see [`super::assignment_list_spec`]).
    pub async fn list_assignments(
        &self,
        tx: &TenantTx,
        filter: &AssignmentFilter,
        query: &ListQuery,
    ) -> Result<Page<Assignment>> {
        let mut select = tx.find::<assignment::Entity>();
        if let Some(subject) = &filter.subject {
            check_subject("subject", subject)?;
            select = select.filter(assignment::Column::Subject.eq(subject.to_string()));
        }
        if let Some(role_id) = filter.role_id {
            select = select.filter(assignment::Column::RoleId.eq(role_id));
        }
        let page = assignment_list_spec()
            .fetch(query, select, tx.raw())
            .await?;
        let data = page
            .data
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            data,
            meta: page.meta,
        })
    }

    /// Removes an assignment.
    pub async fn delete_assignment(&self, tx: &TenantTx, id: Uuid) -> Result<Revision> {
        let current = self.get_assignment(tx, id).await?;
        tx.delete_many::<assignment::Entity>()
            .filter(assignment::Column::Id.eq(id))
            .exec(tx.raw())
            .await?;
        let data = json!({
            "assignment_id": id, "subject": current.subject.to_string(),
            "role_id": current.role_id, "scope": current.scope.to_string(),
        });
        audit(self, tx, "iam.assignment.deleted", "assignment", id, data).await?;
        current_revision(tx).await
    }
}
