//! Browser sessions: the token pair in `httpOnly` cookies instead of the JSON body, and the
//! CSRF protection that cookies need.
//!
//! A client asks for cookie mode with `"mode": "cookie"` in the login body. The answer then
//! sets three cookies and its body carries no token:
//!
//! | Cookie | Attributes | Holds |
//! |---|---|---|
//! | `__Host-helix_access` | `Path=/; Max-Age=<access TTL>; HttpOnly; Secure; SameSite=Lax` | the access token |
//! | `__Host-helix_refresh` | `Path=/; Max-Age=<until the refresh token expires>; HttpOnly; Secure; SameSite=Strict` | the refresh token |
//! | `__Host-helix_csrf` | `Path=/; Max-Age=<same>; Secure; SameSite=Strict` (readable by JS) | the CSRF token |
//!
//! The `__Host-` prefix makes the browser refuse the cookies unless they are `Secure`,
//! host-only (no `Domain`) and `Path=/`, so a sibling subdomain can neither set nor shadow
//! them. The same rule forbids narrowing the refresh cookie's `Path` to the refresh route,
//! so it is `Path=/` too; `SameSite=Strict` and `HttpOnly` keep it out of cross-site
//! requests and scripts. With `secure = false` (plain-HTTP development on a host other than
//! `localhost`) the names lose the prefix and the `Secure` attribute.
//!
//! The CSRF token is `base64url(HMAC-SHA256(csrf key, "helix-csrf:" || session id))`: bound
//! to the session, unforgeable without the server key, and stable across refreshes and
//! organization switches of the same session. Every request that authenticates with the
//! access cookie and whose method is not `GET`, `HEAD`, `OPTIONS` or `TRACE` must send it back
//! in `X-CSRF-Token`, and, when it carries an `Origin` header, come from an allowed origin
//! (one of `allowed_origins`, or the origin whose host is the request's `Host`); otherwise
//! it is refused with 403 `CSRF_FAILED`. Refresh and logout by cookie (which may run without
//! a valid access cookie) check the same token against the session of the refresh cookie.
//! Requests with `Authorization: Bearer` ignore cookies and need no CSRF token.

use std::fmt::Write as _;

use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use helix_core::Error;
use sea_orm::{ConnectionTrait, Statement};
use serde::Deserialize;
use uuid::Uuid;

use crate::api_keys::HmacKey;

/// The request header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The code of the 403 answered when the CSRF check fails.
pub const CSRF_FAILED: &str = "CSRF_FAILED";

/// Cookie settings of browser sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieConfig {
    /// Mark cookies `Secure` and use the `__Host-` prefix (default `true`). Browsers treat
    /// `http://localhost` as a secure context, so development on localhost keeps it on.
    pub secure: bool,
    /// Origins (`https://app.example.com`, scheme and host, port when not the default)
    /// allowed to make state-changing cookie requests besides the server's own origin.
    pub allowed_origins: Vec<String>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            secure: true,
            allowed_origins: Vec::new(),
        }
    }
}

/// Browser-session support for [`super::AuthState::with_browser_sessions`]: the cookie
/// settings and the server key of CSRF tokens. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrowserSessions {
    config: CookieConfig,
    csrf_key: HmacKey,
    allowed: Vec<String>,
}

/// The three cookie names.
struct Names {
    access: &'static str,
    refresh: &'static str,
    csrf: &'static str,
}

const SECURE_NAMES: Names = Names {
    access: "__Host-helix_access",
    refresh: "__Host-helix_refresh",
    csrf: "__Host-helix_csrf",
};

const PLAIN_NAMES: Names = Names {
    access: "helix_access",
    refresh: "helix_refresh",
    csrf: "helix_csrf",
};

impl BrowserSessions {
    /// Browser sessions with `config`, signing CSRF tokens with `csrf_key` (a server
    /// secret; every instance must share it).
    pub fn new(config: CookieConfig, csrf_key: HmacKey) -> Self {
        let allowed = config
            .allowed_origins
            .iter()
            .map(|o| normalize_origin(o))
            .collect();
        Self {
            config,
            csrf_key,
            allowed,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CookieConfig {
        &self.config
    }

    fn names(&self) -> &'static Names {
        if self.config.secure {
            &SECURE_NAMES
        } else {
            &PLAIN_NAMES
        }
    }

    /// The name of the access-token cookie (`__Host-helix_access`, or `helix_access` when
    /// not secure).
    pub fn access_cookie_name(&self) -> &'static str {
        self.names().access
    }

    /// The name of the refresh-token cookie.
    pub fn refresh_cookie_name(&self) -> &'static str {
        self.names().refresh
    }

    /// The name of the CSRF-token cookie.
    pub fn csrf_cookie_name(&self) -> &'static str {
        self.names().csrf
    }

    /// The CSRF token of `session_id`.
    pub fn csrf_token(&self, session_id: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(self.csrf_key.mac(&[b"helix-csrf:", session_id.as_bytes()]))
    }

    /// The access token of the request's access cookie, if any.
    pub(crate) fn access_cookie<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookie(headers, self.names().access)
    }

    /// The refresh token of the request's refresh cookie, if any.
    pub(crate) fn refresh_cookie<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        cookie(headers, self.names().refresh)
    }

    /// The CSRF check of a state-changing cookie request of `session_id`: an allowed
    /// `Origin` (when sent) and an `X-CSRF-Token` that is the session's token (compared in
    /// constant time).
    pub(crate) fn check(&self, headers: &HeaderMap, session_id: Uuid) -> Result<(), CsrfFailed> {
        if !self.origin_allowed(headers) {
            tracing::debug!(csrf.failure = "origin", "csrf check failed");
            return Err(CsrfFailed);
        }
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| URL_SAFE_NO_PAD.decode(v.trim()).ok());
        let valid = presented.is_some_and(|tag| {
            self.csrf_key
                .verify(&[b"helix-csrf:", session_id.as_bytes()], &tag)
        });
        if valid {
            Ok(())
        } else {
            tracing::debug!(csrf.failure = "token", "csrf check failed");
            Err(CsrfFailed)
        }
    }

    /// Whether the request's `Origin` (if any) is allowed: listed, or the origin of the
    /// request's own `Host` (either scheme).
    pub(crate) fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalize_origin(origin);
        if self.allowed.contains(&origin) {
            return true;
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        host.is_some_and(|host| {
            origin == format!("https://{host}") || origin == format!("http://{host}")
        })
    }

    /// Appends the three `Set-Cookie` headers of a session's tokens.
    pub(crate) fn set(
        &self,
        headers: &mut HeaderMap,
        session_id: Uuid,
        access: (&str, i64),
        refresh: Option<(&str, i64)>,
    ) {
        let n = self.names();
        self.append(headers, n.access, access.0, access.1, true, "Lax");
        if let Some((token, max_age)) = refresh {
            self.append(headers, n.refresh, token, max_age, true, "Strict");
            let csrf = self.csrf_token(session_id);
            self.append(headers, n.csrf, &csrf, max_age, false, "Strict");
        }
    }

    /// Appends `Set-Cookie` headers that delete the three cookies.
    pub(crate) fn clear(&self, headers: &mut HeaderMap) {
        let n = self.names();
        self.append(headers, n.access, "", 0, true, "Lax");
        self.append(headers, n.refresh, "", 0, true, "Strict");
        self.append(headers, n.csrf, "", 0, false, "Strict");
    }

    fn append(
        &self,
        headers: &mut HeaderMap,
        name: &str,
        value: &str,
        max_age: i64,
        http_only: bool,
        same_site: &str,
    ) {
        let mut c = format!("{name}={value}; Path=/; Max-Age={}", max_age.max(0));
        if http_only {
            c.push_str("; HttpOnly");
        }
        if self.config.secure {
            c.push_str("; Secure");
        }
        let _ = write!(c, "; SameSite={same_site}");
        // Token values are base64url/JWT characters: always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// The CSRF check failed: 403 `CSRF_FAILED` in the standard envelope.
#[derive(Debug, Clone, Copy)]
pub struct CsrfFailed;

impl IntoResponse for CsrfFailed {
    fn into_response(self) -> Response {
        Error::from(self).into_response()
    }
}

impl From<CsrfFailed> for Error {
    fn from(_: CsrfFailed) -> Self {
        Error::forbidden(
            CSRF_FAILED,
            "the CSRF check failed: send the X-CSRF-Token header",
        )
    }
}

/// Whether `method` changes state (everything but `GET`, `HEAD`, `OPTIONS`, `TRACE`).
pub(crate) fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session a refresh token belongs to, without consuming it (for the CSRF check that
/// must run before the refresh).
pub(crate) async fn session_of_refresh_token(
    kernel: &helix_core::Kernel,
    token: &str,
) -> Result<Option<Uuid>, Error> {
    use crate::sessions::model::{hash_token, well_formed};
    if !well_formed(token) {
        return Ok(None);
    }
    let hash = hash_token(token);
    let ctx = helix_core::PlatformContext::system("helix-auth.sessions");
    let tx = kernel.db().platform_read(&ctx).await?;
    let backend = tx.raw().get_database_backend();
    let row = tx
        .raw()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT family_id FROM auth_refresh_tokens WHERE token_hash = $1",
            vec![hash.into()],
        ))
        .await
        .map_err(Error::Database)?;
    tx.commit().await?;
    row.map(|r| r.try_get::<Uuid>("", "family_id"))
        .transpose()
        .map_err(Error::Database)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secure: bool) -> BrowserSessions {
        BrowserSessions::new(
            CookieConfig {
                secure,
                allowed_origins: vec!["https://App.example.com/".into()],
            },
            HmacKey::generate(),
        )
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let b = sessions(true);
        let (s1, s2) = (Uuid::now_v7(), Uuid::now_v7());
        let mut h = HeaderMap::new();
        assert!(b.check(&h, s1).is_err());
        h.insert(CSRF_HEADER, b.csrf_token(s1).parse().unwrap());
        assert!(b.check(&h, s1).is_ok());
        assert!(b.check(&h, s2).is_err());
        // Another server key does not accept it.
        assert!(sessions(true).check(&h, s1).is_err());
    }

    #[test]
    fn origins_are_checked() {
        let b = sessions(true);
        let mut h = HeaderMap::new();
        assert!(b.origin_allowed(&h));
        h.insert(HOST, "api.example.com".parse().unwrap());
        h.insert(ORIGIN, "https://app.example.com".parse().unwrap());
        assert!(b.origin_allowed(&h));
        h.insert(ORIGIN, "https://api.example.com".parse().unwrap());
        assert!(b.origin_allowed(&h));
        h.insert(ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!b.origin_allowed(&h));
        h.insert(ORIGIN, "null".parse().unwrap());
        assert!(!b.origin_allowed(&h));
    }

    #[test]
    fn cookies_are_parsed_and_set() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=1; __Host-helix_access=tok; b=".parse().unwrap());
        assert_eq!(cookie(&h, "__Host-helix_access"), Some("tok"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(cookie(&h, "c"), None);

        let mut out = HeaderMap::new();
        sessions(false).set(&mut out, Uuid::now_v7(), ("a", 600), Some(("r", 60)));
        let set: Vec<_> = out.get_all(SET_COOKIE).iter().collect();
        assert_eq!(set.len(), 3);
        assert_eq!(
            set[0],
            "helix_access=a; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"
        );
    }
}
