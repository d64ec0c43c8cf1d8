//! The OpenAPI 3.1 description of the IAM routes (feature `openapi`): [`IamApi`], for the
//! host to merge into its own document.
//!
//! The operations are described on documentation-only functions, and the bodies by schema
//! types that mirror the JSON the routes read and answer.
//!
//! ```
//! use utoipa::OpenApi;
//! let doc = helix_iam::http::openapi::IamApi::openapi();
//! assert!(doc.paths.paths.contains_key("/api/v1/iam/roles/{id}"));
//! assert!(doc.paths.paths.contains_key("/api/v1/iam/platform/roles"));
//! ```
#![allow(dead_code)] // documentation only: the routes are in `super`

use chrono::{DateTime, Utc};
use helix_core::ErrorEnvelope;
use helix_core::list::PageMeta;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The IAM routes under `/api/v1/iam` and their schemas. Every route requires the host's
/// `bearer` security scheme (helix-auth's access token, which carries the active
/// organization).
#[derive(OpenApi)]
#[openapi(
    paths(
        catalog,
        list_roles,
        create_role,
        get_role,
        update_role,
        delete_role,
        list_assignments,
        create_assignment,
        delete_assignment,
        list_tuples,
        write_tuples,
        my_permissions,
        explain,
        list_platform_roles,
        grant_platform_role,
        revoke_platform_role,
    ),
    components(schemas(
        Catalog,
        CatalogPermission,
        Role,
        RolePage,
        NewRole,
        RoleUpdate,
        RevisedRole,
        Deleted,
        ObjectRef,
        Subject,
        Scope,
        Assignment,
        AssignmentPage,
        NewAssignment,
        RevisedAssignment,
        TuplePage,
        TupleWrite,
        TupleOutcome,
        MyPermissions,
        ExplainRequest,
        ExplainAnswer,
        PlatformRole,
        PlatformRoleGrant,
        PlatformRoleGrantPage,
        PlatformRoleRevoked,
    )),
    tags((name = "iam", description = "Permission catalog, roles, assignments, relationship tuples, explanations and platform roles"))
)]
pub struct IamApi;

/// One permission of the catalog.
#[derive(ToSchema)]
#[schema(as = IamCatalogPermission)]
pub(crate) struct CatalogPermission {
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
#[derive(ToSchema)]
#[schema(as = IamCatalog)]
pub(crate) struct Catalog {
    /// The catalog's version (a digest of its content).
    version: String,
    /// Every permission.
    permissions: Vec<CatalogPermission>,
}

/// A role of the caller's organization.
#[derive(ToSchema)]
#[schema(as = IamRole)]
pub(crate) struct Role {
    /// Role id.
    id: Uuid,
    /// Stable key, unique in the organization (`owner`, `billing_admin`).
    key: String,
    /// Display name.
    name: String,
    /// Whether it is a built-in role (`owner`, `admin`, `member`, `read_only`).
    builtin: bool,
    /// Catalog permission names (the owner role holds the whole catalog).
    permissions: Vec<String>,
}

/// A page of roles (the standard list answer).
#[derive(ToSchema)]
#[schema(as = IamRolePage)]
pub(crate) struct RolePage {
    /// The rows of this page.
    data: Vec<Role>,
    /// Paging facts.
    meta: PageMeta,
}

/// A new role.
#[derive(ToSchema)]
#[schema(as = IamNewRole)]
pub(crate) struct NewRole {
    /// Stable key, unique in the organization (lowercase letters, digits, `_`).
    key: String,
    /// Display name.
    name: String,
    /// Catalog permission names; the caller must hold each of them.
    #[schema(default = json!([]))]
    permissions: Option<Vec<String>>,
}

/// A change to a role: a new name, a new permission set, or both.
#[derive(ToSchema)]
#[schema(as = IamRoleUpdate)]
pub(crate) struct RoleUpdate {
    /// New display name (not for built-in roles).
    name: Option<String>,
    /// The complete new permission set; the caller must hold what it adds or removes.
    permissions: Option<Vec<String>>,
}

/// A role with the organization's revision after the change.
#[derive(ToSchema)]
#[schema(as = IamRevisedRole)]
pub(crate) struct RevisedRole {
    /// Role id.
    id: Uuid,
    /// Stable key.
    key: String,
    /// Display name.
    name: String,
    /// Whether it is a built-in role.
    builtin: bool,
    /// Catalog permission names.
    permissions: Vec<String>,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
}

/// The answer to a deletion.
#[derive(ToSchema)]
#[schema(as = IamDeleted)]
pub(crate) struct Deleted {
    /// The deleted record's id.
    deleted: Uuid,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
}

/// An object: a type and an id (`document:42`).
#[derive(ToSchema, Serialize)]
#[schema(as = IamObjectRef)]
pub(crate) struct ObjectRef {
    /// Object type (`document`).
    kind: String,
    /// Object id within the type (`42`).
    id: String,
}

/// Who an assignment is about: one user, or a subject set (`team:eng#member`).
#[derive(ToSchema, Serialize)]
#[schema(as = IamSubject)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum Subject {
    /// One user.
    User {
        /// The user's id.
        id: Uuid,
    },
    /// Everyone holding `relation` on `object`.
    Set {
        /// The object.
        object: ObjectRef,
        /// The relation on it.
        relation: String,
    },
}

/// Where an assignment applies.
#[derive(ToSchema, Serialize)]
#[schema(as = IamScope)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum Scope {
    /// The whole organization.
    Tenant,
    /// A team and every object that belongs to it.
    Team {
        /// The team's id.
        id: Uuid,
    },
    /// One object.
    Object {
        /// The object.
        object: ObjectRef,
    },
}

/// A role granted to a subject at a scope.
#[derive(ToSchema)]
#[schema(as = IamAssignment)]
pub(crate) struct Assignment {
    /// Assignment id.
    id: Uuid,
    /// Who holds the role.
    subject: Subject,
    /// The role.
    role_id: Uuid,
    /// Where it applies.
    scope: Scope,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// Who created it (`user:<uuid>`).
    created_by: String,
}

/// A page of assignments (the standard list answer).
#[derive(ToSchema)]
#[schema(as = IamAssignmentPage)]
pub(crate) struct AssignmentPage {
    /// The rows of this page.
    data: Vec<Assignment>,
    /// Paging facts.
    meta: PageMeta,
}

/// A new assignment.
#[derive(ToSchema)]
#[schema(as = IamNewAssignment)]
pub(crate) struct NewAssignment {
    /// `user:<uuid>` or a subject set such as `team:<uuid>#member`.
    subject: String,
    /// A role of the caller's organization.
    role_id: Uuid,
    /// `tenant` (default), `team:<uuid>` or `type:id`.
    #[schema(default = "tenant")]
    scope: Option<String>,
}

/// An assignment with the organization's revision after the change.
#[derive(ToSchema)]
#[schema(as = IamRevisedAssignment)]
pub(crate) struct RevisedAssignment {
    /// Assignment id.
    id: Uuid,
    /// Who holds the role.
    subject: Subject,
    /// The role.
    role_id: Uuid,
    /// Where it applies.
    scope: Scope,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// Who created it.
    created_by: String,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
}

/// A page of relationship tuples, each as `object#relation@subject`.
#[derive(ToSchema)]
#[schema(as = IamTuplePage)]
pub(crate) struct TuplePage {
    /// The tuples of this page (`document:42#viewer@user:<uuid>`).
    data: Vec<String>,
    /// Paging facts.
    meta: PageMeta,
}

/// Tuples to insert and delete in one transaction.
#[derive(ToSchema)]
#[schema(as = IamTupleWrite)]
pub(crate) struct TupleWrite {
    /// Tuples to insert (`object#relation@subject`).
    #[schema(default = json!([]))]
    insert: Option<Vec<String>>,
    /// Tuples to delete.
    #[schema(default = json!([]))]
    delete: Option<Vec<String>>,
}

/// What a tuple write changed.
#[derive(ToSchema)]
#[schema(as = IamTupleOutcome)]
pub(crate) struct TupleOutcome {
    /// Tuples inserted (already present ones are not counted).
    inserted: u64,
    /// Tuples deleted.
    deleted: u64,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
}

/// The caller's permissions on a resource.
#[derive(ToSchema)]
#[schema(as = IamMyPermissions)]
pub(crate) struct MyPermissions {
    /// The resource asked about (`tenant`, `team:<uuid>`, `type:id`).
    resource: String,
    /// Catalog permission names held, sorted.
    permissions: Vec<String>,
}

/// A decision to explain.
#[derive(ToSchema)]
#[schema(as = IamExplainRequest)]
pub(crate) struct ExplainRequest {
    /// The catalog permission.
    permission: String,
    /// `tenant` (default), `team:<uuid>` or `type:id`.
    resource: Option<String>,
    /// The team an object belongs to, if any.
    team: Option<Uuid>,
    /// Whose decision (default: the caller's own; another user's needs `iam.explain`).
    user_id: Option<Uuid>,
}

/// A decision with the grant chain or tuple path behind it.
#[derive(ToSchema)]
#[schema(as = IamExplainAnswer)]
pub(crate) struct ExplainAnswer {
    /// Whether the permission is held.
    allowed: bool,
    /// The policy revision the decision was made at.
    revision: Option<u64>,
    /// The grant chain that allowed it, or why it was denied.
    explanation: String,
}

/// A platform-plane role.
#[derive(ToSchema, Serialize)]
#[schema(as = IamPlatformRole)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PlatformRole {
    /// Operates the platform; manages platform roles.
    PlatformAdmin,
    /// Customer support; may impersonate users.
    Support,
}

/// A platform role held by an account.
#[derive(ToSchema)]
#[schema(as = IamPlatformRoleGrant)]
pub(crate) struct PlatformRoleGrant {
    /// The account.
    user_id: Uuid,
    /// The role.
    role: PlatformRole,
    /// When it was granted.
    granted_at: DateTime<Utc>,
    /// Who granted it (`user:<uuid>`, `system:<name>`).
    granted_by: String,
}

/// A page of platform role grants (the standard list answer).
#[derive(ToSchema)]
#[schema(as = IamPlatformRoleGrantPage)]
pub(crate) struct PlatformRoleGrantPage {
    /// The rows of this page.
    data: Vec<PlatformRoleGrant>,
    /// Paging facts.
    meta: PageMeta,
}

/// The answer to a platform role revocation.
#[derive(ToSchema)]
#[schema(as = IamPlatformRoleRevoked)]
pub(crate) struct PlatformRoleRevoked {
    /// The account.
    account_id: Uuid,
    /// The role it no longer holds.
    role: PlatformRole,
    /// Always `true`.
    revoked: bool,
}

/// Reads the catalog.
#[utoipa::path(get, path = "/api/v1/iam/catalog", operation_id = "iam_catalog", tag = "iam",
    security(("bearer" = [])),
    params(("Helix-Revision" = Option<String>, Header, description = "A revision token: answer from a policy at least that fresh")),
    responses(
        (status = 200, description = "The permission catalog", body = Catalog),
        (status = 400, description = "Malformed or foreign revision token (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.catalog.read` (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The revision token is ahead of the organization (`REVISION_NOT_REACHED`)", body = ErrorEnvelope),
    ))]
fn catalog() {}

/// Lists the organization's roles (needs `iam.roles.read`).
#[utoipa::path(get, path = "/api/v1/iam/roles", operation_id = "iam_list_roles", tag = "iam",
    security(("bearer" = [])),
    params(("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`field:asc` or `field:desc` (allow-listed fields); `filter[field]=value` filters likewise")),
    responses(
        (status = 200, description = "A page of roles", body = RolePage),
        (status = 400, description = "Unknown sort or filter field (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.roles.read` (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
    ))]
fn list_roles() {}

/// Creates a role (needs `iam.roles.manage` and every permission it grants).
#[utoipa::path(post, path = "/api/v1/iam/roles", operation_id = "iam_create_role", tag = "iam",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated key")),
    request_body = NewRole,
    responses(
        (status = 201, description = "Created", body = RevisedRole,
            headers(("Helix-Revision" = String, description = "The organization's revision after the change"))),
        (status = 400, description = "Malformed JSON (`BAD_REQUEST`), invalid fields or an unknown permission (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.roles.manage` or a permission it grants (`FORBIDDEN`), or is impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The key is taken in this organization (`CONFLICT`)", body = ErrorEnvelope),
        (status = 415, description = "Not a JSON content type", body = ErrorEnvelope),
    ))]
fn create_role() {}

/// Reads one role (needs `iam.roles.read`).
#[utoipa::path(get, path = "/api/v1/iam/roles/{id}", operation_id = "iam_get_role", tag = "iam",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The role")),
    responses(
        (status = 200, description = "The role", body = Role),
        (status = 400, description = "The id is not a UUID (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.roles.read` (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "Not found, or a role of another organization (`NOT_FOUND`)", body = ErrorEnvelope),
    ))]
fn get_role() {}

/// Renames a role or replaces its permissions (needs `iam.roles.manage`).
#[utoipa::path(patch, path = "/api/v1/iam/roles/{id}", operation_id = "iam_update_role", tag = "iam",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The role"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated key")),
    request_body = RoleUpdate,
    responses(
        (status = 200, description = "Updated", body = RevisedRole,
            headers(("Helix-Revision" = String, description = "The organization's revision after the change"))),
        (status = 400, description = "Malformed JSON (`BAD_REQUEST`), nothing to change, invalid fields or an unknown permission (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.roles.manage` or a permission it adds or removes (`FORBIDDEN`), or is impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "Not found, or a role of another organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "A built-in role cannot be changed this way (`BUILTIN_ROLE`)", body = ErrorEnvelope),
        (status = 415, description = "Not a JSON content type", body = ErrorEnvelope),
    ))]
fn update_role() {}

/// Deletes a role that nobody holds (needs `iam.roles.manage`).
#[utoipa::path(delete, path = "/api/v1/iam/roles/{id}", operation_id = "iam_delete_role", tag = "iam",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The role"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated key")),
    responses(
        (status = 200, description = "Deleted", body = Deleted,
            headers(("Helix-Revision" = String, description = "The organization's revision after the change"))),
        (status = 400, description = "The id is not a UUID (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.roles.manage` (`FORBIDDEN`), or is impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "Not found, or a role of another organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "Built-in (`BUILTIN_ROLE`) or still assigned (`ROLE_IN_USE`)", body = ErrorEnvelope),
    ))]
fn delete_role() {}

/// Lists explicit assignments (needs `iam.assignments.read`).
#[utoipa::path(get, path = "/api/v1/iam/assignments", operation_id = "iam_list_assignments", tag = "iam",
    security(("bearer" = [])),
    params(("subject" = Option<String>, Query, description = "Only this subject (`user:<uuid>`, `team:<uuid>#member`)"), ("role_id" = Option<Uuid>, Query, description = "Only this role"), ("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`field:asc` or `field:desc` (allow-listed fields)")),
    responses(
        (status = 200, description = "A page of assignments", body = AssignmentPage),
        (status = 400, description = "A malformed subject, or an unknown sort or filter field (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.assignments.read` (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
    ))]
fn list_assignments() {}

/// Grants a role to a subject at a scope (needs `iam.assignments.manage` at the scope and
/// every permission of the role).
#[utoipa::path(post, path = "/api/v1/iam/assignments", operation_id = "iam_create_assignment", tag = "iam",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated key")),
    request_body = NewAssignment,
    responses(
        (status = 201, description = "Created", body = RevisedAssignment,
            headers(("Helix-Revision" = String, description = "The organization's revision after the change"))),
        (status = 400, description = "Malformed JSON (`BAD_REQUEST`), a malformed subject or scope (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.assignments.manage` or a permission of the role (`FORBIDDEN`), or is impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The role, team or user is not in the organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The same assignment exists (`CONFLICT`)", body = ErrorEnvelope),
        (status = 415, description = "Not a JSON content type", body = ErrorEnvelope),
    ))]
fn create_assignment() {}

/// Removes an assignment (needs `iam.assignments.manage` at its scope).
#[utoipa::path(delete, path = "/api/v1/iam/assignments/{id}", operation_id = "iam_delete_assignment", tag = "iam",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The assignment"), ("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated key")),
    responses(
        (status = 200, description = "Deleted", body = Deleted,
            headers(("Helix-Revision" = String, description = "The organization's revision after the change"))),
        (status = 400, description = "The id is not a UUID (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.assignments.manage` at the scope (`FORBIDDEN`), would remove the last owner, or is impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "Not found, or an assignment of another organization (`NOT_FOUND`)", body = ErrorEnvelope),
    ))]
fn delete_assignment() {}

/// Lists relationship tuples (needs `iam.tuples.read`).
#[utoipa::path(get, path = "/api/v1/iam/tuples", operation_id = "iam_list_tuples", tag = "iam",
    security(("bearer" = [])),
    params(("object" = Option<String>, Query, description = "Only tuples on this object (`type:id`)"), ("object_type" = Option<String>, Query, description = "Only tuples on objects of this type"), ("relation" = Option<String>, Query, description = "Only this relation"), ("subject" = Option<String>, Query, description = "Only this subject"), ("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)")),
    responses(
        (status = 200, description = "A page of tuples", body = TuplePage),
        (status = 400, description = "A malformed object or subject (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.tuples.read` (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
    ))]
fn list_tuples() {}

/// Inserts and deletes relationship tuples in one transaction (needs `iam.tuples.manage`).
#[utoipa::path(post, path = "/api/v1/iam/tuples", operation_id = "iam_write_tuples", tag = "iam",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first answer for a repeated key")),
    request_body = TupleWrite,
    responses(
        (status = 200, description = "Written", body = TupleOutcome,
            headers(("Helix-Revision" = String, description = "The organization's revision after the change"))),
        (status = 400, description = "Malformed JSON (`BAD_REQUEST`), or a malformed tuple or one the schema does not allow (`VALIDATION_ERROR`, one detail per tuple)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "The caller lacks `iam.tuples.manage` (`FORBIDDEN`), or is impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 415, description = "Not a JSON content type", body = ErrorEnvelope),
    ))]
fn write_tuples() {}

/// The caller's own permissions on a resource (any member).
#[utoipa::path(get, path = "/api/v1/iam/me/permissions", operation_id = "iam_my_permissions", tag = "iam",
    security(("bearer" = [])),
    params(("resource" = Option<String>, Query, description = "`tenant` (default), `team:<uuid>` or `type:id`"), ("team" = Option<Uuid>, Query, description = "The team an object belongs to"), ("Helix-Revision" = Option<String>, Header, description = "A revision token: answer from a policy at least that fresh")),
    responses(
        (status = 200, description = "The permissions held", body = MyPermissions),
        (status = 400, description = "A malformed resource, or a malformed or foreign revision token (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The revision token is ahead of the organization (`REVISION_NOT_REACHED`)", body = ErrorEnvelope),
    ))]
fn my_permissions() {}

/// Explains a decision: the caller's own (any member) or another member's (needs
/// `iam.explain`).
#[utoipa::path(post, path = "/api/v1/iam/explain", operation_id = "iam_explain", tag = "iam",
    security(("bearer" = [])),
    params(("Helix-Revision" = Option<String>, Header, description = "A revision token: answer from a policy at least that fresh")),
    request_body = ExplainRequest,
    responses(
        (status = 200, description = "The decision and why", body = ExplainAnswer),
        (status = 400, description = "Malformed JSON (`BAD_REQUEST`), an unknown permission or a malformed resource or revision token (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "Another user's decision without `iam.explain` (`FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The caller has no standing in the active organization (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The revision token is ahead of the organization (`REVISION_NOT_REACHED`)", body = ErrorEnvelope),
        (status = 415, description = "Not a JSON content type", body = ErrorEnvelope),
    ))]
fn explain() {}

/// Lists platform role grants (platform administrators, in person).
#[utoipa::path(get, path = "/api/v1/iam/platform/roles", operation_id = "iam_list_platform_roles", tag = "iam",
    security(("bearer" = [])),
    params(("page" = Option<u64>, Query, description = "Page, from 1 (default 1)"), ("limit" = Option<u64>, Query, description = "Rows per page (default 25, at most 100)"), ("sort" = Option<String>, Query, description = "`role`, `user_id` or `granted_at`, `:asc` or `:desc`; `filter[role]`, `filter[user_id]`, `filter[granted_at.gte]` filter")),
    responses(
        (status = 200, description = "A page of grants", body = PlatformRoleGrantPage),
        (status = 400, description = "Unknown sort or filter field (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "Not a platform administrator (`PLATFORM_ADMIN_REQUIRED`), or impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
    ))]
fn list_platform_roles() {}

/// Grants a platform role to an account (platform administrators, in person; audited).
#[utoipa::path(put, path = "/api/v1/iam/platform/roles/{role}/accounts/{account_id}", operation_id = "iam_grant_platform_role", tag = "iam",
    security(("bearer" = [])),
    params(("role" = PlatformRole, Path, description = "`platform_admin` or `support`"), ("account_id" = Uuid, Path, description = "The account")),
    responses(
        (status = 200, description = "The account held the role already", body = PlatformRoleGrant),
        (status = 201, description = "Granted", body = PlatformRoleGrant),
        (status = 400, description = "Unknown role or malformed account id (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "Not a platform administrator (`PLATFORM_ADMIN_REQUIRED`), or impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
    ))]
fn grant_platform_role() {}

/// Revokes a platform role (platform administrators, in person; audited).
#[utoipa::path(delete, path = "/api/v1/iam/platform/roles/{role}/accounts/{account_id}", operation_id = "iam_revoke_platform_role", tag = "iam",
    security(("bearer" = [])),
    params(("role" = PlatformRole, Path, description = "`platform_admin` or `support`"), ("account_id" = Uuid, Path, description = "The account")),
    responses(
        (status = 200, description = "Revoked", body = PlatformRoleRevoked),
        (status = 400, description = "Unknown role or malformed account id (`VALIDATION_ERROR`)", body = ErrorEnvelope),
        (status = 401, description = "Missing, invalid or expired access token", body = ErrorEnvelope),
        (status = 403, description = "Not a platform administrator (`PLATFORM_ADMIN_REQUIRED`), or impersonated (`IMPERSONATION_FORBIDDEN`)", body = ErrorEnvelope),
        (status = 404, description = "The account does not hold the role (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The last platform administrator (`LAST_PLATFORM_ADMIN`)", body = ErrorEnvelope),
    ))]
fn revoke_platform_role() {}
