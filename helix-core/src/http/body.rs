//! Body and path extractors whose rejections are the standard error envelope: a malformed
//! body or path id is a 400 `VALIDATION_ERROR` naming the field, a body that is not
//! `application/json` is a 415, an oversized body a 413.

use crate::error::{Error, FieldError};
use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON request body (`application/json` or `application/*+json`).
#[derive(Debug, Clone, Copy)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::BadRequest("the request body could not be read".into())
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(body_error)
    }
}

fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    let Some(mime) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Turns a deserialization failure into a 400: syntax errors as `BAD_REQUEST`, data errors
/// as `VALIDATION_ERROR` with the offending field (`unknown_field`, `required`, `invalid`).
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = err.path().to_string();
    let inner = err.inner();
    let message = strip_position(&inner.to_string());
    if !inner.is_data() {
        return Error::BadRequest(format!("the request body is not valid JSON: {message}").into());
    }
    let join = |name: &str| {
        if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('`'))
            .and_then(|rest| rest.split('`').next())
            .map(join)
    };
    // The path of an unknown field already ends with the field; a missing field's path is
    // its parent's.
    let (field, code) = if let Some(f) = quoted("unknown field ") {
        (if path == "." { f } else { path.clone() }, "unknown_field")
    } else if let Some(f) = quoted("missing field ") {
        (f, "required")
    } else if path == "." {
        ("body".to_owned(), "invalid")
    } else {
        (path.clone(), "invalid")
    };
    Error::Validation {
        details: vec![FieldError::new(field, code, message)],
    }
}

/// serde_json appends ` at line L column C`; the field already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Path parameters; a value that does not parse is a 400 naming the parameter.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection) -> Error {
    let PathRejection::FailedToDeserializePathParams(err) = rejection else {
        return Error::internal_msg(format!("path extraction failed: {rejection}"));
    };
    let key = match err.kind() {
        ErrorKind::ParseErrorAtKey { key, .. }
        | ErrorKind::DeserializeError { key, .. }
        | ErrorKind::InvalidUtf8InPathParam { key } => key.clone(),
        ErrorKind::UnsupportedType { .. } | ErrorKind::WrongNumberOfParameters { .. } => {
            return Error::internal_msg(format!("path extraction failed: {}", err.body_text()));
        }
        _ => "path".to_owned(),
    };
    let message = format!("`{key}` must be a valid id");
    Error::Validation {
        details: vec![FieldError::new(key, "invalid", message)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let v = |s: &'static str| axum::http::HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("Application/JSON; charset=utf-8"))));
        assert!(is_json(Some(&v("application/merge-patch+json"))));
        assert!(!is_json(Some(&v("text/plain"))));
        assert!(!is_json(None));
    }

    #[test]
    fn unknown_fields_are_named() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Update {
            name: Option<String>,
        }
        let de = &mut serde_json::Deserializer::from_str(r#"{"region":"us"}"#);
        let err = body_error(serde_path_to_error::deserialize::<_, Update>(de).unwrap_err());
        assert_eq!(err.status(), 400);
        assert_eq!(err.details()[0].field, "region");
        assert_eq!(err.details()[0].code, "unknown_field");
        assert!(!err.details()[0].message.contains("line"));
    }
}
