//! Roles: built-in defaults, create, read, list, rename, set permissions, delete.

use std::collections::{BTreeSet, HashMap};

use helix_core::TenantTx;
use helix_core::list::{FieldKind, ListQuery, ListSpec, Page, SortDir};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde_json::json;
use uuid::Uuid;

use super::entity::{assignment, role, role_permission};
use super::{IamStore, audit, current_revision, permission_set, role_name};
use crate::error::{IamError, Result};
use crate::model::{BUILTIN_ROLES, OWNER_ROLE, Revision, RoleRecord, valid_name};

/// A built-in role's defaults: what [`IamStore::ensure_builtin_roles`] creates when the
/// organization lacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTemplate {
    /// One of [`BUILTIN_ROLES`].
    pub key: String,
    /// Display name (`Owner`, `Read-only`).
    pub name: String,
    /// Default permissions (for the owner: the whole catalog).
    pub permissions: Vec<String>,
}

impl RoleTemplate {
    /// A template from its parts.
    pub fn new(
        key: impl Into<String>,
        name: impl Into<String>,
        permissions: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            permissions: permissions.into_iter().map(Into::into).collect(),
        }
    }
}

/// A custom role to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRole {
    /// Stable key, unique in the organization: `[a-z][a-z0-9_]*`, at most 64 bytes, not one
    /// of [`BUILTIN_ROLES`].
    pub key: String,
    /// Display name.
    pub name: String,
    /// Catalog permission names.
    pub permissions: Vec<String>,
}

fn record(model: role::Model, permissions: Vec<String>) -> RoleRecord {
    RoleRecord {
        id: model.id,
        key: model.key,
        name: model.name,
        builtin: model.builtin,
        permissions,
    }
}

/// The sort and filter fields of the role list (default: by key).
pub fn role_list_spec() -> ListSpec<role::Entity> {
    ListSpec::<role::Entity>::new()
        .field("key", role::Column::Key, FieldKind::Text)
        .field("name", role::Column::Name, FieldKind::Text)
        .field("created_at", role::Column::CreatedAt, FieldKind::Timestamp)
        .search([role::Column::Key, role::Column::Name])
        .default_sort(role::Column::Key, SortDir::Asc)
        .tiebreak(role::Column::Id)
}

/// Permissions of `roles`, by role id, sorted.
pub(crate) async fn permissions_of(
    tx: &TenantTx,
    roles: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Vec<String>>> {
    let ids: Vec<Uuid> = roles.into_iter().collect();
    let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows = tx
            .find::<role_permission::Entity>()
            .filter(role_permission::Column::RoleId.is_in(chunk.iter().copied()))
            .order_by_asc(role_permission::Column::Permission)
            .all(tx.raw())
            .await?;
        for row in rows {
            out.entry(row.role_id).or_default().push(row.permission);
        }
    }
    Ok(out)
}

async fn find_role(tx: &TenantTx, id: Uuid) -> Result<role::Model> {
    tx.find_by_id::<role::Entity, _>(id)
        .await?
        .ok_or(IamError::NotFound("role"))
}

async fn insert_permissions(
    tx: &TenantTx,
    role_id: Uuid,
    permissions: impl IntoIterator<Item = String>,
) -> Result<()> {
    let rows: Vec<role_permission::ActiveModel> = permissions
        .into_iter()
        .map(|permission| role_permission::ActiveModel {
            org_id: Set(tx.org_id()),
            role_id: Set(role_id),
            permission: Set(permission),
        })
        .collect();
    for chunk in rows.chunks(300) {
        role_permission::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    role_permission::Column::OrgId,
                    role_permission::Column::RoleId,
                    role_permission::Column::Permission,
                ])
                .do_nothing()
                .to_owned(),
            )
            .try_insert()
            .exec_without_returning(tx.raw())
            .await?;
    }
    Ok(())
}

/// The built-in roles of `templates` the organization has not stored yet.
async fn missing_templates<'t>(
    tx: &TenantTx,
    templates: &'t [RoleTemplate],
) -> Result<Vec<&'t RoleTemplate>> {
    let stored: BTreeSet<String> = tx
        .find::<role::Entity>()
        .filter(role::Column::Key.is_in(BUILTIN_ROLES))
        .all(tx.raw())
        .await?
        .into_iter()
        .map(|r| r.key)
        .collect();
    Ok(templates
        .iter()
        .filter(|t| BUILTIN_ROLES.contains(&t.key.as_str()) && !stored.contains(&t.key))
        .collect())
}

/// A built-in role not stored yet, as its template describes it.
fn template_record(tx: &TenantTx, t: &RoleTemplate) -> Result<RoleRecord> {
    Ok(RoleRecord {
        id: builtin_role_id(tx.org_id(), &t.key),
        key: t.key.clone(),
        name: role_name("name", &t.name)?,
        builtin: true,
        permissions: permission_set("permissions", &t.permissions)?
            .into_iter()
            .collect(),
    })
}

/// When the organization was created (the creation time a built-in role not stored yet
/// shows), read through the organizations table the IAM tables reference.
async fn organization_created_at(tx: &TenantTx) -> Result<chrono::DateTime<chrono::Utc>> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let backend = tx.raw().get_database_backend();
    let mut q = Query::select();
    q.column(Alias::new("created_at"))
        .from(Alias::new(super::ORGANIZATIONS_TABLE))
        .and_where(Expr::col(Alias::new("id")).eq(tx.org_id()));
    let row = tx
        .raw()
        .query_one_raw(backend.build(&q))
        .await?
        .ok_or(IamError::NotFound("organization"))?;
    Ok(row.try_get::<chrono::DateTime<chrono::Utc>>("", "created_at")?)
}

/// The id of an organization's built-in role `key`: derived from both (UUID v5), so the
/// role has the same id whether a policy load took it from the templates or the database
/// already stores it.
pub fn builtin_role_id(org_id: Uuid, key: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_5c1e_8b1d_4e0f_9d7a_2c4b_1e3f_5a60);
    Uuid::new_v5(&NAMESPACE, format!("{org_id}/{key}").as_bytes())
}

impl IamStore {
    /// Creates the built-in roles the organization lacks, with the templates' permissions
    /// (idempotent), and gives the existing owner role any template permission it lacks (the
    /// catalog grew). Templates must name built-in roles. Returns the revision.
    pub async fn ensure_builtin_roles(
        &self,
        tx: &TenantTx,
        templates: &[RoleTemplate],
    ) -> Result<Revision> {
        for (i, t) in templates.iter().enumerate() {
            if !BUILTIN_ROLES.contains(&t.key.as_str()) {
                return Err(IamError::invalid(
                    &format!("templates[{i}].key"),
                    "not_builtin",
                    "templates are for the built-in roles only",
                ));
            }
        }
        let existing: HashMap<String, role::Model> = tx
            .find::<role::Entity>()
            .filter(role::Column::Key.is_in(BUILTIN_ROLES))
            .all(tx.raw())
            .await?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let now = self.kernel().now();
        for t in templates {
            let permissions = permission_set("permissions", &t.permissions)?;
            match existing.get(&t.key) {
                None => {
                    let name = role_name("name", &t.name)?;
                    let am = role::ActiveModel {
                        id: Set(builtin_role_id(tx.org_id(), &t.key)),
                        org_id: Set(tx.org_id()),
                        key: Set(t.key.clone()),
                        name: Set(name),
                        builtin: Set(true),
                        created_at: Set(now),
                        updated_at: Set(now),
                    };
                    let created = tx.insert(am).await?;
                    insert_permissions(tx, created.id, permissions.iter().cloned()).await?;
                    let data = json!({
                        "role_id": created.id, "key": created.key, "builtin": true,
                        "permissions": permissions,
                    });
                    audit(self, tx, "iam.role.created", "role", created.id, data).await?;
                }
                Some(owner) if owner.key == OWNER_ROLE => {
                    let held: BTreeSet<String> = permissions_of(tx, [owner.id])
                        .await?
                        .remove(&owner.id)
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    let missing: Vec<String> = permissions.difference(&held).cloned().collect();
                    if !missing.is_empty() {
                        insert_permissions(tx, owner.id, missing.iter().cloned()).await?;
                        let data = json!({ "role_id": owner.id, "added": missing });
                        audit(self, tx, "iam.role.permissions_set", "role", owner.id, data).await?;
                    }
                }
                Some(_) => {}
            }
        }
        current_revision(tx).await
    }

    /// Creates a custom role. A key already used in the organization is
    /// [`IamError::Conflict`]; built-in keys are reserved.
    pub async fn create_role(&self, tx: &TenantTx, new: NewRole) -> Result<(RoleRecord, Revision)> {
        if !valid_name(&new.key) {
            return Err(IamError::invalid(
                "key",
                "invalid",
                "a role key matches [a-z][a-z0-9_]* (at most 64 bytes)",
            ));
        }
        if BUILTIN_ROLES.contains(&new.key.as_str()) {
            return Err(IamError::invalid(
                "key",
                "reserved",
                "this key is reserved for a built-in role",
            ));
        }
        let name = role_name("name", &new.name)?;
        let permissions = permission_set("permissions", &new.permissions)?;
        let now = self.kernel().now();
        let am = role::ActiveModel {
            id: Set(self.kernel().new_id()),
            org_id: Set(tx.org_id()),
            key: Set(new.key),
            name: Set(name),
            builtin: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let created = tx
            .insert(am)
            .await
            .map_err(|e| IamError::on_unique(e, "a role with this key already exists"))?;
        insert_permissions(tx, created.id, permissions.iter().cloned()).await?;
        let data = json!({
            "role_id": created.id, "key": created.key, "name": created.name,
            "permissions": permissions,
        });
        audit(self, tx, "iam.role.created", "role", created.id, data).await?;
        let revision = current_revision(tx).await?;
        Ok((record(created, permissions.into_iter().collect()), revision))
    }

    /// One role of this organization; another organization's role is not found.
    pub async fn get_role(&self, tx: &TenantTx, id: Uuid) -> Result<RoleRecord> {
        let model = find_role(tx, id).await?;
        let permissions = permissions_of(tx, [id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        Ok(record(model, permissions))
    }

    /// One page of the organization's roles with their permissions (standard list query;
    /// see [`super::role_list_spec`]).
    pub async fn list_roles(&self, tx: &TenantTx, query: &ListQuery) -> Result<Page<RoleRecord>> {
        let page = role_list_spec()
            .fetch(query, tx.find::<role::Entity>(), tx.raw())
            .await?;
        let mut permissions = permissions_of(tx, page.data.iter().map(|r| r.id)).await?;
        Ok(page.map(|r| {
            let p = permissions.remove(&r.id).unwrap_or_default();
            record(r, p)
        }))
    }

    /// Like [`IamStore::get_role`], and a built-in role the organization has not stored yet
    /// is read from its template under the id [`builtin_role_id`] gives it, as a policy load
    /// reads it. Never writes: a read transaction is enough.
    pub async fn get_role_or_template(
        &self,
        tx: &TenantTx,
        id: Uuid,
        templates: &[RoleTemplate],
    ) -> Result<RoleRecord> {
        match self.get_role(tx, id).await {
            Err(IamError::NotFound(_)) => {}
            other => return other,
        }
        // Not stored: one of the built-in roles, if its id is the derived one and no role
        // with that key is stored (then the derived id is not the stored role's).
        let Some(t) = templates.iter().find(|t| {
            BUILTIN_ROLES.contains(&t.key.as_str()) && builtin_role_id(tx.org_id(), &t.key) == id
        }) else {
            return Err(IamError::NotFound("role"));
        };
        let stored = tx
            .count::<role::Entity>(role::Column::Key.eq(t.key.as_str()))
            .await?;
        if stored > 0 {
            return Err(IamError::NotFound("role"));
        }
        template_record(tx, t)
    }

    /// Like [`IamStore::list_roles`], listing the built-in roles the organization has not
    /// stored yet from their templates (ids from [`builtin_role_id`], created at the
    /// organization's creation time), so the list reads the same before and after they are
    /// stored. Filters, search, sort and the total apply to both alike (one query over the
    /// stored rows and the templates). Never writes: a read transaction is enough.
    pub async fn list_roles_with_templates(
        &self,
        tx: &TenantTx,
        query: &ListQuery,
        templates: &[RoleTemplate],
    ) -> Result<Page<RoleRecord>> {
        use sea_orm::QueryTrait;
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, UnionType};

        let missing = missing_templates(tx, templates).await?;
        if missing.is_empty() {
            return self.list_roles(tx, query).await;
        }
        let created = organization_created_at(tx).await?;
        let columns = [
            role::Column::Id,
            role::Column::OrgId,
            role::Column::Key,
            role::Column::Name,
            role::Column::Builtin,
            role::Column::CreatedAt,
            role::Column::UpdatedAt,
        ];
        let mut rows = Query::select();
        rows.columns(columns)
            .from(role::Entity)
            .and_where(Expr::col(role::Column::OrgId).eq(tx.org_id()));
        let mut virtual_records = HashMap::new();
        for t in &missing {
            let record = template_record(tx, t)?;
            let mut row = Query::select();
            row.expr(Expr::val(record.id))
                .expr(Expr::val(tx.org_id()))
                .expr(Expr::val(record.key.clone()))
                .expr(Expr::val(record.name.clone()))
                .expr(Expr::val(true))
                .expr(Expr::val(created))
                .expr(Expr::val(created));
            rows.union(UnionType::All, row);
            virtual_records.insert(record.id, record);
        }
        let mut select = role::Entity::find();
        QueryTrait::query(&mut select)
            .from_clear()
            .from_subquery(rows, Alias::new("iam_roles"));
        let page = role_list_spec().fetch(query, select, tx.raw()).await?;
        let stored = page
            .data
            .iter()
            .filter(|r| !virtual_records.contains_key(&r.id))
            .map(|r| r.id);
        let mut permissions = permissions_of(tx, stored.collect::<Vec<_>>()).await?;
        Ok(page.map(|r| match virtual_records.remove(&r.id) {
            Some(v) => v,
            None => {
                let p = permissions.remove(&r.id).unwrap_or_default();
                record(r, p)
            }
        }))
    }

    /// Renames a custom role (built-in roles keep their names).
    pub async fn rename_role(
        &self,
        tx: &TenantTx,
        id: Uuid,
        name: &str,
    ) -> Result<(RoleRecord, Revision)> {
        let name = role_name("name", name)?;
        let current = find_role(tx, id).await?;
        if current.builtin {
            return Err(IamError::BuiltinRole);
        }
        let old_name = current.name.clone();
        let mut am = current.into_active_model();
        am.name = Set(name);
        am.updated_at = Set(self.kernel().now());
        let updated = tx.update(am).await?;
        let data = json!({ "role_id": id, "old_name": old_name, "name": updated.name });
        audit(self, tx, "iam.role.renamed", "role", id, data).await?;
        let permissions = permissions_of(tx, [id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let revision = current_revision(tx).await?;
        Ok((record(updated, permissions), revision))
    }

    /// Replaces a role's permissions. Only the difference is written (plus the role's
    /// `updated_at`); an unchanged set writes nothing. The owner role always holds the whole
    /// catalog and is refused ([`IamError::BuiltinRole`]).
    pub async fn set_role_permissions(
        &self,
        tx: &TenantTx,
        id: Uuid,
        permissions: &[String],
    ) -> Result<(RoleRecord, Revision)> {
        let wanted = permission_set("permissions", permissions)?;
        let current = find_role(tx, id).await?;
        if current.key == OWNER_ROLE && current.builtin {
            return Err(IamError::BuiltinRole);
        }
        let held: BTreeSet<String> = permissions_of(tx, [id])
            .await?
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let added: Vec<String> = wanted.difference(&held).cloned().collect();
        let removed: Vec<String> = held.difference(&wanted).cloned().collect();
        if added.is_empty() && removed.is_empty() {
            let revision = current_revision(tx).await?;
            return Ok((record(current, wanted.into_iter().collect()), revision));
        }
        for chunk in removed.chunks(500) {
            tx.delete_many::<role_permission::Entity>()
                .filter(role_permission::Column::RoleId.eq(id))
                .filter(role_permission::Column::Permission.is_in(chunk.iter().cloned()))
                .exec(tx.raw())
                .await?;
        }
        insert_permissions(tx, id, added.iter().cloned()).await?;
        let mut am = current.into_active_model();
        am.updated_at = Set(self.kernel().now());
        let updated = tx.update(am).await?;
        let data = json!({ "role_id": id, "added": added, "removed": removed });
        audit(self, tx, "iam.role.permissions_set", "role", id, data).await?;
        let revision = current_revision(tx).await?;
        Ok((record(updated, wanted.into_iter().collect()), revision))
    }

    /// Deletes a custom role and its permissions. A built-in role is
    /// [`IamError::BuiltinRole`]; a role still assigned is [`IamError::RoleInUse`].
    pub async fn delete_role(&self, tx: &TenantTx, id: Uuid) -> Result<Revision> {
        let current = find_role(tx, id).await?;
        if current.builtin {
            return Err(IamError::BuiltinRole);
        }
        let in_use = tx
            .count::<assignment::Entity>(assignment::Column::RoleId.eq(id))
            .await?;
        if in_use > 0 {
            return Err(IamError::RoleInUse);
        }
        // The composite foreign key refuses the delete if an assignment appeared meanwhile.
        tx.delete_many::<role::Entity>()
            .filter(role::Column::Id.eq(id))
            .exec(tx.raw())
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => IamError::RoleInUse,
                _ => IamError::from(e),
            })?;
        let data = json!({ "role_id": id, "key": current.key });
        audit(self, tx, "iam.role.deleted", "role", id, data).await?;
        current_revision(tx).await
    }
}
