//! `/health/live` and `/health/ready`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::module::Helix;

/// State of the health routes.
#[derive(Clone, Debug)]
pub struct HealthState {
    /// The composed platform (database and migrations).
    pub helix: Arc<Helix>,
}

/// The readiness answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Whether the database answered.
    pub database: bool,
    /// Whether every migration is applied.
    pub migrations_current: bool,
}

/// The liveness answer.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Liveness {
    /// Always `ok` while the process serves requests.
    pub status: &'static str,
}

/// The health routes.
pub fn health_router(state: HealthState) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(state)
}

/// Liveness: the process is serving.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process is alive", body = Liveness))))]
pub async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// Readiness: the database answers and the schema is current.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready to serve", body = Readiness),
              (status = 503, description = "Not ready", body = Readiness))))]
pub async fn ready(State(state): State<HealthState>) -> Response {
    let database = state.helix.db().ping().await.is_ok();
    let migrations_current = database
        && state
            .helix
            .pending_migrations()
            .await
            .map(|p| p.is_empty())
            .unwrap_or(false);
    let ok = database && migrations_current;
    let body = Readiness {
        status: if ok { "ok" } else { "unavailable" },
        database,
        migrations_current,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
