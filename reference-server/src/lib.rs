//! # reference-server
//!
//! The Helix reference server: the crates composed into one binary, small and embeddable.
//! [`launch`] takes settings, a bound listener and a shutdown future, so tests and other
//! binaries can start it:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut settings = reference_server::Settings::default();
//! settings.database.url = "sqlite:./demo.db".into();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! reference_server::launch(settings, listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod api_keys;
pub mod documents;
pub mod invitations;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod mfa_policy;
pub mod openapi;
pub mod organizations;
pub mod platform_admin;
pub mod platform_roles;
pub mod settings;
pub mod telemetry;
pub mod verified_email;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use helix_auth::AuthService;
use helix_auth::http::AuthState;
use helix_auth::sessions::SessionService;
use helix_auth::tokens::{AccessTokenConfig, AccessTokens, SigningKeyConfig, SigningKeys};
use helix_core::http::idempotency::{IdempotencyState, idempotency};
use helix_core::http::{HealthState, HttpMetrics, MetricsState, health_router, metrics_router};
use helix_core::outbox::Dispatcher;
use helix_core::ratelimit::{InMemoryStore, RateLimiter};
use helix_core::{Db, Helix, Kernel};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use settings::Settings;

/// The server's shared state: every crate's HTTP state, reachable through `FromRef`.
#[derive(Clone)]
pub struct AppState {
    /// helix-auth's routes and extractor.
    pub auth: AuthState,
    /// helix-tenancy's routes.
    pub tenancy: helix_tenancy::TenancyService,
    /// helix-iam's checks and management routes.
    pub iam: helix_iam::Iam,
    /// The key ring that encrypts secrets at rest.
    pub keys: Arc<helix_auth::crypto::KeyRing>,
}

impl axum::extract::FromRef<AppState> for helix_iam::Iam {
    fn from_ref(state: &AppState) -> Self {
        state.iam.clone()
    }
}

impl axum::extract::FromRef<AppState> for helix_tenancy::TenancyService {
    fn from_ref(state: &AppState) -> Self {
        state.tenancy.clone()
    }
}

impl axum::extract::FromRef<AppState> for AuthState {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// helix-auth's state, connected to helix-tenancy through [`organizations::TenancyDirectory`]:
/// registration (once the email is verified) creates a personal organization, tokens carry
/// the active organization, switching checks membership, and an organization whose settings
/// say `"require_mfa": true` requires MFA. TOTP secrets are sealed by `key_ring`.
fn auth_state(
    settings: &Settings,
    kernel: &Kernel,
    tenancy: &helix_tenancy::TenancyService,
    key_ring: Arc<helix_auth::crypto::KeyRing>,
) -> anyhow::Result<AuthState> {
    let a = &settings.auth;
    let active = match &a.signing_key {
        Some(key) => key.clone(),
        None if kernel.db().backend() == helix_core::Backend::Sqlite => {
            tracing::warn!(
                "auth.signing_key is not configured: signing with an ephemeral development key; \
                 tokens will not survive a restart (configure auth.signing_key in production)"
            );
            SigningKeyConfig::generate("dev-ephemeral")
        }
        // Settings::validate refuses this before any connection is made.
        None => anyhow::bail!("invalid setting `auth.signing_key`: required on PostgreSQL"),
    };
    let keys = SigningKeys::from_config(&active, &a.previous_keys)?;
    let mut token_config = AccessTokenConfig::new(a.issuer.clone(), a.audience.clone());
    token_config.ttl_secs = a.access_token_ttl_secs;
    let clock: Arc<dyn helix_core::Clock> = Arc::new(helix_core::SystemClock);
    let tokens = AccessTokens::new(keys, token_config, clock.clone())?;
    let sessions = SessionService::new(kernel.clone(), a.sessions.clone())?;
    // Mails are queued in the outbox with their secrets sealed; the dispatcher's mail
    // subscriber (see `launch`) sends them.
    let auth = AuthService::builder(kernel.clone(), a.accounts.clone())
        .oidc(a.oidc.clone())
        .key_ring(key_ring.clone())
        .mail(helix_auth::mail::MailOutbox::new(key_ring))
        .new_sign_in_mail(a.mail.new_sign_in)
        .build()?;
    let limiter = RateLimiter::new(Arc::new(InMemoryStore::with_clock(clock)));
    let directory = Arc::new(organizations::TenancyDirectory::new(tenancy.clone()));
    let roles = Arc::new(platform_roles::SupportAccounts::new(
        auth.clone(),
        kernel.clone(),
        &a.impersonation.support_accounts,
    ));
    let hash_key = match &a.api_keys.hash_key {
        Some(key) => key.clone(),
        None if kernel.db().backend() == helix_core::Backend::Sqlite => {
            tracing::warn!(
                "auth.api_keys.hash_key is not configured: using an ephemeral development key; \
                 API keys and browser CSRF tokens will not survive a restart (configure \
                 auth.api_keys.hash_key in production)"
            );
            helix_auth::api_keys::HmacKey::generate()
        }
        // Settings::validate refuses this before any connection is made.
        None => anyhow::bail!("invalid setting `auth.api_keys.hash_key`: required on PostgreSQL"),
    };
    let key_config = helix_auth::api_keys::ApiKeyConfig {
        hash_key: Some(hash_key.clone()),
        ..a.api_keys.clone()
    };
    let api_keys = helix_auth::api_keys::ApiKeyService::new(auth.clone(), key_config)?;
    let owners = Arc::new(api_keys::OrganizationKeyOwners::new(tenancy.clone()));
    let browser =
        helix_auth::http::BrowserSessions::new(a.cookies.clone(), hash_key.derive("csrf"));
    let mut state = AuthState::new(auth.clone(), tokens, sessions, limiter)
        .with_organizations(directory.clone())
        .with_mfa_requirement(directory)
        .with_platform_roles(roles)
        .with_api_keys(api_keys, owners)
        .with_browser_sessions(browser);
    if a.otp.enabled {
        state = state.with_otp(helix_auth::otp::OtpService::new(
            auth,
            a.otp.limits.clone(),
        )?);
    }
    Ok(state)
}

/// The composed platform: what [`build_app`] makes and [`launch`] serves.
pub struct App {
    /// Every route with its middleware.
    pub router: Router,
    /// The composed modules (migrations applied).
    pub helix: Arc<Helix>,
    /// Database, clock and ids.
    pub kernel: Kernel,
    /// The state the routes share (background tasks use it too).
    pub state: AppState,
}

/// Builds the composed platform and its router (no listener, no background task).
pub async fn build_app(settings: &Settings) -> anyhow::Result<App> {
    build_app_with(settings, helix_iam::http::GuardedRouter::new()).await
}

/// [`build_app`] with a product's own routes, served behind the same authentication and
/// middleware as the platform's. Every permission a `Require<P>` guard names, the product's
/// and the platform's, must be in the permission catalog: otherwise this fails, naming each
/// unknown permission and its route, and the server does not start.
pub async fn build_app_with(
    settings: &Settings,
    routes: helix_iam::http::GuardedRouter<AppState>,
) -> anyhow::Result<App> {
    settings.validate()?;
    let db = Db::connect(&settings.database.url, &settings.database.pool).await?;
    let kernel = Kernel::new(db.clone());
    let helix = Arc::new(
        Helix::builder(db.clone())
            .module(helix_tenancy::TenancyModule)
            .module(helix_auth::AuthModule)
            .module(helix_iam::IamModule)
            .module(mfa_policy::MfaPolicyGlue)
            .module(documents::DocumentsModule)
            .build()
            .await?,
    );
    let keys = Arc::new(keys::key_ring(&settings.auth, db.backend())?);
    // Invitations are mailed from their own transaction (see `invitations`).
    let invitation_mail =
        invitations::InvitationMail::new(helix_auth::mail::MailOutbox::new(keys.clone()));
    // helix-iam decides every tenancy operation (custom roles, scoped assignments, tuples);
    // an unknown permission or a malformed schema fragment stops the server here.
    let iam = helix_iam::Iam::new(kernel.clone(), &helix, helix_iam::EngineConfig::default())?;
    let tenancy = helix_tenancy::TenancyService::new(kernel.clone())
        .with_default_region(settings.tenancy.region()?)
        .with_invitation_notifier(Arc::new(invitation_mail))
        .with_authorizer(Arc::new(helix_iam::IamAuthorizer::new(iam.clone())));
    let auth = auth_state(settings, &kernel, &tenancy, keys.clone())?;
    // Platform role grants go only to existing, verified helix-auth accounts. (The
    // authorizer above holds the `Iam` without the directory: it decides tenancy
    // operations only and never grants platform roles.)
    let iam = iam.with_account_directory(Arc::new(platform_admin::AuthAccountDirectory::new(
        auth.auth().clone(),
    )));
    let state = AppState {
        auth,
        tenancy,
        iam,
        keys,
    };
    let metrics = Arc::new(HttpMetrics::new());
    let idem = IdempotencyState::new(db.clone(), Arc::new(helix_core::SystemClock));
    // Innermost first: idempotency sees the principal that `authenticate` put into the
    // request context; `api_key_scopes` refuses API keys on routes their scopes do not
    // cover; `verified_email` runs after `authenticate` and gives helix-tenancy the caller's
    // verified e-mail on the two routes that need it.
    let guarded = helix_iam::http::router::<AppState>()
        .merge(routes)
        .into_router(&state.iam)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let api = Router::new()
        .merge(helix_auth::http::router::<AppState>())
        .merge(helix_tenancy::http::router::<AppState>())
        .merge(guarded)
        .with_state(state.clone())
        .merge(helix.router())
        .layer(axum::middleware::from_fn_with_state(idem, idempotency))
        .layer(axum::middleware::from_fn(api_keys::api_key_scopes))
        .layer(axum::middleware::from_fn_with_state(
            state.auth.sessions().clone(),
            mfa_policy::forget_changed_mfa_policy,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.auth.auth().clone(),
            verified_email::verified_email,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            helix_auth::http::authenticate::<AppState>,
        ));
    let app = Router::new()
        .merge(health_router(HealthState {
            helix: helix.clone(),
        }))
        .merge(metrics_router(MetricsState {
            metrics: metrics.clone(),
            db: db.clone(),
        }))
        .merge(openapi::router())
        .merge(api)
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(settings.server.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(settings.server.request_timeout_secs.max(1)),
        ))
        .layer(axum::middleware::from_fn(helix_core::http::envelope_errors))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            helix_core::http::request_context,
        ));
    Ok(App {
        router: app,
        helix,
        kernel,
        state,
    })
}

async fn not_found() -> helix_core::Error {
    helix_core::Error::NotFound { resource: "route" }
}

/// Serves the platform on `listener` until `shutdown` completes, then stops accepting,
/// lets in-flight requests finish (bounded by `server.shutdown_grace_secs`) and stops the
/// outbox dispatcher.
pub async fn launch<F>(settings: Settings, listener: TcpListener, shutdown: F) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let App {
        router: app,
        helix,
        kernel,
        state,
    } = build_app(&settings).await?;
    let addr = listener.local_addr()?;
    tracing::info!(listen.addr = %addr, db.backend = ?helix.db().backend(), "helix reference server listening");

    let dispatcher_stop = CancellationToken::new();
    let dispatcher = if settings.outbox.enabled {
        // The app's own key ring: what the requests sealed, the dispatcher opens.
        let keys = state.keys.clone();
        let dispatcher = Dispatcher::builder(kernel.clone())
            .subscriber(mail::subscriber(&settings.auth, keys.clone())?)
            .subscriber(mail::message_subscriber(&settings.auth, keys)?)
            .poll_interval(Duration::from_millis(
                settings.outbox.poll_interval_ms.max(10),
            ))
            .build()?;
        let token = dispatcher_stop.clone();
        Some(tokio::spawn(async move { dispatcher.run(token).await }))
    } else {
        None
    };
    // Revocations by other instances reach this one's session cache (PostgreSQL; returns at
    // once on SQLite).
    let revocations = tokio::spawn({
        let sessions = state.auth.sessions().clone();
        let stop = dispatcher_stop.clone();
        async move { sessions.follow_revocations(stop).await }
    });
    // Policy changes committed by other instances reach this one's IAM engine (PostgreSQL;
    // returns at once on SQLite).
    let policy = tokio::spawn({
        let sync = state.iam.sync().clone();
        let stop = dispatcher_stop.clone();
        async move { sync.follow_changes(stop).await }
    });
    let jobs = settings.jobs.enabled.then(|| {
        let interval = Duration::from_secs(settings.jobs.interval_secs.max(1));
        tokio::spawn(jobs::run(kernel.clone(), interval, dispatcher_stop.clone()))
    });

    let stop = CancellationToken::new();
    let stop_signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop_signal.cancel();
    });

    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.clone().cancelled_owned());
    let mut server = tokio::spawn(async move { serve.await });

    tokio::select! {
        res = &mut server => {
            dispatcher_stop.cancel();
            let _ = revocations.await;
            let _ = policy.await;
            res??;
            return Ok(());
        }
        () = stop.cancelled() => {}
    }
    tracing::info!("shutdown requested: draining in-flight requests");
    let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
    match tokio::time::timeout(grace, &mut server).await {
        Ok(res) => res??,
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "in-flight requests did not finish in time; aborting them"
            );
            server.abort();
        }
    }
    dispatcher_stop.cancel();
    if let Some(handle) = dispatcher {
        // The dispatcher finishes its in-flight batch, then returns.
        let _ = handle.await;
    }
    if let Some(handle) = jobs {
        let _ = handle.await;
    }
    let _ = revocations.await;
    let _ = policy.await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
