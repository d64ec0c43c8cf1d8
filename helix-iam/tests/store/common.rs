//! Shared set-up: a migrated database, the tenancy service, an IAM store, organizations.

use std::sync::Arc;

use chrono::Utc;
use helix_core::sea_orm::QueryOrder;
use helix_core::testing::TestDb;
use helix_core::{Actor, Db, Helix, Kernel, ManualClock, PlatformContext, TenantContext};
use helix_iam::model::Revision;
use helix_iam::store::entity::changelog;
use helix_iam::store::{RoleTemplate, current_revision};
use helix_iam::{IamError, IamModule, IamStore};
use helix_tenancy::{NewMember, NewOrganization, Region, Role, TenancyModule, TenancyService};
use uuid::Uuid;

pub struct Fixture {
    pub db: Db,
    pub tenancy: TenancyService,
    pub store: IamStore,
}

/// Migrates the kernel, tenancy and IAM schema.
pub async fn setup(t: &TestDb) -> Fixture {
    Helix::builder(t.db.clone())
        .module(TenancyModule)
        .module(IamModule)
        .build()
        .await
        .expect("migrations");
    fixture_on(t.db.clone())
}

/// Services over an already migrated database (a second instance).
pub fn fixture_on(db: Db) -> Fixture {
    let kernel = Kernel::new(db.clone()).with_clock(Arc::new(ManualClock::new(Utc::now())));
    Fixture {
        db,
        tenancy: TenancyService::new(kernel.clone()),
        store: IamStore::new(kernel),
    }
}

pub const PERMS: [&str; 4] = [
    "tenancy.members.manage",
    "docs.documents.read",
    "docs.documents.write",
    "billing.invoices.read",
];

/// Built-in role defaults over [`PERMS`].
pub fn templates() -> Vec<RoleTemplate> {
    vec![
        RoleTemplate::new("owner", "Owner", PERMS),
        RoleTemplate::new("admin", "Admin", [PERMS[0], PERMS[1], PERMS[2]]),
        RoleTemplate::new("member", "Member", [PERMS[1], PERMS[2]]),
        RoleTemplate::new("read_only", "Read-only", [PERMS[1]]),
    ]
}

pub struct Org {
    pub id: Uuid,
    pub owner: Uuid,
    pub ctx: TenantContext,
}

pub async fn create_org(tenancy: &TenancyService) -> Org {
    let owner = Uuid::now_v7();
    let platform = PlatformContext::new(Actor::User(owner));
    let org = tenancy
        .create_organization(
            &platform,
            NewOrganization {
                name: "Acme".into(),
                slug: format!("org-{}", Uuid::now_v7().simple()),
                region: Region::Eu,
                plan: None,
                settings: None,
            },
            owner,
            &format!("owner-{owner}@example.test"),
        )
        .await
        .expect("create organization");
    Org {
        id: org.id,
        owner,
        ctx: TenantContext::new(org.id, Actor::User(owner)),
    }
}

/// Adds a fresh member with `role`.
pub async fn add_user(tenancy: &TenancyService, org: &Org, role: Role) -> Uuid {
    let user = Uuid::now_v7();
    tenancy
        .add_member(
            &org.ctx,
            NewMember {
                user_id: user,
                email: format!("user-{user}@example.test"),
                role,
            },
        )
        .await
        .expect("add member");
    user
}

/// The organization's committed revision.
pub async fn revision(db: &Db, ctx: &TenantContext) -> Revision {
    let tx = db.tenant_read(ctx).await.unwrap();
    let r = current_revision(&tx).await.unwrap();
    tx.commit().await.unwrap();
    r
}

/// The organization's change log, oldest first.
pub async fn changelog(db: &Db, ctx: &TenantContext) -> Vec<changelog::Model> {
    let tx = db.tenant_read(ctx).await.unwrap();
    let rows = tx
        .find::<changelog::Entity>()
        .order_by_asc(changelog::Column::Revision)
        .all(tx.raw())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// Runs `f` in a committed tenant transaction.
#[macro_export]
macro_rules! in_tx {
    ($db:expr, $ctx:expr, |$tx:ident| $body:expr) => {{
        let $tx = $db.tenant($ctx).await.unwrap();
        let out = $body;
        $tx.commit().await.unwrap();
        out
    }};
}

/// The error's stable code, panicking on success.
pub fn code<T: std::fmt::Debug>(r: Result<T, IamError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

/// A member's context in `org`.
pub fn as_user(org: &Org, user: Uuid) -> TenantContext {
    TenantContext::new(org.id, Actor::User(user))
}

/// The organization's refused-escalation events (`iam.escalation_refused`).
pub async fn escalation_refusals(db: &Db, org: &Org) -> Vec<helix_core::audit::entity::Model> {
    let tx = db.tenant_read(&org.ctx).await.unwrap();
    let filter = helix_core::audit::AuditFilter {
        action: Some(helix_iam::service::ESCALATION_REFUSED.into()),
        ..Default::default()
    };
    let page = helix_core::audit::query(&tx, &filter, 1, 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    page.data
}

/// Awaits every task, failing with `what` after a generous minute: a deadlock or pool
/// exhaustion fails the test instead of hanging the run.
pub async fn join_within_a_minute<T>(tasks: Vec<tokio::task::JoinHandle<T>>, what: &str) -> Vec<T> {
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    })
    .await
    .unwrap_or_else(|_| panic!("{what} did not finish"))
}
