//! axum integration: route classes, key derivation, 429 answers and `RateLimit-*` headers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::limiter::RateLimiter;
use super::quota::{Decision, Quota, RateKey, Subject};
use super::{DEFAULT_CLASS, TENANT_QUOTA, USER_QUOTA};
use crate::context::{Actor, RequestContext};
use crate::error::{Error, Result};

/// `RateLimit-Limit`: the quota's burst.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests still available now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the quota is fully available again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Whom a rule counts a request against, derived from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The client IP (from the [`RequestContext`], else `ConnectInfo`).
    Ip,
    /// The authenticated user (an API key counts as its own subject); skipped for anonymous
    /// requests.
    User,
    /// The request's organization; skipped when there is none.
    Tenant,
    /// The user (or API key) when authenticated, else the client IP.
    Principal,
}

/// One limit of a route class: a quota counted per scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Whom the quota is counted against.
    pub scope: Scope,
    /// The quota.
    pub quota: Quota,
}

impl Rule {
    /// A rule from its parts.
    pub const fn new(scope: Scope, quota: Quota) -> Self {
        Self { scope, quota }
    }
}

/// The HTTP rate-limit policy: which route templates belong to which class, and the rules of
/// each class. Built with [`HttpRateLimit::builder`]; installed with
/// `axum::middleware::from_fn_with_state(Arc::new(policy), rate_limit)`.
#[derive(Debug)]
pub struct HttpRateLimit {
    limiter: RateLimiter,
    routes: HashMap<String, &'static str>,
    classes: HashMap<&'static str, Vec<Rule>>,
    default_class: Option<&'static str>,
}

impl HttpRateLimit {
    /// A builder with no classes and no routes.
    pub fn builder(limiter: RateLimiter) -> HttpRateLimitBuilder {
        HttpRateLimitBuilder {
            policy: HttpRateLimit {
                limiter,
                routes: HashMap::new(),
                classes: HashMap::new(),
                default_class: None,
            },
        }
    }

    /// A builder with the architecture's defaults: class [`DEFAULT_CLASS`] (60/min per user,
    /// or per IP when anonymous, and 300/min per tenant, bursts as in [`USER_QUOTA`] and
    /// [`TENANT_QUOTA`]) applied to every route not mapped to another class.
    pub fn defaults(limiter: RateLimiter) -> HttpRateLimitBuilder {
        Self::builder(limiter)
            .class(
                DEFAULT_CLASS,
                [
                    Rule::new(Scope::Principal, USER_QUOTA),
                    Rule::new(Scope::Tenant, TENANT_QUOTA),
                ],
            )
            .default_class(DEFAULT_CLASS)
    }

    /// The limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The class of a route template, if it is limited.
    pub fn class_of(&self, template: Option<&str>) -> Option<&'static str> {
        template
            .and_then(|t| self.routes.get(t).copied())
            .or(self.default_class)
    }
}

/// Builds an [`HttpRateLimit`].
#[derive(Debug)]
pub struct HttpRateLimitBuilder {
    policy: HttpRateLimit,
}

impl HttpRateLimitBuilder {
    /// Defines (or replaces) the rules of `class`. Every rule must allow the request.
    pub fn class(mut self, class: &'static str, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.policy
            .classes
            .insert(class, rules.into_iter().collect());
        self
    }

    /// Maps a route template, as axum's `MatchedPath` spells it (`/api/v1/auth/login`,
    /// `/api/v1/orgs/{org_id}`), to `class`. A template maps to one class for every method.
    pub fn route(mut self, template: impl Into<String>, class: &'static str) -> Self {
        self.policy.routes.insert(template.into(), class);
        self
    }

    /// The class of routes that are not mapped (default: none, they are not limited).
    pub fn default_class(mut self, class: &'static str) -> Self {
        self.policy.default_class = Some(class);
        self
    }

    /// Routes that are not mapped are not limited.
    pub fn no_default_class(mut self) -> Self {
        self.policy.default_class = None;
        self
    }

    /// The policy.
    ///
    /// # Errors
    /// [`Error::Config`] when a route or the default names a class that has no rules.
    pub fn build(self) -> Result<HttpRateLimit> {
        let p = &self.policy;
        let missing = p
            .routes
            .values()
            .chain(p.default_class.iter())
            .find(|c| !p.classes.contains_key(*c));
        if let Some(class) = missing {
            return Err(Error::Config(format!(
                "rate-limit class `{class}` is used but has no rules"
            )));
        }
        Ok(self.policy)
    }
}

fn subject_for(scope: Scope, req: &Request) -> Option<Subject> {
    let ctx = req.extensions().get::<RequestContext>();
    let ip = || {
        ctx.and_then(|c| c.meta.ip).or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
    };
    let principal = || match ctx.map(|c| &c.actor) {
        Some(Actor::User(id) | Actor::Impersonated { user: id, .. }) => Some(Subject::User(*id)),
        Some(Actor::ApiKey(id)) => Some(Subject::Custom(format!("api_key:{id}"))),
        _ => None,
    };
    match scope {
        Scope::Ip => ip().map(Subject::Ip),
        Scope::User => principal(),
        Scope::Tenant => ctx.and_then(|c| c.org_id).map(Subject::Tenant),
        Scope::Principal => principal().or_else(|| ip().map(Subject::Ip)),
    }
}

/// Middleware: finds the request's class from its route template, counts the request under
/// every rule of the class, and answers 429 in the standard envelope with `Retry-After` when
/// one denies. Responses of limited routes carry `RateLimit-Limit`, `RateLimit-Remaining` and
/// `RateLimit-Reset` (IETF `draft-ietf-httpapi-ratelimit-headers`) for the most restrictive
/// rule. Rules whose subject is unknown (no user on an anonymous request) are skipped.
///
/// Install it inside the request-context middleware and authentication (so the
/// [`RequestContext`] is complete), with `Router::layer` (so `MatchedPath` is known):
///
/// ```ignore
/// Router::new()
///     .route("/api/v1/auth/login", post(login))
///     .layer(from_fn_with_state(Arc::new(policy), rate_limit))
///     .layer(from_fn(authenticate))
///     .layer(from_fn_with_state(metrics, request_context));
/// ```
///
/// When the store fails, the limiter's failure mode applies: the request proceeds without
/// headers (open) or gets a 503 (closed).
pub async fn rate_limit(
    State(policy): State<Arc<HttpRateLimit>>,
    req: Request,
    next: Next,
) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let Some(class) = policy.class_of(template) else {
        return next.run(req).await;
    };
    let rules = policy.classes.get(class).map(Vec::as_slice).unwrap_or(&[]);
    let mut shown: Option<Decision> = None;
    for rule in rules {
        let Some(subject) = subject_for(rule.scope, &req) else {
            continue;
        };
        let key = RateKey::new(class, subject);
        let decision = match policy.limiter.check(&key, &rule.quota).await {
            Ok(d) => d,
            Err(e) => return e.into_response(),
        };
        if decision.degraded {
            continue;
        }
        if !decision.allowed {
            let mut response = Error::RateLimited {
                retry_after_secs: decision.retry_after_secs(),
            }
            .into_response();
            set_headers(response.headers_mut(), &decision);
            return response;
        }
        if shown.is_none_or(|s| decision.remaining < s.remaining) {
            shown = Some(decision);
        }
    }
    let mut response = next.run(req).await;
    if let Some(decision) = shown {
        set_headers(response.headers_mut(), &decision);
    }
    response
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(d.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(d.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(d.reset_after_secs()));
}
