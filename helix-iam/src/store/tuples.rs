//! Relationship tuples: batched writes and filtered, paginated reads.

use std::collections::HashSet;

use helix_core::TenantTx;
use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use super::entity::tuple;
use super::subjects::{
    check_object, check_subject, check_tuple, subject_columns, subject_from_columns,
};
use super::{IamStore, audit, current_revision};
use crate::error::{IamError, Result};
use crate::model::{MEMBER_RELATION, ObjectRef, Revision, Subject, TEAM_TYPE, Tuple, valid_name};

/// Most tuples one [`TupleWrite`] may insert, and most it may delete.
pub const MAX_TUPLE_BATCH: usize = 1000;

/// A batch of tuple changes applied in one transaction: deletes, then inserts. Inserting a
/// tuple that exists, or deleting one that does not, is not an error (idempotent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TupleWrite {
    /// Tuples to add.
    pub insert: Vec<Tuple>,
    /// Tuples to remove.
    pub delete: Vec<Tuple>,
}

/// What a [`TupleWrite`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TupleWriteOutcome {
    /// Tuples that did not exist and were added.
    pub inserted: u64,
    /// Tuples that existed and were removed.
    pub deleted: u64,
    /// The organization's revision after the batch.
    pub revision: Revision,
}

/// Which tuples to read; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TupleFilter {
    /// Object type.
    pub object_type: Option<String>,
    /// Object id (with or without a type).
    pub object_id: Option<String>,
    /// Relation.
    pub relation: Option<String>,
    /// Exact subject (a user, or a subject set).
    pub subject: Option<Subject>,
}

impl TupleFilter {
    /// Tuples on one object.
    pub fn object(object: &ObjectRef) -> Self {
        Self {
            object_type: Some(object.kind.clone()),
            object_id: Some(object.id.clone()),
            ..Self::default()
        }
    }
}

/// The sort and filter fields of the tuple list (default: by object, relation, subject).
pub fn tuple_list_spec() -> ListSpec<tuple::Entity> {
    ListSpec::<tuple::Entity>::new()
        .field("object_type", tuple::Column::ObjectType, FieldKind::Text)
        .field("object_id", tuple::Column::ObjectId, FieldKind::Text)
        .field("relation", tuple::Column::Relation, FieldKind::Text)
        .field("subject_type", tuple::Column::SubjectType, FieldKind::Text)
        .field("subject_id", tuple::Column::SubjectId, FieldKind::Text)
        .field("created_at", tuple::Column::CreatedAt, FieldKind::Timestamp)
        .default_sort(tuple::Column::ObjectType, SortDir::Asc)
        .tiebreak(tuple::Column::ObjectId)
}

pub(crate) fn decode(row: tuple::Model) -> Result<Tuple> {
    let subject = subject_from_columns(&row.subject_type, &row.subject_id, &row.subject_relation)?;
    Ok(Tuple::new(
        ObjectRef::new(row.object_type, row.object_id),
        row.relation,
        subject,
    ))
}

fn key_condition(t: &Tuple) -> Condition {
    let (st, si, sr) = subject_columns(&t.subject);
    Condition::all()
        .add(tuple::Column::ObjectType.eq(t.object.kind.clone()))
        .add(tuple::Column::ObjectId.eq(t.object.id.clone()))
        .add(tuple::Column::Relation.eq(t.relation.clone()))
        .add(tuple::Column::SubjectType.eq(st))
        .add(tuple::Column::SubjectId.eq(si))
        .add(tuple::Column::SubjectRelation.eq(sr))
}

fn check_batch(field: &str, tuples: &[Tuple]) -> Result<()> {
    if tuples.len() > MAX_TUPLE_BATCH {
        return Err(IamError::invalid(
            field,
            "too_many",
            format!("at most {MAX_TUPLE_BATCH} tuples per write"),
        ));
    }
    for (i, t) in tuples.iter().enumerate() {
        let f = format!("{field}[{i}]");
        check_tuple(&f, t)?;
        if t.object.kind == TEAM_TYPE && t.relation == MEMBER_RELATION {
            return Err(IamError::invalid(
                &f,
                "managed_by_tenancy",
                "team membership comes from the organization's teams; add the member to the team instead",
            ));
        }
    }
    Ok(())
}

impl IamStore {
    /// Applies a batch: deletes, then inserts, in the caller's transaction. A tuple in both
    /// lists is refused. Team membership (`team:<id>#member`) is owned by helix-tenancy and
    /// cannot be written here.
    pub async fn write_tuples(
        &self,
        tx: &TenantTx,
        write: &TupleWrite,
    ) -> Result<TupleWriteOutcome> {
        check_batch("insert", &write.insert)?;
        check_batch("delete", &write.delete)?;
        let deleting: HashSet<&Tuple> = write.delete.iter().collect();
        if let Some(i) = write.insert.iter().position(|t| deleting.contains(t)) {
            return Err(IamError::invalid(
                &format!("insert[{i}]"),
                "conflicting",
                "the same tuple is both inserted and deleted",
            ));
        }
        let mut deleted = 0;
        for chunk in write.delete.chunks(50) {
            let cond = chunk
                .iter()
                .fold(Condition::any(), |c, t| c.add(key_condition(t)));
            deleted += tx
                .delete_many::<tuple::Entity>()
                .filter(cond)
                .exec(tx.raw())
                .await?
                .rows_affected;
        }
        let now = self.kernel().now();
        let mut inserted = 0;
        let unique: Vec<&Tuple> = {
            let mut seen = HashSet::new();
            write.insert.iter().filter(|t| seen.insert(*t)).collect()
        };
        for chunk in unique.chunks(200) {
            let rows: Vec<tuple::ActiveModel> = chunk
                .iter()
                .map(|t| {
                    let (st, si, sr) = subject_columns(&t.subject);
                    tuple::ActiveModel {
                        org_id: Set(tx.org_id()),
                        object_type: Set(t.object.kind.clone()),
                        object_id: Set(t.object.id.clone()),
                        relation: Set(t.relation.clone()),
                        subject_type: Set(st),
                        subject_id: Set(si),
                        subject_relation: Set(sr),
                        created_at: Set(now),
                    }
                })
                .collect();
            let result = tuple::Entity::insert_many(rows)
                .on_conflict_do_nothing()
                .exec_without_returning(tx.raw())
                .await?;
            if let sea_orm::TryInsertResult::Inserted(n) = result {
                inserted += n;
            }
        }
        if inserted > 0 || deleted > 0 {
            let sample = |v: &[Tuple]| -> Vec<String> {
                v.iter().take(100).map(ToString::to_string).collect()
            };
            let data = json!({
                "inserted": inserted, "deleted": deleted,
                "insert": sample(&write.insert), "delete": sample(&write.delete),
            });
            audit(self, tx, "iam.tuples.written", "tuples", tx.org_id(), data).await?;
        }
        Ok(TupleWriteOutcome {
            inserted,
            deleted,
            revision: current_revision(tx).await?,
        })
    }

    /// One page of the organization's stored tuples matching `filter` (standard list
    /// query; see [`super::tuple_list_spec`]). `meta.total` counts every match, so a caller always
    /// knows whether more pages exist. Team members derived from helix-tenancy are not
    /// stored tuples and are not listed here (they are in the snapshot).
    pub async fn list_tuples(
        &self,
        tx: &TenantTx,
        filter: &TupleFilter,
        query: &ListQuery,
    ) -> Result<Page<Tuple>> {
        let mut select = tx.find::<tuple::Entity>();
        if let Some(kind) = &filter.object_type {
            if !valid_name(kind) {
                return Err(IamError::invalid(
                    "object_type",
                    "invalid",
                    "not an object type",
                ));
            }
            select = select.filter(tuple::Column::ObjectType.eq(kind.clone()));
        }
        if let Some(id) = &filter.object_id {
            check_object("object_id", &ObjectRef::new("x", id.clone()))?;
            select = select.filter(tuple::Column::ObjectId.eq(id.clone()));
        }
        if let Some(relation) = &filter.relation {
            if !valid_name(relation) {
                return Err(IamError::invalid(
                    "relation",
                    "invalid",
                    "not a relation name",
                ));
            }
            select = select.filter(tuple::Column::Relation.eq(relation.clone()));
        }
        if let Some(subject) = &filter.subject {
            check_subject("subject", subject)?;
            let (st, si, sr) = subject_columns(subject);
            select = select
                .filter(tuple::Column::SubjectType.eq(st))
                .filter(tuple::Column::SubjectId.eq(si))
                .filter(tuple::Column::SubjectRelation.eq(sr));
        }
        let select = tuple_list_spec().apply(query, select)?;
        let total = select.clone().count(tx.raw()).await?;
        // The list spec breaks ties on one column; order by the rest of the key so that
        // pages never overlap or skip.
        let rows = select
            .order_by_asc(tuple::Column::ObjectId)
            .order_by_asc(tuple::Column::Relation)
            .order_by_asc(tuple::Column::SubjectType)
            .order_by_asc(tuple::Column::SubjectId)
            .order_by_asc(tuple::Column::SubjectRelation)
            .offset(query.offset())
            .limit(query.effective_limit())
            .all(tx.raw())
            .await?;
        let data = rows.into_iter().map(decode).collect::<Result<Vec<_>>>()?;
        Ok(Page::new(data, query, total))
    }
}
