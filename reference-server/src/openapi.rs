//! The OpenAPI 3.1 document of what the server exposes, generated from the code.

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::OpenApi;

/// The API description of the server's own routes and of `helix-core` (health, operations).
/// The served document is [`document`], which adds the routes of the other crates.
#[derive(OpenApi)]
#[openapi(
    info(title = "Helix reference server", description = "Multi-tenant SaaS platform: the Helix crates composed into one server."),
    paths(helix_core::http::health::live, helix_core::http::health::ready, metrics_doc, openapi_doc),
    components(schemas(
        helix_core::ErrorEnvelope,
        helix_core::error::ErrorBody,
        helix_core::FieldError,
        helix_core::list::PageMeta,
        helix_core::http::health::Liveness,
        helix_core::http::health::Readiness,
    )),
    tags((name = "health", description = "Liveness and readiness"), (name = "operations", description = "Metrics and API description"))
)]
pub struct ApiDoc;

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus/OpenMetrics text", content_type = "application/openmetrics-text")))]
#[allow(dead_code)]
fn metrics_doc() {}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
#[allow(dead_code)]
fn openapi_doc() {}

/// The served OpenAPI document: [`ApiDoc`] with the auth routes
/// ([`helix_auth::http::openapi::AuthApi`]) and the tenancy routes
/// ([`helix_tenancy::http::openapi::TenancyApi`]) and the IAM routes
/// ([`helix_iam::http::openapi::IamApi`]) merged in.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(helix_auth::http::openapi::AuthApi::openapi());
    doc.merge(helix_tenancy::http::openapi::TenancyApi::openapi());
    doc.merge(helix_iam::http::openapi::IamApi::openapi());
    doc
}

/// `GET /api/v1/openapi.json`.
pub fn router() -> Router {
    let doc = document();
    Router::new().route(
        "/api/v1/openapi.json",
        get(move || async move { Json(doc.clone()) }),
    )
}
