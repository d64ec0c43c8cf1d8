//! Cross-tenant isolation of every IAM endpoint over HTTP, on both backends: organization
//! B's owner (who holds every permission in B) cannot read, change or explain A's roles,
//! assignments and relationship tuples. Ids from A are 404 to B, B's lists never show A's
//! rows, and an explanation about A's user reveals nothing of A.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Running, register_and_login, start};

const PASSWORD: &str = "correct horse battery staple 42";

struct Api<'a> {
    srv: &'a Running,
    c: Client,
}

impl Api<'_> {
    async fn call(&self, method: Method, token: &str, p: &str, body: Option<Value>) -> Response {
        let mut req = self
            .c
            .request(method, format!("{}{p}", self.srv.base))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn status(&self, method: Method, token: &str, p: &str, body: Option<Value>) -> u16 {
        self.call(method, token, p, body).await.status().as_u16()
    }

    async fn json(&self, token: &str, p: &str) -> Value {
        let r = self.call(Method::GET, token, p, None).await;
        assert_eq!(r.status(), 200, "GET {p}");
        r.json().await.unwrap()
    }
}

struct Owner {
    id: String,
    org: String,
    access: String,
}

async fn owner(api: &Api<'_>, name: &str) -> Owner {
    let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
    let pair = register_and_login(api.srv, &api.c, &email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let me = api.json(&access, "/api/v1/auth/me").await;
    Owner {
        id: me["account_id"].as_str().unwrap().to_owned(),
        org: pair["org_id"].as_str().unwrap().to_owned(),
        access,
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn iam_endpoints_are_isolated(t: TestDb) {
    let srv = start(&t).await;
    let api = Api {
        srv: &srv,
        c: Client::new(),
    };
    let a = owner(&api, "iso-a").await;
    let b = owner(&api, "iso-b").await;
    let team_a = Uuid::now_v7();

    // A's role, assignment and tuple.
    let r = api
        .call(
            Method::POST,
            &a.access,
            "/api/v1/iam/roles",
            Some(json!({"key": "a_secret", "name": "A secret", "permissions": ["iam.roles.read"]})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let a_token = r.headers()["helix-revision"].to_str().unwrap().to_owned();
    let role: Value = r.json().await.unwrap();
    let role_a = role["id"].as_str().unwrap().to_owned();
    let r = api
        .call(
            Method::POST,
            &a.access,
            "/api/v1/iam/assignments",
            Some(
                json!({"subject": format!("team:{team_a}#member"), "role_id": role_a,
                        "scope": format!("team:{team_a}")}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    let assignment: Value = r.json().await.unwrap();
    let assignment_a = assignment["id"].as_str().unwrap().to_owned();
    // Roles: A's id is not found to B, for every verb; B's list does not show it.
    let role_path = format!("/api/v1/iam/roles/{role_a}");
    assert_eq!(
        api.status(Method::GET, &b.access, &role_path, None).await,
        404
    );
    assert_eq!(
        api.status(
            Method::PATCH,
            &b.access,
            &role_path,
            Some(json!({"name": "Taken over"}))
        )
        .await,
        404
    );
    assert_eq!(
        api.status(
            Method::PATCH,
            &b.access,
            &role_path,
            Some(json!({"permissions": []}))
        )
        .await,
        404
    );
    assert_eq!(
        api.status(Method::DELETE, &b.access, &role_path, None)
            .await,
        404
    );
    let roles_b = api.json(&b.access, "/api/v1/iam/roles?limit=100").await;
    assert!(!ids(&roles_b).contains(&role_a), "{roles_b}");
    assert!(
        roles_b["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["key"] != "a_secret"),
        "{roles_b}"
    );

    // Assignments: A's are not listed (even filtered by A's role), not deletable, and A's
    // role cannot be assigned in B.
    let asg_b = api
        .json(&b.access, "/api/v1/iam/assignments?limit=100")
        .await;
    assert!(!ids(&asg_b).contains(&assignment_a), "{asg_b}");
    let by_role = api
        .json(
            &b.access,
            &format!("/api/v1/iam/assignments?role_id={role_a}"),
        )
        .await;
    assert_eq!(by_role["meta"]["total"], 0, "{by_role}");
    let by_subject = api
        .json(
            &b.access,
            &format!("/api/v1/iam/assignments?subject=team:{team_a}%23member"),
        )
        .await;
    assert_eq!(by_subject["meta"]["total"], 0, "{by_subject}");
    assert_eq!(
        api.status(
            Method::DELETE,
            &b.access,
            &format!("/api/v1/iam/assignments/{assignment_a}"),
            None
        )
        .await,
        404
    );
    assert_eq!(
        api.status(
            Method::POST,
            &b.access,
            "/api/v1/iam/assignments",
            Some(json!({"subject": format!("user:{}", b.id), "role_id": role_a}))
        )
        .await,
        404
    );

    // Tuples: nothing about A's team or user in B's lists, however filtered. (The reference
    // server declares no writable object type, so A cannot hold tuples of its own here; the
    // store-level isolation of tuples is tested in helix-iam.)
    for q in [
        format!("object=team:{team_a}"),
        "object_type=team".to_owned(),
        format!("subject=user:{}", a.id),
        "relation=member".to_owned(),
    ] {
        let page = api
            .json(&b.access, &format!("/api/v1/iam/tuples?{q}"))
            .await;
        assert_eq!(page["meta"]["total"], 0, "{q}: {page}");
    }

    // Explain: about A's user, A's team, with A's role's permission: denied, and nothing of
    // A in the answer.
    for body in [
        json!({"permission": "iam.roles.read", "user_id": a.id}),
        json!({"permission": "iam.roles.read", "user_id": a.id,
               "resource": format!("team:{team_a}")}),
    ] {
        let r = api
            .call(Method::POST, &b.access, "/api/v1/iam/explain", Some(body))
            .await;
        assert_eq!(r.status(), 200);
        let ex: Value = r.json().await.unwrap();
        assert_eq!(ex["allowed"], false, "{ex}");
        let text = ex.to_string();
        for secret in [role_a.as_str(), "a_secret", "A secret", a.org.as_str()] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    // A's revision token means nothing in B.
    let r = api
        .c
        .get(format!("{}/api/v1/iam/me/permissions", srv.base))
        .bearer_auth(&b.access)
        .header("helix-revision", &a_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A's records are untouched.
    assert_eq!(api.json(&a.access, &role_path).await["name"], "A secret");
    let asg_a = api
        .json(&a.access, "/api/v1/iam/assignments?limit=100")
        .await;
    assert!(ids(&asg_a).contains(&assignment_a), "{asg_a}");
    srv.stop().await;
}
backend_test!(iam_endpoints_are_isolated, iam_endpoints_are_isolated);
