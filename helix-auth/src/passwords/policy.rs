//! [`PasswordPolicy`]: length, character classes and an offline strength check (zxcvbn).
//! Reuse of recent passwords needs their hashes, so the service checks it (see
//! [`PasswordPolicy::history_depth`]).

use helix_core::FieldError;

use super::Password;
use crate::config::PasswordPolicyConfig;

/// Decides whether a new password is acceptable. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    config: PasswordPolicyConfig,
    product_name: String,
}

impl PasswordPolicy {
    /// A policy from its configuration; `product_name` is treated as a guessable word.
    pub fn new(config: PasswordPolicyConfig, product_name: impl Into<String>) -> Self {
        Self {
            config,
            product_name: product_name.into(),
        }
    }

    /// How many recent passwords (the current one included) may not be reused.
    pub fn history_depth(&self) -> usize {
        self.config.history
    }

    /// Checks `password` for the account with `email`, reporting problems on the field
    /// `password`. See [`PasswordPolicy::validate_field`].
    pub fn validate(&self, password: &Password, email: &str) -> Result<(), Vec<FieldError>> {
        self.validate_field("password", password, email)
    }

    /// Checks `password` and reports every problem as a [`FieldError`] on `field`, with a
    /// stable code: `too_short`, `too_long`, `too_few_classes`, `too_weak`. The strength check
    /// is zxcvbn (offline) with the email, its local part and the product name as
    /// user-specific words; it is skipped for over-long input, which bounds its work.
    /// Messages never contain the password. CPU-bound (a few milliseconds): call it from a
    /// blocking context in async code.
    pub fn validate_field(
        &self,
        field: &str,
        password: &Password,
        email: &str,
    ) -> Result<(), Vec<FieldError>> {
        let pw = password.expose();
        let len = pw.chars().count();
        let mut errors = Vec::new();
        if len < self.config.min_length {
            errors.push(FieldError::new(
                field,
                "too_short",
                format!("use at least {} characters", self.config.min_length),
            ));
        }
        if len > self.config.max_length {
            errors.push(FieldError::new(
                field,
                "too_long",
                format!("use at most {} characters", self.config.max_length),
            ));
            return Err(errors);
        }
        let classes = character_classes(pw);
        if classes < self.config.min_classes {
            errors.push(FieldError::new(
                field,
                "too_few_classes",
                format!(
                    "use at least {} of: lowercase letters, uppercase letters, digits, other characters",
                    self.config.min_classes
                ),
            ));
        }
        let inputs = self.user_inputs(email);
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let entropy = zxcvbn::zxcvbn(pw, &inputs);
        if u8::from(entropy.score()) < self.config.min_strength {
            let hint = entropy
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            errors.push(FieldError::new(
                field,
                "too_weak",
                format!("this password is too easy to guess{hint}"),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn user_inputs(&self, email: &str) -> Vec<String> {
        let email = email.trim().to_lowercase();
        let local = email.split('@').next().unwrap_or_default().to_owned();
        let mut inputs = vec![self.product_name.to_lowercase(), email.clone()];
        inputs.extend(
            local
                .split(['.', '_', '-', '+'])
                .filter(|p| p.chars().count() >= 3)
                .map(str::to_owned),
        );
        inputs.push(local);
        inputs.retain(|s| !s.is_empty());
        inputs
    }
}

/// How many of the four classes appear: lowercase, uppercase, digits, other.
fn character_classes(pw: &str) -> u8 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in pw.chars() {
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() {
            upper = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            other = true;
        }
    }
    [lower, upper, digit, other].into_iter().map(u8::from).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn classes_are_counted() {
        assert_eq!(super::character_classes("abc"), 1);
        assert_eq!(super::character_classes("aB1"), 3);
        assert_eq!(super::character_classes("aB1 "), 4);
        assert_eq!(super::character_classes("éÉ٣"), 3);
    }
}
