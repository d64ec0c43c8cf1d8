//! The transactional outbox: events, per-subscriber deliveries, idempotency records.
//!
//! - `helix_outbox_events`: one row per domain event, written in the business transaction.
//!   Tenant-owned (`org_id`), so it has Row Level Security; the application role may only
//!   `INSERT`, the platform role (the dispatcher) also reads and marks rows fanned out.
//! - `helix_outbox_deliveries`: one row per (event, subscriber), with its retry state. No
//!   `org_id` (it is reached through the event), and only the platform role may touch it:
//!   `last_error` may describe tenant data.
//! - `helix_outbox_processed`: the per-subscriber idempotency record, inserted in the same
//!   transaction as the subscriber's effects. Platform role only.

use sea_orm_migration::prelude::*;

use crate::db::PLATFORM_ROLE;
use crate::migrate::{exec, exec_for};
use crate::rls::TenantTable;

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
    fanned_out INTEGER NOT NULL DEFAULT 0
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
    processed_at TEXT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
"#;

const POSTGRES: &str = r#"
CREATE TABLE helix_outbox_events (
    id uuid PRIMARY KEY,
    org_id uuid,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    correlation_id text NOT NULL,
    created_at timestamptz NOT NULL,
    fanned_out boolean NOT NULL DEFAULT false
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
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
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
        if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
            // Least privilege: the application role never sees delivery state (errors may
            // describe tenant data) nor idempotency records; only the dispatcher does.
            exec(
                manager,
                &format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON helix_outbox_deliveries TO {PLATFORM_ROLE};
                     GRANT SELECT, INSERT, DELETE ON helix_outbox_processed TO {PLATFORM_ROLE};"
                ),
            )
            .await?;
        }
        Ok(())
    }
}
