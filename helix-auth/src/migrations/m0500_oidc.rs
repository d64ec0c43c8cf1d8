//! OpenID Connect sign-in.
//!
//! `auth_external_identities`: one row per (issuer, subject) linked to an account.
//! `auth_oidc_states`: pending sign-in attempts, 10-minute single-use rows keyed by the
//! SHA-256 of their `state` (the state itself, the nonce and the PKCE verifier are never
//! stored). Platform-plane, like every auth table.

use helix_core::migrate::exec_for;
use helix_core::rls::grant_platform_table;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0500_oidc"
    }
}

const SQLITE: &str = r#"
CREATE TABLE auth_external_identities (
    id BLOB PRIMARY KEY NOT NULL,
    account_id BLOB NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_login_at TEXT,
    UNIQUE (issuer, subject)
);
CREATE INDEX auth_external_identities_account ON auth_external_identities (account_id);
CREATE TABLE auth_oidc_states (
    id BLOB PRIMARY KEY NOT NULL,
    state_hash TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    salt TEXT NOT NULL,
    link_account_id BLOB REFERENCES auth_accounts (id) ON DELETE CASCADE,
    redirect_uri TEXT,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX auth_oidc_states_expires ON auth_oidc_states (expires_at);
"#;

const POSTGRES: &str = r#"
CREATE TABLE auth_external_identities (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES auth_accounts (id) ON DELETE CASCADE,
    provider text NOT NULL,
    issuer text NOT NULL,
    subject text NOT NULL,
    created_at timestamptz NOT NULL,
    last_login_at timestamptz,
    UNIQUE (issuer, subject)
);
CREATE INDEX auth_external_identities_account ON auth_external_identities (account_id);
CREATE TABLE auth_oidc_states (
    id uuid PRIMARY KEY,
    state_hash text NOT NULL UNIQUE,
    provider text NOT NULL,
    salt text NOT NULL,
    link_account_id uuid REFERENCES auth_accounts (id) ON DELETE CASCADE,
    redirect_uri text,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX auth_oidc_states_expires ON auth_oidc_states (expires_at);
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await?;
        grant_platform_table(
            manager,
            "auth_external_identities",
            "SELECT, INSERT, UPDATE, DELETE",
        )
        .await?;
        grant_platform_table(
            manager,
            "auth_oidc_states",
            "SELECT, INSERT, UPDATE, DELETE",
        )
        .await
    }
}
