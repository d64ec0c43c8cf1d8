//! The refresh-token rotation as a database function on PostgreSQL, so a refresh is one
//! round trip (`helix_core::Db::platform_call`) whose statements keep their cached plans.
//!
//! `helix_auth_rotate_refresh(now, presented_hash, successor_hash, refresh_until,
//! idle_until)` claims the presented token (unused, unexpired, its session unrevoked, not an
//! impersonation, within its idle and absolute deadlines), extends the session's idle
//! deadline if the session is still unrevoked once its row is locked, and inserts the
//! successor for a session that was extended. It returns the session's row and the
//! successor's expiry, or no row when no successor was inserted; the caller then finds out
//! why with the step-by-step path. (A session revoked between the claim and the extension
//! leaves the presented token marked used and no successor: the session is revoked anyway.) The claim is the conditional `UPDATE ... WHERE used_at
//! IS NULL`, so of N concurrent calls with one token exactly one rotates it. Only the
//! platform role may execute it. SQLite has no functions: the migration does nothing there.

use helix_core::db::PLATFORM_ROLE;
use helix_core::migrate::exec;
use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0920_refresh_rotation"
    }
}

const POSTGRES: &str = r#"
CREATE FUNCTION helix_auth_rotate_refresh(
    p_now timestamptz,
    p_hash text,
    p_next_hash text,
    p_refresh_until timestamptz,
    p_idle_until timestamptz
) RETURNS TABLE (
    id uuid, account_id uuid, kind text, actor_account_id uuid, user_agent text, ip text,
    created_at timestamptz, last_seen_at timestamptz, idle_expires_at timestamptz,
    absolute_expires_at timestamptz, revoked_at timestamptz, revoked_reason text,
    active_org_id uuid, amr text, t_expires_at timestamptz
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH claimed AS (
        UPDATE auth_refresh_tokens t SET used_at = p_now
        FROM auth_sessions s
        WHERE t.token_hash = p_hash AND t.used_at IS NULL AND t.expires_at > p_now
          AND s.id = t.family_id AND s.revoked_at IS NULL AND s.kind <> 'impersonation'
          AND s.idle_expires_at > p_now AND s.absolute_expires_at > p_now
        RETURNING t.family_id, t.generation
    ), touched AS (
        UPDATE auth_sessions s
        SET last_seen_at = p_now, idle_expires_at = LEAST(p_idle_until, s.absolute_expires_at)
        FROM claimed c
        WHERE s.id = c.family_id AND s.revoked_at IS NULL
        RETURNING s.*, c.generation AS t_generation
    ), inserted AS (
        INSERT INTO auth_refresh_tokens
            (token_hash, family_id, generation, parent_hash, created_at, expires_at)
        SELECT p_next_hash, s.id, s.t_generation + 1, p_hash, p_now,
               LEAST(p_refresh_until, s.absolute_expires_at)
        FROM touched s
        RETURNING auth_refresh_tokens.expires_at
    )
    SELECT s.id, s.account_id, s.kind, s.actor_account_id, s.user_agent, s.ip, s.created_at,
           s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.revoked_at,
           s.revoked_reason, s.active_org_id, s.amr, i.expires_at
    FROM touched s CROSS JOIN inserted i;
END
$$;

REVOKE ALL ON FUNCTION helix_auth_rotate_refresh(timestamptz, text, text, timestamptz, timestamptz)
    FROM PUBLIC;
"#;

const SIGNATURE: &str =
    "helix_auth_rotate_refresh(timestamptz, text, text, timestamptz, timestamptz)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                exec(manager, POSTGRES).await?;
                let grant = format!("GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {PLATFORM_ROLE}");
                exec(manager, &grant).await
            }
            _ => Ok(()),
        }
    }
}
