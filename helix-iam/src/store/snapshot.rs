//! The per-tenant snapshot the engine compiles: roles, assignments (explicit and from
//! memberships), tuples (stored and from team members) and the revision they reflect.

use std::collections::HashMap;

use helix_core::TenantTx;
use helix_tenancy::memberships::model as membership;
use helix_tenancy::teams::model::team_member;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};

use super::entity::{assignment, role, tuple};
use super::roles::{RoleTemplate, builtin_role_id, permissions_of};
use super::{IamStore, assignments, current_revision, tuples};
use crate::error::{IamError, Result};
use crate::model::{
    AssignmentRecord, AssignmentSource, BUILTIN_ROLES, MEMBER_RELATION, ObjectRef, RoleRecord,
    Scope, Subject, TenantSnapshot, Tuple,
};

/// How many times [`IamStore::load_snapshot`] reads the tables again when a concurrent
/// write moved the revision while it read them (PostgreSQL, `READ COMMITTED`).
pub const MAX_SNAPSHOT_ATTEMPTS: usize = 8;

impl IamStore {
    /// Reads everything the engine needs for this organization, consistent with one
    /// revision.
    ///
    /// Never writes, so a read-only transaction is enough, and a load may run while the
    /// caller holds another transaction of the same organization (SQLite's single writer
    /// would otherwise wait for itself). Built-in roles the organization has not stored yet
    /// are taken from `templates`, with the ids [`builtin_role_id`] gives them, which are
    /// also the ids [`IamStore::ensure_builtin_roles`] stores them under: a policy reads
    /// the same before and after they are stored. The tables are read between two
    /// reads of the revision; when the revision moved (a write committed meanwhile on
    /// PostgreSQL, where each statement sees the latest commits), they are read again, at
    /// most [`MAX_SNAPSHOT_ATTEMPTS`] times, then the load fails with
    /// [`helix_core::Error::Unavailable`] rather than return a mix of two revisions. On
    /// SQLite a transaction reads one snapshot, so the first attempt always holds.
    pub async fn load_snapshot(
        &self,
        tx: &TenantTx,
        templates: &[RoleTemplate],
    ) -> Result<TenantSnapshot> {
        for _ in 0..MAX_SNAPSHOT_ATTEMPTS {
            let before = current_revision(tx).await?;
            let mut snapshot = read_tables(tx, templates).await?;
            let after = current_revision(tx).await?;
            if before == after {
                snapshot.revision = after;
                return Ok(snapshot);
            }
            tracing::debug!(tenant.id = %tx.org_id(), "policy changed while loading; reading again");
        }
        Err(IamError::Core(helix_core::Error::Unavailable))
    }
}

async fn read_tables(tx: &TenantTx, templates: &[RoleTemplate]) -> Result<TenantSnapshot> {
    let role_rows = tx
        .find::<role::Entity>()
        .order_by_asc(role::Column::Key)
        .all(tx.raw())
        .await?;
    let mut permissions = permissions_of(tx, role_rows.iter().map(|r| r.id)).await?;
    let mut builtin_by_key: HashMap<String, uuid::Uuid> = role_rows
        .iter()
        .filter(|r| r.builtin)
        .map(|r| (r.key.clone(), r.id))
        .collect();
    let mut roles: Vec<RoleRecord> = role_rows
        .into_iter()
        .map(|r| RoleRecord {
            permissions: permissions.remove(&r.id).unwrap_or_default(),
            id: r.id,
            key: r.key,
            name: r.name,
            builtin: r.builtin,
        })
        .collect();
    for t in templates {
        if BUILTIN_ROLES.contains(&t.key.as_str()) && !builtin_by_key.contains_key(&t.key) {
            let id = builtin_role_id(tx.org_id(), &t.key);
            builtin_by_key.insert(t.key.clone(), id);
            roles.push(RoleRecord {
                id,
                key: t.key.clone(),
                name: t.name.clone(),
                builtin: true,
                permissions: t.permissions.clone(),
            });
        }
    }

    let mut assignments: Vec<AssignmentRecord> = tx
        .find::<assignment::Entity>()
        .order_by_asc(assignment::Column::Id)
        .all(tx.raw())
        .await?
        .into_iter()
        .map(|row| assignments::decode(row).map(|a| a.record()))
        .collect::<Result<_>>()?;
    let members = tx
        .find::<membership::Entity>()
        .order_by_asc(membership::Column::Id)
        .all(tx.raw())
        .await?;
    for m in members {
        match builtin_by_key.get(m.role.as_str()) {
            Some(role_id) => assignments.push(AssignmentRecord {
                id: m.id,
                subject: Subject::user(m.user_id),
                role_id: *role_id,
                scope: Scope::Tenant,
                source: AssignmentSource::Membership,
            }),
            // Without the built-in role the membership grants nothing (fail closed).
            None => tracing::warn!(
                tenant.id = %tx.org_id(),
                role = m.role.as_str(),
                "membership role has no built-in role; it grants nothing"
            ),
        }
    }

    let mut tuples: Vec<Tuple> = tx
        .find::<tuple::Entity>()
        .all(tx.raw())
        .await?
        .into_iter()
        .map(tuples::decode)
        .collect::<Result<_>>()?;
    let team_members = tx
        .find::<team_member::Entity>()
        .filter(team_member::Column::OrgId.eq(tx.org_id()))
        .all(tx.raw())
        .await?;
    tuples.extend(team_members.into_iter().map(|m| {
        Tuple::new(
            ObjectRef::team(m.team_id),
            MEMBER_RELATION,
            Subject::user(m.user_id),
        )
    }));
    tuples.sort();
    tuples.dedup();

    Ok(TenantSnapshot {
        org_id: tx.org_id(),
        revision: Default::default(),
        roles,
        assignments,
        tuples,
    })
}
