//! Shared set-up: a migrated database, a service on a manual clock, organizations.

use std::sync::Arc;

use chrono::Utc;
use helix_core::testing::TestDb;
use helix_core::{Actor, Helix, Kernel, ManualClock, PlatformContext, TenantContext};
use helix_tenancy::{
    NewMember, NewOrganization, Organization, Region, Role, TenancyError, TenancyModule,
    TenancyService,
};
use uuid::Uuid;

pub struct Fixture {
    pub svc: TenancyService,
    pub clock: ManualClock,
}

/// Migrates the kernel and tenancy schema and builds a service on a manual clock.
pub async fn setup(t: &TestDb) -> Fixture {
    Helix::builder(t.db.clone())
        .module(TenancyModule)
        .build()
        .await
        .expect("migrations");
    let clock = ManualClock::new(Utc::now());
    let kernel = Kernel::new(t.db.clone()).with_clock(Arc::new(clock.clone()));
    Fixture {
        svc: TenancyService::new(kernel),
        clock,
    }
}

/// A unique, valid slug.
pub fn slug() -> String {
    format!("org-{}", Uuid::now_v7().simple())
}

pub fn new_org(slug: &str) -> NewOrganization {
    NewOrganization {
        name: "Acme".into(),
        slug: slug.into(),
        region: Region::Eu,
        plan: None,
        settings: None,
    }
}

pub fn user_ctx(org_id: Uuid, user: Uuid) -> TenantContext {
    TenantContext::new(org_id, Actor::User(user))
}

/// An organization owned by a fresh user; returns the org, the owner and their context.
pub struct Org {
    pub org: Organization,
    pub owner: Uuid,
    pub ctx: TenantContext,
}

impl Org {
    pub fn ctx_of(&self, user: Uuid) -> TenantContext {
        user_ctx(self.org.id, user)
    }
}

pub async fn create_org(svc: &TenancyService) -> Org {
    let owner = Uuid::now_v7();
    let platform = PlatformContext::new(Actor::User(owner));
    let org = svc
        .create_organization(
            &platform,
            new_org(&slug()),
            owner,
            &format!("owner-{owner}@example.test"),
        )
        .await
        .expect("create organization");
    let ctx = user_ctx(org.id, owner);
    Org { org, owner, ctx }
}

/// Adds a fresh user with `role`; returns the user id.
pub async fn add_user(svc: &TenancyService, org: &Org, role: Role) -> Uuid {
    let user = Uuid::now_v7();
    svc.add_member(
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

pub fn code<T: std::fmt::Debug>(r: Result<T, TenancyError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}
