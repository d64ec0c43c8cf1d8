//! PostgreSQL Row Level Security, proven without the application filter. Each test returns
//! early on SQLite, where the application filter is the only isolation.

use helix_core::sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use helix_core::testing::TestDb;
use helix_core::{Backend, Helix};
use helix_tenancy::{NewInvitation, NewTeam, Role, TenancyModule};
use uuid::Uuid;

use crate::common::*;

const TENANCY_TABLES: [(&str, &str); 5] = [
    ("tenancy_organizations", "id"),
    ("tenancy_memberships", "org_id"),
    ("tenancy_teams", "org_id"),
    ("tenancy_team_members", "org_id"),
    ("tenancy_invitations", "org_id"),
];

fn stmt(sql: impl Into<String>) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

async fn count(conn: &impl ConnectionTrait, sql: String) -> i64 {
    let row = conn
        .query_one_raw(stmt(sql.clone()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.expect("one row").try_get::<i64>("", "n").expect("n")
}

/// Two organizations with a row in every tenancy table.
async fn populated(t: &TestDb) -> (Fixture, Org, Org) {
    let fx = setup(t).await;
    let mut orgs = Vec::new();
    for _ in 0..2 {
        let org = create_org(&fx.svc).await;
        let team = fx
            .svc
            .create_team(
                &org.ctx,
                NewTeam {
                    name: "Eng".into(),
                    slug: "eng".into(),
                },
            )
            .await
            .unwrap();
        let user = add_user(&fx.svc, &org, Role::Member).await;
        fx.svc
            .add_team_member(&org.ctx, team.id, user)
            .await
            .unwrap();
        let invite = NewInvitation {
            email: "z@example.test".into(),
            role: Role::Member,
            team_ids: vec![team.id],
        };
        fx.svc.create_invitation(&org.ctx, invite).await.unwrap();
        orgs.push(org);
    }
    let b = orgs.pop().unwrap();
    let a = orgs.pop().unwrap();
    (fx, a, b)
}

async fn raw_sql_in_tenant_b(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    let (_fx, a, b) = populated(&t).await;
    let tx = t.db.tenant(&b.ctx).await.unwrap();
    for (table, key) in TENANCY_TABLES {
        // No application filter here: only RLS stands between B and A's rows.
        let all = count(tx.raw(), format!("SELECT count(*) AS n FROM {table}")).await;
        assert!(all > 0, "{table}: B sees its own rows");
        let foreign = count(
            tx.raw(),
            format!(
                "SELECT count(*) AS n FROM {table} WHERE {key} <> '{}'",
                b.org.id
            ),
        )
        .await;
        assert_eq!(foreign, 0, "{table}: B sees another tenant's rows");
        // Zero rows, or refused outright by a column privilege (the organization key is
        // not updatable at all): either way nothing of A's changes. The refusal aborts the
        // transaction, so it runs in a savepoint.
        tx.raw().execute_unprepared("SAVEPOINT upd").await.unwrap();
        let upd = tx
            .raw()
            .execute_raw(stmt(format!(
                "UPDATE {table} SET {key} = {key} WHERE {key} = '{}'",
                a.org.id
            )))
            .await;
        match upd {
            Ok(r) => assert_eq!(r.rows_affected(), 0, "{table}: B updates A's rows"),
            Err(e) => assert!(e.to_string().contains("permission denied"), "{table}: {e}"),
        }
        tx.raw()
            .execute_unprepared("ROLLBACK TO SAVEPOINT upd")
            .await
            .unwrap();
    }
    let del = tx
        .raw()
        .execute_raw(stmt(format!(
            "DELETE FROM tenancy_teams WHERE org_id = '{}'",
            a.org.id
        )))
        .await
        .unwrap();
    assert_eq!(del.rows_affected(), 0);
    tx.rollback().await.unwrap();

    // Writing a row with A's org_id from B's transaction is refused by the policy.
    let inserts = [
        format!(
            "INSERT INTO tenancy_teams (id, org_id, name, slug, created_at, updated_at) VALUES ('{}', '{}', 'x', 'xyz', now(), now())",
            Uuid::now_v7(),
            a.org.id
        ),
        format!(
            "INSERT INTO tenancy_memberships (id, org_id, user_id, email, role, created_at) VALUES ('{}', '{}', '{}', 'evil@example.test', 'owner', now())",
            Uuid::now_v7(),
            a.org.id,
            b.owner
        ),
    ];
    for sql in inserts {
        let tx = t.db.tenant(&b.ctx).await.unwrap();
        let err = tx
            .raw()
            .execute_raw(stmt(sql.clone()))
            .await
            .expect_err(&sql);
        assert!(err.to_string().contains("row-level security"), "{err}");
        tx.rollback().await.unwrap();
    }
}
helix_core::backend_test!(rls_hides_other_tenants_from_raw_sql, raw_sql_in_tenant_b);

/// Every table of the schema that has an `org_id` column, plus the organizations table.
async fn tenant_tables(conn: &impl ConnectionTrait) -> Vec<String> {
    let rows = conn
        .query_all_raw(stmt(
            "SELECT DISTINCT table_name::text AS t FROM information_schema.columns
             WHERE table_schema = current_schema() AND column_name = 'org_id' ORDER BY 1",
        ))
        .await
        .unwrap();
    let mut tables: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect();
    tables.push("tenancy_organizations".into());
    tables
}

async fn no_org_setting(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    let (_fx, _a, _b) = populated(&t).await;
    let conn = t.db.connection();
    let tables = tenant_tables(conn).await;
    assert!(tables.contains(&"helix_audit_log".to_owned()));
    let mut checked = 0;
    for table in tables {
        let readable = count(conn, format!("SELECT count(*) AS n FROM (SELECT 1 WHERE has_table_privilege('helix_app', '{table}', 'SELECT')) s")).await;
        if readable == 0 {
            continue; // the application role cannot read it at all
        }
        let tx = conn.begin().await.unwrap();
        tx.execute_unprepared("SET LOCAL ROLE helix_app")
            .await
            .unwrap();
        let n = count(&tx, format!("SELECT count(*) AS n FROM {table}")).await;
        assert_eq!(n, 0, "{table} returns rows without helix.org_id");
        tx.rollback().await.unwrap();
        checked += 1;
    }
    assert!(checked >= 5, "checked {checked} tables");
}
helix_core::backend_test!(rls_without_org_setting_returns_nothing, no_org_setting);

async fn app_role(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    Helix::builder(t.db.clone())
        .module(TenancyModule)
        .build()
        .await
        .unwrap();
    let conn = t.db.connection();
    for role in ["helix_app", "helix_platform"] {
        let privileged = count(
            conn,
            format!("SELECT count(*) AS n FROM pg_roles WHERE rolname = '{role}' AND (rolsuper OR rolbypassrls)"),
        )
        .await;
        assert_eq!(privileged, 0, "{role} is superuser or BYPASSRLS");
        let exists = count(
            conn,
            format!("SELECT count(*) AS n FROM pg_roles WHERE rolname = '{role}'"),
        )
        .await;
        assert_eq!(exists, 1);
        let owned = count(
            conn,
            format!("SELECT count(*) AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = '{role}'"),
        )
        .await;
        assert_eq!(owned, 0, "{role} owns relations");
    }
}
helix_core::backend_test!(rls_app_role_is_unprivileged, app_role);

async fn catalog(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    Helix::builder(t.db.clone())
        .module(TenancyModule)
        .build()
        .await
        .unwrap();
    let conn = t.db.connection();
    let tables = tenant_tables(conn).await;
    for (table, _) in TENANCY_TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from the catalog walk"
        );
    }
    let mut failures = Vec::new();
    for table in &tables {
        let protected = count(
            conn,
            format!(
                "SELECT count(*) AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
                 WHERE ns.nspname = current_schema() AND c.relname = '{table}'
                   AND c.relrowsecurity AND c.relforcerowsecurity"
            ),
        )
        .await;
        let policies = count(
            conn,
            format!("SELECT count(*) AS n FROM pg_policies WHERE schemaname = current_schema() AND tablename = '{table}'"),
        )
        .await;
        if protected != 1 || policies == 0 {
            failures.push(format!(
                "{table}: rls+force={protected}, policies={policies}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "tenant tables without enforced RLS: {failures:?}"
    );
}
helix_core::backend_test!(rls_catalog_every_tenant_table_is_protected, catalog);
