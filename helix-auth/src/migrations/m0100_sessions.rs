//! Sessions and refresh-token families.
//!
//! - `auth_sessions`: one row per sign-in (a device), keyed by an opaque `account_id` (no
//!   foreign key: sessions do not depend on how accounts are stored). `kind` is `normal`,
//!   `admin` or `impersonation` (then `actor_account_id` names the impersonator).
//!   `active_org_id` is the organization selected in the session (opaque, no foreign key:
//!   helix-auth does not know organizations), carried by its access tokens as `org`.
//! - `auth_refresh_tokens`: the family of a session (`family_id` = session id), one row per
//!   generation, storing only the SHA-256 of each opaque token. Rotation marks a row used
//!   with a conditional `UPDATE ... WHERE used_at IS NULL`, so one token yields one child.
//!
//! Both are platform-plane tables (no `org_id`): only the platform role may touch them.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0100_sessions"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_sessions (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('normal', 'admin', 'impersonation')),
    actor_account_id BLOB,
    user_agent TEXT,
    ip TEXT,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    idle_expires_at TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT,
    active_org_id BLOB
);
CREATE INDEX auth_sessions_account ON auth_sessions (account_id, created_at);

CREATE TABLE auth_refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id BLOB NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL,
    parent_hash TEXT,
    created_at TEXT NOT NULL,
    used_at TEXT,
    expires_at TEXT NOT NULL,
    UNIQUE (family_id, generation)
);
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_sessions (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('normal', 'admin', 'impersonation')),
    actor_account_id uuid,
    user_agent text,
    ip text,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_reason text,
    active_org_id uuid
);
CREATE INDEX auth_sessions_account ON auth_sessions (account_id, created_at);

CREATE TABLE auth_refresh_tokens (
    token_hash text PRIMARY KEY,
    family_id uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    generation bigint NOT NULL,
    parent_hash text,
    created_at timestamptz NOT NULL,
    used_at timestamptz,
    expires_at timestamptz NOT NULL,
    CONSTRAINT auth_refresh_tokens_family_generation UNIQUE (family_id, generation)
);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        for table in ["auth_sessions", "auth_refresh_tokens"] {
            grant_platform_table(manager, table, "SELECT, INSERT, UPDATE, DELETE").await?;
        }
        Ok(())
    }
}
