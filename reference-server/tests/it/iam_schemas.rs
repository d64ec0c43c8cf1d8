//! The IAM answers as the server really sends them, on both backends, against the schemas
//! the served `/api/v1/openapi.json` declares for them: every required property present, no
//! undeclared one, and each value of the declared JSON type (`$ref`, `allOf`, `oneOf`,
//! `items` and `enum` followed). A small recursive checker, nothing more.

use helix_core::testing::TestDb;
use helix_core::{Kernel, PlatformContext, backend_test};
use helix_iam::IamStore;
use helix_iam::store::PlatformRole;
use reqwest::{Client, Method};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::support::{Running, register_and_login, start};

const PASSWORD: &str = "correct horse battery staple 42";

/// Follows `$ref`s (`#/components/schemas/Name`) until a schema that is not one.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = r.trim_start_matches('#');
        schema = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    schema
}

/// The properties and required names of an object schema, merged over `allOf`.
fn object_parts(
    doc: &Value,
    schema: &Value,
    props: &mut Map<String, Value>,
    req: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            object_parts(doc, part, props, req);
        }
    }
    if let Some(p) = schema.get("properties").and_then(Value::as_object) {
        props.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(r) = schema.get("required").and_then(Value::as_array) {
        req.extend(r.iter().filter_map(Value::as_str).map(str::to_owned));
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// Checks `value` against `schema`, pushing one line per mismatch (with its JSON path).
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let matching = alternatives
            .iter()
            .filter(|alt| {
                let mut e = Vec::new();
                check(doc, alt, value, at, &mut e);
                e.is_empty()
            })
            .count();
        if matching == 0 {
            errors.push(format!("{at}: matches none of the alternatives: {value}"));
        }
        return;
    }
    match schema.get("type") {
        Some(Value::String(ty)) if !type_matches(ty, value) => {
            errors.push(format!("{at}: expected {ty}, got {value}"));
            return;
        }
        Some(Value::Array(tys))
            if !tys
                .iter()
                .filter_map(Value::as_str)
                .any(|ty| type_matches(ty, value)) =>
        {
            errors.push(format!("{at}: expected one of {tys:?}, got {value}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(items), Some(rows)) = (schema.get("items"), value.as_array()) {
        for (i, row) in rows.iter().enumerate() {
            check(doc, items, row, &format!("{at}[{i}]"), errors);
        }
    }
    let is_object_schema = schema.get("properties").is_some()
        || schema.get("allOf").is_some()
        || schema.get("type") == Some(&json!("object"));
    if let (true, Some(fields)) = (is_object_schema, value.as_object()) {
        let mut props = Map::new();
        let mut required = Vec::new();
        object_parts(doc, schema, &mut props, &mut required);
        for name in &required {
            if !fields.contains_key(name) {
                errors.push(format!("{at}: required property `{name}` is missing"));
            }
        }
        for (name, v) in fields {
            match props.get(name) {
                Some(s) => check(doc, s, v, &format!("{at}.{name}"), errors),
                None => errors.push(format!("{at}: property `{name}` is not declared")),
            }
        }
    }
}

/// The schema the document declares for `method path` answering `status` with JSON.
fn answer_schema<'a>(doc: &'a Value, method: &str, path: &str, status: u16) -> &'a Value {
    let pointer = format!(
        "/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1")
    );
    doc.pointer(&pointer)
        .unwrap_or_else(|| panic!("no JSON schema for {method} {path} {status}"))
}

/// Asserts that `body` has exactly the shape the document declares for the answer.
fn assert_conforms(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let mut errors = Vec::new();
    check(
        doc,
        answer_schema(doc, method, path, status),
        body,
        "$",
        &mut errors,
    );
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match its schema:\n{}\nbody: {body}",
        errors.join("\n")
    );
}

struct Api<'a> {
    srv: &'a Running,
    c: Client,
}

impl Api<'_> {
    /// Sends a request; the status and the JSON body.
    async fn call(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.c.request(method, format!("{}{path}", self.srv.base));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn account_id(&self, token: &str) -> Uuid {
        let (status, me) = self.call(Method::GET, token, "/api/v1/auth/me", None).await;
        assert_eq!(status, 200, "{me}");
        me["account_id"].as_str().unwrap().parse().unwrap()
    }
}

async fn iam_answers_match_the_document(t: TestDb) {
    let srv = start(&t).await;
    let api = Api {
        srv: &srv,
        c: Client::new(),
    };
    let (status, doc) = api
        .call(Method::GET, "", "/api/v1/openapi.json", None)
        .await;
    assert_eq!(status, 200);

    let pair = register_and_login(&srv, &api.c, "schema-owner@example.test", PASSWORD).await;
    let owner = pair["access_token"].as_str().unwrap().to_owned();
    let owner_id = api.account_id(&owner).await;
    let other = register_and_login(&srv, &api.c, "schema-other@example.test", PASSWORD).await;
    let other_id = api
        .account_id(other["access_token"].as_str().unwrap())
        .await;

    let (status, body) = api
        .call(Method::GET, &owner, "/api/v1/iam/catalog", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["permissions"].as_array().unwrap().is_empty());
    assert_conforms(&doc, "get", "/api/v1/iam/catalog", 200, &body);

    let (status, page) = api
        .call(Method::GET, &owner, "/api/v1/iam/roles", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(!page["data"].as_array().unwrap().is_empty());
    assert_conforms(&doc, "get", "/api/v1/iam/roles", 200, &page);

    let (status, role) = api
        .call(
            Method::POST,
            &owner,
            "/api/v1/iam/roles",
            Some(json!({"key": "schema_check", "name": "Schema check", "permissions": ["iam.roles.read"]})),
        )
        .await;
    assert_eq!(status, 201, "{role}");
    assert_conforms(&doc, "post", "/api/v1/iam/roles", 201, &role);
    let role_id = role["id"].as_str().unwrap().to_owned();

    let (status, body) = api
        .call(
            Method::GET,
            &owner,
            &format!("/api/v1/iam/roles/{role_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"], "schema_check");
    assert_conforms(&doc, "get", "/api/v1/iam/roles/{id}", 200, &body);

    let (status, body) = api
        .call(
            Method::PATCH,
            &owner,
            &format!("/api/v1/iam/roles/{role_id}"),
            Some(json!({"name": "Schema checked"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_conforms(&doc, "patch", "/api/v1/iam/roles/{id}", 200, &body);

    let (status, assignment) = api
        .call(
            Method::POST,
            &owner,
            "/api/v1/iam/assignments",
            Some(json!({"subject": format!("user:{owner_id}"), "role_id": role_id})),
        )
        .await;
    assert_eq!(status, 201, "{assignment}");
    assert_eq!(assignment["subject"]["type"], "user");
    assert_eq!(assignment["scope"]["type"], "tenant");
    assert_conforms(&doc, "post", "/api/v1/iam/assignments", 201, &assignment);
    let assignment_id = assignment["id"].as_str().unwrap().to_owned();

    let (status, page) = api
        .call(Method::GET, &owner, "/api/v1/iam/assignments", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_conforms(&doc, "get", "/api/v1/iam/assignments", 200, &page);

    // A tuple on the reference server's document type.
    let (status, outcome) = api
        .call(
            Method::POST,
            &owner,
            "/api/v1/iam/tuples",
            Some(
                json!({"insert": [format!("document:spec#viewer@user:{owner_id}")], "delete": []}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["inserted"], 1);
    assert_conforms(&doc, "post", "/api/v1/iam/tuples", 200, &outcome);

    let (status, page) = api
        .call(Method::GET, &owner, "/api/v1/iam/tuples", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
    assert_conforms(&doc, "get", "/api/v1/iam/tuples", 200, &page);

    let (status, mine) = api
        .call(Method::GET, &owner, "/api/v1/iam/me/permissions", None)
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["resource"], "tenant");
    assert_conforms(&doc, "get", "/api/v1/iam/me/permissions", 200, &mine);

    let (status, explained) = api
        .call(
            Method::POST,
            &owner,
            "/api/v1/iam/explain",
            Some(json!({"permission": "iam.roles.read"})),
        )
        .await;
    assert_eq!(status, 200, "{explained}");
    assert_eq!(explained["allowed"], true);
    assert_conforms(&doc, "post", "/api/v1/iam/explain", 200, &explained);

    let (status, body) = api
        .call(
            Method::DELETE,
            &owner,
            &format!("/api/v1/iam/assignments/{assignment_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_conforms(&doc, "delete", "/api/v1/iam/assignments/{id}", 200, &body);

    let (status, body) = api
        .call(
            Method::DELETE,
            &owner,
            &format!("/api/v1/iam/roles/{role_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_conforms(&doc, "delete", "/api/v1/iam/roles/{id}", 200, &body);

    // Platform roles: the first administrator is granted outside HTTP.
    let store = IamStore::new(Kernel::new(t.db.clone()));
    let ctx = PlatformContext::system("test.bootstrap");
    let tx = t.db.platform(&ctx).await.unwrap();
    store
        .grant_platform_role(&tx, ctx.meta(), owner_id, PlatformRole::PlatformAdmin)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let grant = format!("/api/v1/iam/platform/roles/support/accounts/{other_id}");
    let grant_doc = "/api/v1/iam/platform/roles/{role}/accounts/{account_id}";
    let (status, body) = api.call(Method::PUT, &owner, &grant, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["role"], "support");
    assert_conforms(&doc, "put", grant_doc, 201, &body);
    let (status, body) = api.call(Method::PUT, &owner, &grant, None).await;
    assert_eq!(status, 200, "{body}");
    assert_conforms(&doc, "put", grant_doc, 200, &body);
    let (status, page) = api
        .call(Method::GET, &owner, "/api/v1/iam/platform/roles", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_conforms(&doc, "get", "/api/v1/iam/platform/roles", 200, &page);
    let (status, body) = api.call(Method::DELETE, &owner, &grant, None).await;
    assert_eq!(status, 200, "{body}");
    assert_conforms(&doc, "delete", grant_doc, 200, &body);

    srv.stop().await;
}
backend_test!(
    iam_answers_match_the_document,
    iam_answers_match_the_document
);

/// The checker itself refuses what it should: an undeclared property, a missing required
/// one, a wrong type deep in a `$ref`, and a tagged-enum variant that matches no branch.
#[test]
fn the_checker_catches_drift() {
    let doc = serde_json::to_value(reference_server::openapi::document()).unwrap();
    let path = "/api/v1/iam/assignments";
    let good = json!({
        "id": Uuid::nil(), "role_id": Uuid::nil(), "created_at": "2026-01-01T00:00:00Z",
        "created_by": "user:x", "revision": "r",
        "subject": {"type": "user", "id": Uuid::nil()}, "scope": {"type": "tenant"},
    });
    let schema = answer_schema(&doc, "post", path, 201);
    let errors_of = |v: &Value| {
        let mut e = Vec::new();
        check(&doc, schema, v, "$", &mut e);
        e
    };
    assert_eq!(errors_of(&good), Vec::<String>::new());
    let mut extra = good.clone();
    extra["secret"] = json!(1);
    assert!(errors_of(&extra)[0].contains("`secret` is not declared"));
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("revision");
    assert!(errors_of(&missing)[0].contains("`revision` is missing"));
    let mut wrong = good.clone();
    wrong["role_id"] = json!(7);
    assert!(errors_of(&wrong)[0].starts_with("$.role_id"));
    let mut variant = good;
    variant["scope"] = json!({"type": "galaxy"});
    assert!(errors_of(&variant)[0].contains("none of the alternatives"));
}
