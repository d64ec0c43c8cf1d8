//! The tenant-scoped handle confines reads and writes to its tenant on both backends.

use helix_core::testing::TestDb;
use helix_core::{Actor, Backend, Helix, TenantContext, TenantEntity, backend_test};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, IntoActiveModel, Set};

mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl TenantEntity for note::Entity {
    fn org_column() -> note::Column {
        note::Column::OrgId
    }
}

async fn setup(t: &TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    let ddl = match t.db.backend() {
        Backend::Postgres => "CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL, body text NOT NULL);
            ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON notes TO helix_app USING (org_id = nullif(current_setting('helix.org_id', true), '')::uuid)
              WITH CHECK (org_id = nullif(current_setting('helix.org_id', true), '')::uuid);
            GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO helix_app;",
        Backend::Sqlite => "CREATE TABLE notes (id BLOB PRIMARY KEY, org_id BLOB NOT NULL, body TEXT NOT NULL)",
    };
    t.db.connection().execute_unprepared(ddl).await.unwrap();
}

async fn tenant_tx_confines_updates(t: TestDb) {
    setup(&t).await;
    let a = TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()));
    let b = TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()));

    // B owns a note. Inserting with a forged org_id still lands in the context's tenant.
    let tx = t.db.tenant(&b).await.unwrap();
    let b_note = tx
        .insert(note::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(a.org_id()),
            body: Set("b".into()),
        })
        .await
        .unwrap();
    assert_eq!(b_note.org_id, b.org_id());
    tx.commit().await.unwrap();

    // A cannot update B's row by naming its id, with or without an org_id, nor no-op read it.
    let tx = t.db.tenant(&a).await.unwrap();
    let by_id = note::ActiveModel {
        id: Set(b_note.id),
        body: Set("hijacked".into()),
        ..Default::default()
    };
    assert_eq!(tx.update(by_id).await.unwrap_err().status(), 404);
    let forged = note::ActiveModel {
        id: Set(b_note.id),
        org_id: Set(a.org_id()),
        body: Set("x".into()),
    };
    assert_eq!(tx.update(forged).await.unwrap_err().status(), 404);
    let noop = b_note.clone().into_active_model();
    assert_eq!(tx.update(noop).await.unwrap_err().status(), 404);
    assert!(
        tx.find_by_id::<note::Entity, _>(b_note.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        tx.delete_many::<note::Entity>()
            .exec(tx.raw())
            .await
            .unwrap()
            .rows_affected,
        0
    );
    tx.commit().await.unwrap();

    // B's row is untouched; B can update it, and cannot move it to A.
    let tx = t.db.tenant(&b).await.unwrap();
    let row = tx
        .find_by_id::<note::Entity, _>(b_note.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.body, "b");
    let mut am = row.into_active_model();
    am.body = Set("edited".into());
    assert_eq!(tx.update(am).await.unwrap().body, "edited");
    let mut moved = tx
        .find_by_id::<note::Entity, _>(b_note.id)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    moved.org_id = Set(a.org_id());
    assert_eq!(tx.update(moved).await.unwrap_err().status(), 404);
    tx.commit().await.unwrap();
}
backend_test!(tenant_tx_update_isolation, tenant_tx_confines_updates);

async fn settings_round_trip_hostile_text(t: TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    if t.db.backend() != Backend::Postgres {
        return;
    }
    let name = "we'ird\\name'); SELECT pg_sleep(10); --";
    let ctx = TenantContext::new(Uuid::now_v7(), Actor::System(name.into()));
    let tx = t.db.tenant(&ctx).await.unwrap();
    let row = tx
        .raw()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT current_setting('helix.actor') AS a, current_setting('helix.org_id') AS o, current_user::text AS u",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "a").unwrap(),
        format!("system:{name}")
    );
    assert_eq!(
        row.try_get::<String>("", "o").unwrap(),
        ctx.org_id().to_string()
    );
    assert_eq!(row.try_get::<String>("", "u").unwrap(), "helix_app");
}
backend_test!(tenant_settings_round_trip, settings_round_trip_hostile_text);

/// Read transactions get the access mode, role and settings in one preamble: they run as the
/// non-owner role with the tenant setting, refuse writes on PostgreSQL, and nothing of it
/// outlives the transaction on the pooled connection.
async fn read_transactions_are_scoped_and_read_only(t: TestDb) {
    setup(&t).await;
    let org = Uuid::now_v7();
    let ctx = TenantContext::new(org, Actor::System("reader".into()));
    let w = t.db.tenant(&ctx).await.unwrap();
    w.insert(note::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org),
        body: Set("mine".into()),
    })
    .await
    .unwrap();
    w.commit().await.unwrap();

    let r = t.db.tenant_read(&ctx).await.unwrap();
    assert_eq!(
        r.find::<note::Entity>().all(r.raw()).await.unwrap().len(),
        1
    );
    if t.db.backend() == Backend::Postgres {
        let row = r
            .raw()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT current_setting('transaction_read_only') AS ro, \
                 current_setting('helix.org_id') AS o, current_user::text AS u",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "ro").unwrap(), "on");
        assert_eq!(row.try_get::<String>("", "o").unwrap(), org.to_string());
        assert_eq!(row.try_get::<String>("", "u").unwrap(), "helix_app");
        // A write in a read transaction is refused by the database itself.
        let refused = r
            .raw()
            .execute_unprepared("DELETE FROM notes")
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("read-only"), "{refused}");
    }
    drop(r);

    let p =
        t.db.platform_read(&helix_core::PlatformContext::system("reader"))
            .await
            .unwrap();
    if t.db.backend() == Backend::Postgres {
        let row = p
            .raw()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT current_setting('transaction_read_only') AS ro, current_user::text AS u",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<String>("", "ro").unwrap(), "on");
        assert_eq!(row.try_get::<String>("", "u").unwrap(), "helix_platform");
    }
    p.rollback().await.unwrap();

    if t.db.backend() == Backend::Postgres {
        // Outside any transaction, on the same pool: no role, no tenant, not read-only.
        for _ in 0..8 {
            let row =
                t.db.connection()
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        "SELECT current_setting('transaction_read_only') AS ro, \
                     coalesce(current_setting('helix.org_id', true), '') AS o, \
                     current_user::text AS u",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
            assert_eq!(row.try_get::<String>("", "ro").unwrap(), "off");
            assert_eq!(row.try_get::<String>("", "o").unwrap(), "");
            assert_ne!(row.try_get::<String>("", "u").unwrap(), "helix_app");
        }
    }
}
backend_test!(
    read_transactions_scoped_and_read_only,
    read_transactions_are_scoped_and_read_only
);

/// `lock_tenant_row` finds (and on PostgreSQL locks) the tenant's own row, sees no other
/// tenant's row, and refuses a table name that is not a plain identifier.
async fn lock_tenant_row_finds_own_row(t: TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
    let ddl = match t.db.backend() {
        Backend::Postgres => "CREATE TABLE orgs (id uuid PRIMARY KEY);
            ALTER TABLE orgs ENABLE ROW LEVEL SECURITY; ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON orgs TO helix_app USING (id = nullif(current_setting('helix.org_id', true), '')::uuid);
            GRANT SELECT, UPDATE ON orgs TO helix_app;",
        Backend::Sqlite => "CREATE TABLE orgs (id BLOB PRIMARY KEY)",
    };
    t.db.connection().execute_unprepared(ddl).await.unwrap();
    let a = TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()));
    let b = TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()));
    let backend = t.db.connection().get_database_backend();
    t.db.connection()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            match t.db.backend() {
                Backend::Postgres => "INSERT INTO orgs (id) VALUES ($1)",
                Backend::Sqlite => "INSERT INTO orgs (id) VALUES (?)",
            },
            [a.org_id().into()],
        ))
        .await
        .unwrap();

    let tx = t.db.tenant(&a).await.unwrap();
    assert!(tx.lock_tenant_row("orgs").await.unwrap());
    tx.commit().await.unwrap();
    let tx = t.db.tenant(&b).await.unwrap();
    assert!(!tx.lock_tenant_row("orgs").await.unwrap());
    for bad in ["", "orgs; DROP TABLE orgs", "Orgs", "1orgs", "public.orgs"] {
        let err = tx.lock_tenant_row(bad).await.unwrap_err();
        assert_eq!(err.status(), 500, "{bad}");
    }
    tx.rollback().await.unwrap();
}
backend_test!(tenant_tx_lock_tenant_row, lock_tenant_row_finds_own_row);

/// A list's page and total (one statement, the total a subquery) count only the tenant's
/// rows: through the tenant-filtered `find`, and on PostgreSQL through Row Level Security
/// alone when the application filter is missing. So does the count of a page past the end.
async fn list_totals_are_tenant_scoped(t: TestDb) {
    use helix_core::list::{FieldKind, ListQuery, ListSpec, SortDir};
    setup(&t).await;
    let a = TenantContext::new(Uuid::now_v7(), Actor::System("a".into()));
    let b = TenantContext::new(Uuid::now_v7(), Actor::System("b".into()));
    for (ctx, n) in [(&a, 3), (&b, 5)] {
        let tx = t.db.tenant(ctx).await.unwrap();
        for i in 0..n {
            tx.insert(note::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(ctx.org_id()),
                body: Set(format!("note {i}")),
            })
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let spec = ListSpec::<note::Entity>::new()
        .field("body", note::Column::Body, FieldKind::Text)
        .default_sort(note::Column::Body, SortDir::Asc)
        .tiebreak(note::Column::Id);
    for (ctx, n) in [(&a, 3u64), (&b, 5)] {
        for qs in ["limit=2", "page=9&limit=2"] {
            let q = ListQuery::parse(qs).unwrap();
            let tx = t.db.tenant_read(ctx).await.unwrap();
            let page = spec
                .fetch(&q, tx.find::<note::Entity>(), tx.raw())
                .await
                .unwrap();
            assert_eq!(page.meta.total, n, "{qs}");
            assert!(page.data.iter().all(|m| m.org_id == ctx.org_id()));
            if t.db.backend() == Backend::Postgres {
                // No application filter: RLS alone confines the page and the subquery.
                let page = spec
                    .fetch(&q, note::Entity::find(), tx.raw())
                    .await
                    .unwrap();
                assert_eq!(page.meta.total, n, "{qs} under RLS alone");
                assert!(page.data.iter().all(|m| m.org_id == ctx.org_id()));
            }
            tx.commit().await.unwrap();
        }
    }
}
backend_test!(list_totals_tenant_scoped, list_totals_are_tenant_scoped);

/// `Db::platform_call` runs as the platform role with the actor set, in one implicit
/// transaction: a failing call leaves nothing behind, a successful one commits (also
/// unflushed), and the pooled connection keeps no role or setting afterwards. SQLite has
/// no functions: the call is a configuration error there.
async fn platform_call_is_one_implicit_transaction(t: TestDb) {
    use helix_core::PlatformContext;
    use helix_core::db::{CallArg, Commit};
    Helix::builder(t.db.clone()).build().await.unwrap();
    let ctx = PlatformContext::new(Actor::System("call-test".into()));
    if t.db.backend() == Backend::Sqlite {
        let err =
            t.db.platform_call(&ctx, "anything", &[], Commit::Flushed)
                .await
                .unwrap_err();
        assert_eq!(err.status(), 500);
        return;
    }
    let ddl =
        "CREATE TABLE calls (n bigint PRIMARY KEY, label text NOT NULL, at timestamptz, who uuid);
        GRANT SELECT, INSERT ON calls TO helix_platform;
        CREATE FUNCTION call_record(p_n bigint, p_label text, p_at timestamptz, p_who uuid)
        RETURNS TABLE (n bigint, label text, role text, actor text, sync text, at timestamptz)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        BEGIN
            INSERT INTO calls VALUES (p_n, p_label, p_at, p_who);
            RETURN QUERY SELECT p_n, p_label, current_user::text,
                current_setting('helix.actor', true), current_setting('synchronous_commit'), p_at;
        END $$;
        REVOKE ALL ON FUNCTION call_record(bigint, text, timestamptz, uuid) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION call_record(bigint, text, timestamptz, uuid) TO helix_platform;";
    t.db.connection().execute_unprepared(ddl).await.unwrap();
    let at = chrono::Utc::now();
    let who = Uuid::now_v7();
    let tricky = "it's a \\ 'quoted'; DROP TABLE calls; --";
    let args = [
        CallArg::BigInt(1),
        CallArg::Text(tricky),
        CallArg::Timestamp(at),
        CallArg::Uuid(who),
    ];
    let row =
        t.db.platform_call(&ctx, "call_record", &args, Commit::Unflushed)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    assert_eq!(row.try_get::<String>("", "label").unwrap(), tricky);
    assert_eq!(row.try_get::<String>("", "role").unwrap(), "helix_platform");
    assert_eq!(
        row.try_get::<String>("", "actor").unwrap(),
        "system:call-test"
    );
    assert_eq!(row.try_get::<String>("", "sync").unwrap(), "off");
    // Text-format timestamps come back as given (to the microsecond; the call pins the
    // session's time zone to UTC for them).
    let back: chrono::DateTime<chrono::Utc> = row.try_get("", "at").unwrap();
    assert_eq!(back.timestamp_micros(), at.timestamp_micros());
    let flushed =
        t.db.platform_call(
            &ctx,
            "call_record",
            &[CallArg::BigInt(2), args[1], args[2], args[3]],
            Commit::Flushed,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flushed.try_get::<String>("", "sync").unwrap(), "on");
    // A handle around a connection it did not make sends the same statements in a
    // transaction of its own, with the same effect.
    let wrapped = helix_core::Db::from_connection(t.db.connection().clone());
    let again = wrapped
        .platform_call(
            &ctx,
            "call_record",
            &[CallArg::BigInt(3), args[1], args[2], args[3]],
            Commit::Unflushed,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.try_get::<String>("", "role").unwrap(),
        "helix_platform"
    );
    assert_eq!(again.try_get::<String>("", "sync").unwrap(), "off");
    let back: chrono::DateTime<chrono::Utc> = again.try_get("", "at").unwrap();
    assert_eq!(back.timestamp_micros(), at.timestamp_micros());
    // A duplicate key fails the call: nothing of it is committed.
    assert!(
        t.db.platform_call(&ctx, "call_record", &args, Commit::Flushed)
            .await
            .is_err()
    );
    let stored =
        t.db.connection()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS c, max(label) AS l, \
             bool_and(at = (SELECT min(at) FROM calls)) AS same_at, \
             bool_and(who IS NOT NULL) AS has_who FROM calls",
            ))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored.try_get::<i64>("", "c").unwrap(), 3);
    assert_eq!(stored.try_get::<String>("", "l").unwrap(), tricky);
    assert!(stored.try_get::<bool>("", "same_at").unwrap());
    // A function that is not a plain name is refused before anything is sent.
    let err =
        t.db.platform_call(&ctx, "call_record(1); --", &[], Commit::Flushed)
            .await
            .unwrap_err();
    assert_eq!(err.status(), 500);
    // The pooled connections keep nothing of the calls.
    for _ in 0..8 {
        let row =
            t.db.connection()
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT current_user::text AS u, current_setting('synchronous_commit') AS s, \
                 coalesce(current_setting('helix.actor', true), '') AS a",
                ))
                .await
                .unwrap()
                .unwrap();
        assert_ne!(row.try_get::<String>("", "u").unwrap(), "helix_platform");
        assert_eq!(row.try_get::<String>("", "s").unwrap(), "on");
        assert_eq!(row.try_get::<String>("", "a").unwrap(), "");
    }
}
backend_test!(
    platform_call_one_round_trip,
    platform_call_is_one_implicit_transaction
);
