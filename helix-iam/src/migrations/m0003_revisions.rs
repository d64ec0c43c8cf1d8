//! Per-organization policy revisions and the change log, maintained by triggers.
//!
//! Every `INSERT`, `UPDATE` or `DELETE` of a row of `iam_roles`, `iam_role_permissions`,
//! `iam_assignments`, `iam_tuples`, `tenancy_memberships` or `tenancy_team_members` (one
//! bump per row) increments `iam_revisions.revision` of the row's organization and appends
//! an `iam_changelog` row carrying that revision, in the transaction that made the change,
//! whatever code made it. On PostgreSQL the trigger also sends
//! `NOTIFY helix_iam_changed, '<org_id>:<revision>'`, delivered at commit; the revision row
//! is locked until then, so an organization's revisions commit in order.
//!
//! The triggers run as the invoking role (never `SECURITY DEFINER`): on PostgreSQL a tenant
//! transaction can only bump its own organization's revision, because Row Level Security
//! holds on both tables. `TRUNCATE` is not tracked (no application path truncates).
//!
//! `iam_revisions` and `iam_changelog` have no foreign key to the organization: deleting an
//! organization cascades to its memberships, whose triggers still append to the log.

use helix_core::migrate::exec;
use helix_core::rls::TenantTable;
use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_iam_0003_revisions"
    }
}

/// A column copied into the change's `detail`, and whether it holds a UUID.
type DetailColumn = (&'static str, bool);

/// Watched tables: (table, entity name in the log, columns copied into `detail`).
const WATCHED: [(&str, &str, &[DetailColumn]); 6] = [
    ("iam_roles", "role", &[("id", true), ("key", false)]),
    (
        "iam_role_permissions",
        "role_permission",
        &[("role_id", true), ("permission", false)],
    ),
    (
        "iam_assignments",
        "assignment",
        &[
            ("id", true),
            ("subject", false),
            ("role_id", true),
            ("scope", false),
        ],
    ),
    (
        "iam_tuples",
        "tuple",
        &[
            ("object_type", false),
            ("object_id", false),
            ("relation", false),
            ("subject_type", false),
            ("subject_id", false),
            ("subject_relation", false),
        ],
    ),
    (
        "tenancy_memberships",
        "membership",
        &[("id", true), ("user_id", true), ("role", false)],
    ),
    (
        "tenancy_team_members",
        "team_member",
        &[("team_id", true), ("user_id", true)],
    ),
];

const SQLITE_TABLES: &str = r#"
CREATE TABLE iam_revisions (
    org_id BLOB PRIMARY KEY NOT NULL,
    revision INTEGER NOT NULL
);
CREATE TABLE iam_changelog (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BLOB NOT NULL,
    revision INTEGER NOT NULL,
    entity TEXT NOT NULL,
    op TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX iam_changelog_org_revision ON iam_changelog (org_id, revision);
"#;

const POSTGRES_TABLES: &str = r#"
CREATE TABLE iam_revisions (
    org_id uuid PRIMARY KEY,
    revision bigint NOT NULL
);
CREATE TABLE iam_changelog (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id uuid NOT NULL,
    revision bigint NOT NULL,
    entity text NOT NULL,
    op text NOT NULL,
    detail text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX iam_changelog_org_revision ON iam_changelog (org_id, revision);

CREATE FUNCTION helix_iam_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    org uuid;
    rev bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    org := (r ->> 'org_id')::uuid;
    INSERT INTO iam_revisions AS v (org_id, revision) VALUES (org, 1)
        ON CONFLICT (org_id) DO UPDATE SET revision = v.revision + 1
        RETURNING v.revision INTO rev;
    INSERT INTO iam_changelog (org_id, revision, entity, op, detail)
    VALUES (
        org, rev, TG_ARGV[0], lower(TG_OP),
        COALESCE(
            (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(r) e
              WHERE e.key = ANY (TG_ARGV[1:])),
            '{}'::jsonb
        )::text
    );
    PERFORM pg_notify('helix_iam_changed', org::text || ':' || rev::text);
    RETURN NULL;
END
$$;
"#;

fn postgres_triggers() -> String {
    let mut sql = String::new();
    for (table, entity, columns) in WATCHED {
        let args: Vec<String> = std::iter::once(entity)
            .chain(columns.iter().map(|(c, _)| *c))
            .map(|a| format!("'{a}'"))
            .collect();
        sql.push_str(&format!(
            "CREATE TRIGGER {table}_iam_change AFTER INSERT OR UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION helix_iam_record_change({});\n",
            args.join(", ")
        ));
    }
    sql
}

/// A SQLite expression rendering a 16-byte UUID blob in its hyphenated text form.
fn sqlite_uuid_text(expr: &str) -> String {
    let h = format!("hex({expr})");
    format!(
        "lower(substr({h},1,8)||'-'||substr({h},9,4)||'-'||substr({h},13,4)||'-'||substr({h},17,4)||'-'||substr({h},21,12))"
    )
}

fn sqlite_triggers() -> String {
    let mut sql = String::new();
    for (table, entity, columns) in WATCHED {
        for (op, row) in [("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")] {
            let detail: Vec<String> = columns
                .iter()
                .map(|(c, uuid)| {
                    let value = if *uuid {
                        sqlite_uuid_text(&format!("{row}.\"{c}\""))
                    } else {
                        format!("{row}.\"{c}\"")
                    };
                    format!("'{c}', {value}")
                })
                .collect();
            sql.push_str(&format!(
                "CREATE TRIGGER {table}_iam_{op} AFTER {upper} ON {table} FOR EACH ROW BEGIN
    INSERT OR IGNORE INTO iam_revisions (org_id, revision) VALUES ({row}.org_id, 0);
    UPDATE iam_revisions SET revision = revision + 1 WHERE org_id = {row}.org_id;
    INSERT INTO iam_changelog (org_id, revision, entity, op, detail, created_at)
        SELECT {row}.org_id, revision, '{entity}', '{op}', json_object({detail}),
               strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM iam_revisions WHERE org_id = {row}.org_id;
END;
",
                upper = op.to_uppercase(),
                detail = detail.join(", "),
            ));
        }
    }
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                exec(manager, POSTGRES_TABLES).await?;
                exec(manager, &postgres_triggers()).await?;
            }
            _ => {
                exec(manager, SQLITE_TABLES).await?;
                exec(manager, &sqlite_triggers()).await?;
            }
        }
        TenantTable::new("iam_revisions")
            .app_privileges("SELECT, INSERT, UPDATE")
            .apply(manager)
            .await?;
        TenantTable::new("iam_changelog")
            .app_privileges("SELECT, INSERT")
            .platform_privileges("SELECT, INSERT, DELETE")
            .apply(manager)
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_watched_table_gets_three_sqlite_triggers_and_one_postgres_trigger() {
        let sqlite = super::sqlite_triggers();
        assert_eq!(sqlite.matches("CREATE TRIGGER").count(), 18);
        let pg = super::postgres_triggers();
        assert_eq!(pg.matches("CREATE TRIGGER").count(), 6);
        assert!(pg.contains("helix_iam_record_change('membership', 'id', 'user_id', 'role')"));
        assert!(
            super::POSTGRES_TABLES
                .contains(&format!("pg_notify('{}'", crate::sync::CHANGE_CHANNEL))
        );
    }
}
