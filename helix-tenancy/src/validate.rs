//! Input validation shared by the resources.

use crate::error::{Result, TenancyError};

/// Checks a slug: 3 to 63 characters of `[a-z0-9-]`, not starting or ending with `-`.
pub(crate) fn slug(field: &str, value: &str) -> Result<()> {
    let len = value.chars().count();
    if !(3..=63).contains(&len) {
        return Err(TenancyError::invalid(
            field,
            "length",
            "must be 3 to 63 characters",
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(TenancyError::invalid(
            field,
            "invalid_characters",
            "may contain only lowercase letters, digits and hyphens",
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(TenancyError::invalid(
            field,
            "invalid_hyphen",
            "may not start or end with a hyphen",
        ));
    }
    Ok(())
}

/// Trims a display name and checks it is 1 to 200 characters.
pub(crate) fn name(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TenancyError::invalid(
            field,
            "required",
            "must not be empty",
        ));
    }
    if value.chars().count() > 200 {
        return Err(TenancyError::invalid(
            field,
            "too_long",
            "must be at most 200 characters",
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(TenancyError::invalid(
            field,
            "invalid_characters",
            "may not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Checks a plan identifier: 1 to 64 characters of `[a-z0-9_-]`.
pub(crate) fn plan(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(TenancyError::invalid(
            field,
            "invalid",
            "must be 1 to 64 characters of [a-z0-9_-]",
        ))
    }
}

/// The largest settings document accepted, in bytes of JSON.
const MAX_SETTINGS_BYTES: usize = 64 * 1024;

/// Checks that settings are a JSON object of reasonable size.
pub(crate) fn settings(field: &str, value: &serde_json::Value) -> Result<()> {
    if !value.is_object() {
        return Err(TenancyError::invalid(
            field,
            "invalid_type",
            "must be a JSON object",
        ));
    }
    if contains_nul(value) {
        return Err(TenancyError::invalid(
            field,
            "invalid_character",
            "may not contain the NUL character (\\u0000)",
        ));
    }
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_SETTINGS_BYTES {
        return Err(TenancyError::invalid(
            field,
            "too_large",
            "must be at most 64 KiB of JSON",
        ));
    }
    Ok(())
}

/// Whether any string or key in `value` holds U+0000, which PostgreSQL cannot store.
fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v))
        }
        _ => false,
    }
}

/// Normalizes an email address (trimmed, lowercased) and checks its basic shape.
pub(crate) fn email(field: &str, value: &str) -> Result<String> {
    let value = value.trim().to_lowercase();
    let valid = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.is_empty()
                    && !domain.contains('@')
            }
            None => false,
        };
    if valid {
        Ok(value)
    } else {
        Err(TenancyError::invalid(
            field,
            "invalid_email",
            "must be a valid email address",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(slug("slug", "acme").is_ok());
        assert!(slug("slug", "acme-2").is_ok());
        assert!(slug("slug", "ab").is_err());
        assert!(slug("slug", &"a".repeat(64)).is_err());
        assert!(slug("slug", &"a".repeat(63)).is_ok());
        assert!(slug("slug", "Acme").is_err());
        assert!(slug("slug", "ac_me").is_err());
        assert!(slug("slug", "-acme").is_err());
        assert!(slug("slug", "acmé").is_err());
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            email("email", " Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        assert!(email("email", "no-at-sign").is_err());
        assert!(email("email", "a@b@c").is_err());
        assert!(email("email", "@example.com").is_err());
    }
}
