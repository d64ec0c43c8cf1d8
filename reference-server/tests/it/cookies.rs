//! Browser sessions end to end, on both backends: cookie-mode login sets `__Host-` cookies
//! with the right attributes and no token in the body, the access cookie authenticates,
//! state-changing cookie requests need the CSRF header and an allowed origin, refresh
//! rotates the cookies, logout clears them, and bearer clients are unaffected.

use helix_core::backend_test;
use helix_core::testing::TestDb;
use reqwest::Client;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api_keys::{PASSWORD, signed_in};
use crate::support::start_with;

const APP_ORIGIN: &str = "https://app.example.test";

/// The `Set-Cookie` line of cookie `name`.
fn set_cookie(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}"))
}

/// The value and the attributes (lowercased, without the value) of a `Set-Cookie` line.
fn parse(line: &str) -> (String, Vec<String>) {
    let mut parts = line.split(';').map(str::trim);
    let value = parts.next().unwrap().split_once('=').unwrap().1.to_owned();
    (value, parts.map(str::to_owned).collect())
}

/// The browser's cookie jar, as a `Cookie` header.
struct Jar {
    access: String,
    refresh: String,
    csrf: String,
}

impl Jar {
    fn from(headers: &HeaderMap) -> Self {
        Self {
            access: parse(&set_cookie(headers, "__Host-helix_access")).0,
            refresh: parse(&set_cookie(headers, "__Host-helix_refresh")).0,
            csrf: parse(&set_cookie(headers, "__Host-helix_csrf")).0,
        }
    }

    fn header(&self) -> String {
        format!(
            "__Host-helix_access={}; __Host-helix_refresh={}; __Host-helix_csrf={}",
            self.access, self.refresh, self.csrf
        )
    }
}

async fn code_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

async fn browser_sessions(t: TestDb) {
    let srv = start_with(&t, |s| {
        s.auth.cookies.allowed_origins = vec![APP_ORIGIN.into()];
    })
    .await;
    let c = Client::new();
    let api = |p: &str| format!("{}{p}", srv.base);
    let email = format!("carol-{}@example.test", Uuid::now_v7().simple());
    // Bearer clients are unaffected: tokens in the body, no cookies, no CSRF needed.
    let (bearer, org, _) = signed_in(&srv, &c, &email).await;
    let r = c
        .post(api("/api/v1/auth/organization"))
        .bearer_auth(&bearer)
        .header("origin", "https://evil.example")
        .json(&json!({"org_id": org}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let body: Value = r.json().await.unwrap();
    assert!(body["access_token"].is_string());

    // Cookie-mode login.
    let r = c
        .post(api("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD, "mode": "cookie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    let (access, attrs) = parse(&set_cookie(&headers, "__Host-helix_access"));
    assert!(!access.is_empty());
    for a in [
        "Path=/",
        "Max-Age=600",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
    ] {
        assert!(
            attrs.contains(&a.to_owned()),
            "access cookie lacks {a}: {attrs:?}"
        );
    }
    assert!(!attrs.iter().any(|a| a.starts_with("Domain")));
    let (_, attrs) = parse(&set_cookie(&headers, "__Host-helix_refresh"));
    for a in ["Path=/", "HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(
            attrs.contains(&a.to_owned()),
            "refresh cookie lacks {a}: {attrs:?}"
        );
    }
    let max_age: i64 = attrs
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age > 600 && max_age <= 7 * 24 * 3600, "{max_age}");
    let (csrf, attrs) = parse(&set_cookie(&headers, "__Host-helix_csrf"));
    for a in ["Path=/", "Secure", "SameSite=Strict"] {
        assert!(
            attrs.contains(&a.to_owned()),
            "csrf cookie lacks {a}: {attrs:?}"
        );
    }
    assert!(!attrs.contains(&"HttpOnly".to_owned()), "JS must read it");
    let body: Value = r.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["token_type"], "Cookie");
    assert_eq!(body["csrf_token"], csrf.as_str());
    assert_eq!(body["org_id"], org.as_str());
    let jar = Jar::from(&headers);

    // The access cookie authenticates, on auth and tenant routes.
    let r = c
        .get(api("/api/v1/auth/me"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(api("/api/v1/members"))
        .header("cookie", jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A state-changing request needs the CSRF header ...
    let switch = |csrf: Option<&str>, origin: Option<&str>| {
        let mut req = c
            .post(api("/api/v1/auth/organization"))
            .header("cookie", jar.header())
            .json(&json!({"org_id": org}));
        if let Some(csrf) = csrf {
            req = req.header("x-csrf-token", csrf);
        }
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        req.send()
    };
    let r = switch(None, None).await.unwrap();
    assert_eq!(code_of(r).await, (403, "CSRF_FAILED".into()));
    let r = switch(Some("bm90LXRoZS10b2tlbg"), None).await.unwrap();
    assert_eq!(code_of(r).await, (403, "CSRF_FAILED".into()));
    // ... and, with an Origin, an allowed one.
    let r = switch(Some(&jar.csrf), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "CSRF_FAILED".into()));
    let r = switch(Some(&jar.csrf), Some(APP_ORIGIN)).await.unwrap();
    assert_eq!(r.status(), 200);
    let switched_access = parse(&set_cookie(r.headers(), "__Host-helix_access")).0;
    let body: Value = r.json().await.unwrap();
    assert!(body.get("access_token").is_none(), "{body}");
    assert_eq!(body["org_id"], org.as_str());
    let r = switch(Some(&jar.csrf), None).await.unwrap();
    assert_eq!(r.status(), 200);
    // The tenant routes are protected too.
    let r = c
        .post(api("/api/v1/teams"))
        .header("cookie", jar.header())
        .json(&json!({"name": "Ops"}))
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "CSRF_FAILED".into()));

    // Refresh by cookie: CSRF required, then rotated cookies.
    let refresh = |jar: &Jar, csrf: Option<&str>| {
        let mut req = c
            .post(api("/api/v1/auth/refresh"))
            .header("cookie", format!("__Host-helix_refresh={}", jar.refresh))
            .json(&json!({}));
        if let Some(csrf) = csrf {
            req = req.header("x-csrf-token", csrf.to_owned());
        }
        req.send()
    };
    let r = refresh(&jar, None).await.unwrap();
    assert_eq!(code_of(r).await, (403, "CSRF_FAILED".into()));
    let r = refresh(&jar, Some(&jar.csrf)).await.unwrap();
    assert_eq!(r.status(), 200);
    let next = Jar::from(r.headers());
    assert_ne!(next.refresh, jar.refresh);
    assert_ne!(next.access, jar.access);
    assert_ne!(next.access, switched_access);
    assert_eq!(
        next.csrf, jar.csrf,
        "the CSRF token is bound to the session"
    );
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let r = c
        .get(api("/api/v1/auth/me"))
        .header("cookie", next.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Without a refresh cookie: 401.
    let r = c
        .post(api("/api/v1/auth/refresh"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Logout clears the cookies and ends the session.
    let r = c
        .post(api("/api/v1/auth/logout"))
        .header("cookie", next.header())
        .send()
        .await
        .unwrap();
    assert_eq!(code_of(r).await, (403, "CSRF_FAILED".into()));
    let r = c
        .post(api("/api/v1/auth/logout"))
        .header("cookie", next.header())
        .header("x-csrf-token", &next.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for name in [
        "__Host-helix_access",
        "__Host-helix_refresh",
        "__Host-helix_csrf",
    ] {
        let (value, attrs) = parse(&set_cookie(r.headers(), name));
        assert!(value.is_empty(), "{name}");
        assert!(attrs.contains(&"Max-Age=0".to_owned()), "{name}: {attrs:?}");
    }
    let r = c
        .get(api("/api/v1/auth/me"))
        .header("cookie", next.header())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The bearer session is still fine.
    let r = c
        .get(api("/api/v1/auth/me"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.stop().await;
}
backend_test!(browser_sessions_over_http, browser_sessions);
