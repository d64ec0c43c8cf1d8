//! `ObjectFilter`: permission-filtered lists computed in SQL, on both backends. A product
//! table (`iam_test_documents`, UUID ids, owned by teams; `iam_test_notes`, text ids) is
//! created here with raw SQL; grants go through the store (roles at tenant, team and
//! object scope, tuples) and the engine is loaded from `IamStore::load_snapshot`. Every
//! page of the filtered list must hold exactly what `Engine::check` allows.

use std::collections::BTreeSet;

use helix_core::backend_test;
use helix_core::db::Backend;
use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use helix_core::testing::TestDb;
use helix_core::{DeclaredPermission, PermissionDef, TenantContext};
use helix_iam::engine::ObjectList;
use helix_iam::filter::ObjectFilter;
use helix_iam::model::{ObjectRef, Resource, Scope, Subject, Tuple};
use helix_iam::store::{NewAssignment, NewRole, RoleTemplate, TupleWrite};
use helix_iam::{Engine, EngineConfig};
use helix_tenancy::{NewTeam, Role};
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

const READ: &str = "docs.documents.read";

/// A documents table of a product: UUID ids, optionally owned by a team.
mod doc {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_test_documents")]
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

/// A notes table: text ids, no team ownership.
mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "iam_test_notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: Uuid,
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

const SQLITE_TABLES: &str = "
CREATE TABLE iam_test_documents (
    org_id BLOB NOT NULL, id BLOB NOT NULL, team_id BLOB, title TEXT NOT NULL,
    PRIMARY KEY (org_id, id));
CREATE INDEX iam_test_documents_team ON iam_test_documents (org_id, team_id);
CREATE INDEX iam_test_documents_title ON iam_test_documents (org_id, title, id);
CREATE TABLE iam_test_notes (
    org_id BLOB NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, PRIMARY KEY (org_id, id));
";

const POSTGRES_TABLES: &str = "
CREATE TABLE iam_test_documents (
    org_id uuid NOT NULL, id uuid NOT NULL, team_id uuid, title text NOT NULL,
    PRIMARY KEY (org_id, id));
CREATE INDEX iam_test_documents_team ON iam_test_documents (org_id, team_id);
CREATE INDEX iam_test_documents_title ON iam_test_documents (org_id, title, id);
CREATE TABLE iam_test_notes (
    org_id uuid NOT NULL, id text NOT NULL, title text NOT NULL, PRIMARY KEY (org_id, id));
";

/// Creates the product tables; on PostgreSQL with Row Level Security for the app role,
/// as a product's migration would (`helix_core::rls::TenantTable`).
async fn create_tables(t: &TestDb) {
    let conn = t.db.connection();
    match t.db.backend() {
        Backend::Sqlite => {
            conn.execute_unprepared(SQLITE_TABLES).await.unwrap();
        }
        Backend::Postgres => {
            conn.execute_unprepared(POSTGRES_TABLES).await.unwrap();
            for table in ["iam_test_documents", "iam_test_notes"] {
                conn.execute_unprepared(&format!(
                    "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                     ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                     CREATE POLICY helix_tenant_isolation ON {table} FOR ALL TO helix_app
                       USING (org_id = nullif(current_setting('helix.org_id', true), '')::uuid);
                     GRANT SELECT ON {table} TO helix_app;"
                ))
                .await
                .unwrap();
            }
        }
    }
}

async fn insert_docs(t: &TestDb, rows: Vec<doc::Model>) {
    for chunk in rows.chunks(2000) {
        let models = chunk.iter().map(|m| doc::ActiveModel {
            id: Set(m.id),
            org_id: Set(m.org_id),
            team_id: Set(m.team_id),
            title: Set(m.title.clone()),
        });
        doc::Entity::insert_many(models)
            .exec(t.db.connection())
            .await
            .unwrap();
    }
}

fn engine() -> Engine {
    const DEFS: &[PermissionDef] = &[
        PermissionDef {
            name: "tenancy.members.manage",
            description: "",
            default_roles: &["admin"],
        },
        PermissionDef {
            name: READ,
            description: "",
            default_roles: &["admin"],
        },
        PermissionDef {
            name: "docs.documents.write",
            description: "",
            default_roles: &["admin", "member"],
        },
        PermissionDef {
            name: "billing.invoices.read",
            description: "",
            default_roles: &["admin"],
        },
    ];
    const SCHEMA: &str = "
type document {
  relation viewer: user | team#member
  permission view = viewer
  bind docs.documents.read = view
}
type note {
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

/// Built-in roles where only owner and admin read documents tenant-wide, so members see
/// what they are granted and nothing else.
fn templates_without_read() -> Vec<RoleTemplate> {
    vec![
        RoleTemplate::new("owner", "Owner", PERMS),
        RoleTemplate::new("admin", "Admin", [PERMS[0], PERMS[1], PERMS[2]]),
        RoleTemplate::new("member", "Member", [PERMS[2]]),
        RoleTemplate::new("read_only", "Read-only", [PERMS[3]]),
    ]
}

fn docs_spec() -> ListSpec<doc::Entity> {
    ListSpec::new()
        .field("title", doc::Column::Title, FieldKind::Text)
        .default_sort(doc::Column::Title, SortDir::Asc)
        .tiebreak(doc::Column::Id)
}

/// One page of the documents `user` may read.
async fn docs_page(
    fx: &Fixture,
    engine: &Engine,
    ctx: &TenantContext,
    user: Uuid,
    q: &ListQuery,
) -> Page<doc::Model> {
    let filter = ObjectFilter::for_user(engine, ctx.org_id(), user, READ, "document").unwrap();
    let tx = fx.db.tenant_read(ctx).await.unwrap();
    let select = filter
        .apply(
            tx.find::<doc::Entity>(),
            tx.raw().get_database_backend(),
            doc::Column::Id,
            Some(doc::Column::TeamId),
        )
        .unwrap();
    let page = docs_spec().fetch(q, select, tx.raw()).await.unwrap();
    tx.commit().await.unwrap();
    page
}

/// Every page, in order, checking the paging facts; returns the ids in list order.
async fn all_pages(
    fx: &Fixture,
    engine: &Engine,
    ctx: &TenantContext,
    user: Uuid,
    limit: u64,
) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let q = ListQuery {
            page,
            limit,
            ..ListQuery::default()
        };
        let p = docs_page(fx, engine, ctx, user, &q).await;
        let total = p.meta.total;
        assert_eq!(p.meta.total_pages, total.div_ceil(limit));
        let expected_len = total.saturating_sub((page - 1) * limit).min(limit);
        assert_eq!(p.data.len() as u64, expected_len, "page {page} is full");
        out.extend(p.data.iter().map(|d| d.id));
        if !p.meta.has_next {
            assert_eq!(out.len() as u64, total, "pages add up to the total");
            return out;
        }
        page += 1;
    }
}

struct Scenario {
    org: Org,
    other: Org,
    /// Granted through every kind of grant.
    user: Uuid,
    /// Granted nothing.
    nobody: Uuid,
    docs: Vec<doc::Model>,
}

async fn scenario(t: &TestDb, fx: &Fixture) -> Scenario {
    create_tables(t).await;
    let org = create_org(&fx.tenancy).await;
    let other = create_org(&fx.tenancy).await;
    let user = add_user(&fx.tenancy, &org, Role::Member).await;
    let nobody = add_user(&fx.tenancy, &org, Role::Member).await;
    let mut teams = Vec::new();
    for slug in ["direct", "via-set", "via-tuple", "ungranted"] {
        let team = fx
            .tenancy
            .create_team(
                &org.ctx,
                NewTeam {
                    name: slug.into(),
                    slug: slug.into(),
                },
            )
            .await
            .unwrap();
        teams.push(team.id);
    }
    for team in &teams[1..] {
        fx.tenancy
            .add_team_member(&org.ctx, *team, user)
            .await
            .unwrap();
    }
    // 60 documents in the organization (teams in turn, every fifth owned by none), 20 in
    // another organization.
    let mut docs = Vec::new();
    for i in 0..60u32 {
        let team_id = match i % 5 {
            4 => None,
            n => Some(teams[n as usize]),
        };
        docs.push(doc::Model {
            id: Uuid::now_v7(),
            org_id: org.id,
            team_id,
            title: format!("doc {:02}", (i * 37) % 60),
        });
    }
    let foreign: Vec<doc::Model> = (0..20)
        .map(|i| doc::Model {
            id: Uuid::now_v7(),
            org_id: other.id,
            team_id: None,
            title: format!("foreign {i:02}"),
        })
        .collect();
    insert_docs(t, docs.iter().chain(&foreign).cloned().collect()).await;

    let templates = templates_without_read();
    let reader = in_tx!(fx.db, &org.ctx, |tx| {
        fx.store.load_snapshot(&tx, &templates).await.unwrap();
        fx.store
            .create_role(
                &tx,
                NewRole {
                    key: "doc_reader".into(),
                    name: "Document reader".into(),
                    permissions: vec![READ.into()],
                },
            )
            .await
            .unwrap()
            .0
    });
    let object = |d: &doc::Model| ObjectRef::new("document", d.id.to_string());
    let unowned: Vec<&doc::Model> = docs.iter().filter(|d| d.team_id.is_none()).collect();
    let grants = [
        // Team scope, to the user.
        (Subject::user(user), Scope::Team { id: teams[0] }),
        // Team scope, to the team's members.
        (
            Subject::team_members(teams[1]),
            Scope::Team { id: teams[1] },
        ),
        // Object scope.
        (
            Subject::user(user),
            Scope::Object {
                object: object(unowned[0]),
            },
        ),
        (
            Subject::user(user),
            Scope::Object {
                object: object(unowned[1]),
            },
        ),
    ];
    for (subject, scope) in grants {
        in_tx!(fx.db, &org.ctx, |tx| fx
            .store
            .create_assignment(
                &tx,
                NewAssignment {
                    subject,
                    role_id: reader.id,
                    scope,
                },
            )
            .await
            .unwrap());
    }
    // Tuples: to the user, to a team the user is in, one naming a document of the other
    // organization (it must not show up), one of a document that does not exist.
    let ungranted_team_doc = docs.iter().find(|d| d.team_id == Some(teams[3])).unwrap();
    let tuples: Vec<Tuple> = vec![
        Tuple::new(object(unowned[2]), "viewer", Subject::user(user)),
        Tuple::new(object(ungranted_team_doc), "viewer", Subject::user(user)),
        Tuple::new(
            object(unowned[3]),
            "viewer",
            Subject::team_members(teams[2]),
        ),
        Tuple::new(object(&foreign[0]), "viewer", Subject::user(user)),
        Tuple::new(
            ObjectRef::new("document", Uuid::now_v7().to_string()),
            "viewer",
            Subject::user(user),
        ),
    ];
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: tuples,
                delete: vec![],
            }
        )
        .await
        .unwrap());
    Scenario {
        org,
        other,
        user,
        nobody,
        docs,
    }
}

async fn load(fx: &Fixture, engine: &Engine, ctx: &TenantContext) {
    let snap = in_tx!(fx.db, ctx, |tx| fx
        .store
        .load_snapshot(&tx, &templates_without_read())
        .await
        .unwrap());
    engine.load(&snap).unwrap();
}

/// The documents of the organization `user` may read, by `Engine::check`.
fn allowed(engine: &Engine, s: &Scenario, user: Uuid) -> BTreeSet<Uuid> {
    s.docs
        .iter()
        .filter(|d| {
            let res = Resource::Object {
                object: ObjectRef::new("document", d.id.to_string()),
                team: d.team_id,
            };
            engine.check(s.org.id, user, READ, &res).unwrap().allowed
        })
        .map(|d| d.id)
        .collect()
}

async fn filtered_pages_hold_exactly_what_check_allows(t: TestDb) {
    let fx = setup(&t).await;
    let s = scenario(&t, &fx).await;
    let engine = engine();
    load(&fx, &engine, &s.org.ctx).await;
    load(&fx, &engine, &s.other.ctx).await;

    // The user: 12 documents of each of two granted teams, one of the tuple-granted team's
    // (by tuple; team-scoped roles do not follow tuples), two by object scope, two by tuple.
    let expected = allowed(&engine, &s, s.user);
    assert_eq!(expected.len(), 12 + 12 + 2 + 2 + 1, "{expected:?}");
    for limit in [1, 7, 25, 100] {
        let ids = all_pages(&fx, &engine, &s.org.ctx, s.user, limit).await;
        let set: BTreeSet<Uuid> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len(), "no row on two pages (limit {limit})");
        assert_eq!(set, expected, "limit {limit}");
    }
    // Pages follow the requested order over visible rows only.
    let q = ListQuery::parse("sort=title:desc&limit=5&page=2").unwrap();
    let p = docs_page(&fx, &engine, &s.org.ctx, s.user, &q).await;
    let mut visible: Vec<&doc::Model> =
        s.docs.iter().filter(|d| expected.contains(&d.id)).collect();
    visible.sort_by(|a, b| b.title.cmp(&a.title).then(a.id.cmp(&b.id)));
    let want: Vec<Uuid> = visible[5..10].iter().map(|d| d.id).collect();
    assert_eq!(p.data.iter().map(|d| d.id).collect::<Vec<_>>(), want);
    assert_eq!(p.meta.total, expected.len() as u64);

    // Nothing granted: an empty list, not everything.
    assert!(allowed(&engine, &s, s.nobody).is_empty());
    let p = docs_page(&fx, &engine, &s.org.ctx, s.nobody, &ListQuery::default()).await;
    assert!(p.data.is_empty());
    assert_eq!((p.meta.total, p.meta.total_pages), (0, 0));

    // The owner (tenant scope): every document of the organization, none of the other.
    let ids = all_pages(&fx, &engine, &s.org.ctx, s.org.owner, 25).await;
    let all: BTreeSet<Uuid> = s.docs.iter().map(|d| d.id).collect();
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), all);
    assert_eq!(allowed(&engine, &s, s.org.owner), all);

    // In the other organization the user holds nothing (its tuple was written in the
    // first), and its owner sees its 20 documents only.
    let p = docs_page(&fx, &engine, &s.other.ctx, s.user, &ListQuery::default()).await;
    assert_eq!(p.meta.total, 0);
    let ids = all_pages(&fx, &engine, &s.other.ctx, s.other.owner, 100).await;
    assert_eq!(ids.len(), 20);
    assert!(ids.iter().all(|id| !all.contains(id)));
}
backend_test!(
    filtered_pages_hold_exactly_what_check_allows,
    filtered_pages_hold_exactly_what_check_allows
);

async fn text_ids_are_filtered_as_written(t: TestDb) {
    let fx = setup(&t).await;
    create_tables(&t).await;
    let org = create_org(&fx.tenancy).await;
    let user = add_user(&fx.tenancy, &org, Role::Member).await;
    let conn = t.db.connection();
    let notes: Vec<note::ActiveModel> = ["a-1", "a-2", "B.3", "c|4", "d'5"]
        .into_iter()
        .map(|id| note::ActiveModel {
            id: Set(id.into()),
            org_id: Set(org.id),
            title: Set(format!("note {id}")),
        })
        .collect();
    note::Entity::insert_many(notes).exec(conn).await.unwrap();
    let engine = engine();
    let mut snap = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .load_snapshot(&tx, &templates_without_read())
        .await
        .unwrap());
    // Ids that need escaping in SQL and JSON reach the filter unharmed ("d'5" is not a
    // valid object id, so a quote cannot even be granted).
    for id in ["a-2", "B.3", "c|4", "x-9"] {
        snap.tuples.push(Tuple::new(
            ObjectRef::new("note", id),
            "viewer",
            Subject::user(user),
        ));
    }
    engine.load(&snap).unwrap();
    let filter = ObjectFilter::for_user(&engine, org.id, user, READ, "note").unwrap();
    let spec = ListSpec::<note::Entity>::new().default_sort(note::Column::Id, SortDir::Asc);
    let tx = fx.db.tenant_read(&org.ctx).await.unwrap();
    let select = filter
        .apply(
            tx.find::<note::Entity>(),
            tx.raw().get_database_backend(),
            note::Column::Id,
            None,
        )
        .unwrap();
    let page = spec
        .fetch(&ListQuery::default(), select, tx.raw())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ids: BTreeSet<String> = page.data.into_iter().map(|n| n.id).collect();
    let want: BTreeSet<String> = ["a-2", "B.3", "c|4"].map(String::from).into();
    assert_eq!(ids, want);
    assert_eq!(page.meta.total, 3);
}
backend_test!(
    text_ids_are_filtered_as_written,
    text_ids_are_filtered_as_written
);

async fn seventy_thousand_granted_ids_work(t: TestDb) {
    const ROWS: u128 = 75_000;
    const GRANTED: u128 = 70_000;
    let fx = setup(&t).await;
    create_tables(&t).await;
    let org = create_org(&fx.tenancy).await;
    let other = create_org(&fx.tenancy).await;
    let user = add_user(&fx.tenancy, &org, Role::Member).await;
    let id = |i: u128| Uuid::from_u128((0x0123_4567_u128 << 96) | i);
    let rows: Vec<doc::Model> = (0..ROWS)
        .map(|i| doc::Model {
            id: id(i),
            org_id: org.id,
            team_id: None,
            title: "same".into(),
        })
        .chain((ROWS..ROWS + 100).map(|i| doc::Model {
            id: id(i),
            org_id: other.id,
            team_id: None,
            title: "same".into(),
        }))
        .collect();
    insert_docs(&t, rows).await;
    let engine = engine();
    let mut snap = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .load_snapshot(&tx, &templates_without_read())
        .await
        .unwrap());
    // Every fifteenth row is not granted; the other organization's rows are.
    let granted: Vec<Uuid> = (0..ROWS + 100)
        .filter(|i| *i >= ROWS || i % 15 != 0)
        .map(id)
        .collect();
    for g in &granted {
        snap.tuples.push(Tuple::new(
            ObjectRef::new("document", g.to_string()),
            "viewer",
            Subject::user(user),
        ));
    }
    engine.load(&snap).unwrap();
    let filter = ObjectFilter::for_user(&engine, org.id, user, READ, "document").unwrap();
    assert_eq!(filter.ids().len(), granted.len());
    let visible: Vec<Uuid> = (0..ROWS).filter(|i| i % 15 != 0).map(id).collect();
    assert_eq!(visible.len() as u128, GRANTED);

    for (page, limit) in [(1, 100), (350, 100), (700, 100), (2800, 25)] {
        let q = ListQuery {
            page,
            limit,
            ..ListQuery::default()
        };
        let p = docs_page(&fx, &engine, &org.ctx, user, &q).await;
        assert_eq!(p.meta.total, GRANTED as u64);
        assert_eq!(p.meta.has_next, page * limit < GRANTED as u64);
        let start = ((page - 1) * limit) as usize;
        let want = &visible[start..start + limit as usize];
        let got: Vec<Uuid> = p.data.iter().map(|d| d.id).collect();
        assert_eq!(got, want, "page {page}");
    }
}
backend_test!(
    seventy_thousand_granted_ids_work,
    seventy_thousand_granted_ids_work
);

/// The documents `filter` shows, by the rule `list_objects` states: every row when `all`,
/// rows of the visible teams, and rows granted one by one (UUID ids in canonical form).
fn visible_by_rule(docs: &[doc::Model], list: &ObjectList) -> BTreeSet<Uuid> {
    docs.iter()
        .filter(|d| {
            list.all
                || d.team_id.is_some_and(|t| list.teams.contains(&t))
                || list
                    .objects
                    .iter()
                    .any(|o| o.kind == "document" && o.id == d.id.to_string())
        })
        .map(|d| d.id)
        .collect()
}

/// Every page of `q`'s list through `ListSpec::fetch_split` (and `fetch`, the `OR`
/// condition counted whole, for comparison); returns the ids and the total.
async fn split_pages(
    t: &TestDb,
    ctx: &TenantContext,
    filter: &ObjectFilter,
    query: &str,
    limit: u64,
) -> (Vec<Uuid>, u64) {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let mut q = ListQuery::parse(query).unwrap();
        q.page = page;
        q.limit = limit;
        let tx = t.db.tenant_read(ctx).await.unwrap();
        let backend = tx.raw().get_database_backend();
        let cond = filter
            .split_condition(backend, doc::Column::Id, Some(doc::Column::TeamId))
            .unwrap();
        let split = docs_spec()
            .fetch_split(&q, tx.find::<doc::Entity>(), cond, tx.raw())
            .await
            .unwrap();
        let select = filter
            .apply(
                tx.find::<doc::Entity>(),
                backend,
                doc::Column::Id,
                Some(doc::Column::TeamId),
            )
            .unwrap();
        let whole = docs_spec().fetch(&q, select, tx.raw()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(split.meta, whole.meta, "{query} page {page}");
        assert_eq!(split.data, whole.data, "{query} page {page}");
        out.extend(split.data.iter().map(|d| d.id));
        if !split.meta.has_next {
            return (out, split.meta.total);
        }
        page += 1;
    }
}

async fn split_counts_equal_the_visible_rows(t: TestDb) {
    let fx = setup(&t).await;
    create_tables(&t).await;
    let org = create_org(&fx.tenancy).await;
    let other = create_org(&fx.tenancy).await;
    let teams: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    // 40 documents: teams in turn, every fifth owned by none; 10 in another organization,
    // owned by the same team ids (team ids are not checked against the teams table here).
    let docs: Vec<doc::Model> = (0..40u32)
        .map(|i| doc::Model {
            id: Uuid::now_v7(),
            org_id: org.id,
            team_id: (i % 5 < 4).then(|| teams[(i % 5) as usize]),
            title: format!("d{:02}", (i * 13) % 40),
        })
        .collect();
    let foreign: Vec<doc::Model> = (0..10u32)
        .map(|i| doc::Model {
            id: Uuid::now_v7(),
            org_id: other.id,
            team_id: Some(teams[(i % 4) as usize]),
            title: format!("d{i:02}"),
        })
        .collect();
    insert_docs(&t, docs.iter().chain(&foreign).cloned().collect()).await;
    let object = |id: Uuid| ObjectRef::new("document", id.to_string());
    let in_team = |n: usize| -> Vec<Uuid> {
        docs.iter()
            .filter(|d| d.team_id == Some(teams[n]))
            .map(|d| d.id)
            .collect()
    };
    let unowned: Vec<Uuid> = docs
        .iter()
        .filter(|d| d.team_id.is_none())
        .map(|d| d.id)
        .collect();
    let mixed = vec![
        // Granted one by one and also through team 0: must be counted once.
        object(in_team(0)[0]),
        object(in_team(0)[1]),
        // Team column NULL.
        object(unowned[0]),
        object(unowned[1]),
        // A team that is not granted.
        object(in_team(2)[0]),
        // Ids that name no row of this organization (or none at all), an id not in
        // canonical form, and an object of another type.
        object(foreign[0].id),
        object(Uuid::now_v7()),
        ObjectRef::new("document", unowned[2].to_string().to_uppercase()),
        ObjectRef::new("folder", unowned[3].to_string()),
    ];
    let cases: Vec<(&str, ObjectList)> = vec![
        (
            "teams and objects",
            ObjectList {
                all: false,
                teams: vec![teams[0], teams[1]],
                objects: mixed.clone(),
            },
        ),
        (
            "teams only",
            ObjectList {
                all: false,
                teams: vec![teams[1], teams[3]],
                objects: vec![],
            },
        ),
        (
            "objects only",
            ObjectList {
                all: false,
                teams: vec![],
                objects: mixed.clone(),
            },
        ),
        (
            "every object also in a granted team",
            ObjectList {
                all: false,
                teams: vec![teams[0]],
                objects: in_team(0).into_iter().map(object).collect(),
            },
        ),
        (
            "a team no row belongs to, and unknown ids",
            ObjectList {
                all: false,
                teams: vec![Uuid::now_v7()],
                objects: vec![object(Uuid::now_v7()), object(foreign[1].id)],
            },
        ),
        (
            "all",
            ObjectList {
                all: true,
                teams: vec![teams[0]],
                objects: mixed.clone(),
            },
        ),
        ("nothing", ObjectList::default()),
    ];
    let first_titles = format!(
        "filter[title.in]={}",
        (0..20)
            .map(|i| format!("d{i:02}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (name, list) in cases {
        let filter = ObjectFilter::new(list.clone(), "document");
        let expected = visible_by_rule(&docs, &list);
        for limit in [7, 100] {
            let (ids, total) = split_pages(&t, &org.ctx, &filter, "", limit).await;
            let set: BTreeSet<Uuid> = ids.iter().copied().collect();
            assert_eq!(set.len(), ids.len(), "{name}: no row twice");
            assert_eq!(set, expected, "{name}: rows (limit {limit})");
            assert_eq!(
                total,
                expected.len() as u64,
                "{name}: total (limit {limit})"
            );
        }
        // The query's own filters apply to every part of the count.
        let titled: BTreeSet<Uuid> = docs
            .iter()
            .filter(|d| expected.contains(&d.id) && d.title.as_str() < "d20")
            .map(|d| d.id)
            .collect();
        let (ids, total) = split_pages(&t, &org.ctx, &filter, &first_titles, 5).await;
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), titled, "{name}");
        assert_eq!(total, titled.len() as u64, "{name}: filtered total");
        // A page past the end has no row to carry the total: it is counted on its own.
        let tx = t.db.tenant_read(&org.ctx).await.unwrap();
        let cond = filter
            .split_condition(
                tx.raw().get_database_backend(),
                doc::Column::Id,
                Some(doc::Column::TeamId),
            )
            .unwrap();
        let q = ListQuery {
            page: 50,
            limit: 10,
            ..ListQuery::default()
        };
        let past = docs_spec()
            .fetch_split(&q, tx.find::<doc::Entity>(), cond, tx.raw())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(past.data.is_empty(), "{name}");
        assert_eq!(
            past.meta.total,
            expected.len() as u64,
            "{name}: past the end"
        );
    }
    // The overlapping case really overlaps, and really splits into two counts.
    let list = ObjectList {
        all: false,
        teams: vec![teams[0], teams[1]],
        objects: mixed,
    };
    let expected = visible_by_rule(&docs, &list);
    // Teams 0 and 1, two unowned rows, one row of an ungranted team.
    assert_eq!(expected.len(), 8 + 8 + 2 + 1, "{expected:?}");
    let cond = ObjectFilter::new(list, "document")
        .split_condition(
            t.db.connection().get_database_backend(),
            doc::Column::Id,
            Some(doc::Column::TeamId),
        )
        .unwrap();
    assert_eq!(cond.parts().len(), 2);
}
backend_test!(
    split_counts_equal_the_visible_rows,
    split_counts_equal_the_visible_rows
);
