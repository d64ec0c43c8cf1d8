//! Prometheus metrics: requests by route template and status, a latency histogram, and
//! gauges read at scrape time (outbox backlog, dead letters).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::db::Db;
use crate::error::Error;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: String,
    route: String,
}

/// The HTTP request metrics of one server instance (one registry per instance, so several
/// servers can share a process in tests).
#[derive(Debug)]
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    outbox_backlog: Gauge,
    outbox_dead: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetrics {
    /// A fresh registry with the standard metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("helix");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let outbox_backlog = Gauge::default();
        let outbox_dead = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Outbox deliveries not yet made",
            outbox_backlog.clone(),
        );
        registry.register(
            "outbox_dead_letters",
            "Outbox deliveries that gave up",
            outbox_dead.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            outbox_backlog,
            outbox_dead,
        }
    }

    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Renders the Prometheus text format.
    pub fn render(&self) -> Result<String, Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry).map_err(Error::internal)?;
        Ok(out)
    }
}

/// State of the metrics route.
#[derive(Clone, Debug)]
pub struct MetricsState {
    /// The instance's metrics.
    pub metrics: Arc<HttpMetrics>,
    /// The database, for gauges read at scrape time.
    pub db: Db,
}

/// `GET /metrics` in the Prometheus text format.
pub fn metrics_router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<MetricsState>) -> Response {
    // Gauges that a failing database cannot refresh keep their last value.
    if let Ok(n) = crate::outbox::backlog(&state.db).await {
        state
            .metrics
            .outbox_backlog
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    if let Ok(n) = crate::outbox::dead_letters(&state.db).await {
        state
            .metrics
            .outbox_dead
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    match state.metrics.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
