//! The glue between helix-auth and helix-tenancy: [`TenancyDirectory`], helix-auth's
//! [`OrganizationDirectory`] implemented over [`TenancyService`]. helix-auth does not depend on
//! tenancy; the server connects them in `auth_state`.
//!
//! - A new session starts in the account's oldest membership.
//! - Switching organization is allowed to any organization the account is a member of.
//! - Verifying an email creates the account's personal organization: named
//!   "`<local part>`'s workspace", slug `personal-<last 12 hex digits of the account id>` (the
//!   random part of a UUID v7; the first digits are a timestamp shared by accounts created in
//!   the same millisecond), the tenancy service's default region (setting
//!   `tenancy.default_region`, [`PERSONAL_REGION`] unless configured), plan `free`, the account as
//!   owner. It runs once per verification: when the slug is taken and the account already
//!   belongs to an organization (a second verification of another outstanding token), it
//!   does nothing; when someone else holds the slug, a random suffix is added.
//! - MFA policy ([`MfaRequirement`]): an organization requires MFA when its `settings` JSON
//!   has `"require_mfa": true` (owners and admins set it with `PATCH /api/v1/organization`).
//!   A session without a second factor then gets no token for it (see helix-auth's HTTP
//!   docs).

use async_trait::async_trait;
use helix_auth::{MfaPolicy, MfaRequirement, OrganizationDirectory};
use helix_core::{Actor, PlatformContext, TenantContext};
use helix_tenancy::{NewOrganization, Region, TenancyError, TenancyService};
use uuid::Uuid;

/// The default region of personal organizations (setting `tenancy.default_region` replaces
/// it).
pub const PERSONAL_REGION: Region = Region::Us;

/// helix-auth's organization directory over helix-tenancy.
#[derive(Clone, Debug)]
pub struct TenancyDirectory {
    tenancy: TenancyService,
}

impl TenancyDirectory {
    /// The directory over `tenancy`.
    pub fn new(tenancy: TenancyService) -> Self {
        Self { tenancy }
    }

    fn ctx(account_id: Uuid) -> PlatformContext {
        PlatformContext::new(Actor::User(account_id))
    }
}

/// The slug of `account_id`'s personal organization.
pub fn personal_slug(account_id: Uuid) -> String {
    let hex = account_id.simple().to_string();
    format!("personal-{}", &hex[hex.len() - 12..])
}

/// The name of the personal organization of `email`.
fn personal_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    let local: String = local.chars().take(64).collect();
    if local.is_empty() {
        "Personal workspace".to_owned()
    } else {
        format!("{local}'s workspace")
    }
}

#[async_trait]
impl OrganizationDirectory for TenancyDirectory {
    async fn default_organization(
        &self,
        account_id: Uuid,
    ) -> Result<Option<Uuid>, helix_core::Error> {
        let memberships = self
            .tenancy
            .memberships_of_user(&Self::ctx(account_id), account_id)
            .await?;
        Ok(memberships.first().map(|(org_id, _)| *org_id))
    }

    async fn is_member(&self, account_id: Uuid, org_id: Uuid) -> Result<bool, helix_core::Error> {
        let memberships = self
            .tenancy
            .memberships_of_user(&Self::ctx(account_id), account_id)
            .await?;
        Ok(memberships.iter().any(|(id, _)| *id == org_id))
    }

    async fn on_email_verified(
        &self,
        account_id: Uuid,
        email: &str,
    ) -> Result<(), helix_core::Error> {
        let ctx = Self::ctx(account_id);
        let new = |slug: String| NewOrganization {
            name: personal_name(email),
            slug,
            region: self.tenancy.default_region(),
            plan: None,
            settings: None,
        };
        let slug = personal_slug(account_id);
        let created = match self
            .tenancy
            .create_organization(&ctx, new(slug.clone()), account_id, email)
            .await
        {
            Err(TenancyError::SlugTaken) => {
                if !self
                    .tenancy
                    .memberships_of_user(&ctx, account_id)
                    .await?
                    .is_empty()
                {
                    // Already created by an earlier verification.
                    return Ok(());
                }
                // Someone else holds the slug.
                let suffix = Uuid::now_v7().simple().to_string();
                let slug = format!("{slug}-{}", &suffix[suffix.len() - 8..]);
                self.tenancy
                    .create_organization(&ctx, new(slug), account_id, email)
                    .await
            }
            other => other,
        };
        let org = created?;
        tracing::info!(account.id = %account_id, org.id = %org.id, "personal organization created");
        Ok(())
    }
}

/// The `settings` key that makes an organization require MFA.
pub const REQUIRE_MFA_SETTING: &str = "require_mfa";

#[async_trait]
impl MfaRequirement for TenancyDirectory {
    async fn required_for(
        &self,
        org_id: Uuid,
        account_id: Uuid,
    ) -> Result<bool, helix_core::Error> {
        Ok(self.policy(org_id, account_id).await?.required())
    }

    /// The organization's setting for `account_id`: [`MfaPolicy::Organization`] (the same
    /// for every member, and announced on change by [`crate::mfa_policy`]'s trigger, so
    /// helix-auth keeps it in memory). Not a member (any more) or no such organization:
    /// [`MfaPolicy::Account`] `false`, not cached: no token will be issued for it anyway, the
    /// tenancy layer checks membership on every request.
    ///
    /// The setting is read without the member's permissions: MFA binds every member, also
    /// one whose role may not read the organization (a role without
    /// `tenancy.organization.read` must not be a way around MFA).
    async fn policy(&self, org_id: Uuid, account_id: Uuid) -> Result<MfaPolicy, helix_core::Error> {
        use helix_core::sea_orm::ColumnTrait;
        use helix_tenancy::memberships::model as membership;
        use helix_tenancy::organizations::model as organization;

        let ctx = TenantContext::new(org_id, Actor::User(account_id));
        let tx = self.tenancy.kernel().db().tenant_read(&ctx).await?;
        let member = tx
            .count::<membership::Entity>(membership::Column::UserId.eq(account_id))
            .await?
            > 0;
        let org = if member {
            tx.find_by_id::<organization::Entity, _>(org_id).await?
        } else {
            None
        };
        tx.commit().await?;
        Ok(match org {
            Some(org) => MfaPolicy::Organization {
                required: org.settings.get(REQUIRE_MFA_SETTING)
                    == Some(&serde_json::Value::Bool(true)),
            },
            None => MfaPolicy::Account { required: false },
        })
    }
}
