//! Session routes: list mine, revoke one, revoke all others.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use helix_core::Error;
use serde::Serialize;
use uuid::Uuid;

use super::account::RevokedSessions;
use super::extract::Authenticated;
use super::state::AuthState;
use crate::sessions::{RevokeReason, Session, SessionKind};

/// One signed-in device, as `GET /api/v1/auth/sessions` shows it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct SessionView {
    /// The session.
    id: Uuid,
    /// `normal`, `admin` or `impersonation` (platform support acting as the account; the
    /// account sees it here and may revoke it).
    #[cfg_attr(feature = "openapi", schema(value_type = super::openapi::SessionKind))]
    kind: SessionKind,
    /// Whether this is the session of the presented access token.
    current: bool,
    /// The user agent that started the session, if known.
    user_agent: Option<String>,
    /// The client address (IPv4 or IPv6) that started the session, if known.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    ip: Option<std::net::IpAddr>,
    /// When the session started.
    created_at: DateTime<Utc>,
    /// When the session was last used.
    last_seen_at: DateTime<Utc>,
    /// When the session ends if unused.
    idle_expires_at: DateTime<Utc>,
    /// When the session ends at the latest.
    absolute_expires_at: DateTime<Utc>,
}

/// The caller's active sessions.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct SessionList {
    /// Most recently used first.
    data: Vec<SessionView>,
}

impl SessionView {
    fn new(s: Session, current: Uuid) -> Self {
        Self {
            current: s.id == current,
            id: s.id,
            kind: s.kind,
            user_agent: s.user_agent,
            ip: s.ip,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            idle_expires_at: s.idle_expires_at,
            absolute_expires_at: s.absolute_expires_at,
        }
    }
}

/// `GET /api/v1/auth/sessions` (authenticated) → `{data: [...]}`: the caller's active
/// sessions, most recently used first, the current one flagged.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        get,
        path = "/api/v1/auth/sessions",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "The caller's active sessions, the current one flagged", body = SessionList),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn list(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Json<SessionList>, Error> {
    let sessions = state.sessions().list(auth.account_id()).await?;
    let data: Vec<SessionView> = sessions
        .into_iter()
        .map(|s| SessionView::new(s, auth.session_id()))
        .collect();
    Ok(Json(SessionList { data }))
}

/// `DELETE /api/v1/auth/sessions/{id}` (authenticated) → 204; a session of another account
/// (or a malformed id) is 404, exactly like a missing one.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        delete,
        path = "/api/v1/auth/sessions/{id}",
        tag = "auth",
        security(("bearer" = [])),
        params(("id" = Uuid, Path, description = "The session to revoke")),
        responses(
            (status = 204, description = "The session is revoked"),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Not allowed during an impersonation session (`IMPERSONATION_FORBIDDEN`)", body = helix_core::ErrorEnvelope),
            (status = 404, description = "No such session of the caller's account (`NOT_FOUND`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn revoke(
    State(state): State<AuthState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    auth.deny_impersonation()?;
    let id = Uuid::parse_str(&id).map_err(|_| Error::not_found("session"))?;
    state
        .sessions()
        .revoke_owned(auth.account_id(), id, RevokeReason::Revoked)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/sessions/revoke-others` (authenticated) → 200 `{revoked_sessions}`.
#[cfg_attr(
    feature = "openapi",
    utoipa::path(
        post,
        path = "/api/v1/auth/sessions/revoke-others",
        tag = "auth",
        security(("bearer" = [])),
        responses(
            (status = 200, description = "Every other session of the caller is revoked", body = RevokedSessions),
            (status = 401, description = "Missing, invalid or expired access token, or the session is revoked", body = helix_core::ErrorEnvelope),
            (status = 403, description = "Not allowed during an impersonation session (`IMPERSONATION_FORBIDDEN`)", body = helix_core::ErrorEnvelope),
        )
    )
)]
pub(crate) async fn revoke_others(
    State(state): State<AuthState>,
    auth: Authenticated,
) -> Result<Json<RevokedSessions>, Error> {
    auth.deny_impersonation()?;
    let revoked = state
        .sessions()
        .revoke_all_except(auth.account_id(), auth.session_id(), RevokeReason::Revoked)
        .await?;
    Ok(Json(RevokedSessions {
        revoked_sessions: revoked,
    }))
}
