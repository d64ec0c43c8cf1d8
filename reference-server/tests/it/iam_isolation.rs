//! Cross-tenant isolation of every IAM endpoint over HTTP, on both backends: organization
//! B's owner (who holds every permission in B) cannot read, change or explain A's roles,
//! assignments and relationship tuples. Ids from A are 404 to B, B's lists never show A's
//! rows, and an explanation about A's user reveals nothing of A.
//!
//! The tuples are on the reference server's own object types (`document`, `folder`, see
//! `reference_server::documents`): A's tuples work end to end over HTTP, and B, writing
//! tuples on objects with the same ids, changes nothing in A and learns nothing of it.

use helix_core::testing::TestDb;
use helix_core::{Actor, TenantContext, backend_test};
use helix_iam::Consistency;
use helix_iam::model::{ObjectRef, Resource};
use reference_server::{Settings, build_app};
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

/// A signed-in account and its active organization.
struct Account {
    id: String,
    org: String,
    access: String,
}

/// A new account, owner of its personal organization.
async fn owner(api: &Api<'_>, name: &str) -> Account {
    let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
    let pair = register_and_login(api.srv, &api.c, &email, PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let me = api.json(&access, "/api/v1/auth/me").await;
    Account {
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

    // Tuples: nothing about A's team or user in B's lists, however filtered (A's own
    // document tuples: `document_tuples_are_isolated`).
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

/// A new account that `owner` invites into the owner's organization as a plain member,
/// signed in there.
async fn member(api: &Api<'_>, owner: &Account, name: &str) -> Account {
    let email = format!("{name}-{}@example.test", Uuid::now_v7().simple());
    let pair = register_and_login(api.srv, &api.c, &email, PASSWORD).await;
    let home = pair["access_token"].as_str().unwrap().to_owned();
    let me = api.json(&home, "/api/v1/auth/me").await;
    let r = api
        .call(
            Method::POST,
            &owner.access,
            "/api/v1/invitations",
            Some(json!({"email": email, "role": "member"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let invite: Value = r.json().await.unwrap();
    let accept = json!({"token": invite["token"]});
    assert_eq!(
        api.status(
            Method::POST,
            &home,
            "/api/v1/invitations/accept",
            Some(accept)
        )
        .await,
        200
    );
    let r = api
        .call(
            Method::POST,
            &home,
            "/api/v1/auth/organization",
            Some(json!({"org_id": owner.org})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let switched: Value = r.json().await.unwrap();
    Account {
        id: me["account_id"].as_str().unwrap().to_owned(),
        org: owner.org.clone(),
        access: switched["access_token"].as_str().unwrap().to_owned(),
    }
}

/// A new team of `owner`'s organization with `members` in it; its id.
async fn team(api: &Api<'_>, owner: &Account, slug: &str, members: &[&Account]) -> String {
    let r = api
        .call(
            Method::POST,
            &owner.access,
            "/api/v1/teams",
            Some(json!({"name": slug, "slug": slug})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let team: Value = r.json().await.unwrap();
    let id = team["id"].as_str().unwrap().to_owned();
    for m in members {
        let r = api
            .call(
                Method::PUT,
                &owner.access,
                &format!("/api/v1/teams/{id}/members/{}", m.id),
                Some(json!({})),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    id
}

/// `POST /api/v1/iam/tuples`: the status and the body.
async fn write(api: &Api<'_>, who: &Account, insert: &[String], delete: &[String]) -> (u16, Value) {
    let r = api
        .call(
            Method::POST,
            &who.access,
            "/api/v1/iam/tuples",
            Some(json!({"insert": insert, "delete": delete})),
        )
        .await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Every tuple `GET /api/v1/iam/tuples?{query}` lists, sorted, after checking the page
/// agrees with its total.
async fn tuples(api: &Api<'_>, who: &Account, query: &str) -> Vec<String> {
    let page = api
        .json(
            &who.access,
            &format!("/api/v1/iam/tuples?limit=100&{query}"),
        )
        .await;
    let mut out: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(page["meta"]["total"], out.len(), "{query}: {page}");
    out.sort();
    out
}

/// `POST /api/v1/iam/explain` about `user` (another user's decision needs `iam.explain`).
async fn explain(
    api: &Api<'_>,
    who: &Account,
    user: &str,
    permission: &str,
    resource: &str,
) -> Value {
    let r = api
        .call(
            Method::POST,
            &who.access,
            "/api/v1/iam/explain",
            Some(json!({"permission": permission, "resource": resource, "user_id": user})),
        )
        .await;
    assert_eq!(r.status(), 200, "explain {permission} on {resource}");
    r.json().await.unwrap()
}

/// The `docs.*` permissions the caller holds on `resource` (`GET /api/v1/iam/me/permissions`),
/// sorted.
async fn my_docs(api: &Api<'_>, who: &Account, resource: &str) -> Vec<String> {
    let mine = api
        .json(
            &who.access,
            &format!("/api/v1/iam/me/permissions?resource={resource}"),
        )
        .await;
    assert_eq!(mine["resource"], resource, "{mine}");
    let mut docs: Vec<String> = mine["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| p.starts_with("docs."))
        .map(str::to_owned)
        .collect();
    docs.sort();
    docs
}

const READ: &str = "docs.documents.read";
const EDIT: &str = "docs.documents.edit";
const DELETE: &str = "docs.documents.delete";

/// The reference server's document type works end to end: the owner writes tuples (users
/// and team members, a folder hierarchy), lists them, explains decisions reached through
/// the rewrites (owner ⊂ editor ⊂ viewer, folder viewers view its documents), members see
/// their own permissions, and a deleted tuple takes its access away.
async fn document_tuples_work_over_http(t: TestDb) {
    let srv = start(&t).await;
    let api = Api {
        srv: &srv,
        c: Client::new(),
    };
    let a = owner(&api, "docs-a").await;
    let carol = member(&api, &a, "docs-carol").await;
    let dave = member(&api, &a, "docs-dave").await;
    let erin = member(&api, &a, "docs-erin").await;
    let eng = team(&api, &a, "eng", &[&dave]).await;

    // The catalog holds the documents' permissions.
    let catalog = api.json(&a.access, "/api/v1/iam/catalog").await;
    let names: Vec<&str> = catalog["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in [READ, EDIT, DELETE] {
        assert!(names.contains(&p), "{p}: {catalog}");
    }
    // A plain member holds none of them until a tuple says so.
    assert!(my_docs(&api, &carol, "document:plan").await.is_empty());

    // Carol owns the plan, eng's members edit it, and it sits in folder finance, inside
    // folder company, whose viewers include Erin.
    let insert = vec![
        format!("document:plan#owner@user:{}", carol.id),
        format!("document:plan#editor@team:{eng}#member"),
        "document:plan#parent@folder:finance#self_".to_owned(),
        "folder:finance#parent@folder:company#self_".to_owned(),
        format!("folder:company#viewer@user:{}", erin.id),
    ];
    let (status, outcome) = write(&api, &a, &insert, &[]).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["inserted"], 5, "{outcome}");
    assert_eq!(outcome["deleted"], 0, "{outcome}");
    // Writing them again changes nothing.
    let (status, again) = write(&api, &a, &insert, &[]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["inserted"], 0, "{again}");

    let mut expected = insert.clone();
    expected.sort();
    assert_eq!(tuples(&api, &a, "").await, expected);
    assert_eq!(
        tuples(&api, &a, "object=document:plan").await.len(),
        3,
        "the plan's tuples"
    );
    assert_eq!(
        tuples(&api, &a, "object_type=folder").await,
        vec![expected[3].clone(), expected[4].clone()]
    );
    assert_eq!(
        tuples(&api, &a, &format!("subject=team:{eng}%23member")).await,
        vec![format!("document:plan#editor@team:{eng}#member")]
    );

    // Explanations, through each rewrite.
    let ex = explain(&api, &a, &carol.id, DELETE, "document:plan").await;
    assert_eq!(ex["allowed"], true, "{ex}");
    let ex = explain(&api, &a, &carol.id, READ, "document:plan").await;
    assert_eq!(ex["allowed"], true, "{ex}");
    let text = ex["explanation"].as_str().unwrap();
    assert!(
        text.contains("bound to document#view") && text.contains("document:plan#owner"),
        "{text}"
    );
    let ex = explain(&api, &a, &dave.id, EDIT, "document:plan").await;
    assert_eq!(ex["allowed"], true, "{ex}");
    let text = ex["explanation"].as_str().unwrap();
    assert!(text.contains(&format!("team:{eng}#member")), "{text}");
    let ex = explain(&api, &a, &dave.id, DELETE, "document:plan").await;
    assert_eq!(ex["allowed"], false, "{ex}");
    let ex = explain(&api, &a, &erin.id, READ, "document:plan").await;
    assert_eq!(ex["allowed"], true, "{ex}");
    let text = ex["explanation"].as_str().unwrap();
    assert!(text.contains("folder:company#viewer"), "{text}");
    let ex = explain(&api, &a, &erin.id, EDIT, "document:plan").await;
    assert_eq!(ex["allowed"], false, "{ex}");
    assert!(
        ex["explanation"]
            .as_str()
            .unwrap()
            .contains("no relationship path reaches document#edit"),
        "{ex}"
    );

    // Each member sees their own permissions on the document.
    assert_eq!(
        my_docs(&api, &carol, "document:plan").await,
        [DELETE, EDIT, READ]
    );
    assert_eq!(my_docs(&api, &dave, "document:plan").await, [EDIT, READ]);
    assert_eq!(my_docs(&api, &erin, "document:plan").await, [READ]);
    assert!(my_docs(&api, &erin, "document:other").await.is_empty());

    // A member cannot write tuples (`iam.tuples.manage` is the owner's), not even on a
    // document they own.
    let (status, refused) = write(
        &api,
        &carol,
        &[format!("document:plan#viewer@user:{}", erin.id)],
        &[],
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    // A tuple naming a computed permission is a 400 that names it.
    let bad = format!("document:plan#view@user:{}", erin.id);
    let (status, refused) = write(&api, &a, std::slice::from_ref(&bad), &[]).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "VALIDATION_ERROR", "{refused}");
    assert!(refused.to_string().contains("computed"), "{refused}");

    // Deleting eng's tuple takes Dave's access away (read-your-writes with the token).
    let r = api
        .call(
            Method::POST,
            &a.access,
            "/api/v1/iam/tuples",
            Some(json!({"delete": [format!("document:plan#editor@team:{eng}#member")]})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let token = r.headers()["helix-revision"].to_str().unwrap().to_owned();
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["deleted"], 1, "{outcome}");
    let r = api
        .c
        .get(format!(
            "{}/api/v1/iam/me/permissions?resource=document:plan",
            srv.base
        ))
        .bearer_auth(&dave.access)
        .header("helix-revision", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mine: Value = r.json().await.unwrap();
    assert!(
        !mine["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with("docs."))),
        "{mine}"
    );
    let ex = explain(&api, &a, &dave.id, READ, "document:plan").await;
    assert_eq!(ex["allowed"], false, "{ex}");
    assert_eq!(tuples(&api, &a, "").await.len(), 4);
    srv.stop().await;
}
backend_test!(
    document_tuples_work_over_http,
    document_tuples_work_over_http
);

/// A second instance of the reference server on the test's database, for the service-level
/// questions no route answers (`Iam::check` for another user, `Iam::list_objects`).
async fn second_instance(t: &TestDb) -> reference_server::App {
    let mut settings = Settings::default();
    settings.database.url = t.url.clone();
    settings.auth.signing_key = Some(helix_auth::tokens::SigningKeyConfig::generate("iso"));
    settings.auth.api_keys.hash_key = Some(helix_auth::api_keys::HmacKey::generate());
    settings.auth.encryption_key = Some(helix_auth::crypto::EncryptionKeyConfig::generate(
        "iso-encryption",
    ));
    build_app(&settings).await.unwrap()
}

fn ctx(org: &str, user: &str) -> TenantContext {
    TenantContext::new(org.parse().unwrap(), Actor::User(user.parse().unwrap()))
}

fn doc(id: &str) -> Resource {
    Resource::Object {
        object: ObjectRef::new("document", id),
        team: None,
    }
}

/// Organization A's document tuples are A's alone: B's owner cannot list them (whatever the
/// filter), delete them (a delete of A's tuple answers exactly as one of a tuple that never
/// existed), or change A's decisions by writing tuples on objects with the same ids (they
/// live in B, and B's arrows do not follow A's tuples); explanations, `me/permissions`,
/// checks and object lists in B show nothing of A, and A's show nothing of B.
async fn document_tuples_are_isolated(t: TestDb) {
    let srv = start(&t).await;
    let api = Api {
        srv: &srv,
        c: Client::new(),
    };
    let a = owner(&api, "docs-iso-a").await;
    let carol = member(&api, &a, "docs-iso-carol").await;
    let eng_a = team(&api, &a, "eng", &[&carol]).await;
    let b = owner(&api, "docs-iso-b").await;
    let dave = member(&api, &b, "docs-iso-dave").await;

    // A: Carol owns the plan, eng views it; both documents sit in folder finance, whose
    // viewer is Carol.
    let a_tuples = vec![
        format!("document:plan#owner@user:{}", carol.id),
        format!("document:plan#viewer@team:{eng_a}#member"),
        "document:plan#parent@folder:finance#self_".to_owned(),
        "document:roadmap#parent@folder:finance#self_".to_owned(),
        format!("folder:finance#viewer@user:{}", carol.id),
    ];
    let (status, outcome) = write(&api, &a, &a_tuples, &[]).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["inserted"], 5);
    let mut a_sorted = a_tuples.clone();
    a_sorted.sort();
    assert_eq!(tuples(&api, &a, "").await, a_sorted);
    let carol_plan = explain(&api, &a, &carol.id, EDIT, "document:plan").await;
    assert_eq!(carol_plan["allowed"], true, "{carol_plan}");
    let carol_roadmap = explain(&api, &a, &carol.id, READ, "document:roadmap").await;
    assert_eq!(carol_roadmap["allowed"], true, "{carol_roadmap}");

    // B lists nothing of A's, however it filters.
    let listings = [
        String::new(),
        "object=document:plan".to_owned(),
        "object=document:roadmap".to_owned(),
        "object=folder:finance".to_owned(),
        "object_type=document".to_owned(),
        "object_type=folder".to_owned(),
        "relation=owner".to_owned(),
        "relation=viewer".to_owned(),
        "relation=parent".to_owned(),
        format!("subject=user:{}", carol.id),
        format!("subject=team:{eng_a}%23member"),
        "subject=folder:finance%23self_".to_owned(),
        "filter[object_id]=plan".to_owned(),
        format!("filter[subject_id]={}", carol.id),
        "filter[subject_type]=team".to_owned(),
        "sort=created_at:desc".to_owned(),
    ];
    for q in &listings {
        assert!(
            tuples(&api, &b, q).await.is_empty(),
            "B listed A's with {q}"
        );
    }

    // B cannot delete A's tuples: the answer is the one for a tuple that never existed.
    let (status, gone) = write(&api, &b, &[], &a_tuples).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["deleted"], 0, "{gone}");
    let never = vec![format!("document:never#viewer@user:{}", carol.id)];
    let (status, none) = write(&api, &b, &[], &never).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["deleted"], gone["deleted"]);
    assert_eq!(none["inserted"], gone["inserted"]);
    // B's member, without `iam.tuples.manage`, is refused alike for both.
    let (s1, e1) = write(&api, &dave, &[], &a_tuples).await;
    let (s2, e2) = write(&api, &dave, &[], &never).await;
    assert_eq!((s1, s2), (403, 403), "{e1} {e2}");
    assert_eq!(e1["error"]["code"], e2["error"]["code"]);
    assert_eq!(e1["error"]["message"], e2["error"]["message"]);
    assert_eq!(tuples(&api, &a, "").await, a_sorted, "A's tuples survive");

    // B writes tuples on objects with A's ids (naming A's user too): they live in B only.
    let b_tuples = vec![
        format!("document:plan#owner@user:{}", b.id),
        format!("document:plan#viewer@user:{}", dave.id),
        format!("document:plan#viewer@user:{}", carol.id),
        format!("folder:finance#viewer@user:{}", dave.id),
    ];
    let (status, outcome) = write(&api, &b, &b_tuples, &[]).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["inserted"], 4, "{outcome}");
    let mut b_sorted = b_tuples.clone();
    b_sorted.sort();
    assert_eq!(tuples(&api, &b, "").await, b_sorted);
    assert_eq!(
        tuples(&api, &a, "").await,
        a_sorted,
        "B's writes are not A's"
    );
    for q in &listings[..9] {
        let listed = tuples(&api, &a, q).await;
        assert!(
            listed.iter().all(|t| a_tuples.contains(t)),
            "A listed B's with {q}: {listed:?}"
        );
    }

    // A's decisions did not change, and B's users hold nothing in A.
    assert_eq!(
        explain(&api, &a, &carol.id, EDIT, "document:plan").await,
        carol_plan
    );
    assert_eq!(
        explain(&api, &a, &carol.id, READ, "document:roadmap").await,
        carol_roadmap
    );
    for user in [&b.id, &dave.id] {
        for (perm, object) in [(READ, "document:plan"), (DELETE, "document:plan")] {
            let ex = explain(&api, &a, user, perm, object).await;
            assert_eq!(ex["allowed"], false, "{ex}");
        }
    }
    assert_eq!(
        my_docs(&api, &carol, "document:plan").await,
        [DELETE, EDIT, READ]
    );

    // B's explanations: Carol (A's member, named by B's tuple) holds nothing in B; Dave
    // views B's plan through B's tuple only, and not A's roadmap, although B says he views
    // folder finance (the roadmap's parent is A's tuple).
    let secrets = [
        eng_a.as_str(),
        a.org.as_str(),
        "roadmap",
        "#parent",
        "#owner",
    ];
    for (user, perm, object, allowed) in [
        (&carol.id, READ, "document:plan", false),
        (&carol.id, READ, "document:roadmap", false),
        (&dave.id, READ, "document:plan", true),
        (&dave.id, EDIT, "document:plan", false),
        (&dave.id, READ, "document:roadmap", false),
    ] {
        let ex = explain(&api, &b, user, perm, object).await;
        assert_eq!(ex["allowed"], allowed, "{user} {perm} {object}: {ex}");
        let text = ex["explanation"].as_str().unwrap();
        if user == &carol.id {
            // B's tuples name her, but she is no member of B: they are inert.
            assert!(text.contains("not a member"), "{text}");
        }
        for secret in secrets {
            // The resource asked about is B's own words.
            if object.contains(secret) {
                continue;
            }
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    assert_eq!(my_docs(&api, &dave, "document:plan").await, [READ]);
    assert!(my_docs(&api, &dave, "document:roadmap").await.is_empty());
    // Carol cannot enter B.
    let r = api
        .call(
            Method::POST,
            &carol.access,
            "/api/v1/auth/organization",
            Some(json!({"org_id": b.org})),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());

    // Checks and object lists (service level, from a second instance on the database).
    let other = second_instance(&t).await;
    let iam = &other.state.iam;
    let fresh = Consistency::Fresh;
    for (org, user, object, allowed) in [
        (&a.org, &carol.id, "roadmap", true),
        (&b.org, &carol.id, "plan", false),
        (&b.org, &dave.id, "plan", true),
        (&b.org, &dave.id, "roadmap", false),
        (&a.org, &dave.id, "plan", false),
    ] {
        let d = iam
            .check(&ctx(org, user), READ, &doc(object), fresh)
            .await
            .unwrap();
        assert_eq!(d.allowed, allowed, "{user} in {org} on {object}");
    }
    let objects = |ids: &[&str]| -> Vec<ObjectRef> {
        ids.iter()
            .map(|id| ObjectRef::new("document", *id))
            .collect()
    };
    let list = iam
        .list_objects(&ctx(&a.org, &carol.id), READ, "document")
        .await
        .unwrap();
    assert!(!list.all);
    assert_eq!(list.objects, objects(&["plan", "roadmap"]));
    for (org, user, expected) in [
        (&b.org, &carol.id, objects(&[])),
        (&b.org, &dave.id, objects(&["plan"])),
        (&a.org, &dave.id, objects(&[])),
        (&a.org, &b.id, objects(&[])),
    ] {
        let list = iam
            .list_objects(&ctx(org, user), READ, "document")
            .await
            .unwrap();
        assert!(!list.all, "{user} in {org}");
        assert_eq!(list.objects, expected, "{user} in {org}");
    }
    // B's owner reads every document of B by role, and only B's plan by tuple.
    let list = iam
        .list_objects(&ctx(&b.org, &b.id), DELETE, "document")
        .await
        .unwrap();
    assert!(list.all);
    assert_eq!(list.objects, objects(&["plan"]));
    let folders = iam
        .list_objects(&ctx(&b.org, &dave.id), "view", "folder")
        .await
        .unwrap();
    assert_eq!(folders.objects, [ObjectRef::new("folder", "finance")]);
    let folders = iam
        .list_objects(&ctx(&b.org, &carol.id), "view", "folder")
        .await
        .unwrap();
    assert!(folders.objects.is_empty());

    // A deletes its tuples; B's stay.
    let (status, outcome) = write(&api, &a, &[], &a_tuples).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["deleted"], 5, "{outcome}");
    assert!(tuples(&api, &a, "").await.is_empty());
    assert_eq!(tuples(&api, &b, "").await, b_sorted);
    let d = iam
        .check(&ctx(&b.org, &dave.id), READ, &doc("plan"), fresh)
        .await
        .unwrap();
    assert!(d.allowed);

    other.helix.db().clone().close().await.unwrap();
    srv.stop().await;
}
backend_test!(document_tuples_are_isolated, document_tuples_are_isolated);
