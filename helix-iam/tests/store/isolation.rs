//! Cross-tenant isolation of every IAM table: through the store (both backends) and, on
//! PostgreSQL, through raw SQL where only Row Level Security stands between tenants.

use helix_core::Backend;
use helix_core::backend_test;
use helix_core::list::ListQuery;
use helix_core::sea_orm::{ConnectionTrait, DbBackend, Statement};
use helix_core::testing::TestDb;
use helix_iam::model::{ObjectRef, Scope, Subject};
use helix_iam::store::{AssignmentFilter, NewAssignment, NewRole, TupleFilter, TupleWrite};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

const IAM_TABLES: [&str; 6] = [
    "iam_roles",
    "iam_role_permissions",
    "iam_assignments",
    "iam_tuples",
    "iam_revisions",
    "iam_changelog",
];

struct Populated {
    role: Uuid,
    assignment: Uuid,
}

/// A role with a permission, an assignment and a tuple in `org`.
async fn populate(fx: &Fixture, org: &Org) -> Populated {
    let (role, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_role(
            &tx,
            NewRole {
                key: "custom".into(),
                name: "Custom".into(),
                permissions: vec![PERMS[1].into()],
            },
        )
        .await
        .unwrap());
    let (a, _) = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .create_assignment(
            &tx,
            NewAssignment {
                subject: Subject::user(org.owner),
                role_id: role.id,
                scope: Scope::Object {
                    object: ObjectRef::new("document", "1"),
                },
            },
        )
        .await
        .unwrap());
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: vec![
                    format!("document:1#viewer@user:{}", org.owner)
                        .parse()
                        .unwrap()
                ],
                delete: vec![],
            }
        )
        .await
        .unwrap());
    Populated {
        role: role.id,
        assignment: a.id,
    }
}

async fn tenants_never_see_each_other(t: TestDb) {
    let fx = setup(&t).await;
    let a = create_org(&fx.tenancy).await;
    let b = create_org(&fx.tenancy).await;
    let pa = populate(&fx, &a).await;
    let pb = populate(&fx, &b).await;
    let rev_b = revision(&fx.db, &b.ctx).await;

    let tx = fx.db.tenant(&a.ctx).await.unwrap();
    let q = ListQuery::default();
    let roles = fx.store.list_roles(&tx, &q).await.unwrap();
    assert_eq!(roles.meta.total, 1);
    assert_eq!(roles.data[0].id, pa.role);
    let assignments = fx
        .store
        .list_assignments(&tx, &AssignmentFilter::default(), &q)
        .await
        .unwrap();
    assert_eq!(assignments.meta.total, 1);
    assert_eq!(assignments.data[0].id, pa.assignment);
    let tuples = fx
        .store
        .list_tuples(&tx, &TupleFilter::default(), &q)
        .await
        .unwrap();
    assert_eq!(tuples.meta.total, 1);
    assert_eq!(
        tuples.data[0].subject,
        Subject::user(a.owner),
        "only A's tuple"
    );

    // B's records are "not found" in A, for reads and writes alike.
    assert_eq!(code(fx.store.get_role(&tx, pb.role).await), "NOT_FOUND");
    assert_eq!(
        code(fx.store.rename_role(&tx, pb.role, "X").await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(fx.store.set_role_permissions(&tx, pb.role, &[]).await),
        "NOT_FOUND"
    );
    assert_eq!(code(fx.store.delete_role(&tx, pb.role).await), "NOT_FOUND");
    assert_eq!(
        code(
            fx.store
                .create_assignment(
                    &tx,
                    NewAssignment {
                        subject: Subject::user(a.owner),
                        role_id: pb.role,
                        scope: Scope::Tenant,
                    },
                )
                .await
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        code(fx.store.get_assignment(&tx, pb.assignment).await),
        "NOT_FOUND"
    );
    assert_eq!(
        code(fx.store.delete_assignment(&tx, pb.assignment).await),
        "NOT_FOUND"
    );
    // Deleting B's tuple text from A deletes nothing of B's.
    let out = fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: vec![],
                delete: vec![
                    format!("document:1#viewer@user:{}", b.owner)
                        .parse()
                        .unwrap(),
                ],
            },
        )
        .await
        .unwrap();
    assert_eq!(out.deleted, 0);
    // The same role key in both organizations is fine (tenant-scoped unique).
    fx.store
        .create_role(
            &tx,
            NewRole {
                key: "other".into(),
                name: "Other".into(),
                permissions: vec![],
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        revision(&fx.db, &b.ctx).await,
        rev_b,
        "A's writes never moved B"
    );
    let log_b = changelog(&fx.db, &b.ctx).await;
    assert!(log_b.iter().all(|c| c.org_id == b.id));
    let tx = fx.db.tenant(&b.ctx).await.unwrap();
    assert_eq!(
        fx.store.get_role(&tx, pb.role).await.unwrap().name,
        "Custom"
    );
}
backend_test!(tenants_never_see_each_other, tenants_never_see_each_other);

fn stmt(sql: String) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

async fn count(conn: &impl ConnectionTrait, sql: String) -> i64 {
    let row = conn
        .query_one_raw(stmt(sql.clone()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.expect("one row").try_get::<i64>("", "n").expect("n")
}

async fn row_level_security_holds_without_the_app_filter(t: TestDb) {
    if t.db.backend() != Backend::Postgres {
        return;
    }
    let fx = setup(&t).await;
    let a = create_org(&fx.tenancy).await;
    let b = create_org(&fx.tenancy).await;
    populate(&fx, &a).await;
    let pb = populate(&fx, &b).await;

    let tx = fx.db.tenant(&a.ctx).await.unwrap();
    for table in IAM_TABLES {
        let own = count(tx.raw(), format!("SELECT count(*) AS n FROM {table}")).await;
        assert!(own > 0, "{table}: A sees its own rows");
        let foreign = count(
            tx.raw(),
            format!(
                "SELECT count(*) AS n FROM {table} WHERE org_id <> '{}'",
                a.id
            ),
        )
        .await;
        assert_eq!(foreign, 0, "{table}: A sees none of B's rows");
    }
    tx.rollback().await.unwrap();

    // Writing into B from A's transaction is refused by the policies' WITH CHECK.
    let now = "now()";
    let writes = [
        format!(
            "INSERT INTO iam_roles (id, org_id, key, name, builtin, created_at, updated_at) \
             VALUES ('{}', '{}', 'x', 'X', false, {now}, {now})",
            Uuid::now_v7(),
            b.id
        ),
        format!(
            "INSERT INTO iam_role_permissions (org_id, role_id, permission) VALUES ('{}', '{}', 'a.b')",
            b.id, pb.role
        ),
        format!(
            "INSERT INTO iam_assignments (id, org_id, subject, role_id, scope, created_at, created_by) \
             VALUES ('{}', '{}', 'user:{}', '{}', 'tenant', {now}, 'x')",
            Uuid::now_v7(),
            b.id,
            a.owner,
            pb.role
        ),
        format!(
            "INSERT INTO iam_tuples (org_id, object_type, object_id, relation, subject_type, subject_id, subject_relation, created_at) \
             VALUES ('{}', 'document', '9', 'viewer', 'user', '{}', '', {now})",
            b.id, a.owner
        ),
        format!(
            "INSERT INTO iam_revisions (org_id, revision) VALUES ('{}', 999) \
             ON CONFLICT (org_id) DO UPDATE SET revision = 999",
            b.id
        ),
        format!(
            "INSERT INTO iam_changelog (org_id, revision, entity, op, detail) \
             VALUES ('{}', 1, 'x', 'insert', '{{}}')",
            b.id
        ),
        "INSERT INTO iam_platform_roles (user_id, role, granted_at, granted_by) \
         VALUES (gen_random_uuid(), 'support', now(), 'x')"
            .to_owned(),
        "UPDATE iam_changelog SET detail = 'x'".to_owned(),
        "DELETE FROM iam_changelog".to_owned(),
    ];
    for sql in writes {
        let tx = fx.db.tenant(&a.ctx).await.unwrap();
        let res = tx.raw().execute_raw(stmt(sql.clone())).await;
        assert!(res.is_err(), "A's transaction may not run: {sql}");
        tx.rollback().await.unwrap();
    }
    // Updating B's rows from A touches nothing.
    let tx = fx.db.tenant(&a.ctx).await.unwrap();
    let res = tx
        .raw()
        .execute_raw(stmt(format!(
            "UPDATE iam_roles SET name = 'pwned' WHERE id = '{}'",
            pb.role
        )))
        .await
        .unwrap();
    assert_eq!(res.rows_affected(), 0);
    tx.commit().await.unwrap();
    let tx = fx.db.tenant(&b.ctx).await.unwrap();
    assert_eq!(
        fx.store.get_role(&tx, pb.role).await.unwrap().name,
        "Custom"
    );
}
backend_test!(
    row_level_security_holds_without_the_app_filter,
    row_level_security_holds_without_the_app_filter
);
