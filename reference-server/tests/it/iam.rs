//! helix-iam end to end over HTTP, on both backends: custom roles, a team-scoped assignment
//! that lets a member manage one team (decided for helix-tenancy by `IamAuthorizer`), the
//! escalation guards, explanations, read-your-writes revision tokens, and that roles of
//! another organization are out of reach.

use std::time::{Duration, Instant};

use helix_core::backend_test;
use helix_core::testing::{TestDb, run_postgres};
use reqwest::{Client, Response};
use serde_json::{Value, json};

use crate::support::{Running, error_code as code, register_and_login, start, start_pair};

const PASSWORD: &str = "correct horse battery staple 42";

struct Api<'a> {
    srv: &'a Running,
    c: Client,
}

impl Api<'_> {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.srv.base)
    }

    async fn get(&self, token: &str, p: &str) -> Response {
        self.c
            .get(self.url(p))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn send(&self, method: reqwest::Method, token: &str, p: &str, body: Value) -> Response {
        self.c
            .request(method, self.url(p))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, token: &str, p: &str, body: Value) -> Response {
        self.send(reqwest::Method::POST, token, p, body).await
    }

    async fn patch(&self, token: &str, p: &str, body: Value) -> Response {
        self.send(reqwest::Method::PATCH, token, p, body).await
    }

    /// Switches `token`'s session to `org`; the new access token.
    async fn switch(&self, token: &str, org: &str) -> String {
        let r = self
            .post(token, "/api/v1/auth/organization", json!({ "org_id": org }))
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }
}

/// The id of the organization's role `key`, as `GET /iam/roles` lists it.
async fn role_id(api: &Api<'_>, token: &str, key: &str) -> String {
    let roles: Value = api
        .get(token, "/api/v1/iam/roles?limit=100")
        .await
        .json()
        .await
        .unwrap();
    roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Whether a `me/permissions` answer lists `permission`.
fn holds(answer: &Value, permission: &str) -> bool {
    answer["permissions"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p == permission))
}

async fn roles_decide_over_http(t: TestDb) {
    let srv = start(&t).await;
    let api = Api {
        srv: &srv,
        c: Client::new(),
    };
    let owner_pair = register_and_login(&srv, &api.c, "iam-owner@example.test", PASSWORD).await;
    let owner = owner_pair["access_token"].as_str().unwrap().to_owned();
    let org = owner_pair["org_id"].as_str().unwrap().to_owned();
    let bob_pair = register_and_login(&srv, &api.c, "iam-bob@example.test", PASSWORD).await;
    let bob_home = bob_pair["access_token"].as_str().unwrap().to_owned();
    let bob_org = bob_pair["org_id"].as_str().unwrap().to_owned();
    let bob_id = {
        let me: Value = api
            .get(&bob_home, "/api/v1/auth/me")
            .await
            .json()
            .await
            .unwrap();
        me["account_id"].as_str().unwrap().to_owned()
    };

    // Bob joins the owner's organization as a member.
    let r = api
        .post(
            &owner,
            "/api/v1/invitations",
            json!({"email": "iam-bob@example.test", "role": "member"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let invite: Value = r.json().await.unwrap();
    let r = api
        .post(
            &bob_home,
            "/api/v1/invitations/accept",
            json!({"token": invite["token"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let bob = api.switch(&bob_home, &org).await;

    // Two teams.
    let mut teams = Vec::new();
    for slug in ["eng", "ops"] {
        let r = api
            .post(&owner, "/api/v1/teams", json!({"name": slug, "slug": slug}))
            .await;
        assert_eq!(r.status(), 201);
        let team: Value = r.json().await.unwrap();
        teams.push(team["id"].as_str().unwrap().to_owned());
    }
    let (eng, ops) = (teams[0].clone(), teams[1].clone());

    // The catalog and the four built-in roles.
    let (status, _, catalog) = code(api.get(&owner, "/api/v1/iam/catalog").await).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = catalog["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"tenancy.teams.manage") && names.contains(&"iam.roles.manage"));
    // `Require<CatalogRead>` guards it: no authentication is a 401, a member may read it.
    let r = api
        .c
        .get(api.url("/api/v1/iam/catalog"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(api.get(&bob, "/api/v1/iam/catalog").await.status(), 200);
    let (status, _, roles) = code(api.get(&owner, "/api/v1/iam/roles").await).await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    for key in ["owner", "admin", "member", "read_only"] {
        assert!(keys.contains(&key), "{keys:?}");
    }

    // A member cannot manage a team, nor roles.
    let (status, c, body) = code(
        api.patch(
            &bob,
            &format!("/api/v1/teams/{eng}"),
            json!({"name": "Eng 2"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, c.as_str()), (403, "FORBIDDEN"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenancy.teams.manage")
    );
    let (status, _, _) = code(
        api.post(
            &bob,
            "/api/v1/iam/roles",
            json!({"key": "mine", "name": "Mine", "permissions": []}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);

    // The owner makes a team-lead role and gives it to Bob on team eng only.
    let r = api
        .post(
            &owner,
            "/api/v1/iam/roles",
            json!({"key": "team_lead", "name": "Team lead",
                   "permissions": ["tenancy.teams.read", "tenancy.teams.manage"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("helix-revision"));
    let lead: Value = r.json().await.unwrap();
    let lead_id = lead["id"].as_str().unwrap().to_owned();
    let r = api
        .post(
            &owner,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": lead_id,
                   "scope": format!("team:{eng}")}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let token = r.headers()["helix-revision"].to_str().unwrap().to_owned();
    let assignment: Value = r.json().await.unwrap();

    // At once (the decision is at least as fresh as the operation's transaction), Bob
    // manages eng and still not ops.
    let r = api
        .patch(
            &bob,
            &format!("/api/v1/teams/{eng}"),
            json!({"name": "Eng 2"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, _, _) = code(
        api.patch(
            &bob,
            &format!("/api/v1/teams/{ops}"),
            json!({"name": "Ops 2"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);

    // What Bob holds where, read at least as fresh as the assignment.
    let mine: Value = api
        .c
        .get(api.url(&format!("/api/v1/iam/me/permissions?resource=team:{eng}")))
        .bearer_auth(&bob)
        .header("helix-revision", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held: Vec<&str> = mine["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(held.contains(&"tenancy.teams.manage"), "{held:?}");
    let mine: Value = api
        .get(&bob, "/api/v1/iam/me/permissions")
        .await
        .json()
        .await
        .unwrap();
    assert!(!holds(&mine, "tenancy.teams.manage"));

    // Explained.
    let (status, _, ex) = code(
        api.post(
            &bob,
            "/api/v1/iam/explain",
            json!({"permission": "tenancy.teams.manage", "resource": format!("team:{eng}")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ex["allowed"], true);
    assert!(
        ex["explanation"].as_str().unwrap().contains("team_lead"),
        "{ex}"
    );
    // Explaining someone else's decision needs iam.explain, which members lack.
    let owner_id = {
        let me: Value = api
            .get(&owner, "/api/v1/auth/me")
            .await
            .json()
            .await
            .unwrap();
        me["account_id"].as_str().unwrap().to_owned()
    };
    let (status, _, _) = code(
        api.post(
            &bob,
            "/api/v1/iam/explain",
            json!({"permission": "tenancy.teams.manage", "user_id": owner_id}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, ex) = code(
        api.post(
            &owner,
            "/api/v1/iam/explain",
            json!({"permission": "tenancy.teams.manage", "resource": format!("team:{ops}"),
                   "user_id": bob_id}),
        )
        .await,
    )
    .await;
    assert_eq!((status, ex["allowed"].as_bool()), (200, Some(false)));

    // Joining a team hands out what its members are assigned: with the admin role given to
    // eng's members, Bob (who manages eng but is no admin) cannot add himself to eng; the
    // owner can add him.
    let admin_role = role_id(&api, &owner, "admin").await;
    let r = api
        .post(
            &owner,
            "/api/v1/iam/assignments",
            json!({"subject": format!("team:{eng}#member"), "role_id": admin_role}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let team_grant: Value = r.json().await.unwrap();
    let join = format!("/api/v1/teams/{eng}/members/{bob_id}");
    let r = api.send(reqwest::Method::PUT, &bob, &join, json!({})).await;
    assert_eq!(r.status(), 403);
    let r = api
        .send(
            reqwest::Method::DELETE,
            &owner,
            &format!(
                "/api/v1/iam/assignments/{}",
                team_grant["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = api.send(reqwest::Method::PUT, &bob, &join, json!({})).await;
    assert!(r.status().is_success(), "{}", r.status());

    // A revision token of another organization is refused.
    let simple = |id: &str| id.replace('-', "");
    assert!(token.contains(&simple(&org)), "{token}");
    let foreign = token.replace(&simple(&org), &simple(&bob_org));
    let r = api
        .c
        .get(api.url("/api/v1/iam/me/permissions"))
        .bearer_auth(&bob)
        .header("helix-revision", foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A role in use cannot be deleted.
    let (status, c, _) = code(
        api.send(
            reqwest::Method::DELETE,
            &owner,
            &format!("/api/v1/iam/roles/{lead_id}"),
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!((status, c.as_str()), (409, "ROLE_IN_USE"));

    // Escalation: with the right to manage assignments but not the admin's permissions,
    // Bob cannot hand out the admin role, even to himself; he can hand out team_lead on
    // the team where he holds it.
    let r = api
        .post(
            &owner,
            "/api/v1/iam/roles",
            json!({"key": "delegate", "name": "Delegate",
                   "permissions": ["iam.assignments.manage", "iam.assignments.read", "iam.roles.read"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let delegate: Value = r.json().await.unwrap();
    let r = api
        .post(
            &owner,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": delegate["id"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let admin_id = role_id(&api, &owner, "admin").await;
    let (status, c, _) = code(
        api.post(
            &bob,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": admin_id}),
        )
        .await,
    )
    .await;
    assert_eq!((status, c.as_str()), (403, "FORBIDDEN"));
    let r = api
        .post(
            &bob,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": lead_id,
                   "scope": format!("team:{eng}")}),
        )
        .await;
    assert_eq!(r.status(), 409, "the same assignment exists already");

    // Another organization's role is not found here; its roles are not listed here.
    let r = api
        .post(
            &bob_home,
            "/api/v1/iam/roles",
            json!({"key": "elsewhere", "name": "Elsewhere", "permissions": []}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let elsewhere: Value = r.json().await.unwrap();
    let (status, _, _) = code(
        api.post(
            &owner,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": elsewhere["id"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = code(
        api.get(
            &owner,
            &format!("/api/v1/iam/roles/{}", elsewhere["id"].as_str().unwrap()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    let listed: Value = api
        .get(&owner, "/api/v1/iam/roles?limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "elsewhere")
    );

    // An admin cannot make an owner, through tenancy or IAM.
    let r = api
        .patch(
            &owner,
            &format!("/api/v1/members/{bob_id}"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, _, _) = code(
        api.patch(
            &bob,
            &format!("/api/v1/members/{bob_id}"),
            json!({"role": "owner"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    let owner_role = role_id(&api, &owner, "owner").await;
    let (status, _, _) = code(
        api.post(
            &bob,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": owner_role}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);

    // Removing the assignment takes the team away again.
    let r = api
        .patch(
            &owner,
            &format!("/api/v1/members/{bob_id}"),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = api
        .send(
            reqwest::Method::DELETE,
            &owner,
            &format!(
                "/api/v1/iam/assignments/{}",
                assignment["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, _, _) = code(
        api.patch(
            &bob,
            &format!("/api/v1/teams/{eng}"),
            json!({"name": "Eng 3"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);

    // A low (or forged) revision token never brings back what was taken away.
    let low = format!("r1.{}.0", org.replace('-', ""));
    let v: Value = api
        .c
        .get(api.url(&format!("/api/v1/iam/me/permissions?resource=team:{eng}")))
        .bearer_auth(&bob)
        .header("helix-revision", low)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!holds(&v, "tenancy.teams.manage"), "{v}");

    // Only members and declared subject sets can be given a role: a set naming an unknown
    // type would make the organization's policy fail to load.
    for (subject, why) in [
        (format!("user:{}", uuid::Uuid::now_v7()), "not_a_member"),
        ("nosuch:x#rel".to_owned(), "unknown_relation"),
    ] {
        let (status, _, body) = code(
            api.post(
                &owner,
                "/api/v1/iam/assignments",
                json!({"subject": subject, "role_id": lead_id}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["details"][0]["code"], why);
    }

    // Bad input is a 400 naming the field.
    let (status, c, body) = code(
        api.post(
            &owner,
            "/api/v1/iam/assignments",
            json!({"subject": "nobody", "role_id": lead_id}),
        )
        .await,
    )
    .await;
    assert_eq!((status, c.as_str()), (400, "VALIDATION_ERROR"));
    assert_eq!(body["error"]["details"][0]["field"], "subject");
    let (status, _, body) = code(
        api.post(
            &owner,
            "/api/v1/iam/roles",
            json!({"key": "x", "name": "X", "permissions": ["no.such.permission"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = code(
        api.post(
            &owner,
            "/api/v1/iam/tuples",
            json!({"insert": [format!("team:{eng}#owner@user:{bob_id}")]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    srv.stop().await;
}
backend_test!(iam_roles_decide_over_http, roles_decide_over_http);

/// A role change made through instance A is enforced by instance B, which learns of it from
/// PostgreSQL's change feed (no revision token is sent). The target is 100 ms; the
/// test allows 1 s so a loaded CI machine does not fail it, and prints what it measured.
async fn two_instances(t: TestDb) {
    let (srv_a, srv_b) = start_pair(&t).await;
    let a = Api {
        srv: &srv_a,
        c: Client::new(),
    };
    let b = Api {
        srv: &srv_b,
        c: Client::new(),
    };
    let owner_pair = register_and_login(&srv_a, &a.c, "two-owner@example.test", PASSWORD).await;
    let owner = owner_pair["access_token"].as_str().unwrap().to_owned();
    let org = owner_pair["org_id"].as_str().unwrap().to_owned();
    let bob_pair = register_and_login(&srv_a, &a.c, "two-bob@example.test", PASSWORD).await;
    let bob_home = bob_pair["access_token"].as_str().unwrap().to_owned();
    let me: Value = a
        .get(&bob_home, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let bob_id = me["account_id"].as_str().unwrap().to_owned();
    let r = a
        .post(
            &owner,
            "/api/v1/members",
            json!({"user_id": bob_id, "email": "two-bob@example.test", "role": "member"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let bob = a.switch(&bob_home, &org).await;
    let r = a
        .post(
            &owner,
            "/api/v1/teams",
            json!({"name": "Eng", "slug": "eng"}),
        )
        .await;
    let eng: Value = r.json().await.unwrap();
    let eng = eng["id"].as_str().unwrap().to_owned();
    let perms_on_b = || async {
        let v: Value = b
            .get(
                &bob,
                &format!("/api/v1/iam/me/permissions?resource=team:{eng}"),
            )
            .await
            .json()
            .await
            .unwrap();
        holds(&v, "tenancy.teams.manage")
    };
    // B has loaded the organization's policy: Bob may not manage the team.
    assert!(!perms_on_b().await);
    assert_eq!(
        b.patch(&bob, &format!("/api/v1/teams/{eng}"), json!({"name": "x"}))
            .await
            .status(),
        403
    );

    let r = a
        .post(
            &owner,
            "/api/v1/iam/roles",
            json!({"key": "team_lead", "name": "Team lead",
                   "permissions": ["tenancy.teams.manage"]}),
        )
        .await;
    let lead: Value = r.json().await.unwrap();
    let r = a
        .post(
            &owner,
            "/api/v1/iam/assignments",
            json!({"subject": format!("user:{bob_id}"), "role_id": lead["id"],
                   "scope": format!("team:{eng}")}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let committed = Instant::now();
    let mut seen = None;
    while committed.elapsed() < Duration::from_secs(1) {
        if perms_on_b().await {
            seen = Some(committed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seen = seen.expect("instance B enforces the new assignment within 1 s");
    eprintln!("role change reached instance B after {seen:?}");
    assert_eq!(
        b.patch(&bob, &format!("/api/v1/teams/{eng}"), json!({"name": "y"}))
            .await
            .status(),
        200
    );
    srv_a.stop().await;
    srv_b.stop().await;
}

#[tokio::test]
async fn iam_role_change_reaches_a_second_instance() {
    run_postgres(two_instances).await;
}
