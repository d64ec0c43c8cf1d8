//! A casbin [`Adapter`] over helix-iam's own tables (sea-orm 2.0), and per-organization
//! enforcers built from it (feature `casbin`).
//!
//! The adapter serves the policy of [`crate::oracle`]'s "RBAC with domains" model (domain =
//! organization): for each organization it reads the tables through
//! [`IamStore::load_snapshot`] inside one tenant transaction and produces exactly
//! [`oracle::policy_lines`], so the lines casbin sees are the ones the differential tests
//! check against the compiled engine.
//!
//! - [`Adapter::load_filtered_policy`] with a domain filter ([`domain_filter`]) loads one
//!   organization only: one tenant transaction, whatever the number of tenants. This is how
//!   a per-tenant enforcer is built ([`enforcer_for`]); casbin-rs evaluates its matcher
//!   against every loaded row, so one enforcer holding every tenant would make each check
//!   scale with the number of tenants.
//! - [`Adapter::load_policy`] loads every organization: their ids come from
//!   `tenancy_organizations` in one platform transaction ([`helix_core::Db::platform_read`]),
//!   then each organization is read in its own tenant transaction (so Row Level Security
//!   holds on PostgreSQL). Meant for tooling and tests, not for the request path.
//! - Writes are refused, deliberately. helix-iam's tables are the source of truth, and they
//!   are changed through the IAM service, which checks the caller's permissions, refuses
//!   privilege escalation (granting a permission one lacks, removing the last owner),
//!   audits every change and bumps the organization's policy revision. A casbin line is a
//!   lossy projection of those records (the owner role's lines are the whole catalog; a
//!   `g` line may come from a membership, a team member or a tuple), so there is no
//!   faithful way back, and a second write path would bypass every check. Every write
//!   method ([`Adapter::add_policy`], [`Adapter::remove_policy`], [`Adapter::save_policy`],
//!   [`Adapter::clear_policy`], ...) fails with [`CasbinAdapterError::ReadOnly`], wrapped
//!   in casbin's adapter-error variant ([`CasbinAdapterError::from_casbin`] gets it back).
//!   With casbin's auto-save on (the default), an enforcer's `add_policy` and friends fail
//!   the same way and leave the enforcer's in-memory policy unchanged.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, Filter, Model};
use helix_core::{Actor, Kernel, PlatformContext, TenantContext, TenantTx};
use helix_tenancy::organizations::model as organization;
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::error::IamError;
use crate::model::TenantSnapshot;
use crate::oracle;
use crate::store::{IamStore, RoleTemplate};

/// The actor the adapter's transactions run as (audit rows of built-in roles it creates).
const ACTOR: &str = "helix-iam.casbin";

/// Number of fields of a `p` line: `sub, dom, obj, act`.
const P_FIELDS: usize = 4;
/// Number of fields of a `g` line: `subject, role, dom`.
const G_FIELDS: usize = 3;
/// Position of the domain (organization id) in a `p` line.
const P_DOMAIN: usize = 1;
/// Position of the domain in a `g` line.
const G_DOMAIN: usize = 2;

/// Why the adapter refused or failed.
///
/// casbin shows an adapter error with `{:?}`, so `Debug` includes the explanation.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum CasbinAdapterError {
    /// A write through the adapter: refused by design (see the [module docs](self)).
    #[error(
        "`{operation}` refused: the casbin adapter is read-only; helix-iam's tables are the \
         source of truth, change roles, assignments and tuples through the IAM service \
         (it checks permissions and privilege escalation, audits and bumps the revision)"
    )]
    ReadOnly {
        /// The adapter method that was called (`add_policy`, `save_policy`, ...).
        operation: &'static str,
    },
    /// A policy filter this adapter cannot serve (a domain that is not an organization id,
    /// more fields than the line has).
    #[error("invalid policy filter: {0}")]
    InvalidFilter(&'static str),
    /// Reading the policy failed (database, a malformed stored record, an organization
    /// that does not exist).
    #[error(transparent)]
    Iam(#[from] IamError),
    /// casbin itself failed (building the model or the role links).
    #[error("casbin failed: {0}")]
    Casbin(casbin::Error),
}

impl fmt::Debug for CasbinAdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadOnly { operation } => {
                write!(f, "ReadOnly {{ operation: {operation:?} }}: {self}")
            }
            Self::InvalidFilter(why) => write!(f, "InvalidFilter({why:?})"),
            Self::Iam(e) => f.debug_tuple("Iam").field(e).finish(),
            Self::Casbin(e) => f.debug_tuple("Casbin").field(e).finish(),
        }
    }
}

impl CasbinAdapterError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ReadOnly { .. } => "POLICY_READ_ONLY",
            Self::InvalidFilter(_) => "VALIDATION_ERROR",
            Self::Iam(e) => e.code(),
            Self::Casbin(_) => "INTERNAL_ERROR",
        }
    }

    /// This adapter's error inside a casbin error, if that is what it carries.
    pub fn from_casbin(err: &casbin::Error) -> Option<&Self> {
        match err {
            casbin::Error::AdapterError(casbin::error::AdapterError(inner)) => {
                inner.downcast_ref::<Self>()
            }
            _ => None,
        }
    }

    /// Takes this adapter's error back out of a casbin error; any other casbin error
    /// becomes [`CasbinAdapterError::Casbin`].
    fn unwrap_casbin(err: casbin::Error) -> Self {
        match err {
            casbin::Error::AdapterError(casbin::error::AdapterError(inner)) => {
                match inner.downcast::<Self>() {
                    Ok(ours) => *ours,
                    Err(other) => Self::Casbin(casbin::Error::AdapterError(
                        casbin::error::AdapterError(other),
                    )),
                }
            }
            other => Self::Casbin(other),
        }
    }
}

impl From<CasbinAdapterError> for casbin::Error {
    fn from(err: CasbinAdapterError) -> Self {
        casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(err)))
    }
}

impl From<CasbinAdapterError> for helix_core::Error {
    fn from(err: CasbinAdapterError) -> Self {
        match err {
            CasbinAdapterError::ReadOnly { .. } => Self::forbidden(err.code(), err.to_string()),
            CasbinAdapterError::InvalidFilter(why) => Self::invalid("filter", "invalid", why),
            CasbinAdapterError::Iam(e) => e.into(),
            CasbinAdapterError::Casbin(e) => Self::internal_msg(format!("casbin: {e}")),
        }
    }
}

/// A casbin filter selecting one organization's lines: the domain field of `p` and `g`
/// lines set to `domain` (an organization id), every other field open.
pub fn domain_filter(domain: &str) -> Filter<'_> {
    Filter {
        p: vec!["", domain],
        g: vec!["", "", domain],
    }
}

/// A casbin [`Adapter`] reading helix-iam's tables; see the [module docs](self).
///
/// Cheap to build; the enforcer owns it. It keeps no policy of its own: every load reads
/// the database.
#[derive(Debug, Clone)]
pub struct SeaOrmAdapter {
    store: IamStore,
    catalog: Arc<Catalog>,
    templates: Vec<RoleTemplate>,
    partial: bool,
}

impl SeaOrmAdapter {
    /// An adapter over `kernel`'s database. `catalog` expands the owner role (every catalog
    /// permission) and drops permissions the catalog does not know, as
    /// [`oracle::policy_lines`] does; `templates` are the built-in roles' defaults, used
    /// for an organization that has not stored them yet (as [`crate::IamSync`] does), so
    /// that memberships grant what the engine grants.
    pub fn new(
        kernel: Kernel,
        catalog: impl Into<Arc<Catalog>>,
        templates: &[RoleTemplate],
    ) -> Self {
        Self {
            store: IamStore::new(kernel),
            catalog: catalog.into(),
            templates: templates.to_vec(),
            partial: false,
        }
    }

    /// Whether the last load was filtered, so the loaded policy may be a part of the whole.
    ///
    /// casbin's own flag, [`Adapter::is_filtered`], always answers `false` here: casbin
    /// reads it to keep `save_policy` from overwriting a whole store with a partial policy
    /// (an `assert!`, so a panic) and to skip the initial load in `Enforcer::new`. This
    /// adapter never writes, so the first concern cannot arise, and a refused save must be
    /// a typed error ([`CasbinAdapterError::ReadOnly`]), not a panic.
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    /// The policy lines of one organization, `(p lines, g lines)`: exactly
    /// [`oracle::policy_lines`] of its snapshot. `None` when the organization does not
    /// exist.
    pub async fn organization_lines(
        &self,
        org_id: Uuid,
    ) -> Result<Option<(Vec<Vec<String>>, Vec<Vec<String>>)>, IamError> {
        Ok(self
            .snapshot(org_id)
            .await?
            .map(|snapshot| oracle::policy_lines(&snapshot, &self.catalog)))
    }

    /// The organization's snapshot, read in one read-only tenant transaction (a load never
    /// writes: built-in roles not stored yet come from the templates, as for the engine).
    async fn snapshot(&self, org_id: Uuid) -> Result<Option<TenantSnapshot>, IamError> {
        let ctx = TenantContext::new(org_id, Actor::System(ACTOR.into()));
        let tx = self.store.kernel().db().tenant_read(&ctx).await?;
        if !organization_exists(&tx, org_id).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let snapshot = self.store.load_snapshot(&tx, &self.templates).await?;
        tx.commit().await?;
        Ok(Some(snapshot))
    }

    /// Every organization's id, from one platform transaction.
    async fn organizations(&self) -> Result<Vec<Uuid>, IamError> {
        let ctx = PlatformContext::system(ACTOR);
        let tx = self.store.kernel().db().platform_read(&ctx).await?;
        let ids: Vec<Uuid> = organization::Entity::find()
            .select_only()
            .column(organization::Column::Id)
            .order_by_asc(organization::Column::Id)
            .into_tuple()
            .all(tx.raw())
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Loads the lines of `orgs` that pass `filter` into `model`. A named organization
    /// that does not exist is an error when `required`; otherwise it is skipped (deleted
    /// since it was listed).
    async fn load_into(
        &self,
        model: &mut dyn Model,
        orgs: &[Uuid],
        filter: &LineFilter,
        required: bool,
    ) -> Result<(), CasbinAdapterError> {
        for org in orgs {
            let Some((p, g)) = self.organization_lines(*org).await? else {
                if required {
                    return Err(IamError::NotFound("organization").into());
                }
                continue;
            };
            for line in p.into_iter().filter(|l| filter.p_matches(l)) {
                model.add_policy("p", "p", line);
            }
            for line in g.into_iter().filter(|l| filter.g_matches(l)) {
                model.add_policy("g", "g", line);
            }
        }
        Ok(())
    }
}

async fn organization_exists(tx: &TenantTx, org_id: Uuid) -> Result<bool, IamError> {
    Ok(tx
        .find_by_id::<organization::Entity, _>(org_id)
        .await?
        .is_some())
}

/// A casbin filter, checked and normalized: field values to match (`None`: any), domains
/// parsed as organization ids.
#[derive(Debug, Default)]
struct LineFilter {
    p: Vec<Option<String>>,
    g: Vec<Option<String>>,
    p_domain: Option<Uuid>,
    g_domain: Option<Uuid>,
}

impl LineFilter {
    fn parse(filter: &Filter<'_>) -> Result<Self, CasbinAdapterError> {
        let (p, p_domain) = section(
            &filter.p,
            P_FIELDS,
            P_DOMAIN,
            "a `p` filter has at most 4 fields (sub, dom, obj, act)",
        )?;
        let (g, g_domain) = section(
            &filter.g,
            G_FIELDS,
            G_DOMAIN,
            "a `g` filter has at most 3 fields (subject, role, dom)",
        )?;
        Ok(Self {
            p,
            g,
            p_domain,
            g_domain,
        })
    }

    /// The organizations whose lines can pass: both sections pinned to a domain name at
    /// most two; otherwise a section takes lines of every organization.
    fn organizations(&self) -> Option<Vec<Uuid>> {
        let (p, g) = (self.p_domain?, self.g_domain?);
        let set: BTreeSet<Uuid> = [p, g].into_iter().collect();
        Some(set.into_iter().collect())
    }

    fn p_matches(&self, line: &[String]) -> bool {
        matches(&self.p, line)
    }

    fn g_matches(&self, line: &[String]) -> bool {
        matches(&self.g, line)
    }
}

type Section = (Vec<Option<String>>, Option<Uuid>);

fn section(
    values: &[&str],
    fields: usize,
    domain_at: usize,
    too_long: &'static str,
) -> Result<Section, CasbinAdapterError> {
    let mut out = Vec::with_capacity(values.len());
    let mut domain = None;
    for (i, v) in values.iter().enumerate() {
        if v.is_empty() {
            out.push(None);
            continue;
        }
        if i >= fields {
            return Err(CasbinAdapterError::InvalidFilter(too_long));
        }
        if i == domain_at {
            let org = Uuid::try_parse(v).map_err(|_| {
                CasbinAdapterError::InvalidFilter(
                    "the domain of a filter must be an organization id (a UUID)",
                )
            })?;
            domain = Some(org);
            out.push(Some(org.to_string()));
        } else {
            out.push(Some((*v).to_owned()));
        }
    }
    Ok((out, domain))
}

fn matches(filter: &[Option<String>], line: &[String]) -> bool {
    filter.iter().enumerate().all(|(i, want)| match want {
        None => true,
        Some(w) => line.get(i).is_some_and(|v| v == w),
    })
}

fn refuse<T>(operation: &'static str) -> casbin::Result<T> {
    Err(CasbinAdapterError::ReadOnly { operation }.into())
}

#[async_trait]
impl Adapter for SeaOrmAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        self.partial = false;
        let orgs = self
            .organizations()
            .await
            .map_err(CasbinAdapterError::from)?;
        self.load_into(m, &orgs, &LineFilter::default(), false)
            .await?;
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        f: Filter<'a>,
    ) -> casbin::Result<()> {
        let filter = LineFilter::parse(&f)?;
        self.partial = true;
        match filter.organizations() {
            Some(orgs) => self.load_into(m, &orgs, &filter, true).await?,
            None => {
                let orgs = self
                    .organizations()
                    .await
                    .map_err(CasbinAdapterError::from)?;
                self.load_into(m, &orgs, &filter, false).await?;
            }
        }
        Ok(())
    }

    async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
        refuse("save_policy")
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        refuse("clear_policy")
    }

    fn is_filtered(&self) -> bool {
        // See `is_partial`: reporting `true` would turn a refused save into casbin's panic.
        false
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rule: Vec<String>,
    ) -> casbin::Result<bool> {
        refuse("add_policy")
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        refuse("add_policies")
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rule: Vec<String>,
    ) -> casbin::Result<bool> {
        refuse("remove_policy")
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        refuse("remove_policies")
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _field_index: usize,
        _field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        refuse("remove_filtered_policy")
    }
}

/// A casbin [`Enforcer`] over [`oracle::casbin_model`] holding one organization's policy
/// only (a filtered load through [`SeaOrmAdapter`]), so its checks do not scale with the
/// number of tenants. Requests are built with [`oracle::request`].
///
/// The enforcer is a point-in-time copy: it does not follow later changes (build a new
/// one, or call `load_filtered_policy(domain_filter(..))` again). Its writes are refused
/// ([`CasbinAdapterError::ReadOnly`]). An organization that does not exist is
/// [`IamError::NotFound`].
pub async fn enforcer_for(
    kernel: &Kernel,
    org_id: Uuid,
    catalog: impl Into<Arc<Catalog>>,
    templates: &[RoleTemplate],
) -> Result<Enforcer, CasbinAdapterError> {
    let model = DefaultModel::from_str(oracle::casbin_model())
        .await
        .map_err(CasbinAdapterError::Casbin)?;
    let adapter = SeaOrmAdapter::new(kernel.clone(), catalog, templates);
    // `new_raw`: no initial load of every organization.
    let mut enforcer = Enforcer::new_raw(model, adapter)
        .await
        .map_err(CasbinAdapterError::Casbin)?;
    let domain = org_id.to_string();
    enforcer
        .load_filtered_policy(domain_filter(&domain))
        .await
        .map_err(CasbinAdapterError::unwrap_casbin)?;
    Ok(enforcer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked_and_normalized() {
        let org = Uuid::from_u128(7);
        let upper = org.to_string().to_uppercase();
        let f = LineFilter::parse(&domain_filter(&upper)).unwrap();
        assert_eq!(f.organizations(), Some(vec![org]));
        let line = vec![
            "role:admin@tenant".to_owned(),
            org.to_string(),
            "tenant".into(),
            "a.b".into(),
        ];
        assert!(f.p_matches(&line));
        let other = vec![
            "x".to_owned(),
            Uuid::from_u128(8).to_string(),
            "t".into(),
            "a.b".into(),
        ];
        assert!(!f.p_matches(&other));
        assert!(f.g_matches(&["user:1".into(), "role:x@tenant".into(), org.to_string()]));

        // Only one section pinned: the other takes every organization.
        let only_p = LineFilter::parse(&Filter {
            p: vec!["", &upper],
            g: vec![],
        })
        .unwrap();
        assert_eq!(only_p.organizations(), None);

        for bad in [
            Filter {
                p: vec!["", "acme"],
                g: vec![],
            },
            Filter {
                p: vec![],
                g: vec!["", "", "", "x"],
            },
            Filter {
                p: vec!["", "", "", "", "x"],
                g: vec![],
            },
        ] {
            let err = LineFilter::parse(&bad).unwrap_err();
            assert_eq!(err.code(), "VALIDATION_ERROR");
        }
        // Trailing empty fields are "any", not an error.
        assert!(
            LineFilter::parse(&Filter {
                p: vec!["", "", "", "", ""],
                g: vec![],
            })
            .is_ok()
        );
    }

    #[test]
    fn refusals_round_trip_through_casbin_errors() {
        let err: casbin::Error = CasbinAdapterError::ReadOnly {
            operation: "add_policy",
        }
        .into();
        let ours = CasbinAdapterError::from_casbin(&err).unwrap();
        assert!(matches!(
            ours,
            CasbinAdapterError::ReadOnly {
                operation: "add_policy"
            }
        ));
        assert_eq!(ours.code(), "POLICY_READ_ONLY");
        assert!(err.to_string().contains("read-only"));
        let back = CasbinAdapterError::unwrap_casbin(err);
        let core: helix_core::Error = back.into();
        assert_eq!((core.status(), core.code()), (403, "POLICY_READ_ONLY"));

        let core: helix_core::Error = CasbinAdapterError::InvalidFilter("bad").into();
        assert_eq!(core.status(), 400);
    }
}
