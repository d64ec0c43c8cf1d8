//! E.164 phone numbers.

use crate::error::{AuthError, Result};

/// Checks that `phone` is an E.164 number (`+`, a non-zero digit, 8 to 15 digits in all)
/// after removing spaces, dashes, dots and parentheses, and returns the compact form.
pub fn validate_e164(phone: &str) -> Result<String> {
    let compact: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(compact)
    } else {
        Err(AuthError::invalid(
            "phone",
            "invalid_phone",
            "must be an international number in E.164 form, such as +14155550123",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert_eq!(validate_e164("+1 (415) 555-0123").unwrap(), "+14155550123");
        assert_eq!(validate_e164("+4930123456").unwrap(), "+4930123456");
        for bad in [
            "4155550123",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+1415abc0123",
            "",
            "+",
        ] {
            assert!(validate_e164(bad).is_err(), "{bad}");
        }
    }
}
