//! Platform-plane roles: held by users outside every organization.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{PlatformTx, RequestMeta};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::IamStore;
use super::entity::platform_role;
use crate::error::{IamError, Result};

/// A platform-plane role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamPlatformRole))]
pub enum PlatformRole {
    /// Operates the platform (organizations, retention, legal holds).
    PlatformAdmin,
    /// Customer support; may impersonate users.
    Support,
}

impl PlatformRole {
    /// The stored name (`platform_admin`, `support`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::Support => "support",
        }
    }
}

impl fmt::Display for PlatformRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlatformRole {
    type Err = IamError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "platform_admin" => Ok(Self::PlatformAdmin),
            "support" => Ok(Self::Support),
            _ => Err(IamError::invalid(
                "role",
                "invalid",
                "a platform role is `platform_admin` or `support`",
            )),
        }
    }
}

/// A platform role held by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamPlatformRoleGrant))]
pub struct PlatformRoleGrant {
    /// The user.
    pub user_id: Uuid,
    /// The role.
    pub role: PlatformRole,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
    /// Who granted it (`user:<uuid>`, `system:<name>`).
    pub granted_by: String,
}

/// A stored grant as the API answers it; an unknown role name in the row is corrupt data.
pub(crate) fn decode(row: platform_role::Model) -> Result<PlatformRoleGrant> {
    Ok(PlatformRoleGrant {
        user_id: row.user_id,
        role: row
            .role
            .parse()
            .map_err(|_| IamError::Corrupt("unknown platform role".into()))?,
        granted_at: row.granted_at,
        granted_by: row.granted_by,
    })
}

/// The platform roles of one user, readable from any transaction (a tenant transaction
/// included: the table is readable by the application role).
pub async fn platform_roles_of<C: ConnectionTrait>(
    conn: &C,
    user_id: Uuid,
) -> Result<Vec<PlatformRole>> {
    platform_role::Entity::find()
        .filter(platform_role::Column::UserId.eq(user_id))
        .order_by_asc(platform_role::Column::Role)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| decode(r).map(|g| g.role))
        .collect()
}

impl IamStore {
    /// Grants a platform role (audited on the platform chain). Returns whether it was newly
    /// granted.
    pub async fn grant_platform_role(
        &self,
        tx: &PlatformTx,
        meta: &RequestMeta,
        user_id: Uuid,
        role: PlatformRole,
    ) -> Result<bool> {
        let now = self.kernel().now();
        let am = platform_role::ActiveModel {
            user_id: Set(user_id),
            role: Set(role.as_str().to_owned()),
            granted_at: Set(now),
            granted_by: Set(tx.actor().as_ref_string()),
        };
        let result = platform_role::Entity::insert(am)
            .on_conflict_do_nothing()
            .exec_without_returning(tx.raw())
            .await?;
        let granted = matches!(result, sea_orm::TryInsertResult::Inserted(n) if n > 0);
        if granted {
            let entry = AuditEntry::new("iam.platform_role.granted", "user", user_id)
                .data(json!({ "user_id": user_id, "role": role.as_str() }));
            audit::record_platform(tx, meta, PLATFORM_CHAIN, now, entry).await?;
        }
        Ok(granted)
    }

    /// Revokes a platform role (audited). Returns whether the user held it.
    pub async fn revoke_platform_role(
        &self,
        tx: &PlatformTx,
        meta: &RequestMeta,
        user_id: Uuid,
        role: PlatformRole,
    ) -> Result<bool> {
        let res = platform_role::Entity::delete_many()
            .filter(platform_role::Column::UserId.eq(user_id))
            .filter(platform_role::Column::Role.eq(role.as_str()))
            .exec(tx.raw())
            .await?;
        let revoked = res.rows_affected > 0;
        if revoked {
            let entry = AuditEntry::new("iam.platform_role.revoked", "user", user_id)
                .data(json!({ "user_id": user_id, "role": role.as_str() }));
            audit::record_platform(tx, meta, PLATFORM_CHAIN, self.kernel().now(), entry).await?;
        }
        Ok(revoked)
    }

    /// Every platform role grant, optionally of one role, by user then role.
    pub async fn list_platform_roles(
        &self,
        tx: &PlatformTx,
        role: Option<PlatformRole>,
    ) -> Result<Vec<PlatformRoleGrant>> {
        let mut select = platform_role::Entity::find();
        if let Some(role) = role {
            select = select.filter(platform_role::Column::Role.eq(role.as_str()));
        }
        select
            .order_by_asc(platform_role::Column::UserId)
            .order_by_asc(platform_role::Column::Role)
            .all(tx.raw())
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }
}
