//! The request-context middleware.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::metrics::HttpMetrics;
use crate::context::{RequestContext, RequestMeta, with_correlation_id};

/// The header that carries the correlation id in and out.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

fn valid_correlation_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: takes the correlation id from `X-Correlation-Id` (or makes one), puts a
/// [`RequestContext`] into the request extensions, runs the request inside a span carrying
/// the route template and correlation id, records request metrics, and echoes the
/// correlation id in the response.
///
/// Install with `axum::middleware::from_fn_with_state(metrics, request_context)`.
pub async fn request_context(
    State(metrics): State<Arc<HttpMetrics>>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let correlation_id = req
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_correlation_id(v))
        .map(str::to_owned)
        .unwrap_or_else(crate::ids::new_v7_string);
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    // Only standard methods become metric labels: arbitrary extension methods would let a
    // client create unbounded series.
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "OTHER".to_owned(),
    };
    let meta = RequestMeta {
        correlation_id: correlation_id.clone(),
        ip,
        user_agent,
    };
    req.extensions_mut().insert(RequestContext::anonymous(meta));

    let span = tracing::info_span!(
        "request",
        http.method = %method,
        http.route = %route,
        correlation_id = %correlation_id,
        http.status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let mut response = with_correlation_id(correlation_id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    span.record("http.status", status);
    span.record("duration_ms", elapsed.as_millis() as u64);
    span.in_scope(|| {
        tracing::info!(
            http.status = status,
            duration_ms = elapsed.as_millis() as u64,
            "request completed"
        )
    });
    metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn correlation_ids_are_validated() {
        assert!(super::valid_correlation_id("abc-123_x.y:z"));
        assert!(!super::valid_correlation_id("a b"));
        assert!(!super::valid_correlation_id(""));
        assert!(!super::valid_correlation_id(&"a".repeat(129)));
    }
}
