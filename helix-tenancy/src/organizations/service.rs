//! Creating, reading and updating organizations.

use helix_core::audit::{self, AuditEntry};
use helix_core::{PlatformContext, TenantContext, outbox};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::model::{self, Region};
use crate::authz::{ORGANIZATION_READ, ORGANIZATION_UPDATE};
use crate::error::{Result, TenancyError};
use crate::events::emit;
use crate::memberships::{Role, model as membership};
use crate::service::TenancyService;
use crate::validate;

/// What it takes to create an organization.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Display name (1 to 200 characters).
    pub name: String,
    /// Unique slug: lowercase, 3 to 63 characters of `[a-z0-9-]`.
    pub slug: String,
    /// Data region; fixed for the organization's lifetime.
    pub region: Region,
    /// Plan identifier (`free` when absent).
    #[serde(default)]
    pub plan: Option<String>,
    /// Settings object (`{}` when absent).
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
}

/// The changeable fields of an organization; `None` leaves a field as it is. The region
/// is deliberately absent: it never changes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganizationUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New plan.
    pub plan: Option<String>,
    /// New settings object (replaces the old one).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub settings: Option<serde_json::Value>,
}

impl TenancyService {
    /// Creates an organization and its first owner membership (platform path).
    ///
    /// The creation is audited in the new organization's chain and published as
    /// `tenancy.organization.created`. A taken slug is [`TenancyError::SlugTaken`].
    pub async fn create_organization(
        &self,
        ctx: &PlatformContext,
        new: NewOrganization,
        owner_user_id: Uuid,
        owner_email: &str,
    ) -> Result<model::Model> {
        let name = validate::name("name", &new.name)?;
        validate::slug("slug", &new.slug)?;
        let plan = new.plan.unwrap_or_else(|| "free".to_owned());
        validate::plan("plan", &plan)?;
        let settings = new.settings.unwrap_or_else(|| json!({}));
        validate::settings("settings", &settings)?;
        let owner_email = validate::email("owner_email", owner_email)?;

        let now = self.kernel().now();
        let org_id = self.kernel().new_id();
        let tx = self.kernel().db().platform(ctx).await?;
        let org = model::ActiveModel {
            id: Set(org_id),
            name: Set(name),
            slug: Set(new.slug),
            region: Set(new.region),
            plan: Set(plan),
            settings: Set(settings),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(tx.raw())
        .await
        .map_err(|e| TenancyError::on_unique(e.into(), TenancyError::SlugTaken))?;
        let owner = membership::ActiveModel {
            id: Set(self.kernel().new_id()),
            org_id: Set(org_id),
            user_id: Set(owner_user_id),
            email: Set(owner_email),
            role: Set(Role::Owner),
            created_at: Set(now),
        }
        .insert(tx.raw())
        .await?;

        let data = json!({
            "name": org.name,
            "slug": org.slug,
            "region": org.region,
            "plan": org.plan,
            "owner_user_id": owner.user_id,
            "owner_membership_id": owner.id,
        });
        let entry =
            AuditEntry::new("organization.created", "organization", org_id).data(data.clone());
        audit::record_platform(&tx, ctx.meta(), org_id, now, entry).await?;
        let member_entry = AuditEntry::new("member.added", "membership", owner.id)
            .data(json!({ "user_id": owner.user_id, "role": Role::Owner }));
        audit::record_platform(&tx, ctx.meta(), org_id, now, member_entry).await?;
        let mut payload = data;
        payload["org_id"] = json!(org_id);
        let cid = &ctx.meta().correlation_id;
        outbox::publish_platform(
            &tx,
            cid,
            Some(org_id),
            now,
            "tenancy.organization.created",
            &payload,
        )
        .await?;
        let member_payload = json!({
            "org_id": org_id,
            "user_id": owner.user_id,
            "email": owner.email,
            "role": Role::Owner,
        });
        outbox::publish_platform(
            &tx,
            cid,
            Some(org_id),
            now,
            "tenancy.member.added",
            &member_payload,
        )
        .await?;
        tx.commit().await?;
        Ok(org)
    }

    /// The context's organization; any member may read it.
    pub async fn get_organization(&self, ctx: &TenantContext) -> Result<model::Model> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require(&tx, ORGANIZATION_READ).await?;
        let org = tx
            .find_by_id::<model::Entity, _>(tx.org_id())
            .await?
            .ok_or(TenancyError::NotFound("organization"))?;
        tx.commit().await?;
        Ok(org)
    }

    /// Updates name, plan and settings (owners and admins).
    pub async fn update_organization(
        &self,
        ctx: &TenantContext,
        update: OrganizationUpdate,
    ) -> Result<model::Model> {
        let name = update
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        if let Some(plan) = &update.plan {
            validate::plan("plan", plan)?;
        }
        if let Some(settings) = &update.settings {
            validate::settings("settings", settings)?;
        }
        let tx = self.tenant_tx(ctx).await?;
        self.require(&tx, ORGANIZATION_UPDATE).await?;
        let current = tx
            .find_by_id::<model::Entity, _>(tx.org_id())
            .await?
            .ok_or(TenancyError::NotFound("organization"))?;
        let now = self.kernel().now();
        let mut changed = Vec::new();
        let mut am = current.into_active_model();
        if let Some(name) = name {
            am.name = Set(name);
            changed.push("name");
        }
        if let Some(plan) = update.plan {
            am.plan = Set(plan);
            changed.push("plan");
        }
        if let Some(settings) = update.settings {
            am.settings = Set(settings);
            changed.push("settings");
        }
        am.updated_at = Set(now);
        let org = tx.update(am).await?;
        let data = json!({ "changed": changed, "name": org.name, "plan": org.plan });
        emit(
            &tx,
            now,
            "organization.updated",
            "organization",
            org.id,
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(org)
    }
}
