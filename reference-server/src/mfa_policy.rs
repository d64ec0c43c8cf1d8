//! The glue that lets helix-auth cache organizations' MFA policies: [`MfaPolicyGlue`], a
//! module whose one migration announces every change of an organization's `require_mfa`
//! setting on helix-auth's [`MFA_POLICY_CHANNEL`], and [`forget_changed_mfa_policy`], a
//! middleware that drops the policy from this instance's cache as soon as a
//! `PATCH /api/v1/organization` succeeds.
//!
//! helix-auth consults the policy on every login, refresh and organization switch (see
//! [`crate::organizations::TenancyDirectory`]). Reading it costs a tenant transaction
//! (`BEGIN`, preamble, the membership check, the read, `COMMIT`); with the announcement the
//! answer is kept in memory on PostgreSQL, trusted under helix-core's feed rule (see
//! [`helix_core::notify`]): another instance's change is served stale at most until its
//! notification arrives, never beyond the feed's 1 s heartbeat tolerance. The instance that
//! makes the change drops it at once. SQLite has no feed: the database answers every time.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use helix_auth::MFA_POLICY_CHANNEL;
use helix_auth::sessions::SessionService;
use helix_core::migrate::exec;
use helix_core::sea_orm::DbBackend;
use helix_core::sea_orm_migration::prelude::*;
use helix_core::{Module, RequestContext};

/// The route that changes an organization's settings.
const ORGANIZATION_ROUTE: &str = "/api/v1/organization";

/// The reference server's own module: the trigger that announces MFA policy changes. It
/// needs helix-tenancy's `tenancy_organizations` and helix-auth's channel; register it after
/// both.
#[derive(Debug, Clone, Copy, Default)]
pub struct MfaPolicyGlue;

impl Module for MfaPolicyGlue {
    fn name(&self) -> &'static str {
        "reference-server"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["helix-tenancy", "helix-auth"]
    }

    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(AnnounceMfaPolicy)]
    }
}

struct AnnounceMfaPolicy;

impl MigrationName for AnnounceMfaPolicy {
    fn name(&self) -> &str {
        "reference_server_0001_mfa_policy_notify"
    }
}

/// `require_mfa` is the key of [`crate::organizations::REQUIRE_MFA_SETTING`]. The function
/// pins `search_path` (it runs with the changing role's rights; `pg_notify` is in
/// `pg_catalog`).
const POSTGRES: &str = r#"
CREATE FUNCTION reference_server_mfa_policy_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_notify('helix_auth_mfa_policy_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenancy_organizations_mfa_policy_notify
AFTER UPDATE OF settings ON tenancy_organizations
FOR EACH ROW WHEN (OLD.settings -> 'require_mfa' IS DISTINCT FROM NEW.settings -> 'require_mfa')
EXECUTE FUNCTION reference_server_mfa_policy_notify();

CREATE TRIGGER tenancy_organizations_deleted_mfa_policy_notify
AFTER DELETE ON tenancy_organizations
FOR EACH ROW EXECUTE FUNCTION reference_server_mfa_policy_notify();
"#;

#[async_trait::async_trait]
impl MigrationTrait for AnnounceMfaPolicy {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        debug_assert!(POSTGRES.contains(MFA_POLICY_CHANNEL));
        match manager.get_database_backend() {
            DbBackend::Postgres => exec(manager, POSTGRES).await,
            // A single embedded node: nothing is cached, nothing to announce.
            _ => Ok(()),
        }
    }
}

/// After a successful `PATCH /api/v1/organization`, drops the caller's organization from
/// this instance's MFA policy cache, so that its next login or refresh does not wait for the
/// announcement. Install it inside `authenticate`, so it sees the organization.
pub async fn forget_changed_mfa_policy(
    State(sessions): State<SessionService>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::PATCH || req.uri().path() != ORGANIZATION_ROUTE {
        return next.run(req).await;
    }
    let org = req
        .extensions()
        .get::<RequestContext>()
        .and_then(|ctx| ctx.org_id);
    let response = next.run(req).await;
    if let Some(org) = org
        && response.status().is_success()
    {
        sessions.forget_mfa_policies([org]);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trigger_announces_on_helix_auths_channel_and_the_setting_key() {
        assert!(POSTGRES.contains(&format!("pg_notify('{MFA_POLICY_CHANNEL}'")));
        assert!(POSTGRES.contains(&format!("'{}'", crate::organizations::REQUIRE_MFA_SETTING)));
    }
}
