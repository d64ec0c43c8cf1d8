//! The first page of a permission-filtered list over 100,000 objects: `list_objects`, then
//! the tenant-scoped `Select` with the `ObjectFilter` condition, counted and paged in one
//! statement (limit 25, sorted by title), on a fresh PostgreSQL database and on SQLite.
//! Prints p50/p95/p99 per case for `ListSpec::fetch_split` with
//! `ObjectFilter::split_condition` (the total summed from disjoint counts that use indexes)
//! and for the former way, `ListSpec::fetch` with `ObjectFilter::apply` (one `COUNT(*)` over
//! the `OR` condition), alternating request by request so both see the same load.
//!
//! `cargo bench -p helix-iam --bench list_filter` (PostgreSQL at `HELIX_TEST_PG_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`; the PostgreSQL half is skipped
//! when it is unreachable). `-- --iterations N` changes the sample count (default 300).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: setup failures abort it

use std::time::{Duration, Instant};

use helix_core::db::Backend;
use helix_core::list::{FieldKind, ListQuery, ListSpec, SortDir};
use helix_core::testing::TestDb;
use helix_core::{Actor, DeclaredPermission, Helix, PermissionDef, TenantContext};
use helix_iam::filter::ObjectFilter;
use helix_iam::model::{
    AssignmentRecord, AssignmentSource, ObjectRef, Revision, RoleRecord, Scope, Subject,
    TenantSnapshot, Tuple,
};
use helix_iam::{Engine, EngineConfig, IamModule};
use helix_tenancy::TenancyModule;
use sea_orm::{ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

mod doc {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub team_id: Option<Uuid>,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl helix_core::TenantEntity for Entity {
        fn org_column() -> Column {
            Column::OrgId
        }
    }
}

const READ: &str = "docs.documents.read";
/// Objects in the caller's organization.
const OBJECTS: usize = 100_000;
/// Objects in each of the other organizations.
const OTHER_OBJECTS: usize = 10_000;
const OTHER_ORGS: usize = 2;
/// Teams of the organization; objects belong to them in turn (every 10th to none).
const TEAMS: usize = 10;
/// Team-scoped grants of the caller (each team owns 9% of the objects).
const GRANTED_TEAMS: usize = 2;
/// Object-level tuples of the caller, on objects outside the granted teams.
const TUPLES: usize = 5_000;

const SQLITE_TABLE: &str = "
CREATE TABLE bench_documents (
    org_id BLOB NOT NULL, id BLOB NOT NULL, team_id BLOB, title TEXT NOT NULL,
    PRIMARY KEY (org_id, id));
CREATE INDEX bench_documents_team ON bench_documents (org_id, team_id);
CREATE INDEX bench_documents_title ON bench_documents (org_id, title, id);
";

const POSTGRES_TABLE: &str = "
CREATE TABLE bench_documents (
    org_id uuid NOT NULL, id uuid NOT NULL, team_id uuid, title text NOT NULL,
    PRIMARY KEY (org_id, id));
CREATE INDEX bench_documents_team ON bench_documents (org_id, team_id);
CREATE INDEX bench_documents_title ON bench_documents (org_id, title, id);
ALTER TABLE bench_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench_documents FORCE ROW LEVEL SECURITY;
CREATE POLICY helix_tenant_isolation ON bench_documents FOR ALL TO helix_app
  USING (org_id = nullif(current_setting('helix.org_id', true), '')::uuid);
GRANT SELECT ON bench_documents TO helix_app;
";

fn engine() -> Engine {
    const DEFS: &[PermissionDef] = &[PermissionDef {
        name: READ,
        description: "",
        default_roles: &["admin"],
    }];
    const SCHEMA: &str = "
type document {
  relation viewer: user | team#member
  permission view = viewer
  bind docs.documents.read = view
}
";
    let declared: Vec<DeclaredPermission> = DEFS
        .iter()
        .map(|def| DeclaredPermission {
            module: "docs",
            def: *def,
        })
        .collect();
    Engine::build(&declared, &[("docs", SCHEMA)], EngineConfig::default()).unwrap()
}

struct Seed {
    org: Uuid,
    /// Team grants and tuples.
    caller: Uuid,
    /// A tenant-scoped role: everything visible.
    admin: Uuid,
    visible: u64,
}

fn doc_id(i: usize) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | (i as u128 * 7919))
}

async fn seed(t: &TestDb, engine: &Engine) -> Seed {
    Helix::builder(t.db.clone())
        .module(TenancyModule)
        .module(IamModule)
        .build()
        .await
        .expect("migrations");
    let conn = t.db.connection();
    conn.execute_unprepared(match t.db.backend() {
        Backend::Sqlite => SQLITE_TABLE,
        Backend::Postgres => POSTGRES_TABLE,
    })
    .await
    .unwrap();
    let org = Uuid::now_v7();
    let teams: Vec<Uuid> = (0..TEAMS).map(|_| Uuid::now_v7()).collect();
    let team_of = |i: usize| (i % (TEAMS + 1) < TEAMS).then(|| teams[i % (TEAMS + 1)]);
    let mut rows = Vec::with_capacity(OBJECTS + OTHER_ORGS * OTHER_OBJECTS);
    for i in 0..OBJECTS {
        rows.push(doc::ActiveModel {
            id: Set(doc_id(i)),
            org_id: Set(org),
            team_id: Set(team_of(i)),
            title: Set(format!("document {:06}", (i * 7_919) % OBJECTS)),
        });
    }
    for o in 0..OTHER_ORGS {
        let other = Uuid::now_v7();
        for i in 0..OTHER_OBJECTS {
            rows.push(doc::ActiveModel {
                id: Set(doc_id(OBJECTS + o * OTHER_OBJECTS + i)),
                org_id: Set(other),
                team_id: Set(None),
                title: Set(format!("document {i:06}")),
            });
        }
    }
    let tx = sea_orm::TransactionTrait::begin(conn).await.unwrap();
    for chunk in rows.chunks(4_000) {
        doc::Entity::insert_many(chunk.to_vec())
            .exec(&tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    if t.db.backend() == Backend::Postgres {
        conn.execute_unprepared("VACUUM ANALYZE bench_documents")
            .await
            .unwrap();
    } else {
        conn.execute_unprepared("ANALYZE").await.unwrap();
    }

    let caller = Uuid::now_v7();
    let admin = Uuid::now_v7();
    let role = Uuid::now_v7();
    let mut assignments: Vec<AssignmentRecord> = teams[..GRANTED_TEAMS]
        .iter()
        .map(|team| AssignmentRecord {
            id: Uuid::now_v7(),
            subject: Subject::user(caller),
            role_id: role,
            scope: Scope::Team { id: *team },
            source: AssignmentSource::Explicit,
        })
        .collect();
    assignments.push(AssignmentRecord {
        id: Uuid::now_v7(),
        subject: Subject::user(admin),
        role_id: role,
        scope: Scope::Tenant,
        source: AssignmentSource::Explicit,
    });
    let granted_team = |i: usize| team_of(i).is_some_and(|t| teams[..GRANTED_TEAMS].contains(&t));
    let mut tuples = Vec::with_capacity(TUPLES);
    let mut visible = (0..OBJECTS).filter(|i| granted_team(*i)).count();
    let mut i = 0;
    while tuples.len() < TUPLES {
        if !granted_team(i) {
            tuples.push(Tuple::new(
                ObjectRef::new("document", doc_id(i).to_string()),
                "viewer",
                Subject::user(caller),
            ));
            visible += 1;
        }
        i += 13;
    }
    let snapshot = TenantSnapshot {
        org_id: org,
        revision: Revision(1),
        roles: vec![RoleRecord {
            id: role,
            key: "doc_reader".into(),
            name: "Document reader".into(),
            builtin: false,
            permissions: vec![READ.into()],
        }],
        assignments,
        tuples,
    };
    engine.load(&snapshot).unwrap();
    Seed {
        org,
        caller,
        admin,
        visible: visible as u64,
    }
}

/// How the page and its total are fetched (both in one statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// `ObjectFilter::split_condition` and `ListSpec::fetch_split`: the total is the sum of
    /// the disjoint counts (team index, then primary-key lookups).
    Split,
    /// The former way, kept here as the baseline: the former condition (see
    /// [`former_condition`]) and `ListSpec::fetch`, whose total counts it as a whole.
    Whole,
}

/// The condition `ObjectFilter` built before its count was split (none when everything is
/// visible): on PostgreSQL `team_id = ANY($1) OR id = ANY($2)` (objects are now
/// `id IN (SELECT unnest($2::uuid[]))`); on SQLite it has not changed.
fn former_condition(filter: &ObjectFilter, backend: sea_orm::DbBackend) -> sea_orm::Condition {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, Condition, Value};
    if filter.is_all() {
        return Condition::all();
    }
    if backend != sea_orm::DbBackend::Postgres {
        return filter
            .condition(backend, doc::Column::Id, Some(doc::Column::TeamId))
            .unwrap();
    }
    let any = |col: doc::Column, set: Vec<Uuid>| {
        Expr::cust_with_exprs(
            "$1 = ANY($2)",
            [Expr::col(col.as_column_ref()), Expr::val(Value::from(set))],
        )
    };
    let ids = filter.ids().iter().map(|s| s.parse().unwrap()).collect();
    Condition::any()
        .add(any(doc::Column::TeamId, filter.teams().to_vec()))
        .add(any(doc::Column::Id, ids))
}

/// One request: list_objects, then the first page with its total in a read-only tenant
/// transaction.
async fn first_page(t: &TestDb, engine: &Engine, seed: &Seed, user: Uuid, how: Fetch) -> u64 {
    let spec = ListSpec::<doc::Entity>::new()
        .field("title", doc::Column::Title, FieldKind::Text)
        .default_sort(doc::Column::Title, SortDir::Asc)
        .tiebreak(doc::Column::Id);
    let ctx = TenantContext::new(seed.org, Actor::User(user));
    let filter = ObjectFilter::for_user(engine, seed.org, user, READ, "document").unwrap();
    let tx = t.db.tenant_read(&ctx).await.unwrap();
    let backend = tx.raw().get_database_backend();
    let q = ListQuery::default();
    let page = match how {
        Fetch::Split => {
            let cond = filter
                .split_condition(backend, doc::Column::Id, Some(doc::Column::TeamId))
                .unwrap();
            spec.fetch_split(&q, tx.find::<doc::Entity>(), cond, tx.raw())
                .await
                .unwrap()
        }
        Fetch::Whole => {
            let select = tx
                .find::<doc::Entity>()
                .filter(former_condition(&filter, backend));
            spec.fetch(&q, select, tx.raw()).await.unwrap()
        }
    };
    tx.commit().await.unwrap();
    assert_eq!(page.data.len(), 25);
    page.meta.total
}

/// Prints the plans of the count and page queries and of the one statement of
/// `ListSpec::fetch` (the former way) and of `ListSpec::fetch_split` (`-- --explain`), and
/// the time of `list_objects` alone. On PostgreSQL each statement is explained twice: with
/// its parameters' values known to the planner (a custom plan, what the first five runs of
/// a prepared statement use), and as the generic plan that a prepared statement may switch
/// to from its sixth run (sqlx prepares and caches every statement per connection).
async fn explain(t: &TestDb, engine: &Engine, seed: &Seed, user: Uuid) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{QueryOrder, QuerySelect, QueryTrait, Statement};
    let start = Instant::now();
    let filter = ObjectFilter::for_user(engine, seed.org, user, READ, "document").unwrap();
    println!("list_objects + filter: {:?}", start.elapsed());
    let ctx = TenantContext::new(seed.org, Actor::User(user));
    let tx = t.db.tenant_read(&ctx).await.unwrap();
    let backend = tx.raw().get_database_backend();
    let select = tx
        .find::<doc::Entity>()
        .filter(former_condition(&filter, backend));
    let split = filter
        .split_condition(backend, doc::Column::Id, Some(doc::Column::TeamId))
        .unwrap();
    let spec = ListSpec::<doc::Entity>::new()
        .field("title", doc::Column::Title, FieldKind::Text)
        .default_sort(doc::Column::Title, SortDir::Asc)
        .tiebreak(doc::Column::Id);
    let count = |select: sea_orm::Select<doc::Entity>| {
        select
            .select_only()
            .column_as(Expr::cust("COUNT(*)"), "n")
            .build(backend)
    };
    let now = filter
        .apply(
            tx.find::<doc::Entity>(),
            backend,
            doc::Column::Id,
            Some(doc::Column::TeamId),
        )
        .unwrap();
    let mut statements = vec![(
        "the count of the former OR condition",
        count(select.clone()),
    )];
    for (i, part) in split.parts().iter().enumerate() {
        let part = tx.find::<doc::Entity>().filter(part.clone());
        statements.push((
            ["the count of part 1", "the count of part 2"][i.min(1)],
            count(part),
        ));
    }
    for (what, select) in [
        ("the page alone, former condition", select.clone()),
        ("the page alone, condition now", now),
    ] {
        statements.push((
            what,
            select
                .order_by_asc(doc::Column::Title)
                .order_by_asc(doc::Column::Id)
                .limit(25)
                .build(backend),
        ));
    }
    statements.push((
        "ListSpec::fetch, former condition (before: page + count of the OR)",
        spec.page_query(&ListQuery::default(), select)
            .unwrap()
            .build(backend),
    ));
    statements.push((
        "ListSpec::fetch_split (page + sum of the parts' counts)",
        spec.page_query_split(&ListQuery::default(), tx.find::<doc::Entity>(), split)
            .unwrap()
            .build(backend),
    ));
    let print = async |sql: String, values: Vec<sea_orm::Value>| {
        let explained = Statement::from_sql_and_values(backend, sql, values);
        for row in tx.raw().query_all_raw(explained).await.unwrap() {
            let line: String = row
                .try_get_by_index(0)
                .or_else(|_| row.try_get_by_index::<String>(3))
                .unwrap_or_default();
            let cut: String = line.chars().take(160).collect();
            println!("    {cut}");
        }
    };
    for (what, stmt) in statements {
        let values = stmt.values.map(|v| v.0).unwrap_or_default();
        if backend != sea_orm::DbBackend::Postgres {
            println!("  {what}:");
            print(format!("EXPLAIN QUERY PLAN {}", stmt.sql), values).await;
            continue;
        }
        println!("  {what}, custom plan:");
        print(
            format!("EXPLAIN (ANALYZE, BUFFERS) {}", stmt.sql),
            values.clone(),
        )
        .await;
        println!("  {what}, generic plan:");
        for sql in [
            format!("PREPARE helix_bench_explain AS {}", stmt.sql),
            "SET LOCAL plan_cache_mode = force_generic_plan".to_owned(),
        ] {
            tx.raw().execute_unprepared(&sql).await.unwrap();
        }
        // `EXECUTE` takes no bind parameters: its arguments are literals.
        let args: Vec<String> = values.iter().map(pg_literal).collect();
        print(
            format!(
                "EXPLAIN (ANALYZE, BUFFERS) EXECUTE helix_bench_explain({})",
                args.join(", ")
            ),
            Vec::new(),
        )
        .await;
        for sql in [
            "DEALLOCATE helix_bench_explain",
            "SET LOCAL plan_cache_mode = auto",
        ] {
            tx.raw().execute_unprepared(sql).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// `v` as a PostgreSQL literal of unknown type (an array as `'{a,b}'`), which `EXECUTE`
/// converts to the prepared statement's parameter type.
fn pg_literal(v: &sea_orm::Value) -> String {
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
    match v {
        sea_orm::Value::Array(_, Some(items)) => {
            let inner: Vec<String> = items
                .iter()
                .map(|i| {
                    PostgresQueryBuilder
                        .value_to_string(i)
                        .trim_matches('\'')
                        .to_owned()
                })
                .collect();
            format!("'{{{}}}'", inner.join(","))
        }
        _ => PostgresQueryBuilder.value_to_string(v),
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// Samples both ways of fetching, alternating request by request so both see the same
/// load, and prints one line per way.
async fn measure(name: &str, t: &TestDb, engine: &Engine, seed: &Seed, user: Uuid, n: usize) {
    let expected = if user == seed.admin {
        OBJECTS as u64
    } else {
        seed.visible
    };
    let ways = [Fetch::Split, Fetch::Whole];
    for _ in 0..10 {
        for how in ways {
            assert_eq!(first_page(t, engine, seed, user, how).await, expected);
        }
    }
    let mut samples = [Vec::with_capacity(n), Vec::with_capacity(n)];
    for i in 0..2 * n {
        let how = ways[i % 2];
        let start = Instant::now();
        let total = first_page(t, engine, seed, user, how).await;
        samples[i % 2].push(start.elapsed());
        assert_eq!(total, expected);
    }
    for (how, samples) in ways.iter().zip(samples.iter_mut()) {
        samples.sort_unstable();
        let label = match how {
            Fetch::Split => "split count (after)",
            Fetch::Whole => "whole count (before)",
        };
        println!(
            "{name:<38} {label:<24} total {expected:>6}  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={n})",
            pct(samples, 0.50),
            pct(samples, 0.95),
            pct(samples, 0.99),
            pct(samples, 1.0),
        );
    }
}

async fn run(label: &str, t: TestDb, n: usize) {
    let engine = engine();
    let started = Instant::now();
    let seed = seed(&t, &engine).await;
    println!(
        "{label}: seeded {} + {} objects in {:.1} s; caller sees {} ({} teams of {TEAMS}, {TUPLES} tuples)",
        OBJECTS,
        OTHER_ORGS * OTHER_OBJECTS,
        started.elapsed().as_secs_f64(),
        seed.visible,
        GRANTED_TEAMS,
    );
    if std::env::args().any(|a| a == "--explain") {
        explain(&t, &engine, &seed, seed.caller).await;
    }
    measure(
        &format!("{label} filtered (teams + tuples)"),
        &t,
        &engine,
        &seed,
        seed.caller,
        n,
    )
    .await;
    measure(
        &format!("{label} all visible (tenant role)"),
        &t,
        &engine,
        &seed,
        seed.admin,
        n,
    )
    .await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` (and nextest) enumerate benchmarks: nothing to list here.
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match TestDb::postgres().await {
            Some(t) => run("postgres", t, n).await,
            None => println!("postgres: skipped (unreachable)"),
        }
        run("sqlite", TestDb::sqlite().await, n).await;
    });
}
