//! Announces account changes on PostgreSQL, for the profile cache of
//! `SessionService::account_profile`.
//!
//! A trigger on `auth_accounts` sends `NOTIFY helix_auth_account_changed, '<account id>'`
//! when the email or its verification state changes, or the row is deleted, whatever made
//! the change (the services, an operator's SQL). Other updates (login counters, password
//! hashes) are not announced: the cache holds none of those columns. A column added to the
//! cached profile must be added to the trigger's `UPDATE OF` list and condition. SQLite has
//! nothing to announce to: the migration does nothing there.

use helix_core::migrate::exec;
use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0910_account_change_notify"
    }
}

const POSTGRES: &str = r#"
CREATE FUNCTION helix_auth_account_changed_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('helix_auth_account_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER auth_accounts_changed_notify
AFTER UPDATE OF email, email_verified_at ON auth_accounts
FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email
                   OR OLD.email_verified_at IS DISTINCT FROM NEW.email_verified_at)
EXECUTE FUNCTION helix_auth_account_changed_notify();

CREATE TRIGGER auth_accounts_deleted_notify
AFTER DELETE ON auth_accounts
FOR EACH ROW EXECUTE FUNCTION helix_auth_account_changed_notify();
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
