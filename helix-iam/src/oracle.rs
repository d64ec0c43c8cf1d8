//! The RBAC part of the policy as a casbin model, "RBAC with domains" (domain =
//! organization): the reference the compiled engine is tested against, and the shape a
//! casbin adapter stores.
//!
//! - A role at a scope is one casbin role, named `role:<key>@<scope>` (`role:admin@tenant`,
//!   `role:editor@team:<uuid>`, `role:viewer@document:1`).
//! - `p, role:<key>@<scope>, <org>, <scope>, <permission>` for every permission of the role
//!   (every catalog permission for `owner`).
//! - `g, user:<uuid>, role:<key>@<scope>, <org>` for an assignment to a user, and
//!   `g, team:<id>#member, role:<key>@<scope>, <org>` for one to a subject set.
//! - `g, user:<uuid>, team:<id>#member, <org>` (and set-in-set lines) for the stored tuples
//!   that make users members of the subject sets assignments name. Only stored tuples are
//!   expressed: membership derived through schema rewrites is outside casbin's model.
//!
//! A request is `sub, dom, obj, team, act` (see [`request`]): the object, and the team that
//! owns it (`-` when none), so a policy at scope tenant, at the owning team, or at the
//! object itself matches.

use std::collections::{BTreeSet, HashSet};

use uuid::Uuid;

use crate::catalog::Catalog;
use crate::model::{OWNER_ROLE, ObjectRef, Resource, Scope, Subject, TenantSnapshot};

const MODEL: &str = r#"[request_definition]
r = sub, dom, obj, team, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.act == p.act && (p.obj == "tenant" || p.obj == r.obj || p.obj == r.team)
"#;

/// The casbin model text.
pub fn casbin_model() -> &'static str {
    MODEL
}

fn scope_text(s: &Scope) -> String {
    s.to_string()
}

/// The policy lines of one organization: `(p lines, g lines)`, each line without its
/// `p`/`g` tag (`["role:admin@tenant", "<org>", "tenant", "iam.roles.read"]`), sorted and
/// without duplicates. Roles' unknown permissions are skipped here; the engine refuses
/// such snapshots at load.
pub fn policy_lines(
    snapshot: &TenantSnapshot,
    catalog: &Catalog,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let org = snapshot.org_id.to_string();
    let mut p: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut g: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut needed: HashSet<(ObjectRef, String)> = HashSet::new();
    for a in &snapshot.assignments {
        let Some(role) = snapshot.roles.iter().find(|r| r.id == a.role_id) else {
            continue;
        };
        let scope = scope_text(&a.scope);
        let node = format!("role:{}@{}", role.key, scope);
        if role.key == OWNER_ROLE {
            for e in catalog.entries() {
                p.insert(vec![
                    node.clone(),
                    org.clone(),
                    scope.clone(),
                    e.name.clone(),
                ]);
            }
        } else {
            for perm in &role.permissions {
                if catalog.resolve(perm).is_ok() {
                    p.insert(vec![node.clone(), org.clone(), scope.clone(), perm.clone()]);
                }
            }
        }
        g.insert(vec![a.subject.to_string(), node, org.clone()]);
        if let Subject::Set { object, relation } = &a.subject {
            needed.insert((object.clone(), relation.clone()));
        }
    }
    // Close over the stored tuples that feed the subject sets assignments name.
    loop {
        let before = needed.len();
        for t in &snapshot.tuples {
            if needed.contains(&(t.object.clone(), t.relation.clone()))
                && let Subject::Set { object, relation } = &t.subject
            {
                needed.insert((object.clone(), relation.clone()));
            }
        }
        if needed.len() == before {
            break;
        }
    }
    for t in &snapshot.tuples {
        if needed.contains(&(t.object.clone(), t.relation.clone())) {
            g.insert(vec![
                t.subject.to_string(),
                format!("{}#{}", t.object, t.relation),
                org.clone(),
            ]);
        }
    }
    (p.into_iter().collect(), g.into_iter().collect())
}

/// The casbin request for a check: `[sub, dom, obj, team, act]`.
pub fn request(org_id: Uuid, user: Uuid, resource: &Resource, permission: &str) -> [String; 5] {
    let (obj, team) = match resource {
        Resource::Tenant => ("tenant".to_owned(), "-".to_owned()),
        Resource::Team(t) => {
            let s = ObjectRef::team(*t).to_string();
            (s.clone(), s)
        }
        Resource::Object { object, team } => (
            object.to_string(),
            team.map_or_else(|| "-".to_owned(), |t| ObjectRef::team(t).to_string()),
        ),
    };
    [
        Subject::user(user).to_string(),
        org_id.to_string(),
        obj,
        team,
        permission.to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AssignmentRecord, AssignmentSource, Revision, RoleRecord, Tuple};

    #[test]
    fn lines_for_roles_assignments_and_team_membership() {
        let catalog = Catalog::build(&[]).unwrap();
        let org = Uuid::from_u128(1);
        let alice = Uuid::from_u128(2);
        let team = Uuid::from_u128(3);
        let role = Uuid::from_u128(4);
        let snap = TenantSnapshot {
            org_id: org,
            revision: Revision(1),
            roles: vec![RoleRecord {
                id: role,
                key: "auditor".into(),
                name: "Auditor".into(),
                builtin: false,
                permissions: vec!["iam.roles.read".into()],
            }],
            assignments: vec![AssignmentRecord {
                id: Uuid::from_u128(5),
                subject: Subject::team_members(team),
                role_id: role,
                scope: Scope::Tenant,
                source: AssignmentSource::Explicit,
            }],
            tuples: vec![
                Tuple::new(ObjectRef::team(team), "member", Subject::user(alice)),
                Tuple::new(
                    ObjectRef::new("document", "1"),
                    "viewer",
                    Subject::user(alice),
                ),
            ],
        };
        let (p, g) = policy_lines(&snap, &catalog);
        assert_eq!(
            p,
            vec![vec![
                "role:auditor@tenant".to_owned(),
                org.to_string(),
                "tenant".into(),
                "iam.roles.read".into()
            ]]
        );
        assert_eq!(g.len(), 2, "{g:?}");
        assert!(g.contains(&vec![
            format!("user:{alice}"),
            format!("team:{team}#member"),
            org.to_string()
        ]));
        let r = request(org, alice, &Resource::Tenant, "iam.roles.read");
        assert_eq!(r[2], "tenant");
        assert!(casbin_model().contains("r = sub, dom, obj, team, act"));
    }
}
