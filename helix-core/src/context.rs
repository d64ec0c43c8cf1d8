//! Who is asking, for which tenant, from where: the context every service call takes.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The principal on whose behalf work is done.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A human user.
    User(Uuid),
    /// A human user, acted as by someone else (platform support impersonating them). Work
    /// done under it is the user's (`user_id()` is `user`), and every audit row also names
    /// the `impersonator`.
    Impersonated {
        /// The user acted as.
        user: Uuid,
        /// The account acting as `user`.
        impersonator: Uuid,
    },
    /// A system-to-system API key.
    ApiKey(Uuid),
    /// The platform itself (jobs, dispatchers); the string names the component.
    System(String),
    /// Nobody authenticated.
    Anonymous,
}

impl Actor {
    /// A compact, stable text form for audit rows and database settings:
    /// `user:<uuid>`, `api_key:<uuid>`, `system:<name>`, `anonymous`. An impersonated user
    /// is `user:<uuid>` of the user; the impersonator is [`Actor::impersonator`].
    pub fn as_ref_string(&self) -> String {
        match self {
            Self::User(id) | Self::Impersonated { user: id, .. } => format!("user:{id}"),
            Self::ApiKey(id) => format!("api_key:{id}"),
            Self::System(name) => format!("system:{name}"),
            Self::Anonymous => "anonymous".to_owned(),
        }
    }

    /// The user id, when the actor is a user (impersonated or not).
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::User(id) | Self::Impersonated { user: id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The account acting as the user, when the actor is [`Actor::Impersonated`].
    pub fn impersonator(&self) -> Option<Uuid> {
        match self {
            Self::Impersonated { impersonator, .. } => Some(*impersonator),
            _ => None,
        }
    }

    /// The text form of the impersonator for audit rows (`user:<uuid>`), if any.
    pub fn impersonator_ref_string(&self) -> Option<String> {
        self.impersonator().map(|id| format!("user:{id}"))
    }
}

/// Facts about the HTTP request (or job) that started the work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMeta {
    /// Correlation id: from `X-Correlation-Id`, or new.
    pub correlation_id: String,
    /// Client IP address, when known.
    pub ip: Option<IpAddr>,
    /// Client user agent, when known.
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// Request metadata with a fresh correlation id and nothing else (jobs, tests).
    pub fn new_internal() -> Self {
        Self {
            correlation_id: crate::ids::new_v7_string(),
            ip: None,
            user_agent: None,
        }
    }
}

/// The request context: travels with every request, into every log line and audit row.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Request facts.
    pub meta: Arc<RequestMeta>,
    /// The authenticated principal, if any.
    pub actor: Actor,
    /// The organization the request acts in, if any.
    pub org_id: Option<Uuid>,
}

impl RequestContext {
    /// An anonymous request context from request metadata.
    pub fn anonymous(meta: RequestMeta) -> Self {
        Self {
            meta: Arc::new(meta),
            actor: Actor::Anonymous,
            org_id: None,
        }
    }

    /// The tenant context for this request, when it carries an organization.
    pub fn tenant(&self) -> Option<TenantContext> {
        self.org_id
            .map(|org| TenantContext::with_meta(org, self.actor.clone(), self.meta.clone()))
    }
}

/// The authenticated principal's verified e-mail address, as a request extension.
///
/// Only authentication glue inserts it, after authenticating the caller and checking that
/// the address is verified (the reference server does so for the routes that need it).
/// Routes that need the caller's e-mail (creating an organization, accepting an invitation)
/// read it from here, never from the request body: its absence means "no verified e-mail
/// known", and such routes refuse.
///
/// `Debug` redacts the local part: `VerifiedEmail("***@example.com")`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VerifiedEmail(pub String);

impl VerifiedEmail {
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for VerifiedEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.rsplit_once('@') {
            Some((_, domain)) => write!(f, "VerifiedEmail(\"***@{domain}\")"),
            None => f.write_str("VerifiedEmail(\"***\")"),
        }
    }
}

/// Context for work on one tenant's data. The only way to reach tenant tables.
///
/// `org_id` comes from authentication (or the platform path that created it), never from
/// request input.
#[derive(Debug, Clone)]
pub struct TenantContext {
    org_id: Uuid,
    actor: Actor,
    meta: Arc<RequestMeta>,
}

impl TenantContext {
    /// A tenant context for `org_id` acting as `actor`, with a fresh correlation id.
    pub fn new(org_id: Uuid, actor: Actor) -> Self {
        Self::with_meta(org_id, actor, Arc::new(RequestMeta::new_internal()))
    }

    /// A tenant context carrying the request's metadata.
    pub fn with_meta(org_id: Uuid, actor: Actor, meta: Arc<RequestMeta>) -> Self {
        Self {
            org_id,
            actor,
            meta,
        }
    }

    /// The organization.
    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The request metadata.
    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }
}

/// Context for platform-plane work that may cross tenants (creating organizations,
/// dispatchers, retention jobs). Every such path is audited.
#[derive(Debug, Clone)]
pub struct PlatformContext {
    actor: Actor,
    meta: Arc<RequestMeta>,
}

impl PlatformContext {
    /// A platform context for `actor`, with a fresh correlation id.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            meta: Arc::new(RequestMeta::new_internal()),
        }
    }

    /// A platform context for a named system component (`system:outbox-dispatcher`).
    pub fn system(component: &str) -> Self {
        Self::new(Actor::System(component.to_owned()))
    }

    /// A platform context carrying a request's metadata.
    pub fn with_meta(actor: Actor, meta: Arc<RequestMeta>) -> Self {
        Self { actor, meta }
    }

    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The request metadata.
    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }

    /// A tenant context for `org_id` carrying this context's actor and metadata, for
    /// platform work that then acts inside one tenant.
    pub fn for_tenant(&self, org_id: Uuid) -> TenantContext {
        TenantContext::with_meta(org_id, self.actor.clone(), self.meta.clone())
    }
}

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// Runs `fut` with `correlation_id` as the current correlation id (read by error responses
/// and log lines).
pub async fn with_correlation_id<F: std::future::Future>(
    correlation_id: String,
    fut: F,
) -> F::Output {
    CORRELATION_ID.scope(correlation_id, fut).await
}

/// The correlation id of the request being served on this task, if any.
pub fn current_correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impersonated_actor_is_the_user_with_an_impersonator() {
        let (user, support) = (Uuid::now_v7(), Uuid::now_v7());
        let actor = Actor::Impersonated {
            user,
            impersonator: support,
        };
        assert_eq!(actor.user_id(), Some(user));
        assert_eq!(actor.as_ref_string(), format!("user:{user}"));
        assert_eq!(actor.impersonator(), Some(support));
        assert_eq!(
            actor.impersonator_ref_string(),
            Some(format!("user:{support}"))
        );
        assert_eq!(Actor::User(user).impersonator(), None);
        let json = serde_json::to_value(&actor).unwrap();
        assert_eq!(json["type"], "impersonated");
        assert_eq!(serde_json::from_value::<Actor>(json).unwrap(), actor);
    }

    #[test]
    fn verified_email_debug_hides_the_local_part() {
        let email = VerifiedEmail("ada@example.test".into());
        assert_eq!(format!("{email:?}"), r#"VerifiedEmail("***@example.test")"#);
        assert_eq!(email.as_str(), "ada@example.test");
        let odd = VerifiedEmail("no-at-sign".into());
        assert_eq!(format!("{odd:?}"), r#"VerifiedEmail("***")"#);
    }
}
