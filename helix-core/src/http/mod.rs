//! axum integration: the request-context middleware (correlation id, route-template spans,
//! request metrics), health and metrics routes, and `Idempotency-Key` handling.

pub mod body;
mod envelope;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod metrics;
mod request;

pub use envelope::envelope_errors;
pub use extract::{Principal, Tenant};
pub use health::{HealthState, health_router};
pub use metrics::{HttpMetrics, MetricsState, metrics_router};
pub use request::{CORRELATION_HEADER, request_context};
