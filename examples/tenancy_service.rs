//! The tenancy service without HTTP, on SQLite in a temporary file: create an organization,
//! invite a colleague, accept the invitation, list the members.
//!
//! Run with `cargo run -p helix-examples --bin tenancy_service`.

use anyhow::Context;
use helix_core::list::ListQuery;
use helix_core::{Actor, Db, Helix, Kernel, PlatformContext, PoolOptions, TenantContext};
use helix_tenancy::{
    NewInvitation, NewOrganization, NewTeam, Region, Role, TenancyModule, TenancyService,
};
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let url = format!("sqlite:{}", dir.path().join("helix.db").display());
    let db = Db::connect(&url, &PoolOptions::default()).await?;
    let helix = Helix::builder(db.clone())
        .module(TenancyModule)
        .build()
        .await?;
    println!("modules: {:?}", helix.modules());

    let tenancy = TenancyService::new(Kernel::new(db));

    // Alice signs up: the platform path creates her organization with her as owner.
    let alice = Uuid::now_v7();
    let org = tenancy
        .create_organization(
            &PlatformContext::new(Actor::User(alice)),
            NewOrganization {
                name: "Acme".into(),
                slug: "acme".into(),
                region: Region::Eu,
                plan: None,
                settings: None,
            },
            alice,
            "alice@acme.test",
        )
        .await?;
    println!(
        "created organization {} ({}), region {:?}",
        org.slug, org.id, org.region
    );

    // Inside the organization, Alice creates a team and invites Bob into it.
    let alice_ctx = TenantContext::new(org.id, Actor::User(alice));
    let team = tenancy
        .create_team(
            &alice_ctx,
            NewTeam {
                name: "Engineering".into(),
                slug: "eng".into(),
            },
        )
        .await?;
    let issued = tenancy
        .create_invitation(
            &alice_ctx,
            NewInvitation {
                email: "bob@acme.test".into(),
                role: Role::Member,
                team_ids: vec![team.id],
            },
        )
        .await?;
    println!(
        "invited {} as {:?}, expires {} (token shown once, {} characters)",
        issued.invitation.email,
        issued.invitation.role,
        issued.invitation.expires_at,
        issued.token.expose().len()
    );

    // Bob follows the link while signed in; his email matches case-insensitively.
    let bob = Uuid::now_v7();
    let membership = tenancy
        .accept_invitation(
            &PlatformContext::new(Actor::User(bob)),
            &issued.token,
            "Bob@Acme.test",
        )
        .await?;
    println!("bob joined as {:?}", membership.role);

    // A second use of the same token fails.
    let reuse = tenancy
        .accept_invitation(
            &PlatformContext::new(Actor::User(bob)),
            &issued.token,
            "bob@acme.test",
        )
        .await;
    if let Err(e) = reuse {
        println!("reusing the token: {} ({})", e, e.code());
    }

    for m in tenancy
        .list_members(&alice_ctx, &ListQuery::default())
        .await?
        .data
    {
        println!("member {} {} {:?}", m.user_id, m.email, m.role);
    }
    for m in tenancy
        .list_team_members(&alice_ctx, team.id, &ListQuery::default())
        .await?
        .data
    {
        println!("team {} member {}", team.slug, m.user_id);
    }
    Ok(())
}
