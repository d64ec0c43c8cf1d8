//! Tenant isolation as a property: random sequences of tenancy operations by two tenants,
//! then tenant B tries to read, update, delete and count tenant A's rows through the
//! service with A's ids. Every attempt is "not found" and A's data is unchanged.

use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_tenancy::{
    NewInvitation, NewMember, NewTeam, OrganizationUpdate, Role, TeamUpdate, TenancyError,
    TenancyService,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

use crate::common::*;

#[derive(Debug, Clone)]
enum Op {
    AddMember(Role),
    ChangeRole(usize, Role),
    RemoveMember(usize),
    CreateTeam,
    RenameTeam(usize),
    DeleteTeam(usize),
    AddTeamMember(usize, usize),
    Invite(Role),
    Revoke(usize),
    Resend(usize),
    UpdateOrg,
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Owner),
        Just(Role::Admin),
        Just(Role::Member),
        Just(Role::ReadOnly)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..8;
    prop_oneof![
        role().prop_map(Op::AddMember),
        (i.clone(), role()).prop_map(|(i, r)| Op::ChangeRole(i, r)),
        i.clone().prop_map(Op::RemoveMember),
        Just(Op::CreateTeam),
        i.clone().prop_map(Op::RenameTeam),
        i.clone().prop_map(Op::DeleteTeam),
        (i.clone(), i.clone()).prop_map(|(a, b)| Op::AddTeamMember(a, b)),
        role().prop_map(Op::Invite),
        i.clone().prop_map(Op::Revoke),
        i.prop_map(Op::Resend),
        Just(Op::UpdateOrg),
    ]
}

/// What one tenant has created so far.
#[derive(Default)]
struct Ids {
    users: Vec<Uuid>,
    teams: Vec<Uuid>,
    invitations: Vec<Uuid>,
}

fn pick(v: &[Uuid], i: usize) -> Uuid {
    if v.is_empty() {
        Uuid::now_v7()
    } else {
        v[i % v.len()]
    }
}

/// Business errors are expected (last owner, duplicates); anything else fails the case.
fn expected<T>(r: Result<T, TenancyError>) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(TenancyError::Core(e)) => Err(TestCaseError::fail(format!("kernel error: {e:?}"))),
        Err(_) => Ok(None),
    }
}

async fn apply(
    svc: &TenancyService,
    org: &Org,
    ids: &mut Ids,
    op: &Op,
) -> Result<(), TestCaseError> {
    let ctx = &org.ctx;
    match op {
        Op::AddMember(role) => {
            let user = Uuid::now_v7();
            let new = NewMember {
                user_id: user,
                email: format!("{user}@example.test"),
                role: *role,
            };
            if expected(svc.add_member(ctx, new).await)?.is_some() {
                ids.users.push(user);
            }
        }
        Op::ChangeRole(i, role) => {
            expected(
                svc.change_member_role(ctx, pick(&ids.users, *i), *role)
                    .await,
            )?;
        }
        Op::RemoveMember(i) => {
            expected(svc.remove_member(ctx, pick(&ids.users, *i)).await)?;
        }
        Op::CreateTeam => {
            let slug = format!("team-{}", Uuid::now_v7().simple());
            if let Some(team) = expected(
                svc.create_team(
                    ctx,
                    NewTeam {
                        name: "T".into(),
                        slug,
                    },
                )
                .await,
            )? {
                ids.teams.push(team.id);
            }
        }
        Op::RenameTeam(i) => {
            let upd = TeamUpdate {
                name: Some("Renamed".into()),
                slug: None,
            };
            expected(svc.update_team(ctx, pick(&ids.teams, *i), upd).await)?;
        }
        Op::DeleteTeam(i) => {
            expected(svc.delete_team(ctx, pick(&ids.teams, *i)).await)?;
        }
        Op::AddTeamMember(t, u) => {
            expected(
                svc.add_team_member(ctx, pick(&ids.teams, *t), pick(&ids.users, *u))
                    .await,
            )?;
        }
        Op::Invite(role) => {
            let new = NewInvitation {
                email: format!("{}@example.test", Uuid::now_v7()),
                role: *role,
                team_ids: vec![],
            };
            if let Some(issued) = expected(svc.create_invitation(ctx, new).await)? {
                ids.invitations.push(issued.invitation.id);
            }
        }
        Op::Revoke(i) => {
            expected(svc.revoke_invitation(ctx, pick(&ids.invitations, *i)).await)?;
        }
        Op::Resend(i) => {
            expected(svc.resend_invitation(ctx, pick(&ids.invitations, *i)).await)?;
        }
        Op::UpdateOrg => {
            let upd = OrganizationUpdate {
                plan: Some("pro".into()),
                ..Default::default()
            };
            expected(svc.update_organization(ctx, upd).await)?;
        }
    }
    Ok(())
}

fn not_found<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, TenancyError>,
) -> Result<(), TestCaseError> {
    match r {
        Err(TenancyError::NotFound(_)) => Ok(()),
        other => Err(TestCaseError::fail(format!(
            "{what}: expected not found, got {other:?}"
        ))),
    }
}

/// A's data as A sees it.
async fn snapshot(svc: &TenancyService, a: &Org) -> String {
    let mut out = format!("{:?}", svc.get_organization(&a.ctx).await.unwrap());
    out += &format!(
        "{:?}",
        svc.list_members(&a.ctx, &ListQuery::default())
            .await
            .unwrap()
            .data
    );
    out += &format!(
        "{:?}",
        svc.list_invitations(&a.ctx, &ListQuery::default())
            .await
            .unwrap()
            .data
    );
    for team in svc
        .list_teams(&a.ctx, &ListQuery::default())
        .await
        .unwrap()
        .data
    {
        out += &format!(
            "{team:?}{:?}",
            svc.list_team_members(&a.ctx, team.id, &ListQuery::default())
                .await
                .unwrap()
                .data
        );
    }
    out
}

async fn case(fx: &Fixture, ops: Vec<(bool, Op)>) -> Result<(), TestCaseError> {
    let svc = &fx.svc;
    let (a, b) = (create_org(svc).await, create_org(svc).await);
    let (mut ids_a, mut ids_b) = (Ids::default(), Ids::default());
    for (on_a, op) in &ops {
        if *on_a {
            apply(svc, &a, &mut ids_a, op).await?;
        } else {
            apply(svc, &b, &mut ids_b, op).await?;
        }
    }
    ids_a.users.push(a.owner);
    let before = snapshot(svc, &a).await;
    let bctx = &b.ctx;
    for &user in &ids_a.users {
        not_found("get member", svc.get_member(bctx, user).await)?;
        not_found(
            "change role",
            svc.change_member_role(bctx, user, Role::Owner).await,
        )?;
        not_found("remove member", svc.remove_member(bctx, user).await)?;
    }
    for &team in &ids_a.teams {
        not_found("get team", svc.get_team(bctx, team).await)?;
        not_found(
            "list team members",
            svc.list_team_members(bctx, team, &ListQuery::default())
                .await,
        )?;
        let upd = TeamUpdate {
            name: Some("pwned".into()),
            slug: None,
        };
        not_found("update team", svc.update_team(bctx, team, upd).await)?;
        not_found("delete team", svc.delete_team(bctx, team).await)?;
        not_found(
            "add team member",
            svc.add_team_member(bctx, team, b.owner).await,
        )?;
        not_found(
            "remove team member",
            svc.remove_team_member(bctx, team, b.owner).await,
        )?;
    }
    for &inv in &ids_a.invitations {
        not_found("get invitation", svc.get_invitation(bctx, inv).await)?;
        not_found("revoke invitation", svc.revoke_invitation(bctx, inv).await)?;
        not_found("resend invitation", svc.resend_invitation(bctx, inv).await)?;
    }
    // B's owner addressing A's organization directly is not a member there.
    not_found(
        "get organization",
        svc.get_organization(&a.ctx_of(b.owner)).await,
    )?;
    not_found(
        "list members",
        svc.list_members(&a.ctx_of(b.owner), &ListQuery::default())
            .await,
    )?;
    // B's lists and counts hold only B's rows.
    let members = svc
        .list_members(bctx, &ListQuery::default())
        .await
        .unwrap()
        .data;
    prop_assert!(
        members
            .iter()
            .all(|m| m.org_id == b.org.id && !ids_a.users.contains(&m.user_id))
    );
    prop_assert!(
        svc.list_teams(bctx, &ListQuery::default())
            .await
            .unwrap()
            .data
            .iter()
            .all(|t| t.org_id == b.org.id)
    );
    prop_assert!(
        svc.list_invitations(bctx, &ListQuery::default())
            .await
            .unwrap()
            .data
            .iter()
            .all(|i| i.org_id == b.org.id)
    );
    prop_assert_eq!(before, snapshot(svc, &a).await, "A's data changed");
    Ok(())
}

async fn property(t: TestDb) {
    let fx = setup(&t).await;
    let handle = tokio::runtime::Handle::current();
    let config = Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    };
    let strategy = proptest::collection::vec((any::<bool>(), op()), 1..14);
    let result = tokio::task::block_in_place(|| {
        TestRunner::new(config).run(&strategy, |ops| handle.block_on(case(&fx, ops)))
    });
    if let Err(e) = result {
        panic!("isolation property failed: {e}");
    }
}
helix_core::backend_test!(isolation_tenant_b_never_touches_tenant_a, property);
