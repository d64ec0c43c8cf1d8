//! The audit log, its per-tenant chain heads, retention settings and purge bookkeeping.
//!
//! # Append-only enforcement
//!
//! `helix_audit_log` refuses `UPDATE` and `DELETE` by trigger on both backends (and
//! `TRUNCATE` on PostgreSQL). On PostgreSQL the application role additionally holds only
//! `SELECT, INSERT` on it, so a tenant transaction cannot even reach the trigger.
//!
//! The one deletion ever allowed is the retention purge ([`crate::audit::purge`]). Its
//! escape hatch is the **purge guard**: the delete trigger lets a row go only when
//! `helix_audit_purge_guard` holds a row for the same tenant whose `through_seq` covers the
//! row's `seq`. The purge writes that guard row, deletes a verified prefix of the chain,
//! records the new anchor in `helix_audit_anchors` and removes the guard row, all in one
//! transaction, so the guard is never visible to anyone else. On PostgreSQL:
//!
//! - only the platform role may write the guard table and delete from the log (the
//!   application role has no privilege on the guard and no `DELETE` on the log);
//! - a deferred constraint trigger refuses to commit a transaction that leaves a guard row
//!   behind, so the hatch cannot be propped open;
//! - the trigger functions run as the invoker with a pinned `search_path`
//!   (`pg_catalog, pg_temp`) and name the guard table by the trigger's own schema, so a
//!   look-alike table elsewhere on the path cannot open the hatch.
//!
//! On SQLite there are no roles: the guard makes deletion deliberate rather than
//! impossible, and [`crate::audit::verify`] still detects any deletion that does not move
//! the anchor consistently. `helix_audit_purge_runs` is append-only the same way (no escape).
//!
//! # Retention
//!
//! `helix_audit_retention` holds, per tenant, the retention in days (`NULL`: keep forever,
//! the default when no row exists) and the legal-hold flag. On PostgreSQL the application
//! role may only write `retention_days` and `updated_at` (column privileges): legal hold is
//! set on the platform path, so a tenant cannot lift a hold placed on it.

use sea_orm_migration::prelude::*;

use crate::db::APP_ROLE;
use crate::migrate::{exec, exec_for};
use crate::rls::{TenantTable, grant_platform_table};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0002_audit_log"
    }
}

const SQLITE: &str = r#"
CREATE TABLE helix_audit_log (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL,
    seq INTEGER NOT NULL,
    occurred_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT,
    correlation_id TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX helix_audit_log_org_time ON helix_audit_log (org_id, occurred_at);
CREATE INDEX helix_audit_log_org_entity ON helix_audit_log (org_id, entity_type, entity_id);
CREATE INDEX helix_audit_log_org_actor ON helix_audit_log (org_id, actor);
CREATE TABLE helix_audit_heads (
    org_id BLOB PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE helix_audit_anchors (
    org_id BLOB PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    run_id BLOB NOT NULL,
    anchored_at TEXT NOT NULL
);
CREATE TABLE helix_audit_purge_guard (
    org_id BLOB PRIMARY KEY NOT NULL,
    through_seq INTEGER NOT NULL,
    run_id BLOB NOT NULL
);
CREATE TABLE helix_audit_retention (
    org_id BLOB PRIMARY KEY NOT NULL,
    retention_days INTEGER CHECK (retention_days IS NULL OR retention_days > 0),
    legal_hold INTEGER NOT NULL DEFAULT 0,
    legal_hold_reason TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE helix_audit_purge_runs (
    id BLOB PRIMARY KEY NOT NULL,
    actor TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    tenants_purged INTEGER NOT NULL,
    tenants_held INTEGER NOT NULL,
    tenants_failed INTEGER NOT NULL,
    rows_deleted INTEGER NOT NULL,
    details TEXT NOT NULL
);
CREATE TRIGGER helix_audit_log_no_update BEFORE UPDATE ON helix_audit_log
BEGIN
    SELECT RAISE(ABORT, 'helix_audit_log is append-only');
END;
CREATE TRIGGER helix_audit_log_no_delete BEFORE DELETE ON helix_audit_log
WHEN NOT EXISTS (
    SELECT 1 FROM helix_audit_purge_guard g
    WHERE g.org_id = OLD.org_id AND OLD.seq <= g.through_seq
)
BEGIN
    SELECT RAISE(ABORT, 'helix_audit_log is append-only');
END;
CREATE TRIGGER helix_audit_purge_runs_no_update BEFORE UPDATE ON helix_audit_purge_runs
BEGIN
    SELECT RAISE(ABORT, 'helix_audit_purge_runs is append-only');
END;
CREATE TRIGGER helix_audit_purge_runs_no_delete BEFORE DELETE ON helix_audit_purge_runs
BEGIN
    SELECT RAISE(ABORT, 'helix_audit_purge_runs is append-only');
END;
"#;

const POSTGRES: &str = r#"
CREATE TABLE helix_audit_log (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    seq bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id text,
    correlation_id text NOT NULL,
    ip text,
    user_agent text,
    data jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    UNIQUE (org_id, seq)
);
CREATE INDEX helix_audit_log_org_time ON helix_audit_log (org_id, occurred_at);
CREATE INDEX helix_audit_log_org_entity ON helix_audit_log (org_id, entity_type, entity_id);
CREATE INDEX helix_audit_log_org_actor ON helix_audit_log (org_id, actor);
CREATE TABLE helix_audit_heads (
    org_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL
);
CREATE TABLE helix_audit_anchors (
    org_id uuid PRIMARY KEY,
    seq bigint NOT NULL,
    hash text NOT NULL,
    run_id uuid NOT NULL,
    anchored_at timestamptz NOT NULL
);
CREATE TABLE helix_audit_purge_guard (
    org_id uuid PRIMARY KEY,
    through_seq bigint NOT NULL,
    run_id uuid NOT NULL
);
CREATE TABLE helix_audit_retention (
    org_id uuid PRIMARY KEY,
    retention_days integer CHECK (retention_days IS NULL OR retention_days > 0),
    legal_hold boolean NOT NULL DEFAULT false,
    legal_hold_reason text,
    updated_at timestamptz NOT NULL
);
CREATE TABLE helix_audit_purge_runs (
    id uuid PRIMARY KEY,
    actor text NOT NULL,
    correlation_id text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    tenants_purged integer NOT NULL,
    tenants_held integer NOT NULL,
    tenants_failed integer NOT NULL,
    rows_deleted bigint NOT NULL,
    details jsonb NOT NULL
);

CREATE FUNCTION helix_audit_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    permitted boolean := false;
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'helix_audit_log' THEN
        EXECUTE format(
            'SELECT EXISTS (SELECT 1 FROM %I.helix_audit_purge_guard g WHERE g.org_id = $1 AND $2 <= g.through_seq)',
            TG_TABLE_SCHEMA)
        INTO permitted
        USING OLD.org_id, OLD.seq;
        IF permitted THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$fn$;

CREATE FUNCTION helix_audit_purge_guard_transient() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    lingering boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.helix_audit_purge_guard WHERE org_id = $1)', TG_TABLE_SCHEMA)
    INTO lingering
    USING NEW.org_id;
    IF lingering THEN
        RAISE EXCEPTION 'helix_audit_purge_guard rows must be removed by the transaction that wrote them';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER helix_audit_log_no_update BEFORE UPDATE ON helix_audit_log
    FOR EACH ROW EXECUTE FUNCTION helix_audit_append_only();
CREATE TRIGGER helix_audit_log_no_delete BEFORE DELETE ON helix_audit_log
    FOR EACH ROW EXECUTE FUNCTION helix_audit_append_only();
CREATE TRIGGER helix_audit_log_no_truncate BEFORE TRUNCATE ON helix_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION helix_audit_append_only();
CREATE TRIGGER helix_audit_purge_runs_no_update BEFORE UPDATE ON helix_audit_purge_runs
    FOR EACH ROW EXECUTE FUNCTION helix_audit_append_only();
CREATE TRIGGER helix_audit_purge_runs_no_delete BEFORE DELETE ON helix_audit_purge_runs
    FOR EACH ROW EXECUTE FUNCTION helix_audit_append_only();
CREATE TRIGGER helix_audit_purge_runs_no_truncate BEFORE TRUNCATE ON helix_audit_purge_runs
    FOR EACH STATEMENT EXECUTE FUNCTION helix_audit_append_only();
CREATE CONSTRAINT TRIGGER helix_audit_purge_guard_transient AFTER INSERT ON helix_audit_purge_guard
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION helix_audit_purge_guard_transient();
"#;

/// Privileges [`TenantTable`] cannot express: function `EXECUTE`, no privilege at all for the
/// application role on the guard, and column privileges on the retention table.
fn postgres_grants() -> String {
    format!(
        r#"
REVOKE EXECUTE ON FUNCTION helix_audit_append_only() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION helix_audit_purge_guard_transient() FROM PUBLIC;
REVOKE ALL ON helix_audit_purge_guard FROM {APP_ROLE};
GRANT INSERT (org_id, retention_days, updated_at), UPDATE (retention_days, updated_at)
    ON helix_audit_retention TO {APP_ROLE};
"#
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        // Only the platform role deletes from the log (the purge, through the guard).
        TenantTable::new("helix_audit_log")
            .app_privileges("SELECT, INSERT")
            .platform_privileges("SELECT, INSERT, DELETE")
            .apply(manager)
            .await?;
        TenantTable::new("helix_audit_heads")
            .app_privileges("SELECT, INSERT, UPDATE")
            .apply(manager)
            .await?;
        // Anchors are moved by the purge only.
        TenantTable::new("helix_audit_anchors")
            .app_privileges("SELECT")
            .platform_privileges("SELECT, INSERT, UPDATE")
            .apply(manager)
            .await?;
        // The application role gets nothing on the guard: `postgres_grants` revokes the
        // `SELECT` that `TenantTable` always grants it.
        TenantTable::new("helix_audit_purge_guard")
            .app_privileges("SELECT")
            .platform_privileges("SELECT, INSERT, DELETE")
            .apply(manager)
            .await?;
        // The application role writes only `retention_days` (column privileges in
        // `postgres_grants`); the platform role also writes the legal hold.
        TenantTable::new("helix_audit_retention")
            .app_privileges("SELECT")
            .platform_privileges("SELECT, INSERT, UPDATE")
            .apply(manager)
            .await?;
        grant_platform_table(manager, "helix_audit_purge_runs", "SELECT, INSERT").await?;
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            exec(manager, &postgres_grants()).await?;
        }
        Ok(())
    }
}
