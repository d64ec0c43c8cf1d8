//! Permission-filtered lists in SQL: the condition a list endpoint adds to its
//! tenant-scoped `Select` so the database returns only the rows the caller may see.
//!
//! [`Engine::list_objects`] answers, completely, which objects of a type a user may act on:
//! all of them (a tenant-scoped grant), every object owned by some teams (team-scoped
//! grants), and objects granted one by one (object-scoped roles and relationships). An
//! [`ObjectFilter`] turns that answer into one SQL condition:
//!
//! | the list                | the condition                                   |
//! |-------------------------|-------------------------------------------------|
//! | `all`                   | none (every row of the tenant)                  |
//! | teams and/or objects    | `team_col IN (teams) OR id_col IN (objects)`    |
//! | nothing                 | `1 = 0` (no row, never "everything")            |
//!
//! The filter goes on the `Select` *before* [`ListSpec::fetch`](helix_core::list::ListSpec::fetch),
//! so sorting, paging and the total are computed by the database over the visible rows
//! only: a page is never "full of holes" and the total is never cut short. Prefer
//! [`ObjectFilter::split_condition`] with
//! [`ListSpec::fetch_split`](helix_core::list::ListSpec::fetch_split), as below: the page
//! is the same, and the total is counted from indexes (see [Counting](#counting)) instead
//! of by reading every row of the tenant.
//!
//! ```no_run
//! # use helix_iam::Engine;
//! # use helix_iam::filter::ObjectFilter;
//! # use helix_core::TenantTx;
//! # use helix_core::list::{ListQuery, ListSpec};
//! # use sea_orm::ConnectionTrait;
//! # mod document {
//! #     use sea_orm::entity::prelude::*;
//! #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
//! #     #[sea_orm(table_name = "documents")]
//! #     pub struct Model {
//! #         #[sea_orm(primary_key, auto_increment = false)]
//! #         pub id: Uuid,
//! #         pub org_id: Uuid,
//! #         pub team_id: Option<Uuid>,
//! #     }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! #     impl ActiveModelBehavior for ActiveModel {}
//! #     impl helix_core::TenantEntity for Entity {
//! #         fn org_column() -> Column { Column::OrgId }
//! #     }
//! # }
//! # async fn list(engine: &Engine, tx: &TenantTx, user: uuid::Uuid, q: &ListQuery,
//! #               spec: &ListSpec<document::Entity>) -> Result<(), Box<dyn std::error::Error>> {
//! let filter = ObjectFilter::for_user(engine, tx.org_id(), user, "docs.documents.read", "document")?;
//! let cond = filter.split_condition(
//!     tx.raw().get_database_backend(),
//!     document::Column::Id,
//!     Some(document::Column::TeamId),
//! )?;
//! // `tx.find` is already `org_id = <tenant>`.
//! let page = spec.fetch_split(q, tx.find::<document::Entity>(), cond, tx.raw()).await?;
//! # Ok(()) }
//! ```
//!
//! ## Counting
//!
//! Every list answer carries its exact `total`. A database cannot count
//! `team_col IN (teams) OR id_col IN (objects)` from one index: PostgreSQL reads every row
//! of the tenant (a sequential scan, or a bitmap of both sides and then the table).
//! [`ObjectFilter::split_condition`] gives the same rows with a second form for the count,
//! two disjoint parts that [`ListSpec::fetch_split`](helix_core::list::ListSpec::fetch_split)
//! counts one by one and adds up, in the same single statement as the page:
//!
//! | part | rows | read from |
//! |------|------|-----------|
//! | 1 | `team_col IN (teams)` | the index on `(org_id, team_col)`, without the table (an index-only scan once the table is vacuumed) |
//! | 2 | `id_col IN (objects) AND (team_col IS NULL OR NOT team_col IN (teams))` | one lookup per granted object in the primary key `(org_id, id_col)` |
//!
//! An object granted one by one that also belongs to a visible team is in part 1 only, an
//! id that names no row of the tenant is in neither, so the sum is exact. With one set only
//! (or `all`, or nothing) the condition is counted as it is. Part 2 costs one index lookup
//! per granted object: thousands of individually granted objects cost milliseconds.
//!
//! ## Indexes a product table needs
//!
//! Every index starts with `org_id` (the tenant condition comes first):
//! - the primary key (or a unique index) on `(org_id, id_col)`: the lookups of part 2;
//! - `(org_id, team_col)` when rows belong to teams: part 1;
//! - one index per sort order the endpoint offers, such as `(org_id, title, id_col)`, so
//!   the first page is an index walk that stops after `limit` visible rows.
//!
//! Without them each count reads the whole tenant, and the list gets slower as it grows.
//!
//! ## Large sets
//!
//! However many objects are granted, the condition uses at most one bind parameter per
//! set, so PostgreSQL's limit of 65,535 parameters (and SQLite's 32,766) cannot be hit:
//! - PostgreSQL: one array parameter (`uuid[]` or `text[]`): `team_col = ANY($1)` for
//!   teams; for objects, `id_col IN (SELECT unnest($2::uuid[]))` in the condition, which
//!   PostgreSQL hashes once per statement in every plan (a filter `id_col = ANY($2)` is
//!   searched linearly for each row in the generic plan of a prepared statement, and sqlx
//!   prepares every statement), and `id_col = ANY($2)`, an index condition, in the count
//!   (see [Counting](#counting)). The hashed form needs the set to fit in PostgreSQL's
//!   hash memory (`work_mem` × `hash_mem_multiplier`, 8 MB by default: about 200,000
//!   ids) when the plan is made for the set's value;
//! - SQLite: `id_col IN (SELECT value FROM json_each(?1))` with one JSON text parameter
//!   (for UUID columns, stored as 16-byte blobs, `unhex(value)` of simple-hex strings;
//!   `unhex` needs SQLite 3.41 or later, which the bundled SQLite is).
//!
//! ## Id columns
//!
//! Object ids in tuples and assignments are strings. The entity's id column may be text
//! (`String`; ids compare as written) or a UUID. For a UUID column, only ids in the
//! canonical lowercase hyphenated form (`Uuid::to_string`) are kept: that is the form
//! [`Engine::check`] is given for such an object, so the list shows exactly what `check`
//! allows; any other id cannot name a row of that table and is dropped. The kind is read
//! from the column's declared type; a column of another type is a
//! [`FilterError::UnsupportedColumn`]. The team column must be a UUID column.

use helix_core::list::SplitCondition;
use sea_orm::sea_query::{ColumnType, Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, Select, Value};
use uuid::Uuid;

use crate::engine::{Engine, EngineError, ObjectList};

/// The condition could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The column's declared type is not one the filter can compare ids with.
    #[error("column `{column}` has type {column_type}; expected {expected}")]
    UnsupportedColumn {
        /// The column name.
        column: String,
        /// Its declared type.
        column_type: String,
        /// What the filter needs there.
        expected: &'static str,
    },
    /// The database backend is not supported (only SQLite and PostgreSQL are).
    #[error("permission filters are not supported on the {backend} backend")]
    UnsupportedBackend {
        /// The backend.
        backend: &'static str,
    },
}

impl FilterError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedColumn { .. } => "unsupported_filter_column",
            Self::UnsupportedBackend { .. } => "unsupported_filter_backend",
        }
    }
}

/// How the entity's id column stores object ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    Text,
    Uuid,
}

/// Which rows of one object type a user may see, ready to become a SQL condition. See
/// the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFilter {
    all: bool,
    teams: Vec<Uuid>,
    ids: Vec<String>,
}

impl ObjectFilter {
    /// The filter for `list`, keeping only its objects of `object_type` (a list from
    /// [`Engine::list_objects`] holds no others).
    pub fn new(list: ObjectList, object_type: &str) -> Self {
        let mut ids: Vec<String> = list
            .objects
            .into_iter()
            .filter(|o| o.kind == object_type)
            .map(|o| o.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut teams = list.teams;
        teams.sort_unstable();
        teams.dedup();
        Self {
            all: list.all,
            teams,
            ids,
        }
    }

    /// The filter of the objects of `object_type` on which `user` holds `permission` (or
    /// a relation of the type) in organization `org_id`: [`Engine::list_objects`] then
    /// [`ObjectFilter::new`].
    pub fn for_user(
        engine: &Engine,
        org_id: Uuid,
        user: Uuid,
        permission: &str,
        object_type: &str,
    ) -> Result<Self, EngineError> {
        let list = engine.list_objects(org_id, user, permission, object_type)?;
        Ok(Self::new(list, object_type))
    }

    /// Whether every object of the tenant is visible (no condition is added).
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether no object is visible (the condition matches no row).
    pub fn is_empty(&self) -> bool {
        !self.all && self.teams.is_empty() && self.ids.is_empty()
    }

    /// Teams whose objects are visible (sorted).
    pub fn teams(&self) -> &[Uuid] {
        &self.teams
    }

    /// Object ids granted one by one (sorted).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The condition on `id_col` (the object id) and `team_col` (the owning team; `None`
    /// when the objects belong to no team, so team-scoped grants do not reach them, as in
    /// [`Engine::check`]). Add it to a tenant-scoped `Select`: it does not filter by
    /// organization itself.
    pub fn condition<C: ColumnTrait>(
        &self,
        backend: DbBackend,
        id_col: C,
        team_col: Option<C>,
    ) -> Result<Condition, FilterError> {
        Ok(self.terms(backend, id_col, team_col)?.condition())
    }

    /// [`condition`](Self::condition), with the form its rows are counted in, for
    /// [`ListSpec::fetch_split`](helix_core::list::ListSpec::fetch_split). When both teams
    /// and individually granted objects are visible, the total is the sum of two disjoint
    /// counts, each served by an index:
    ///
    /// - `team_col IN (teams)`, from the index on `(org_id, team_col)`;
    /// - `id_col IN (objects) AND (team_col IS NULL OR NOT team_col IN (teams))`, one
    ///   primary-key lookup on `(org_id, id_col)` per granted object: an object that is
    ///   also in a visible team is counted once, and an id that names no row not at all.
    ///
    /// Otherwise the condition is counted as it is (one set, all, or nothing). Each set is
    /// one bind parameter wherever it appears, so large sets stay within the parameter
    /// limits.
    pub fn split_condition<C: ColumnTrait>(
        &self,
        backend: DbBackend,
        id_col: C,
        team_col: Option<C>,
    ) -> Result<SplitCondition, FilterError> {
        let terms = self.terms(backend, id_col, team_col)?;
        let whole = terms.condition();
        Ok(match terms {
            Terms {
                all: false,
                teams: Some((team_col, in_teams)),
                ids: Some((_, in_ids)),
            } => {
                let outside = Condition::any()
                    .add(Expr::col(team_col.as_column_ref()).is_null())
                    .add(Condition::all().add(in_teams.clone()).not());
                SplitCondition::disjoint(
                    whole,
                    vec![
                        Condition::all().add(in_teams),
                        Condition::all().add(in_ids).add(outside),
                    ],
                )
            }
            _ => SplitCondition::whole(whole),
        })
    }

    /// The membership tests of the condition, after checking the columns and the backend.
    fn terms<C: ColumnTrait>(
        &self,
        backend: DbBackend,
        id_col: C,
        team_col: Option<C>,
    ) -> Result<Terms<C>, FilterError> {
        let id_kind = id_kind(&id_col)?;
        if let Some(team) = &team_col
            && column_kind(team) != ColumnKind::Uuid
        {
            return Err(unsupported(team, "a UUID column"));
        }
        let dialect = Dialect::of(backend)?;
        if self.all {
            return Ok(Terms {
                all: true,
                teams: None,
                ids: None,
            });
        }
        let teams = team_col
            .filter(|_| !self.teams.is_empty())
            .map(|team| (team, dialect.member_of_uuids(team, &self.teams)));
        let ids = match id_kind {
            IdKind::Text => IdSet::Text(&self.ids),
            IdKind::Uuid => {
                IdSet::Uuid(self.ids.iter().filter_map(|s| canonical_uuid(s)).collect())
            }
        };
        let ids = (!ids.is_empty()).then(|| {
            (
                dialect.member_of(id_col, ids.clone(), PgForm::Unnest),
                dialect.member_of(id_col, ids, PgForm::Any),
            )
        });
        Ok(Terms {
            all: false,
            teams,
            ids,
        })
    }

    /// `select` with [`condition`](Self::condition) added (unchanged when everything is
    /// visible; the columns are still checked).
    pub fn apply<E: EntityTrait>(
        &self,
        select: Select<E>,
        backend: DbBackend,
        id_col: E::Column,
        team_col: Option<E::Column>,
    ) -> Result<Select<E>, FilterError> {
        let cond = self.condition(backend, id_col, team_col)?;
        if self.all {
            return Ok(select);
        }
        Ok(select.filter(cond))
    }
}

/// The membership tests a filter is made of.
struct Terms<C> {
    /// Every row of the tenant (the sets are then `None`).
    all: bool,
    /// Rows of the visible teams: the team column and its test.
    teams: Option<(C, Expr)>,
    /// Rows granted one by one: the test for a filter, then the test for an index lookup
    /// (see [`PgForm`]).
    ids: Option<(Expr, Expr)>,
}

impl<C> Terms<C> {
    /// `teams OR ids`; no condition for all; `1 = 0` when neither applies.
    fn condition(&self) -> Condition {
        if self.all {
            return Condition::all();
        }
        let mut any = Condition::any();
        if let Some((_, in_teams)) = &self.teams {
            any = any.add(in_teams.clone());
        }
        if let Some((in_ids, _)) = &self.ids {
            any = any.add(in_ids.clone());
        }
        if self.teams.is_none() && self.ids.is_none() {
            return Condition::all().add(Expr::cust("1 = 0"));
        }
        any
    }
}

/// What a column's declared type lets the filter compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Uuid,
    Text,
    Other,
}

fn column_kind<C: ColumnTrait>(col: &C) -> ColumnKind {
    match col.def().get_column_type() {
        ColumnType::Uuid => ColumnKind::Uuid,
        ColumnType::Text | ColumnType::String(_) | ColumnType::Char(_) => ColumnKind::Text,
        _ => ColumnKind::Other,
    }
}

fn unsupported<C: ColumnTrait>(col: &C, expected: &'static str) -> FilterError {
    FilterError::UnsupportedColumn {
        column: col.as_str().to_owned(),
        column_type: format!("{:?}", col.def().get_column_type()),
        expected,
    }
}

fn id_kind<C: ColumnTrait>(col: &C) -> Result<IdKind, FilterError> {
    match column_kind(col) {
        ColumnKind::Uuid => Ok(IdKind::Uuid),
        ColumnKind::Text => Ok(IdKind::Text),
        ColumnKind::Other => Err(unsupported(col, "a text or UUID column")),
    }
}

/// `s` as a UUID when it is written the way `Uuid::to_string` writes it.
fn canonical_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok().filter(|u| u.to_string() == s)
}

#[derive(Clone)]
enum IdSet<'a> {
    Text(&'a [String]),
    Uuid(Vec<Uuid>),
}

impl IdSet<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Self::Text(v) => v.is_empty(),
            Self::Uuid(v) => v.is_empty(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Dialect {
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

impl Dialect {
    fn of(backend: DbBackend) -> Result<Self, FilterError> {
        match backend {
            DbBackend::Sqlite => Ok(Self::Sqlite),
            #[cfg(feature = "postgres")]
            DbBackend::Postgres => Ok(Self::Postgres),
            #[cfg(not(feature = "postgres"))]
            DbBackend::Postgres => Err(FilterError::UnsupportedBackend {
                backend: "PostgreSQL (helix-iam built without its `postgres` feature)",
            }),
            _ => Err(FilterError::UnsupportedBackend { backend: "MySQL" }),
        }
    }

    /// `col` is one of the teams `set` (`= ANY` on PostgreSQL: a short list, and an index
    /// condition on `(org_id, col)`).
    fn member_of_uuids<C: ColumnTrait>(self, col: C, set: &[Uuid]) -> Expr {
        self.member_of(col, IdSet::Uuid(set.to_vec()), PgForm::Any)
    }

    /// `col` is one of `set`, with one bind parameter whatever the size of `set`. The
    /// templates use sea-query's placeholder of the backend: `$n` (numbered) on
    /// PostgreSQL, `?` (in order) on SQLite.
    fn member_of<C: ColumnTrait>(self, col: C, set: IdSet<'_>, form: PgForm) -> Expr {
        let column = Expr::col(col.as_column_ref());
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                let (array, template) = match (set, form) {
                    (IdSet::Text(ids), PgForm::Any) => (Value::from(ids.to_vec()), "$1 = ANY($2)"),
                    (IdSet::Uuid(ids), PgForm::Any) => (Value::from(ids), "$1 = ANY($2)"),
                    (IdSet::Text(ids), PgForm::Unnest) => (
                        Value::from(ids.to_vec()),
                        "$1 IN (SELECT unnest($2::text[]))",
                    ),
                    (IdSet::Uuid(ids), PgForm::Unnest) => {
                        (Value::from(ids), "$1 IN (SELECT unnest($2::uuid[]))")
                    }
                };
                Expr::cust_with_exprs(template, [column, Expr::val(array)])
            }
            Self::Sqlite => {
                // SQLite has one form: `json_each` is a subquery, probed or scanned.
                let _ = form;
                let (json, template) = match set {
                    IdSet::Text(ids) => (
                        json_array(ids.iter().map(String::as_str)),
                        "? IN (SELECT value FROM json_each(?))",
                    ),
                    IdSet::Uuid(ids) => {
                        let hex: Vec<String> = ids.iter().map(|u| u.simple().to_string()).collect();
                        (
                            json_array(hex.iter().map(String::as_str)),
                            "? IN (SELECT unhex(value) FROM json_each(?))",
                        )
                    }
                };
                Expr::cust_with_exprs(template, [column, Expr::val(Value::from(json))])
            }
        }
    }
}

/// How PostgreSQL tests membership in a bound array (SQLite always reads `json_each`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgForm {
    /// `col = ANY($1)`: an index condition (one index lookup per element) when `col` leads
    /// an index after `org_id`. As a plain filter, it is hashed only in a plan made for the
    /// array's value; the generic plan of a prepared statement (which sqlx prepares and
    /// PostgreSQL may switch to from the sixth run) searches the array linearly per row.
    Any,
    /// `col IN (SELECT unnest($1))`: as a filter, a hashed subplan in every plan (the
    /// array is hashed once per statement); inside `AND`, a semi-join.
    Unnest,
}

/// A JSON array of strings.
fn json_array<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let values: Vec<serde_json::Value> = items
        .map(|s| serde_json::Value::String(s.to_owned()))
        .collect();
    serde_json::Value::Array(values).to_string()
}

#[cfg(test)]
mod tests {
    use sea_orm::entity::prelude::*;
    use sea_orm::{QueryTrait, Statement};

    use super::*;
    use crate::model::ObjectRef;

    mod doc {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "docs")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            pub org_id: Uuid,
            pub team_id: Option<Uuid>,
            pub slug: String,
            pub size: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    fn sql(f: &ObjectFilter, backend: DbBackend, id: doc::Column) -> Statement {
        f.apply(doc::Entity::find(), backend, id, Some(doc::Column::TeamId))
            .unwrap()
            .build(backend)
    }

    fn list(all: bool, teams: Vec<Uuid>, objects: Vec<ObjectRef>) -> ObjectList {
        ObjectList {
            all,
            teams,
            objects,
        }
    }

    #[test]
    fn all_adds_nothing_and_empty_matches_nothing() {
        let all = ObjectFilter::new(list(true, vec![], vec![]), "document");
        assert!(all.is_all());
        let s = sql(&all, DbBackend::Postgres, doc::Column::Id);
        assert!(!s.sql.contains("WHERE"), "{}", s.sql);

        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let none = ObjectFilter::new(list(false, vec![], vec![]), "document");
            assert!(none.is_empty());
            assert!(sql(&none, backend, doc::Column::Id).sql.contains("1 = 0"));
        }
        // Objects of another type, and ids that cannot name a UUID row, are dropped.
        let other = ObjectFilter::new(
            list(false, vec![], vec![ObjectRef::new("folder", "x")]),
            "document",
        );
        assert!(other.is_empty());
        let upper = Uuid::now_v7().to_string().to_uppercase();
        let bad = ObjectFilter::new(
            list(false, vec![], vec![ObjectRef::new("document", upper)]),
            "document",
        );
        assert!(!bad.is_empty());
        assert!(
            sql(&bad, DbBackend::Postgres, doc::Column::Id)
                .sql
                .contains("1 = 0")
        );
    }

    #[test]
    fn large_sets_take_one_parameter() {
        let ids: Vec<ObjectRef> = (0..70_000u128)
            .map(|i| ObjectRef::new("document", Uuid::from_u128(i).to_string()))
            .collect();
        let teams = vec![Uuid::now_v7(), Uuid::now_v7()];
        let f = ObjectFilter::new(list(false, teams, ids), "document");
        let pg = sql(&f, DbBackend::Postgres, doc::Column::Id);
        assert!(
            pg.sql.contains(r#""docs"."team_id" = ANY($1)"#),
            "{}",
            pg.sql
        );
        assert!(
            pg.sql
                .contains(r#""docs"."id" IN (SELECT unnest($2::uuid[]))"#),
            "{}",
            pg.sql
        );
        assert_eq!(pg.values.map(|v| v.0.len()), Some(2));
        let lite = sql(&f, DbBackend::Sqlite, doc::Column::Id);
        assert!(
            lite.sql
                .contains(r#""docs"."id" IN (SELECT unhex(value) FROM json_each(?))"#),
            "{}",
            lite.sql
        );
        assert_eq!(lite.values.map(|v| v.0.len()), Some(2));
        let text = sql(&f, DbBackend::Sqlite, doc::Column::Slug);
        assert!(text.sql.contains("SELECT value FROM json_each(?)"));
    }

    #[test]
    fn columns_of_other_types_are_refused() {
        let f = ObjectFilter::new(list(false, vec![], vec![]), "document");
        let e = f
            .condition(DbBackend::Sqlite, doc::Column::Size, None)
            .unwrap_err();
        assert_eq!(e.code(), "unsupported_filter_column");
        let e = f
            .condition(DbBackend::Sqlite, doc::Column::Id, Some(doc::Column::Slug))
            .unwrap_err();
        assert_eq!(e.code(), "unsupported_filter_column");
        let e = f
            .condition(DbBackend::MySql, doc::Column::Id, None)
            .unwrap_err();
        assert_eq!(e.code(), "unsupported_filter_backend");
    }

    #[test]
    fn counts_split_teams_from_the_other_objects() {
        let ids = vec![ObjectRef::new("document", Uuid::now_v7().to_string())];
        let teams = vec![Uuid::now_v7(), Uuid::now_v7()];
        let both = ObjectFilter::new(list(false, teams.clone(), ids.clone()), "document");
        let sql = |c: &Condition, backend| doc::Entity::find().filter(c.clone()).build(backend);
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let split = both
                .split_condition(backend, doc::Column::Id, Some(doc::Column::TeamId))
                .unwrap();
            let whole = both
                .condition(backend, doc::Column::Id, Some(doc::Column::TeamId))
                .unwrap();
            assert_eq!(
                sql(split.condition(), backend).sql,
                sql(&whole, backend).sql
            );
            let [teams_part, others] = split.parts() else {
                panic!("two parts: {:?}", split.parts());
            };
            let teams_part = sql(teams_part, backend);
            let (_, teams_where) = teams_part.sql.split_once("WHERE").unwrap();
            assert!(
                !teams_where.contains(r#""docs"."id""#),
                "{}",
                teams_part.sql
            );
            assert_eq!(teams_part.values.map(|v| v.0.len()), Some(1));
            // Objects outside the teams: the team set appears again, still one parameter.
            let others = sql(others, backend);
            assert!(
                others.sql.contains(r#""docs"."team_id" IS NULL OR (NOT"#),
                "{}",
                others.sql
            );
            assert_eq!(others.values.map(|v| v.0.len()), Some(2));
            if backend == DbBackend::Postgres {
                assert!(
                    teams_part.sql.contains(r#""docs"."team_id" = ANY($1)"#),
                    "{}",
                    teams_part.sql
                );
                assert!(
                    others.sql.contains(r#""docs"."id" = ANY($1)"#),
                    "{}",
                    others.sql
                );
            }
        }
        // One set, everything, nothing, or no team column: counted as the condition.
        let one_part = [
            (list(false, teams.clone(), vec![]), true),
            (list(false, vec![], ids.clone()), true),
            (list(true, teams.clone(), ids.clone()), true),
            (list(false, vec![], vec![]), true),
            (list(false, teams, ids), false),
        ];
        for (l, with_team) in one_part {
            let f = ObjectFilter::new(l, "document");
            let team = with_team.then_some(doc::Column::TeamId);
            let split = f
                .split_condition(DbBackend::Postgres, doc::Column::Id, team)
                .unwrap();
            assert_eq!(split.parts().len(), 1, "{f:?}");
        }
        // The columns are checked as for `condition`.
        let e = both
            .split_condition(DbBackend::Sqlite, doc::Column::Size, None)
            .unwrap_err();
        assert_eq!(e.code(), "unsupported_filter_column");
    }

    #[test]
    fn json_arrays_escape() {
        assert_eq!(json_array(["a\"b", "c\\"].into_iter()), r#"["a\"b","c\\"]"#);
    }
}
