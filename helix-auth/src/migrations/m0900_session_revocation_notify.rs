//! Announces revoked and deleted sessions on PostgreSQL.
//!
//! A trigger on `auth_sessions` sends `NOTIFY helix_auth_session_revoked, '<session id>'`
//! when `revoked_at` is first set or the row is deleted, whatever made the change (the
//! services, a refresh-token reuse, an operator's SQL). Notifications are delivered when the
//! transaction commits. Every server instance that runs
//! `SessionService::follow_revocations` drops the session from its memory at once. SQLite
//! has nothing to announce to: the migration does nothing there.

use helix_core::migrate::exec;
use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0900_session_revocation_notify"
    }
}

const POSTGRES: &str = r#"
CREATE FUNCTION helix_auth_session_revoked_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('helix_auth_session_revoked', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER auth_sessions_revoked_notify
AFTER UPDATE OF revoked_at ON auth_sessions
FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
EXECUTE FUNCTION helix_auth_session_revoked_notify();

CREATE TRIGGER auth_sessions_deleted_notify
AFTER DELETE ON auth_sessions
FOR EACH ROW EXECUTE FUNCTION helix_auth_session_revoked_notify();
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => exec(manager, POSTGRES).await,
            _ => Ok(()),
        }
    }
}
