//! Puts every error response into the standard envelope, including the ones axum and tower
//! produce themselves (body limit, method not allowed, JSON rejections, timeouts).

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::context::current_correlation_id;
use crate::error::{ErrorBody, ErrorEnvelope};

fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "REQUEST_TIMEOUT",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        422 => "UNPROCESSABLE_ENTITY",
        429 => "RATE_LIMITED",
        503 => "SERVICE_UNAVAILABLE",
        s if s >= 500 => "INTERNAL_ERROR",
        _ => "BAD_REQUEST",
    }
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Middleware: error responses (4xx, 5xx) that are not already JSON become the envelope.
/// The message of a 4xx keeps the framework's text (it describes the client's mistake); a 5xx
/// gets the generic message. Install it inside the request-context middleware so the
/// correlation id is known.
pub async fn envelope_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&resp) {
        return resp;
    }
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let allow = resp.headers().get(header::ALLOW).cloned();
    let text = match to_bytes(resp.into_body(), 16 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if status.is_server_error() || text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let envelope = ErrorEnvelope {
        error: ErrorBody {
            code: code_for(status).to_owned(),
            message,
            details: Vec::new(),
            correlation_id: current_correlation_id().unwrap_or_default(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        },
    };
    let mut out = (status, axum::Json(envelope)).into_response();
    for (name, value) in [(header::RETRY_AFTER, retry_after), (header::ALLOW, allow)] {
        if let Some(v) = value {
            out.headers_mut().insert(name, v);
        }
    }
    out
}
