//! The standard list query: `page`, `limit` (≤ 100), `sort`, `filter[...]`, `search`.
//!
//! [`ListQuery::parse`] reads the query string once; a per-resource [`ListSpec`] allow-lists
//! the fields that may be sorted and filtered, types their values and applies them to a
//! sea-orm [`Select`]. An unknown field, a bad operator or a bad value is a 400 with one
//! detail per problem. Results come back as a [`Page`] with the standard `meta`.
//!
//! ```
//! use helix_core::list::ListQuery;
//! let q = ListQuery::parse("page=2&limit=10&sort=created_at:desc&filter[role]=admin").unwrap();
//! assert_eq!((q.page, q.limit), (2, 10));
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select, Value,
};
use serde::Serialize;

use crate::error::{Error, FieldError, Result};

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 25;
/// Largest page size.
pub const MAX_LIMIT: u64 = 100;
const MAX_PAGE: u64 = 1_000_000;
const MAX_SEARCH: usize = 200;
const MAX_VALUE: usize = 500;

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// A filter operator: `filter[field]` is `eq`, `filter[field.op]` names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Case-insensitive substring (text fields).
    Contains,
    /// One of a comma-separated list.
    In,
}

impl FilterOp {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "contains" => Self::Contains,
            "in" => Self::In,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Contains => "contains",
            Self::In => "in",
        }
    }
}

/// One `filter[...]` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The field name as the client wrote it.
    pub field: String,
    /// The operator.
    pub op: FilterOp,
    /// The raw value.
    pub value: String,
}

/// A parsed list query, not yet checked against a resource's allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Page number, from 1.
    pub page: u64,
    /// Page size, 1..=100.
    pub limit: u64,
    /// Sort keys in order.
    pub sort: Vec<(String, SortDir)>,
    /// Filters (all must match).
    pub filters: Vec<Filter>,
    /// Free-text search over the resource's search columns.
    pub search: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            page: 1,
            limit: DEFAULT_LIMIT,
            sort: Vec::new(),
            filters: Vec::new(),
            search: None,
        }
    }
}

impl ListQuery {
    /// Parses a URL query string. Parameters other than the standard ones are ignored, so
    /// endpoints can add their own.
    pub fn parse(query: &str) -> Result<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| Error::BadRequest("the query string is not valid URL encoding".into()))?;
        let mut q = Self::default();
        let mut errors = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "page" => match value.parse::<u64>() {
                    Ok(p) if (1..=MAX_PAGE).contains(&p) => q.page = p,
                    _ => errors.push(FieldError::new(
                        "page",
                        "invalid",
                        format!("page must be an integer from 1 to {MAX_PAGE}"),
                    )),
                },
                "limit" => match value.parse::<u64>() {
                    Ok(l) if (1..=MAX_LIMIT).contains(&l) => q.limit = l,
                    _ => errors.push(FieldError::new(
                        "limit",
                        "invalid",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    )),
                },
                "sort" => {
                    for part in value.split(',').filter(|p| !p.is_empty()) {
                        let (field, dir) = part.split_once(':').unwrap_or((part, "asc"));
                        let dir = match dir {
                            "asc" => SortDir::Asc,
                            "desc" => SortDir::Desc,
                            _ => {
                                errors.push(FieldError::new(
                                    "sort",
                                    "invalid_direction",
                                    format!("sort direction of `{field}` must be `asc` or `desc`"),
                                ));
                                continue;
                            }
                        };
                        q.sort.push((field.to_owned(), dir));
                    }
                }
                "search" => {
                    if value.chars().count() > MAX_SEARCH {
                        errors.push(FieldError::new(
                            "search",
                            "too_long",
                            format!("search is at most {MAX_SEARCH} characters"),
                        ));
                    } else if !value.trim().is_empty() {
                        q.search = Some(value.trim().to_owned());
                    }
                }
                k if k.starts_with("filter[") => {
                    let Some(inner) = k.strip_prefix("filter[").and_then(|r| r.strip_suffix(']'))
                    else {
                        errors.push(FieldError::new(
                            k,
                            "invalid",
                            "expected `filter[field]` or `filter[field.op]`",
                        ));
                        continue;
                    };
                    let (field, op) = match inner.rsplit_once('.') {
                        Some((f, op)) => match FilterOp::parse(op) {
                            Some(op) => (f, op),
                            None => {
                                errors.push(FieldError::new(
                                    k,
                                    "unknown_operator",
                                    format!("unknown operator `{op}`; use eq, ne, gt, gte, lt, lte, contains or in"),
                                ));
                                continue;
                            }
                        },
                        None => (inner, FilterOp::Eq),
                    };
                    if value.len() > MAX_VALUE {
                        errors.push(FieldError::new(
                            k,
                            "too_long",
                            format!("filter values are at most {MAX_VALUE} bytes"),
                        ));
                        continue;
                    }
                    q.filters.push(Filter {
                        field: field.to_owned(),
                        op,
                        value,
                    });
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(Error::Validation { details: errors })
        }
    }

    /// Rows to skip for this page (a hand-built query with `page` 0 counts as page 1).
    pub fn offset(&self) -> u64 {
        self.page
            .saturating_sub(1)
            .saturating_mul(self.effective_limit())
    }

    /// The page size, clamped to `1..=MAX_LIMIT` whatever the fields were set to.
    pub fn effective_limit(&self) -> u64 {
        self.limit.clamp(1, MAX_LIMIT)
    }
}

/// The type of an allow-listed field, which decides how values parse and which operators
/// apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text: eq, ne, contains, in.
    Text,
    /// A UUID: eq, ne, in.
    Uuid,
    /// An integer: all comparison operators and in.
    Int,
    /// A boolean: eq, ne.
    Bool,
    /// A timestamp (RFC 3339 or `YYYY-MM-DD`): comparison operators.
    Timestamp,
    /// One of a fixed set of strings: eq, ne, in.
    Enum(&'static [&'static str]),
}

impl FieldKind {
    fn allows(self, op: FilterOp) -> bool {
        use FilterOp::*;
        match self {
            Self::Text => matches!(op, Eq | Ne | Contains | In),
            Self::Uuid | Self::Enum(_) => matches!(op, Eq | Ne | In),
            Self::Bool => matches!(op, Eq | Ne),
            Self::Int => !matches!(op, Contains),
            Self::Timestamp => !matches!(op, Contains | In),
        }
    }

    fn value(self, raw: &str) -> std::result::Result<Value, String> {
        match self {
            Self::Text => Ok(Value::from(raw.to_owned())),
            Self::Uuid => uuid::Uuid::parse_str(raw)
                .map(Value::from)
                .map_err(|_| "must be a UUID".to_owned()),
            Self::Int => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| "must be an integer".to_owned()),
            Self::Bool => match raw {
                "true" | "1" => Ok(Value::from(true)),
                "false" | "0" => Ok(Value::from(false)),
                _ => Err("must be true or false".to_owned()),
            },
            Self::Timestamp => parse_timestamp(raw)
                .map(Value::from)
                .ok_or_else(|| "must be an RFC 3339 timestamp or a YYYY-MM-DD date".to_owned()),
            Self::Enum(allowed) => {
                if allowed.contains(&raw) {
                    Ok(Value::from(raw.to_owned()))
                } else {
                    Err(format!("must be one of: {}", allowed.join(", ")))
                }
            }
        }
    }
}

fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

struct FieldSpec<E: EntityTrait> {
    name: &'static str,
    column: E::Column,
    kind: FieldKind,
    sortable: bool,
    filterable: bool,
}

/// Sort keys in order: column and direction.
type SortKeys<E> = Vec<(<E as EntityTrait>::Column, SortDir)>;

/// The allow-list of one resource: which fields sort and filter, and which columns search.
pub struct ListSpec<E: EntityTrait> {
    fields: Vec<FieldSpec<E>>,
    search: Vec<E::Column>,
    default_sort: Vec<(E::Column, SortDir)>,
    tiebreak: Option<E::Column>,
}

impl<E: EntityTrait> std::fmt::Debug for ListSpec<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|x| x.name).collect();
        f.debug_struct("ListSpec")
            .field("fields", &names)
            .finish_non_exhaustive()
    }
}

impl<E: EntityTrait> Default for ListSpec<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: EntityTrait> ListSpec<E> {
    /// An empty allow-list.
    pub fn new() -> Self {
        Self {
            fields: Vec::new(),
            search: Vec::new(),
            default_sort: Vec::new(),
            tiebreak: None,
        }
    }

    /// Allows sorting and filtering on `name` (the public name) backed by `column`.
    pub fn field(mut self, name: &'static str, column: E::Column, kind: FieldKind) -> Self {
        self.fields.push(FieldSpec {
            name,
            column,
            kind,
            sortable: true,
            filterable: true,
        });
        self
    }

    /// Allows filtering (not sorting) on `name`.
    pub fn filter_only(mut self, name: &'static str, column: E::Column, kind: FieldKind) -> Self {
        self.fields.push(FieldSpec {
            name,
            column,
            kind,
            sortable: false,
            filterable: true,
        });
        self
    }

    /// Columns that `search` matches (case-insensitive substring, any column).
    pub fn search(mut self, columns: impl IntoIterator<Item = E::Column>) -> Self {
        self.search.extend(columns);
        self
    }

    /// The order used when the client gives no `sort`.
    pub fn default_sort(mut self, column: E::Column, dir: SortDir) -> Self {
        self.default_sort.push((column, dir));
        self
    }

    /// A unique column appended to every order, so pages are stable.
    pub fn tiebreak(mut self, column: E::Column) -> Self {
        self.tiebreak = Some(column);
        self
    }

    fn lookup(&self, name: &str) -> Option<&FieldSpec<E>> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Applies filters, search and sort (not paging) to `select`, or explains every problem.
    pub fn apply(&self, q: &ListQuery, select: Select<E>) -> Result<Select<E>> {
        let (select, order) = self.filter(q, select)?;
        Ok(self.order(select, order))
    }

    /// Filters and search applied to `select`, and the order to apply after them (the
    /// client's, or the default one); every problem of either is reported at once.
    fn filter(&self, q: &ListQuery, select: Select<E>) -> Result<(Select<E>, SortKeys<E>)> {
        let mut errors = Vec::new();
        let mut cond = Condition::all();
        for f in &q.filters {
            let key = format!("filter[{}]", f.field);
            let Some(spec) = self.lookup(&f.field).filter(|s| s.filterable) else {
                errors.push(FieldError::new(
                    key,
                    "unknown_field",
                    format!("`{}` cannot be filtered", f.field),
                ));
                continue;
            };
            if !spec.kind.allows(f.op) {
                errors.push(FieldError::new(
                    key,
                    "unsupported_operator",
                    format!("operator `{}` does not apply to `{}`", f.op.name(), f.field),
                ));
                continue;
            }
            match build_condition(spec.column, spec.kind, f.op, &f.value) {
                Ok(c) => cond = cond.add(c),
                Err(msg) => errors.push(FieldError::new(
                    key,
                    "invalid_value",
                    format!("`{}` {msg}", f.field),
                )),
            }
        }
        let mut order: Vec<(E::Column, SortDir)> = Vec::new();
        for (name, dir) in &q.sort {
            match self.lookup(name).filter(|s| s.sortable) {
                Some(spec) => order.push((spec.column, *dir)),
                None => errors.push(FieldError::new(
                    "sort",
                    "unknown_field",
                    format!("`{name}` cannot be sorted"),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation { details: errors });
        }
        let mut select = select.filter(cond);
        if let Some(term) = &q.search
            && !self.search.is_empty()
        {
            let pattern = like_pattern(term);
            let mut any = Condition::any();
            for col in &self.search {
                any = any.add(lower(*col).like(LikeExpr::new(pattern.clone()).escape('\\')));
            }
            select = select.filter(any);
        }
        if order.is_empty() {
            order = self.default_sort.clone();
        }
        Ok((select, order))
    }

    fn order(&self, mut select: Select<E>, order: SortKeys<E>) -> Select<E> {
        for (col, dir) in order {
            select = select.order_by(col, to_order(dir));
        }
        if let Some(col) = self.tiebreak {
            select = select.order_by(col, Order::Asc);
        }
        select
    }

    /// The statement [`fetch`](Self::fetch) sends for one page: `select` filtered, sorted
    /// and paged, with the total of all pages in the column [`TOTAL_COLUMN`] of every row
    /// (for `EXPLAIN`, or for callers that read rows of their own shape).
    pub fn page_query(&self, q: &ListQuery, select: Select<E>) -> Result<Select<E>> {
        Ok(self.plan(q, select, None)?.page)
    }

    /// The statement [`fetch_split`](Self::fetch_split) sends for one page (see
    /// [`page_query`](Self::page_query)).
    pub fn page_query_split(
        &self,
        q: &ListQuery,
        select: Select<E>,
        cond: SplitCondition,
    ) -> Result<Select<E>> {
        Ok(self.plan(q, select, Some(cond))?.page)
    }

    /// The page query, and how to count the total alone when the page has no row to carry
    /// it.
    fn plan(
        &self,
        q: &ListQuery,
        select: Select<E>,
        split: Option<SplitCondition>,
    ) -> Result<PagePlan<E>> {
        let (filtered, order) = self.filter(q, select)?;
        let (rows, total) = match split {
            None => (filtered.clone(), Total::Filtered(Box::new(filtered))),
            Some(SplitCondition { whole, parts }) => {
                let mut sum: Option<SimpleExpr> = None;
                for part in parts {
                    let count = count_of(filtered.clone().filter(part));
                    sum = Some(match sum {
                        None => count,
                        Some(s) => s.add(count),
                    });
                }
                let rows = filtered.filter(whole);
                let sum = sum.unwrap_or_else(|| count_of(rows.clone()));
                (rows, Total::Sum(sum))
            }
        };
        let total_expr = match &total {
            Total::Filtered(filtered) => count_of((**filtered).clone()),
            Total::Sum(sum) => sum.clone(),
        };
        let page = self
            .order(rows, order)
            .expr_as(total_expr, TOTAL_COLUMN)
            .offset(q.offset())
            .limit(q.effective_limit());
        Ok(PagePlan { page, total })
    }

    /// Applies the query and fetches one page with the total of all pages, in one statement:
    /// the total is a scalar subquery (`SELECT COUNT(*)` over the same filtered rows, without
    /// order or paging) in the page query's select list, so the database evaluates it once
    /// and the page and its total come from one snapshot and one round trip. A page past the
    /// end has no row to carry the total: only then is a second statement (the count alone)
    /// sent. An empty first page needs none: its total is 0.
    pub async fn fetch<C>(
        &self,
        q: &ListQuery,
        select: Select<E>,
        conn: &C,
    ) -> Result<Page<E::Model>>
    where
        C: ConnectionTrait,
        E::Model: Send + Sync,
    {
        self.fetch_plan(q, self.plan(q, select, None)?, conn).await
    }

    /// [`fetch`](Self::fetch) with the rows restricted by `cond` (a condition the caller
    /// adds to `select`, such as a permission filter) and the total counted the way `cond`
    /// says: one `COUNT(*)` per part of `cond`, each over the query's filters and that part,
    /// added up in the same single statement. A condition whose rows the database can only
    /// find by scanning the table (an `OR` over different columns, say) can be split into
    /// disjoint parts that each use an index; see [`SplitCondition`]. The total stays exact.
    pub async fn fetch_split<C>(
        &self,
        q: &ListQuery,
        select: Select<E>,
        cond: SplitCondition,
        conn: &C,
    ) -> Result<Page<E::Model>>
    where
        C: ConnectionTrait,
        E::Model: Send + Sync,
    {
        self.fetch_plan(q, self.plan(q, select, Some(cond))?, conn)
            .await
    }

    async fn fetch_plan<C>(
        &self,
        q: &ListQuery,
        plan: PagePlan<E>,
        conn: &C,
    ) -> Result<Page<E::Model>>
    where
        C: ConnectionTrait,
        E::Model: Send + Sync,
    {
        let rows = plan
            .page
            .into_model::<Counted<E::Model>>()
            .all(conn)
            .await?;
        let total = match rows.first() {
            Some(row) => non_negative(row.total)?,
            None if q.offset() == 0 => 0,
            None => match plan.total {
                Total::Filtered(filtered) => filtered.count(conn).await?,
                Total::Sum(sum) => {
                    let stmt = Query::select().expr_as(sum, TOTAL_COLUMN).to_owned();
                    let row = conn
                        .query_one(&stmt)
                        .await?
                        .ok_or_else(|| Error::internal_msg("a list total returned no row"))?;
                    non_negative(row.try_get::<i64>("", TOTAL_COLUMN)?)?
                }
            },
        };
        let data = rows.into_iter().map(|r| r.model).collect();
        Ok(Page::new(data, q, total))
    }
}

/// A condition that restricts a list, and how [`ListSpec::fetch_split`] counts its rows:
/// as a whole, or as the sum of pairwise disjoint parts.
///
/// A database answers `COUNT(*)` of a condition like `team_id IN (..) OR id IN (..)` by
/// reading every row of the tenant: no single index serves both sides of the `OR`. The
/// same rows written as disjoint parts, `team_id IN (..)` and
/// `id IN (..) AND (team_id IS NULL OR team_id NOT IN (..))`, are counted one part at a time,
/// each from its own index, and the counts add up to the exact total.
///
/// ```
/// use helix_core::list::SplitCondition;
/// use sea_orm::Condition;
/// let c = SplitCondition::whole(Condition::all());
/// assert_eq!(c.parts().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct SplitCondition {
    whole: Condition,
    parts: Vec<Condition>,
}

impl SplitCondition {
    /// `condition`, counted as one part (what [`ListSpec::fetch`] does).
    pub fn whole(condition: Condition) -> Self {
        Self {
            parts: vec![condition.clone()],
            whole: condition,
        }
    }

    /// `whole`, counted as the sum of `parts`. The caller guarantees what makes the sum
    /// exact: no row matches two parts, and a row matches some part exactly when it matches
    /// `whole`. With no parts, `whole` is counted as one part.
    pub fn disjoint(whole: Condition, parts: Vec<Condition>) -> Self {
        if parts.is_empty() {
            return Self::whole(whole);
        }
        Self { whole, parts }
    }

    /// The condition that selects the rows (added to the page query).
    pub fn condition(&self) -> &Condition {
        &self.whole
    }

    /// The parts the total is counted from.
    pub fn parts(&self) -> &[Condition] {
        &self.parts
    }
}

/// The page query of one request, and how its total is counted on its own.
struct PagePlan<E: EntityTrait> {
    page: Select<E>,
    total: Total<E>,
}

/// How the total is counted when the page has no row to carry it.
enum Total<E: EntityTrait> {
    /// `COUNT(*)` of the filtered select.
    Filtered(Box<Select<E>>),
    /// A scalar expression: the sum of the parts' counts.
    Sum(SimpleExpr),
}

/// `(SELECT COUNT(*) FROM ... WHERE <select's conditions>)`.
fn count_of<E: EntityTrait>(select: Select<E>) -> SimpleExpr {
    let count = select
        .select_only()
        .expr(Expr::cust("COUNT(*)"))
        .into_query();
    SimpleExpr::SubQuery(None, Box::new(count.into()))
}

fn non_negative(total: i64) -> Result<u64> {
    u64::try_from(total).map_err(|_| Error::internal_msg("a list total was negative"))
}

/// The alias of the total in [`ListSpec::fetch`]'s page query (see [`ListSpec::page_query`]).
pub const TOTAL_COLUMN: &str = "helix_list_total";

/// A row of the page query: the entity's model and the total of all pages.
struct Counted<M> {
    model: M,
    total: i64,
}

impl<M: FromQueryResult> FromQueryResult for Counted<M> {
    fn from_query_result(row: &QueryResult, pre: &str) -> std::result::Result<Self, DbErr> {
        Ok(Self {
            model: M::from_query_result(row, pre)?,
            total: row.try_get(pre, TOTAL_COLUMN)?,
        })
    }
}

fn to_order(d: SortDir) -> Order {
    match d {
        SortDir::Asc => Order::Asc,
        SortDir::Desc => Order::Desc,
    }
}

fn lower<C: ColumnTrait>(col: C) -> SimpleExpr {
    Func::lower(Expr::col(col.as_column_ref())).into()
}

fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn build_condition<C: ColumnTrait>(
    col: C,
    kind: FieldKind,
    op: FilterOp,
    raw: &str,
) -> std::result::Result<Condition, String> {
    let c = match op {
        FilterOp::In => {
            let values = raw
                .split(',')
                .map(|v| kind.value(v.trim()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if values.is_empty() || values.len() > 100 {
                return Err("takes 1 to 100 comma-separated values".into());
            }
            col.is_in(values)
        }
        FilterOp::Contains => lower(col).like(LikeExpr::new(like_pattern(raw)).escape('\\')),
        _ => {
            let v = kind.value(raw)?;
            match op {
                FilterOp::Eq => col.eq(v),
                FilterOp::Ne => col.ne(v),
                FilterOp::Gt => col.gt(v),
                FilterOp::Gte => col.gte(v),
                FilterOp::Lt => col.lt(v),
                _ => col.lte(v),
            }
        }
    };
    Ok(Condition::all().add(c))
}

/// Paging facts of a list response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageMeta {
    /// This page, from 1.
    pub page: u64,
    /// Page size.
    pub limit: u64,
    /// Matching rows in all pages.
    pub total: u64,
    /// Number of pages.
    pub total_pages: u64,
    /// Whether a later page exists.
    pub has_next: bool,
    /// Whether an earlier page exists.
    pub has_prev: bool,
}

/// A page of results: `{"data": [...], "meta": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub data: Vec<T>,
    /// Paging facts.
    pub meta: PageMeta,
}

impl<T> Page<T> {
    /// A page of `data` for query `q` out of `total` rows.
    pub fn new(data: Vec<T>, q: &ListQuery, total: u64) -> Self {
        let limit = q.effective_limit();
        let page = Ord::max(q.page, 1);
        let total_pages = total.div_ceil(limit);
        Self {
            data,
            meta: PageMeta {
                page,
                limit,
                total,
                total_pages,
                has_next: page < total_pages,
                has_prev: page > 1,
            },
        }
    }

    /// Maps the rows, keeping the meta.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            meta: self.meta,
        }
    }
}

#[cfg(feature = "http")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ListQuery {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self> {
        Self::parse(parts.uri.query().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_standard_parameters() {
        let q = ListQuery::parse("page=3&limit=50&sort=name:asc,created_at:desc&filter[role]=admin&filter[created_at.gte]=2026-01-01&search=ac%25me").unwrap();
        assert_eq!(q.page, 3);
        assert_eq!(q.limit, 50);
        assert_eq!(
            q.sort,
            vec![
                ("name".into(), SortDir::Asc),
                ("created_at".into(), SortDir::Desc)
            ]
        );
        assert_eq!(q.filters[1].op, FilterOp::Gte);
        assert_eq!(q.search.as_deref(), Some("ac%me"));
        assert_eq!(q.offset(), 100);
    }

    #[test]
    fn rejects_bad_paging_and_operators_with_details() {
        let err = ListQuery::parse("limit=101&page=0&filter[x.like]=1&sort=a:up").unwrap_err();
        let fields: Vec<_> = err.details().iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["limit", "page", "filter[x.like]", "sort"]);
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_A\\"), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn page_meta() {
        let q = ListQuery {
            page: 2,
            limit: 10,
            ..ListQuery::default()
        };
        let p = Page::new(vec![1], &q, 21);
        assert_eq!(p.meta.total_pages, 3);
        assert!(p.meta.has_next && p.meta.has_prev);
        let empty = Page::<u8>::new(vec![], &ListQuery::default(), 0);
        assert_eq!(empty.meta.total_pages, 0);
        assert!(!empty.meta.has_next && !empty.meta.has_prev);
    }

    #[test]
    fn hand_built_queries_cannot_panic() {
        let q = ListQuery {
            page: 0,
            limit: 0,
            ..ListQuery::default()
        };
        assert_eq!(q.offset(), 0);
        let p = Page::<u8>::new(vec![], &q, 10);
        assert_eq!((p.meta.page, p.meta.limit, p.meta.total_pages), (1, 1, 10));
        let huge = ListQuery {
            page: u64::MAX,
            limit: u64::MAX,
            ..ListQuery::default()
        };
        assert_eq!(huge.effective_limit(), MAX_LIMIT);
        let _ = huge.offset();
    }

    #[test]
    fn kinds_type_values() {
        assert!(FieldKind::Uuid.value("nope").is_err());
        assert!(FieldKind::Timestamp.value("2026-11-22").is_ok());
        assert!(FieldKind::Enum(&["a"]).value("b").is_err());
        assert!(!FieldKind::Bool.allows(FilterOp::Gt));
    }
}
