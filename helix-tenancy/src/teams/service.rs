//! Team CRUD and team membership.

use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use helix_core::{TenantContext, TenantTx};
use sea_orm::{ColumnTrait, IntoActiveModel, QueryFilter, Set};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::model::{team, team_member};
use crate::authz::{TEAMS_MANAGE, TEAMS_READ};
use crate::error::{Result, TenancyError};
use crate::events::emit;
use crate::memberships::find_member;
use crate::service::TenancyService;
use crate::validate;

/// A team to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTeam {
    /// Display name.
    pub name: String,
    /// Slug, unique within the organization (`[a-z0-9-]`, 3 to 63 characters).
    pub slug: String,
}

/// Changes to a team; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New slug.
    pub slug: Option<String>,
}

impl TenancyService {
    /// Creates a team (owners and admins). A taken slug is [`TenancyError::TeamSlugTaken`].
    pub async fn create_team(&self, ctx: &TenantContext, new: NewTeam) -> Result<team::Model> {
        let name = validate::name("name", &new.name)?;
        validate::slug("slug", &new.slug)?;
        let tx = self.tenant_tx(ctx).await?;
        self.require(&tx, TEAMS_MANAGE).await?;
        let now = self.kernel().now();
        let am = team::ActiveModel {
            id: Set(self.kernel().new_id()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            slug: Set(new.slug),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let created = tx
            .insert(am)
            .await
            .map_err(|e| TenancyError::on_unique(e, TenancyError::TeamSlugTaken))?;
        let data = json!({ "team_id": created.id, "name": created.name, "slug": created.slug });
        emit(&tx, now, "team.created", "team", created.id, data).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The organization's teams, one page of the standard list query (default: by slug);
    /// any member may list them. Sort and filter on `name`, `slug`, `created_at`; `search`
    /// matches name and slug.
    pub async fn list_teams(
        &self,
        ctx: &TenantContext,
        query: &ListQuery,
    ) -> Result<Page<team::Model>> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require(&tx, TEAMS_READ).await?;
        let spec = ListSpec::<team::Entity>::new()
            .field("name", team::Column::Name, FieldKind::Text)
            .field("slug", team::Column::Slug, FieldKind::Text)
            .field("created_at", team::Column::CreatedAt, FieldKind::Timestamp)
            .search([team::Column::Name, team::Column::Slug])
            .default_sort(team::Column::Slug, SortDir::Asc)
            .tiebreak(team::Column::Id);
        let page = spec
            .fetch(query, tx.find::<team::Entity>(), tx.raw())
            .await?;
        tx.commit().await?;
        Ok(page)
    }

    /// One team; any member may read it. Another organization's team is not found.
    pub async fn get_team(&self, ctx: &TenantContext, team_id: Uuid) -> Result<team::Model> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require_on_team(&tx, TEAMS_READ, team_id).await?;
        let found = find_team(&tx, team_id).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Renames a team or changes its slug (owners and admins).
    pub async fn update_team(
        &self,
        ctx: &TenantContext,
        team_id: Uuid,
        update: TeamUpdate,
    ) -> Result<team::Model> {
        let name = update
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        if let Some(slug) = &update.slug {
            validate::slug("slug", slug)?;
        }
        let tx = self.tenant_tx(ctx).await?;
        self.require_on_team(&tx, TEAMS_MANAGE, team_id).await?;
        let current = find_team(&tx, team_id).await?;
        let now = self.kernel().now();
        let mut am = current.into_active_model();
        if let Some(name) = name {
            am.name = Set(name);
        }
        if let Some(slug) = update.slug {
            am.slug = Set(slug);
        }
        am.updated_at = Set(now);
        let updated = tx
            .update(am)
            .await
            .map_err(|e| TenancyError::on_unique(e, TenancyError::TeamSlugTaken))?;
        let data = json!({ "team_id": updated.id, "name": updated.name, "slug": updated.slug });
        emit(&tx, now, "team.updated", "team", updated.id, data).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a team and its memberships (owners and admins).
    pub async fn delete_team(&self, ctx: &TenantContext, team_id: Uuid) -> Result<()> {
        let tx = self.tenant_tx(ctx).await?;
        self.require_on_team(&tx, TEAMS_MANAGE, team_id).await?;
        let found = find_team(&tx, team_id).await?;
        tx.delete_many::<team_member::Entity>()
            .filter(team_member::Column::TeamId.eq(found.id))
            .exec(tx.raw())
            .await?;
        tx.delete_many::<team::Entity>()
            .filter(team::Column::Id.eq(found.id))
            .exec(tx.raw())
            .await?;
        let now = self.kernel().now();
        let data = json!({ "team_id": found.id, "slug": found.slug });
        emit(&tx, now, "team.deleted", "team", found.id, data).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds an organization member to a team (owners and admins).
    pub async fn add_team_member(
        &self,
        ctx: &TenantContext,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<team_member::Model> {
        let tx = self.tenant_tx(ctx).await?;
        self.require_on_team(&tx, TEAMS_MANAGE, team_id).await?;
        let found = find_team(&tx, team_id).await?;
        self.authorizer().authorize_team_join(&tx, team_id).await?;
        find_member(&tx, user_id).await?;
        let now = self.kernel().now();
        let row = insert_team_member(&tx, self.kernel().new_id(), found.id, user_id, now).await?;
        let data = json!({ "team_id": found.id, "user_id": user_id });
        emit(&tx, now, "team.member_added", "team", found.id, data).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Removes a user from a team (owners and admins).
    pub async fn remove_team_member(
        &self,
        ctx: &TenantContext,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<()> {
        let tx = self.tenant_tx(ctx).await?;
        self.require_on_team(&tx, TEAMS_MANAGE, team_id).await?;
        let found = find_team(&tx, team_id).await?;
        let res = tx
            .delete_many::<team_member::Entity>()
            .filter(team_member::Column::TeamId.eq(found.id))
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(tx.raw())
            .await?;
        if res.rows_affected == 0 {
            return Err(TenancyError::NotFound("team member"));
        }
        let now = self.kernel().now();
        let data = json!({ "team_id": found.id, "user_id": user_id });
        emit(&tx, now, "team.member_removed", "team", found.id, data).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The members of a team, one page of the standard list query (default: oldest first);
    /// any member may list them. Sort and filter on `user_id` (filter only) and `created_at`.
    pub async fn list_team_members(
        &self,
        ctx: &TenantContext,
        team_id: Uuid,
        query: &ListQuery,
    ) -> Result<Page<team_member::Model>> {
        let tx = self.tenant_read_tx(ctx).await?;
        self.require_on_team(&tx, TEAMS_READ, team_id).await?;
        let found = find_team(&tx, team_id).await?;
        let spec = ListSpec::<team_member::Entity>::new()
            .filter_only("user_id", team_member::Column::UserId, FieldKind::Uuid)
            .field(
                "created_at",
                team_member::Column::CreatedAt,
                FieldKind::Timestamp,
            )
            .default_sort(team_member::Column::CreatedAt, SortDir::Asc)
            .tiebreak(team_member::Column::Id);
        let select = tx
            .find::<team_member::Entity>()
            .filter(team_member::Column::TeamId.eq(found.id));
        let page = spec.fetch(query, select, tx.raw()).await?;
        tx.commit().await?;
        Ok(page)
    }
}

/// The team `team_id` of the transaction's organization.
pub(crate) async fn find_team(tx: &TenantTx, team_id: Uuid) -> Result<team::Model> {
    tx.find_by_id::<team::Entity, _>(team_id)
        .await?
        .ok_or(TenancyError::NotFound("team"))
}

/// Inserts a team membership; a duplicate is [`TenancyError::AlreadyTeamMember`].
pub(crate) async fn insert_team_member(
    tx: &TenantTx,
    id: Uuid,
    team_id: Uuid,
    user_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<team_member::Model> {
    let am = team_member::ActiveModel {
        id: Set(id),
        org_id: Set(tx.org_id()),
        team_id: Set(team_id),
        user_id: Set(user_id),
        created_at: Set(now),
    };
    tx.insert(am)
        .await
        .map_err(|e| TenancyError::on_unique(e, TenancyError::AlreadyTeamMember))
}
