//! The first page of a permission-filtered list over 100,000 objects: `list_objects`, then
//! the tenant-scoped `Select` with the `ObjectFilter` condition, counted and paged by
//! `ListSpec::fetch` (limit 25, sorted by title), on a fresh PostgreSQL database and on
//! SQLite. Prints p50/p95/p99 per case, for `ListSpec::fetch` (page and total in one
//! statement) and for the former two-statement fetch (`COUNT`, then the page), alternating
//! request by request.
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
use sea_orm::{ConnectionTrait, EntityTrait, Set};
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

/// How the page and its total are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// `ListSpec::fetch`: the page query carries the total as a subquery (one statement).
    OneStatement,
    /// The former `ListSpec::fetch`, kept here as the baseline: `COUNT` of the filtered and
    /// sorted select, then the page (two statements).
    TwoStatements,
}

/// One request: list_objects, then the first page with its total in a read-only tenant
/// transaction.
async fn first_page(t: &TestDb, engine: &Engine, seed: &Seed, user: Uuid, how: Fetch) -> u64 {
    use sea_orm::{PaginatorTrait, QuerySelect};
    let spec = ListSpec::<doc::Entity>::new()
        .field("title", doc::Column::Title, FieldKind::Text)
        .default_sort(doc::Column::Title, SortDir::Asc)
        .tiebreak(doc::Column::Id);
    let ctx = TenantContext::new(seed.org, Actor::User(user));
    let filter = ObjectFilter::for_user(engine, seed.org, user, READ, "document").unwrap();
    let tx = t.db.tenant_read(&ctx).await.unwrap();
    let select = filter
        .apply(
            tx.find::<doc::Entity>(),
            tx.raw().get_database_backend(),
            doc::Column::Id,
            Some(doc::Column::TeamId),
        )
        .unwrap();
    let q = ListQuery::default();
    let (rows, total) = match how {
        Fetch::OneStatement => {
            let page = spec.fetch(&q, select, tx.raw()).await.unwrap();
            (page.data.len(), page.meta.total)
        }
        Fetch::TwoStatements => {
            let select = spec.apply(&q, select).unwrap();
            let total = select.clone().count(tx.raw()).await.unwrap();
            let data = select
                .offset(q.offset())
                .limit(q.effective_limit())
                .all(tx.raw())
                .await
                .unwrap();
            (data.len(), total)
        }
    };
    tx.commit().await.unwrap();
    assert_eq!(rows, 25);
    total
}

/// Prints the plans of the count and page queries and of `ListSpec::fetch`'s one statement, and the time of
/// `list_objects` alone (`-- --explain`).
async fn explain(t: &TestDb, engine: &Engine, seed: &Seed, user: Uuid) {
    use sea_orm::{QueryOrder, QuerySelect, QueryTrait, Statement};
    let start = Instant::now();
    let filter = ObjectFilter::for_user(engine, seed.org, user, READ, "document").unwrap();
    println!("list_objects + filter: {:?}", start.elapsed());
    let ctx = TenantContext::new(seed.org, Actor::User(user));
    let tx = t.db.tenant_read(&ctx).await.unwrap();
    let backend = tx.raw().get_database_backend();
    let select = filter
        .apply(
            tx.find::<doc::Entity>(),
            backend,
            doc::Column::Id,
            Some(doc::Column::TeamId),
        )
        .unwrap();
    let spec = ListSpec::<doc::Entity>::new()
        .field("title", doc::Column::Title, FieldKind::Text)
        .default_sort(doc::Column::Title, SortDir::Asc)
        .tiebreak(doc::Column::Id);
    let count = select
        .clone()
        .select_only()
        .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
        .build(backend);
    let one = spec
        .page_query(&ListQuery::default(), select.clone())
        .unwrap()
        .build(backend);
    let page = select
        .order_by_asc(doc::Column::Title)
        .order_by_asc(doc::Column::Id)
        .limit(25)
        .build(backend);
    println!("plans: the count alone, the page alone, then the one statement of ListSpec::fetch");
    for stmt in [count, page, one] {
        let prefix = match backend {
            sea_orm::DbBackend::Postgres => "EXPLAIN (ANALYZE, BUFFERS) ",
            _ => "EXPLAIN QUERY PLAN ",
        };
        let explained = Statement::from_sql_and_values(
            backend,
            format!("{prefix}{}", stmt.sql),
            stmt.values.map(|v| v.0).unwrap_or_default(),
        );
        for row in tx.raw().query_all_raw(explained).await.unwrap() {
            let line: String = row
                .try_get_by_index(0)
                .or_else(|_| row.try_get_by_index::<String>(3))
                .unwrap_or_default();
            let cut: String = line.chars().take(160).collect();
            println!("  {cut}");
        }
    }
    tx.commit().await.unwrap();
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
    let ways = [Fetch::OneStatement, Fetch::TwoStatements];
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
            Fetch::OneStatement => "one statement",
            Fetch::TwoStatements => "two statements (before)",
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
