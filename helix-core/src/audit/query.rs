//! Reading a tenant's audit log: filtered, newest first, paginated.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sea_orm::{ColumnTrait, Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::entity::{Column, Entity, Model};
use crate::db::TenantTx;
use crate::error::{Error, FieldError, Result};
use crate::list::{FieldKind, FilterOp, ListQuery, ListSpec, MAX_LIMIT, Page, SortDir};

/// Which audit rows to return. Every field is optional; set fields are combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditFilter {
    /// Exact entity type (`organization`).
    pub entity_type: Option<String>,
    /// Exact entity id.
    pub entity_id: Option<String>,
    /// Exact actor (`user:<uuid>`, `system:<name>`).
    pub actor: Option<String>,
    /// Exact action (`member.role_changed`).
    pub action: Option<String>,
    /// Exact impersonator (`user:<uuid>`): rows written under that account's impersonation
    /// sessions.
    pub impersonator: Option<String>,
    /// Rows that occurred at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Rows that occurred at or before this instant.
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// Rows about one entity.
    pub fn entity(entity_type: impl Into<String>, entity_id: impl ToString) -> Self {
        Self {
            entity_type: Some(entity_type.into()),
            entity_id: Some(entity_id.to_string()),
            ..Self::default()
        }
    }

    /// The filter as a condition on `helix_audit_log` (without the tenant filter, which
    /// the tenant handle adds).
    pub(crate) fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if let Some(v) = &self.entity_type {
            c = c.add(Column::EntityType.eq(v.as_str()));
        }
        if let Some(v) = &self.entity_id {
            c = c.add(Column::EntityId.eq(v.as_str()));
        }
        if let Some(v) = &self.actor {
            c = c.add(Column::Actor.eq(v.as_str()));
        }
        if let Some(v) = &self.action {
            c = c.add(Column::Action.eq(v.as_str()));
        }
        if let Some(v) = &self.impersonator {
            c = c.add(Column::Impersonator.eq(v.as_str()));
        }
        // Stored instants have microsecond precision; compare at the same precision.
        if let Some(v) = self.from {
            c = c.add(Column::OccurredAt.gte(v.trunc_subsecs(6)));
        }
        if let Some(v) = self.to {
            c = c.add(Column::OccurredAt.lte(v.trunc_subsecs(6)));
        }
        c
    }
}

/// The allow-list of the standard list query over the audit log: `filter[action]`,
/// `filter[actor]`, `filter[impersonator]`, `filter[entity_type]`, `filter[entity_id]` and
/// `filter[occurred_at.gte|lte]`; sortable by `occurred_at`; newest first by default.
pub fn list_spec() -> ListSpec<Entity> {
    ListSpec::new()
        .filter_only("action", Column::Action, FieldKind::Text)
        .filter_only("actor", Column::Actor, FieldKind::Text)
        .filter_only("impersonator", Column::Impersonator, FieldKind::Text)
        .filter_only("entity_type", Column::EntityType, FieldKind::Text)
        .filter_only("entity_id", Column::EntityId, FieldKind::Text)
        .field("occurred_at", Column::OccurredAt, FieldKind::Timestamp)
        .default_sort(Column::OccurredAt, SortDir::Desc)
        .default_sort(Column::Seq, SortDir::Desc)
        .tiebreak(Column::Id)
}

/// Lists the tenant's audit rows with the standard list query (see [`list_spec`]).
pub async fn list(tx: &TenantTx, q: &ListQuery) -> Result<Page<Model>> {
    list_spec().fetch(q, tx.find::<Entity>(), tx.raw()).await
}

/// Returns page `page` (from 1; 0 is read as 1) of the tenant's audit rows matching
/// `filter`, newest first (by `occurred_at`, then `seq`), with the total in `meta`.
/// `limit` is clamped to `1..=`[`MAX_LIMIT`].
pub async fn query(
    tx: &TenantTx,
    filter: &AuditFilter,
    page: u64,
    limit: u64,
) -> Result<Page<Model>> {
    let q = ListQuery {
        page: page.max(1),
        limit: limit.clamp(1, MAX_LIMIT),
        ..ListQuery::default()
    };
    let select = tx.find::<Entity>().filter(filter.condition());
    let total = select.clone().count(tx.raw()).await?;
    let rows = select
        .order_by_desc(Column::OccurredAt)
        .order_by_desc(Column::Seq)
        .offset(q.offset())
        .limit(q.limit)
        .all(tx.raw())
        .await?;
    Ok(Page::new(rows, &q, total))
}

impl TryFrom<&ListQuery> for AuditFilter {
    type Error = Error;

    /// Reads the filters of a standard list query (for export endpoints): `eq` on the text
    /// fields, `gte`/`lte` on `occurred_at`. Anything else is a validation error.
    fn try_from(q: &ListQuery) -> Result<Self> {
        let mut out = Self::default();
        let mut errors = Vec::new();
        for f in &q.filters {
            let key = format!("filter[{}]", f.field);
            let slot = match (f.field.as_str(), f.op) {
                ("action", FilterOp::Eq) => &mut out.action,
                ("actor", FilterOp::Eq) => &mut out.actor,
                ("impersonator", FilterOp::Eq) => &mut out.impersonator,
                ("entity_type", FilterOp::Eq) => &mut out.entity_type,
                ("entity_id", FilterOp::Eq) => &mut out.entity_id,
                ("occurred_at", FilterOp::Gte | FilterOp::Lte) => {
                    match parse_instant(&f.value) {
                        Some(t) if f.op == FilterOp::Gte => out.from = Some(t),
                        Some(t) => out.to = Some(t),
                        None => errors.push(FieldError::new(
                            key,
                            "invalid_value",
                            "`occurred_at` must be an RFC 3339 timestamp or a YYYY-MM-DD date",
                        )),
                    }
                    continue;
                }
                _ => {
                    errors.push(FieldError::new(
                        key,
                        "unknown_field",
                        format!("`{}` cannot be filtered this way", f.field),
                    ));
                    continue;
                }
            };
            *slot = Some(f.value.clone());
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(Error::Validation { details: errors })
        }
    }
}

fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_list_query_into_a_filter() {
        let q = ListQuery::parse(
            "filter[action]=a.b&filter[occurred_at.gte]=2026-01-01&filter[occurred_at.lte]=2026-02-01T00:00:00Z",
        )
        .unwrap();
        let f = AuditFilter::try_from(&q).unwrap();
        assert_eq!(f.action.as_deref(), Some("a.b"));
        assert!(f.from.unwrap() < f.to.unwrap());
        let bad = ListQuery::parse("filter[data]=x&filter[action.contains]=y").unwrap();
        assert_eq!(AuditFilter::try_from(&bad).unwrap_err().details().len(), 2);
    }
}
