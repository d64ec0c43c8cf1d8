//! The standard list query against real databases.

use helix_core::list::{FieldKind, ListQuery, ListSpec, SortDir, SplitCondition};
use helix_core::testing::TestDb;
use helix_core::{Helix, backend_test};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, Set};

mod widget {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "widgets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub kind: String,
        pub size: i64,
        pub active: bool,
        pub created_at: chrono::DateTime<chrono::Utc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn spec() -> ListSpec<widget::Entity> {
    use widget::Column as C;
    ListSpec::new()
        .field("name", C::Name, FieldKind::Text)
        .field("kind", C::Kind, FieldKind::Enum(&["gear", "bolt"]))
        .field("size", C::Size, FieldKind::Int)
        .filter_only("active", C::Active, FieldKind::Bool)
        .field("created_at", C::CreatedAt, FieldKind::Timestamp)
        .search([C::Name])
        .default_sort(C::CreatedAt, SortDir::Desc)
        .tiebreak(C::Id)
}

async fn setup(t: &TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    let ddl = match t.db.backend() {
        helix_core::Backend::Postgres => {
            "CREATE TABLE widgets (id uuid PRIMARY KEY, name text NOT NULL, kind text NOT NULL, size bigint NOT NULL, active boolean NOT NULL, created_at timestamptz NOT NULL)"
        }
        helix_core::Backend::Sqlite => {
            "CREATE TABLE widgets (id BLOB PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL, active INTEGER NOT NULL, created_at TEXT NOT NULL)"
        }
    };
    t.db.connection().execute_unprepared(ddl).await.unwrap();
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    for i in 0..30i64 {
        widget::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(if i == 7 {
                "Special_100%".into()
            } else {
                format!("Widget {i:02}")
            }),
            kind: Set(if i % 2 == 0 {
                "gear".into()
            } else {
                "bolt".into()
            }),
            size: Set(i),
            active: Set(i % 3 == 0),
            created_at: Set(base + chrono::Duration::days(i)),
        }
        .insert(t.db.connection())
        .await
        .unwrap();
    }
}

async fn fetch(t: &TestDb, qs: &str) -> helix_core::Result<helix_core::list::Page<widget::Model>> {
    let q = ListQuery::parse(qs)?;
    spec()
        .fetch(&q, widget::Entity::find(), t.db.connection())
        .await
}

async fn list_query_filters_sorts_searches_pages(t: TestDb) {
    setup(&t).await;

    let p = fetch(&t, "").await.unwrap();
    assert_eq!(p.meta.total, 30);
    assert_eq!(p.data.len(), 25);
    assert_eq!(p.data[0].size, 29, "default sort is newest first");
    assert!(p.meta.has_next && !p.meta.has_prev);

    let p = fetch(&t, "page=2&limit=10&sort=size:asc").await.unwrap();
    assert_eq!(
        p.data.iter().map(|w| w.size).collect::<Vec<_>>(),
        (10..20).collect::<Vec<_>>()
    );
    assert_eq!(p.meta.total_pages, 3);

    let p = fetch(&t, "filter[kind]=gear&filter[size.gte]=20&sort=size:desc")
        .await
        .unwrap();
    assert_eq!(
        p.data.iter().map(|w| w.size).collect::<Vec<_>>(),
        vec![28, 26, 24, 22, 20]
    );

    let p = fetch(&t, "filter[size.in]=1,2,3&filter[active]=true")
        .await
        .unwrap();
    assert_eq!(p.data.iter().map(|w| w.size).collect::<Vec<_>>(), vec![3]);

    let p = fetch(&t, "filter[created_at.lt]=2026-01-03").await.unwrap();
    assert_eq!(p.meta.total, 2);

    // Search is case-insensitive and treats % and _ literally.
    let p = fetch(&t, "search=special_100%25").await.unwrap();
    assert_eq!(p.meta.total, 1);
    let p = fetch(&t, "search=WIDGET%200").await.unwrap();
    assert_eq!(p.meta.total, 9);
    let p = fetch(&t, "filter[name.contains]=%25").await.unwrap();
    assert_eq!(p.meta.total, 1);

    // Past the last page: empty data, correct meta.
    let p = fetch(&t, "page=9").await.unwrap();
    assert!(p.data.is_empty() && !p.meta.has_next && p.meta.has_prev);
    // The page query carries the total; a page past the end has no row to carry it and
    // still reports the exact total, with or without filters.
    assert_eq!((p.meta.total, p.meta.total_pages), (30, 2));
    let p = fetch(&t, "page=3&limit=2&filter[kind]=gear&filter[size.lt]=4")
        .await
        .unwrap();
    assert!(p.data.is_empty());
    assert_eq!((p.meta.total, p.meta.page, p.meta.total_pages), (2, 3, 1));
    // The last, partial page: the total is the whole set's, not the page's.
    let p = fetch(&t, "page=3&limit=12&sort=size:asc").await.unwrap();
    assert_eq!(
        p.data.iter().map(|w| w.size).collect::<Vec<_>>(),
        (24..30).collect::<Vec<_>>()
    );
    assert_eq!(p.meta.total, 30);
    // Nothing matches: an empty first page with total 0.
    let p = fetch(&t, "filter[size.gt]=100").await.unwrap();
    assert!(p.data.is_empty());
    assert_eq!((p.meta.total, p.meta.total_pages), (0, 0));
    assert!(!p.meta.has_next && !p.meta.has_prev);
}
backend_test!(
    list_query_end_to_end,
    list_query_filters_sorts_searches_pages
);

async fn list_query_rejects_what_the_allow_list_does_not_name(t: TestDb) {
    setup(&t).await;
    let err = fetch(&t, "filter[secret]=1&sort=active:asc&filter[kind]=spring&filter[size.contains]=1&filter[name.gt]=a")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    let codes: Vec<_> = err
        .details()
        .iter()
        .map(|d| (d.field.as_str(), d.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("filter[secret]", "unknown_field"),
            ("filter[kind]", "invalid_value"),
            ("filter[size]", "unsupported_operator"),
            ("filter[name]", "unsupported_operator"),
            ("sort", "unknown_field"),
        ]
    );
}
backend_test!(
    list_query_allow_list,
    list_query_rejects_what_the_allow_list_does_not_name
);

/// `fetch_split` with a condition split into disjoint parts returns what `fetch` returns
/// with the condition as a filter: the same rows and the same exact total.
async fn split_totals_add_up_disjoint_parts(t: TestDb) {
    use sea_orm::{Condition, QueryFilter};
    use widget::Column as C;
    setup(&t).await;
    let conn = t.db.connection();
    // Gears (even sizes: 15 rows) or size below 10 (10 rows, 5 of them gears): 20 rows.
    let whole = Condition::any().add(C::Kind.eq("gear")).add(C::Size.lt(10));
    let parts = vec![
        Condition::all().add(C::Kind.eq("gear")),
        Condition::all().add(C::Kind.ne("gear")).add(C::Size.lt(10)),
    ];
    let split = SplitCondition::disjoint(whole.clone(), parts);
    assert_eq!(split.parts().len(), 2);
    for (qs, total, rows) in [
        ("", 20, 20),
        ("limit=7&page=2&sort=size:asc", 20, 7),
        // The query's filters apply to every part: sizes 0, 6, 12, 18, 24 and 3, 9.
        ("filter[active]=true", 7, 7),
        // Past the end: no row carries the total, which is then counted on its own.
        ("page=9&limit=10", 20, 0),
    ] {
        let q = ListQuery::parse(qs).unwrap();
        let got = spec()
            .fetch_split(&q, widget::Entity::find(), split.clone(), conn)
            .await
            .unwrap();
        let want = spec()
            .fetch(&q, widget::Entity::find().filter(whole.clone()), conn)
            .await
            .unwrap();
        assert_eq!(got, want, "{qs}");
        assert_eq!((got.meta.total, got.data.len()), (total, rows), "{qs}");
    }
    // One part, and no parts, count the condition itself.
    let q = ListQuery::parse("page=5&limit=10").unwrap();
    for cond in [
        SplitCondition::whole(whole.clone()),
        SplitCondition::disjoint(whole.clone(), vec![]),
    ] {
        assert_eq!(cond.parts().len(), 1);
        let p = spec()
            .fetch_split(&q, widget::Entity::find(), cond, conn)
            .await
            .unwrap();
        assert_eq!((p.meta.total, p.data.len()), (20, 0));
    }
}
backend_test!(
    split_totals_add_up_disjoint_parts,
    split_totals_add_up_disjoint_parts
);
