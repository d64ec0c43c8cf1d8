//! The transactional outbox: events, per-subscriber deliveries, idempotency records.
//!
//! - `helix_outbox_events`: one row per domain event, written in the business transaction.
//!   Tenant-owned (`org_id`), so it has Row Level Security; the application role may only
//!   `INSERT`, the platform role (the dispatcher) also reads and marks rows fanned out.
//! - `helix_outbox_deliveries`: one row per (event, subscriber), with its retry state. No
//!   `org_id` (it is reached through the event), and only the platform role may touch it:
//!   `last_error` may describe tenant data.
//! - `helix_outbox_processed`: the per-subscriber idempotency record, inserted in the same
//!   transaction as the subscriber's effects. A tenant event's handler runs in a tenant
//!   transaction (the application role on PostgreSQL), so the record is tenant-owned: it
//!   carries the event's `org_id` (`NULL` for platform events), has Row Level Security (the
//!   application role may `SELECT` and `INSERT` its own tenant's records, nothing else), and
//!   `(org_id, event_id)` references `helix_outbox_events (org_id, id)`: a record must name
//!   an event of its own tenant, so one tenant cannot suppress another tenant's deliveries by
//!   pre-inserting their records. Platform records (`org_id IS NULL`) are not checked by that
//!   key (SQL `MATCH SIMPLE`), and only the platform role can write them (the tenant policy
//!   rejects a `NULL` `org_id`).

use sea_orm_migration::prelude::*;

use crate::migrate::exec_for;
use crate::rls::{TenantTable, grant_platform_table};

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_core_0003_outbox"
    }
}

const SQLITE: &str = r#"
CREATE TABLE helix_outbox_events (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    fanned_out INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org_id, id)
);
CREATE INDEX helix_outbox_events_pending ON helix_outbox_events (created_at) WHERE NOT fanned_out;

CREATE TABLE helix_outbox_deliveries (
    id BLOB PRIMARY KEY NOT NULL,
    event_id BLOB NOT NULL REFERENCES helix_outbox_events (id) ON DELETE CASCADE,
    subscriber TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until TEXT,
    locked_by BLOB,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (event_id, subscriber)
);
CREATE INDEX helix_outbox_deliveries_due
    ON helix_outbox_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX helix_outbox_deliveries_dead
    ON helix_outbox_deliveries (subscriber, updated_at) WHERE status = 'dead';

CREATE TABLE helix_outbox_processed (
    subscriber TEXT NOT NULL,
    event_id BLOB NOT NULL,
    org_id BLOB,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (subscriber, event_id),
    FOREIGN KEY (org_id, event_id) REFERENCES helix_outbox_events (org_id, id) ON DELETE CASCADE
);
CREATE INDEX helix_outbox_processed_event ON helix_outbox_processed (org_id, event_id);
"#;

const POSTGRES: &str = r#"
CREATE TABLE helix_outbox_events (
    id uuid PRIMARY KEY,
    org_id uuid,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    correlation_id text NOT NULL,
    created_at timestamptz NOT NULL,
    fanned_out boolean NOT NULL DEFAULT false,
    -- The target of the processed records' tenant-checking foreign key.
    CONSTRAINT helix_outbox_events_org_id_id UNIQUE (org_id, id)
);
CREATE INDEX helix_outbox_events_pending ON helix_outbox_events (created_at) WHERE NOT fanned_out;

CREATE TABLE helix_outbox_deliveries (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES helix_outbox_events (id) ON DELETE CASCADE,
    subscriber text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until timestamptz,
    locked_by uuid,
    last_error text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    delivered_at timestamptz,
    CONSTRAINT helix_outbox_deliveries_event_subscriber UNIQUE (event_id, subscriber)
);
CREATE INDEX helix_outbox_deliveries_due
    ON helix_outbox_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX helix_outbox_deliveries_dead
    ON helix_outbox_deliveries (subscriber, updated_at) WHERE status = 'dead';

CREATE TABLE helix_outbox_processed (
    subscriber text NOT NULL,
    event_id uuid NOT NULL,
    org_id uuid,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (subscriber, event_id),
    -- A record names an event of its own tenant. Composite on purpose: foreign keys ignore
    -- RLS, and a plain key on event_id would accept (so confirm) another tenant's event.
    CONSTRAINT helix_outbox_processed_event FOREIGN KEY (org_id, event_id)
        REFERENCES helix_outbox_events (org_id, id) ON DELETE CASCADE
);
CREATE INDEX helix_outbox_processed_event ON helix_outbox_processed (org_id, event_id);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        // Tenants may only add events; the dispatcher works on the platform path.
        TenantTable::new("helix_outbox_events")
            .app_privileges("INSERT")
            .platform_privileges("SELECT, INSERT, UPDATE, DELETE")
            .apply(manager)
            .await?;
        // Tenant handlers insert their idempotency record in their own (tenant) transaction,
        // and read it back before committing; records are never updated, and only the
        // platform path deletes them.
        TenantTable::new("helix_outbox_processed")
            .app_privileges("SELECT, INSERT")
            .platform_privileges("SELECT, INSERT, DELETE")
            .apply(manager)
            .await?;
        // Least privilege: the application role never sees delivery state (errors may
        // describe tenant data); only the dispatcher does.
        grant_platform_table(
            manager,
            "helix_outbox_deliveries",
            "SELECT, INSERT, UPDATE, DELETE",
        )
        .await?;
        Ok(())
    }
}
