//! Mail templates: a subject, a text part and an HTML part with `{{name}}` placeholders.

use std::collections::{BTreeMap, HashMap};

/// The e-mail verification link (values: `token`, `link`, `expires_at`).
pub const VERIFICATION: &str = "verification";
/// The password-reset link (values: `token`, `link`, `expires_at`).
pub const PASSWORD_RESET: &str = "password_reset";
/// An invitation to an organization (values: `token`, `link`, `organization`, `role`,
/// `expires_at`).
pub const INVITATION: &str = "invitation";
/// A sign-in from a new device (values: `ip`, `user_agent`, `time`).
pub const NEW_SIGN_IN: &str = "new_sign_in";
/// Multi-factor authentication was turned on or off (values: `change`, `time`).
pub const MFA_CHANGED: &str = "mfa_changed";
/// A one-time code (values: `code`, `purpose`, `expires_at`).
pub const ONE_TIME_CODE: &str = "one_time_code";

/// One template. Placeholders are `{{name}}` (letters, digits, `_`); an unknown name
/// renders as nothing. Besides the mail's own values every template sees `product_name`,
/// `base_url` and `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The subject line (values inserted as they are, line breaks removed).
    pub subject: String,
    /// The plain-text part (values inserted as they are).
    pub text: String,
    /// The HTML part (values HTML-escaped).
    pub html: String,
}

impl Template {
    /// A template from its three parts.
    pub fn new(
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }
}

/// A rendered mail.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedMail {
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

/// The template set: the built-in templates, each replaceable by the host
/// ([`Templates::set`]), plus any the host adds.
#[derive(Debug, Clone)]
pub struct Templates {
    by_name: HashMap<String, Template>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut t = Self {
            by_name: HashMap::new(),
        };
        for (name, subject, text, html) in BUILT_IN {
            t.set(*name, Template::new(*subject, *text, *html));
        }
        t
    }
}

impl Templates {
    /// The built-in templates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the template `name`.
    pub fn set(&mut self, name: impl Into<String>, template: Template) -> &mut Self {
        self.by_name.insert(name.into(), template);
        self
    }

    /// The template `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.by_name.get(name)
    }

    /// Renders `name` with `values`; `None` for an unknown template.
    pub fn render(&self, name: &str, values: &BTreeMap<String, String>) -> Option<RenderedMail> {
        let t = self.get(name)?;
        let subject = fill(&t.subject, values, false).replace(['\r', '\n'], " ");
        Some(RenderedMail {
            subject,
            text: fill(&t.text, values, false),
            html: fill(&t.html, values, true),
        })
    }
}

/// Replaces each `{{name}}` of `template` with its value (escaped for HTML when `html`).
fn fill(template: &str, values: &BTreeMap<String, String>, html: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end)
                if after[..end]
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                let value = values.get(after[..end].trim()).map_or("", String::as_str);
                if html {
                    out.push_str(&escape_html(value));
                } else {
                    out.push_str(value);
                }
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// (name, subject, text, html)
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    (
        VERIFICATION,
        "Verify your e-mail address for {{product_name}}",
        "Welcome to {{product_name}}.\n\nConfirm your e-mail address by opening this link (valid until {{expires_at}}):\n\n{{link}}\n\nOr enter this code:\n\n    {{token}}\n\nIf you did not sign up, ignore this mail.\n",
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Welcome to {{product_name}}.</p><p>Confirm your e-mail address (the link is valid until {{expires_at}}):</p><p><a href=\"{{link}}\">Verify my address</a></p><p>Or enter this code: <code>{{token}}</code></p><p>If you did not sign up, ignore this mail.</p></body></html>",
    ),
    (
        PASSWORD_RESET,
        "Reset your {{product_name}} password",
        "Someone asked to reset the password of your {{product_name}} account. If it was you, open this link (valid until {{expires_at}}, once):\n\n{{link}}\n\nOr enter this code:\n\n    {{token}}\n\nEvery session of the account is signed out. If it was not you, ignore this mail.\n",
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Someone asked to reset the password of your {{product_name}} account. If it was you, use this link (valid until {{expires_at}}, once):</p><p><a href=\"{{link}}\">Reset my password</a></p><p>Or enter this code: <code>{{token}}</code></p><p>Every session of the account is signed out. If it was not you, ignore this mail.</p></body></html>",
    ),
    (
        INVITATION,
        "You are invited to {{organization}} on {{product_name}}",
        "You are invited to join {{organization}} on {{product_name}} as {{role}}.\n\nAccept the invitation (valid until {{expires_at}}):\n\n{{link}}\n",
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>You are invited to join <strong>{{organization}}</strong> on {{product_name}} as {{role}}.</p><p><a href=\"{{link}}\">Accept the invitation</a> (valid until {{expires_at}})</p></body></html>",
    ),
    (
        NEW_SIGN_IN,
        "New sign-in to your {{product_name}} account",
        "Your {{product_name}} account was signed in to at {{time}} from a new device.\n\nIP address: {{ip}}\nBrowser: {{user_agent}}\n\nIf it was you, there is nothing to do. If not, reset your password: {{base_url}}/reset-password\n",
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Your {{product_name}} account was signed in to at {{time}} from a new device.</p><ul><li>IP address: {{ip}}</li><li>Browser: {{user_agent}}</li></ul><p>If it was you, there is nothing to do. If not, <a href=\"{{base_url}}/reset-password\">reset your password</a>.</p></body></html>",
    ),
    (
        MFA_CHANGED,
        "Two-factor authentication changed on your {{product_name}} account",
        "Two-factor authentication was {{change}} on your {{product_name}} account at {{time}}.\n\nIf it was not you, reset your password at once: {{base_url}}/reset-password\n",
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Two-factor authentication was <strong>{{change}}</strong> on your {{product_name}} account at {{time}}.</p><p>If it was not you, <a href=\"{{base_url}}/reset-password\">reset your password</a> at once.</p></body></html>",
    ),
    (
        ONE_TIME_CODE,
        "Your {{product_name}} code: {{code}}",
        "Your {{product_name}} code is:\n\n    {{code}}\n\nIt is valid until {{expires_at}} and works once. If you did not ask for it, ignore this mail.\n",
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Your {{product_name}} code is:</p><p style=\"font-size:1.5em\"><code>{{code}}</code></p><p>It is valid until {{expires_at}} and works once. If you did not ask for it, ignore this mail.</p></body></html>",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    const HTML_HEAD: &str = "<!doctype html><html><body style=\"font-family:sans-serif\">";

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn escapes_html_but_not_text() {
        let mut t = Templates::new();
        t.set(
            "x",
            Template::new(
                "Hi {{n}}\r\nBcc: x",
                "Hi {{n}} {{missing}}!",
                "<p>{{ n }}</p>",
            ),
        );
        let r = t.render("x", &values(&[("n", "<b>&\"'")])).unwrap();
        assert_eq!(r.text, "Hi <b>&\"' !");
        assert_eq!(r.html, "<p>&lt;b&gt;&amp;&quot;&#39;</p>");
        assert!(!r.subject.contains('\n'));
        assert!(t.render("nope", &BTreeMap::new()).is_none());
    }

    #[test]
    fn leaves_malformed_braces() {
        assert_eq!(
            fill("{{a b}} {{", &values(&[("a", "1")]), false),
            "{{a b}} {{"
        );
    }

    #[test]
    fn built_ins_have_all_parts() {
        let t = Templates::new();
        for name in [
            VERIFICATION,
            PASSWORD_RESET,
            INVITATION,
            NEW_SIGN_IN,
            MFA_CHANGED,
            ONE_TIME_CODE,
        ] {
            let r = t.render(name, &values(&[("product_name", "P")])).unwrap();
            assert!(
                r.subject.contains('P') && !r.text.is_empty() && r.html.starts_with(HTML_HEAD),
                "{name}"
            );
        }
    }
}
