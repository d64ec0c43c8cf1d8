//! The management API under `/api/v1/iam/...` and the [`Require`] guard for any route.
//!
//! | route | permission |
//! |---|---|
//! | `GET /api/v1/iam/catalog` | `iam.catalog.read` |
//! | `GET, POST /api/v1/iam/roles` | `iam.roles.read`, `iam.roles.manage` |
//! | `GET, PATCH, DELETE /api/v1/iam/roles/{id}` | `iam.roles.read`, `iam.roles.manage` |
//! | `GET, POST /api/v1/iam/assignments` | `iam.assignments.read`, `iam.assignments.manage` (at the scope) |
//! | `DELETE /api/v1/iam/assignments/{id}` | `iam.assignments.manage` (at the scope) |
//! | `GET, POST /api/v1/iam/tuples` | `iam.tuples.read`, `iam.tuples.manage` |
//! | `GET /api/v1/iam/me/permissions` | any member |
//! | `POST /api/v1/iam/explain` | any member for themselves; `iam.explain` for others |
//! | `GET /api/v1/iam/platform/roles` | platform administrator (in person) |
//! | `PUT, DELETE /api/v1/iam/platform/roles/{role}/accounts/{account_id}` | platform administrator (in person) |
//!
//! Writes answer the organization's new revision in the `Helix-Revision` header and as
//! `revision` in the body; reads and checks accept it back in the `Helix-Revision` request
//! header to be answered from a policy at least that fresh.
//!
//! [`router`] is a [`GuardedRouter`]: the permissions its [`Require`] guards name are checked
//! against the catalog when the host builds it ([`GuardedRouter::into_router`]). With the
//! `openapi` feature, [`openapi::IamApi`] describes every route.

use std::marker::PhantomData;

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use helix_core::http::body::{ApiJson, ApiPath};
use helix_core::http::extract::Tenant;
use helix_core::list::{ListQuery, Page};
use helix_core::{Error, TenantContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{ObjectRef, Resource, RoleRecord, Scope, Subject, Tuple};
use crate::service::{Consistency, Iam};
use crate::store::{Assignment, AssignmentFilter, NewAssignment, NewRole, TupleFilter, TupleWrite};
use crate::sync::RevisionToken;

mod guard;
#[cfg(feature = "openapi")]
pub mod openapi;
mod platform;

pub use guard::{Guard, GuardedRouter, UnknownGuards};

/// The header that carries a revision token.
pub const REVISION_HEADER: &str = "helix-revision";

/// A catalog permission as a type, for [`Require`]. Declare with [`crate::permission!`].
pub trait Permission: Send + Sync + 'static {
    /// The permission's catalog name.
    const NAME: &'static str;
}

/// Declares a unit type naming a catalog permission, for [`Require`]:
///
/// ```
/// helix_iam::permission!(ContactsRead = "crm.contacts.read");
/// assert_eq!(<ContactsRead as helix_iam::http::Permission>::NAME, "crm.contacts.read");
/// ```
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $name:ident = $perm:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl $crate::http::Permission for $name {
            const NAME: &'static str = $perm;
        }
    };
}

/// An extractor that lets the request through only when the caller holds `P` on its active
/// organization: 401 without authentication, 404 for a caller with no standing in the
/// organization, 403 `PERMISSION_DENIED` naming the permission otherwise. Yields the
/// tenant context.
///
/// Register routes that take it with [`GuardedRouter::guarded`]: a permission missing from
/// the catalog then stops the application when it is built. Should one slip through
/// anyway, the request is refused (400 `VALIDATION_ERROR` on `permission`), never allowed.
#[derive(Debug, Clone)]
pub struct Require<P: Permission>(pub TenantContext, PhantomData<P>);

impl<P: Permission> std::ops::Deref for Require<P> {
    type Target = TenantContext;

    fn deref(&self) -> &TenantContext {
        &self.0
    }
}

impl<S, P> FromRequestParts<S> for Require<P>
where
    S: Send + Sync,
    Iam: FromRef<S>,
    P: Permission,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Tenant(ctx) = Tenant::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let iam = Iam::from_ref(state);
        let consistency = consistency(&parts.headers, &ctx).map_err(IntoResponse::into_response)?;
        iam.require_with(&ctx, P::NAME, &Resource::Tenant, consistency)
            .await
            .map_err(|e| Error::from(e).into_response())?;
        Ok(Self(ctx, PhantomData))
    }
}

fn consistency(headers: &HeaderMap, ctx: &TenantContext) -> Result<Consistency, Error> {
    match headers.get(REVISION_HEADER) {
        None => Ok(Consistency::Fresh),
        Some(v) => {
            let token = v
                .to_str()
                .map_err(|_| Error::from(crate::error::IamError::InvalidToken))?;
            let revision = RevisionToken::parse_for(token, ctx.org_id())?;
            Ok(Consistency::AtLeast(revision))
        }
    }
}

fn with_revision<T: Serialize>(status: StatusCode, token: RevisionToken, body: T) -> Response {
    let mut res = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&token.to_string()) {
        res.headers_mut().insert(REVISION_HEADER, v);
    }
    res
}

/// `item` with the organization's new revision, in the body and in the header.
fn revised<T: Serialize>(status: StatusCode, token: RevisionToken, item: T) -> Response {
    let revision = token.to_string();
    with_revision(status, token, Revised { item, revision })
}

/// The answer to a deletion.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamDeleted))]
struct Deleted {
    /// The deleted record's id.
    deleted: Uuid,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
}

/// The answer to a delete: the id and the organization's new revision.
fn deleted(id: Uuid, token: RevisionToken) -> Response {
    let revision = token.to_string();
    with_revision(
        StatusCode::OK,
        token,
        Deleted {
            deleted: id,
            revision,
        },
    )
}

/// The routes, for any state that provides an [`Iam`], with the permissions their guards
/// name: build them with [`GuardedRouter::into_router`].
pub fn router<S>() -> GuardedRouter<S>
where
    Iam: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    GuardedRouter::new()
        .guarded::<CatalogRead>("/api/v1/iam/catalog", get(catalog))
        .route("/api/v1/iam/roles", get(list_roles).post(create_role))
        .route(
            "/api/v1/iam/roles/{id}",
            get(get_role).patch(update_role).delete(delete_role),
        )
        .route(
            "/api/v1/iam/assignments",
            get(list_assignments).post(create_assignment),
        )
        .route(
            "/api/v1/iam/assignments/{id}",
            axum::routing::delete(delete_assignment),
        )
        .route("/api/v1/iam/tuples", get(list_tuples).post(write_tuples))
        .route("/api/v1/iam/me/permissions", get(my_permissions))
        .route("/api/v1/iam/explain", post(explain))
        .merge(platform::routes())
}

/// One permission of the catalog.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamCatalogPermission))]
struct CatalogPermission {
    /// Dotted name (`tenancy.members.manage`).
    name: String,
    /// What it allows.
    description: String,
    /// The module that declared it.
    module: String,
    /// The built-in roles a new organization grants it to.
    default_roles: Vec<String>,
}

/// The permission catalog (platform-owned, the same for every organization).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamCatalog))]
struct CatalogBody {
    /// The catalog's version (a digest of its content).
    version: String,
    /// Every permission.
    permissions: Vec<CatalogPermission>,
}

crate::permission!(
    /// `iam.catalog.read`.
    CatalogRead = "iam.catalog.read"
);

async fn catalog(
    State(iam): State<Iam>,
    _: Require<CatalogRead>,
) -> Result<Json<CatalogBody>, Error> {
    let c = iam.engine().catalog();
    Ok(Json(CatalogBody {
        version: c.version().to_owned(),
        permissions: c
            .entries()
            .iter()
            .map(|e| CatalogPermission {
                name: e.name.clone(),
                description: e.description.clone(),
                module: e.module.clone(),
                default_roles: e.default_roles.clone(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
struct IdPath {
    id: Uuid,
}

/// A new role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamNewRole))]
struct RoleBody {
    /// Stable key, unique in the organization (lowercase letters, digits, `_`).
    #[cfg_attr(feature = "openapi", schema(example = "billing_admin"))]
    key: String,
    /// Display name.
    name: String,
    /// Catalog permission names; the caller must hold each of them.
    #[serde(default)]
    permissions: Vec<String>,
}

/// A change to a role: a new name, a new permission set, or both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamRoleUpdate))]
struct RoleUpdate {
    /// New display name (not for built-in roles).
    name: Option<String>,
    /// The complete new permission set; the caller must hold what it adds or removes.
    permissions: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct Revised<T: Serialize> {
    #[serde(flatten)]
    item: T,
    revision: String,
}

async fn list_roles(
    State(iam): State<Iam>,
    tenant: Tenant,
    query: ListQuery,
) -> Result<Json<Page<RoleRecord>>, Error> {
    Ok(Json(iam.list_roles(&tenant, &query).await?))
}

async fn get_role(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Json<RoleRecord>, Error> {
    Ok(Json(iam.get_role(&tenant, id).await?))
}

async fn create_role(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Response, Error> {
    let (role, token) = iam
        .create_role(
            &tenant,
            NewRole {
                key: body.key,
                name: body.name,
                permissions: body.permissions,
            },
        )
        .await?;
    Ok(revised(StatusCode::CREATED, token, role))
}

async fn update_role(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
    ApiJson(body): ApiJson<RoleUpdate>,
) -> Result<Response, Error> {
    // Name and permissions change together or not at all (one transaction).
    let update = crate::service::RoleUpdate {
        name: body.name,
        permissions: body.permissions,
    };
    let (role, token) = iam.update_role(&tenant, id, update).await?;
    Ok(revised(StatusCode::OK, token, role))
}

async fn delete_role(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Response, Error> {
    let token = iam.delete_role(&tenant, id).await?;
    Ok(deleted(id, token))
}

#[derive(Debug, Deserialize)]
struct AssignmentQuery {
    subject: Option<String>,
    role_id: Option<Uuid>,
}

/// A new assignment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamNewAssignment))]
struct AssignmentBody {
    /// `user:<uuid>` or a subject set such as `team:<uuid>#member`.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "user:0192f3a4-5b6c-7d8e-9f01-23456789abcd")
    )]
    subject: String,
    /// A role of the caller's organization.
    role_id: Uuid,
    /// `tenant` (default), `team:<uuid>` or `type:id`.
    #[serde(default = "tenant_scope")]
    #[cfg_attr(feature = "openapi", schema(default = "tenant"))]
    scope: String,
}

fn tenant_scope() -> String {
    "tenant".to_owned()
}

fn field(name: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(name, "invalid", e.to_string())
}

async fn list_assignments(
    State(iam): State<Iam>,
    tenant: Tenant,
    Query(q): Query<AssignmentQuery>,
    query: ListQuery,
) -> Result<Json<Page<Assignment>>, Error> {
    let subject = q
        .subject
        .map(|s| s.parse::<Subject>())
        .transpose()
        .map_err(|e| field("subject", e))?;
    let filter = AssignmentFilter {
        subject,
        role_id: q.role_id,
    };
    Ok(Json(iam.list_assignments(&tenant, &filter, &query).await?))
}

async fn create_assignment(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiJson(body): ApiJson<AssignmentBody>,
) -> Result<Response, Error> {
    let subject: Subject = body.subject.parse().map_err(|e| field("subject", e))?;
    let scope: Scope = body.scope.parse().map_err(|e| field("scope", e))?;
    let (assignment, token) = iam
        .create_assignment(
            &tenant,
            NewAssignment {
                subject,
                role_id: body.role_id,
                scope,
            },
        )
        .await?;
    Ok(revised(StatusCode::CREATED, token, assignment))
}

async fn delete_assignment(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiPath(IdPath { id }): ApiPath<IdPath>,
) -> Result<Response, Error> {
    let token = iam.delete_assignment(&tenant, id).await?;
    Ok(deleted(id, token))
}

#[derive(Debug, Deserialize)]
struct TupleQuery {
    object: Option<String>,
    object_type: Option<String>,
    relation: Option<String>,
    subject: Option<String>,
}

/// Tuples to insert and delete in one transaction.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamTupleWrite))]
struct TupleBody {
    /// Tuples to insert (`object#relation@subject`).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(example = json!(["document:42#viewer@user:0192f3a4-5b6c-7d8e-9f01-23456789abcd"]))
    )]
    insert: Vec<String>,
    /// Tuples to delete.
    #[serde(default)]
    delete: Vec<String>,
}

async fn list_tuples(
    State(iam): State<Iam>,
    tenant: Tenant,
    Query(q): Query<TupleQuery>,
    query: ListQuery,
) -> Result<Json<Page<String>>, Error> {
    let mut filter = TupleFilter::default();
    if let Some(o) = q.object {
        let o: ObjectRef = o.parse().map_err(|e| field("object", e))?;
        filter = TupleFilter::object(&o);
    }
    if let Some(t) = q.object_type {
        filter.object_type = Some(t);
    }
    filter.relation = q.relation;
    filter.subject = q
        .subject
        .map(|s| s.parse::<Subject>())
        .transpose()
        .map_err(|e| field("subject", e))?;
    let page = iam.list_tuples(&tenant, &filter, &query).await?;
    Ok(Json(page.map(|t| t.to_string())))
}

fn parse_tuples(name: &str, items: Vec<String>) -> Result<Vec<Tuple>, Error> {
    let mut details = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, s) in items.into_iter().enumerate() {
        match s.parse::<Tuple>() {
            Ok(t) => out.push(t),
            Err(e) => details.push(helix_core::FieldError::new(
                format!("{name}[{i}]"),
                "invalid",
                e.to_string(),
            )),
        }
    }
    if details.is_empty() {
        Ok(out)
    } else {
        Err(Error::Validation { details })
    }
}

/// What a tuple write changed.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamTupleOutcome))]
struct TupleOutcome {
    /// Tuples inserted (already present ones are not counted).
    inserted: u64,
    /// Tuples deleted.
    deleted: u64,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
}

async fn write_tuples(
    State(iam): State<Iam>,
    tenant: Tenant,
    ApiJson(body): ApiJson<TupleBody>,
) -> Result<Response, Error> {
    let write = TupleWrite {
        insert: parse_tuples("insert", body.insert)?,
        delete: parse_tuples("delete", body.delete)?,
    };
    let (outcome, token) = iam.write_tuples(&tenant, write).await?;
    let revision = token.to_string();
    Ok(with_revision(
        StatusCode::OK,
        token,
        TupleOutcome {
            inserted: outcome.inserted,
            deleted: outcome.deleted,
            revision,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct ResourceQuery {
    resource: Option<String>,
    team: Option<Uuid>,
}

fn resource_of(resource: Option<String>, team: Option<Uuid>) -> Result<Resource, Error> {
    match resource.as_deref() {
        None | Some("tenant") => Ok(Resource::Tenant),
        Some(s) => match s.parse::<Scope>().map_err(|e| field("resource", e))? {
            Scope::Tenant => Ok(Resource::Tenant),
            Scope::Team { id } => Ok(Resource::Team(id)),
            Scope::Object { object } => Ok(Resource::Object { object, team }),
        },
    }
}

/// The caller's permissions on a resource.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamMyPermissions))]
struct MyPermissions {
    /// The resource asked about (`tenant`, `team:<uuid>`, `type:id`).
    resource: String,
    /// Catalog permission names held, sorted.
    permissions: Vec<String>,
}

async fn my_permissions(
    State(iam): State<Iam>,
    tenant: Tenant,
    headers: HeaderMap,
    Query(q): Query<ResourceQuery>,
) -> Result<Json<MyPermissions>, Error> {
    let text = q.resource.clone().unwrap_or_else(|| "tenant".to_owned());
    let resource = resource_of(q.resource, q.team)?;
    let consistency = consistency(&headers, &tenant)?;
    let permissions = iam.my_permissions(&tenant, &resource, consistency).await?;
    Ok(Json(MyPermissions {
        resource: text,
        permissions,
    }))
}

/// A decision to explain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamExplainRequest))]
struct ExplainBody {
    /// The catalog permission.
    #[cfg_attr(feature = "openapi", schema(example = "iam.roles.read"))]
    permission: String,
    /// `tenant` (default), `team:<uuid>` or `type:id`.
    #[serde(default)]
    resource: Option<String>,
    /// The team an object belongs to, if any.
    #[serde(default)]
    team: Option<Uuid>,
    /// Whose decision (default: the caller's own; another user's needs `iam.explain`).
    #[serde(default)]
    user_id: Option<Uuid>,
}

/// A decision with the grant chain or tuple path behind it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = IamExplainAnswer))]
struct ExplainAnswer {
    /// Whether the permission is held.
    allowed: bool,
    /// The policy revision the decision was made at.
    revision: Option<u64>,
    /// The grant chain that allowed it, or why it was denied.
    explanation: String,
}

async fn explain(
    State(iam): State<Iam>,
    tenant: Tenant,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ExplainBody>,
) -> Result<Json<ExplainAnswer>, Error> {
    let resource = resource_of(body.resource, body.team)?;
    let consistency = consistency(&headers, &tenant)?;
    let ex = iam
        .explain(
            &tenant,
            body.user_id,
            &body.permission,
            &resource,
            consistency,
        )
        .await?;
    Ok(Json(ExplainAnswer {
        allowed: ex.allowed,
        revision: ex.revision.map(|r| r.0),
        explanation: ex.to_string(),
    }))
}
