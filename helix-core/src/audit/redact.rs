//! Redaction of secrets and PII in audit data before it is written.
//!
//! Any object key whose name contains one of the sensitive fragments is replaced by
//! `"[REDACTED]"`, at any depth. Hosts add their own fragments with [`add_sensitive_keys`]
//! (for configured PII such as `phone` or `date_of_birth`).

use std::sync::RwLock;

use serde_json::Value;

/// The placeholder written instead of a redacted value.
pub const REDACTED: &str = "[REDACTED]";

const BUILTIN: &[&str] = &[
    "password",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "private_key",
    "otp",
    "totp",
    "credential",
];

static EXTRA: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds key fragments (case-insensitive) that are redacted in every audit row.
pub fn add_sensitive_keys<I: IntoIterator<Item = S>, S: Into<String>>(keys: I) {
    let mut extra = EXTRA.write().unwrap_or_else(|p| p.into_inner());
    for k in keys {
        let k = k.into().to_ascii_lowercase();
        if !extra.contains(&k) {
            extra.push(k);
        }
    }
}

fn is_sensitive(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if BUILTIN.iter().any(|f| key.contains(f)) {
        return true;
    }
    let extra = EXTRA.read().unwrap_or_else(|p| p.into_inner());
    extra.iter().any(|f| key.contains(f.as_str()))
}

/// Redacts sensitive keys in `value`, in place.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_sensitive(k) {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn redacts_nested_secrets() {
        let mut v =
            json!({"email": "a@b.c", "nested": {"password_hash": "x", "list": [{"token": "t"}]}});
        super::redact(&mut v);
        assert_eq!(v["nested"]["password_hash"], super::REDACTED);
        assert_eq!(v["nested"]["list"][0]["token"], super::REDACTED);
        assert_eq!(v["email"], "a@b.c");
    }
}
