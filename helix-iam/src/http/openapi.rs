//! The OpenAPI 3.1 description of the IAM routes (feature `openapi`): [`IamApi`], for the
//! host to merge into its own document.
//!
//! The operations are described on documentation-only functions; the bodies are the very
//! types the handlers read and answer (`RoleRecord`, `Assignment`, `PlatformRoleGrant`, the
//! request and answer structs of the routes), so the document cannot drift from the wire.
//! Only the named pages (`Page<T>` is generic) and the revised answers (a record with the
//! new `revision` flattened in) are declared here, over those same types.
//!
//! ```
//! use utoipa::OpenApi;
//! let doc = helix_iam::http::openapi::IamApi::openapi();
//! assert!(doc.paths.paths.contains_key("/api/v1/iam/roles/{id}"));
//! assert!(doc.paths.paths.contains_key("/api/v1/iam/platform/roles"));
//! ```
#![allow(dead_code)] // the stub functions and page schemas are documentation only

use helix_core::ErrorEnvelope;
use helix_core::list::PageMeta;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::platform::Revoked as PlatformRoleRevoked;
use super::{
    AssignmentBody as NewAssignment, CatalogBody as Catalog, CatalogPermission, Deleted,
    ExplainAnswer, ExplainBody as ExplainRequest, MyPermissions, RoleBody as NewRole, RoleUpdate,
    TupleBody as TupleWrite, TupleOutcome,
};
use crate::model::{ObjectRef, RoleRecord as Role, Scope, Subject};
use crate::store::{Assignment, PlatformRole, PlatformRoleGrant};

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

/// A page of roles (the standard list answer).
#[derive(ToSchema)]
#[schema(as = IamRolePage)]
pub(crate) struct RolePage {
    /// The rows of this page.
    data: Vec<Role>,
    /// Paging facts.
    meta: PageMeta,
}

/// A role with the organization's revision after the change.
#[derive(ToSchema, Serialize)]
#[schema(as = IamRevisedRole)]
pub(crate) struct RevisedRole {
    /// The role.
    #[serde(flatten)]
    role: Role,
    /// Revision token (also in the `Helix-Revision` header).
    revision: String,
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

/// An assignment with the organization's revision after the change.
#[derive(ToSchema, Serialize)]
#[schema(as = IamRevisedAssignment)]
pub(crate) struct RevisedAssignment {
    /// The assignment.
    #[serde(flatten)]
    assignment: Assignment,
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

/// A page of platform role grants (the standard list answer).
#[derive(ToSchema)]
#[schema(as = IamPlatformRoleGrantPage)]
pub(crate) struct PlatformRoleGrantPage {
    /// The rows of this page.
    data: Vec<PlatformRoleGrant>,
    /// Paging facts.
    meta: PageMeta,
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
        (status = 404, description = "No such account (`NOT_FOUND`)", body = ErrorEnvelope),
        (status = 409, description = "The account's e-mail address is not verified (`ACCOUNT_NOT_VERIFIED`)", body = ErrorEnvelope),
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
