//! [`SessionService`]: start, list and revoke sessions, and check that one is active.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use helix_core::{Kernel, PlatformContext, PlatformTx};
use sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

use super::config::{Lifetimes, SessionConfig};
use super::error::SessionError;
use super::model::{RefreshToken, RevokeReason, Session, SessionKind, SessionMeta};
use super::profiles::{ACCOUNT_CHANNEL, FeedCache, ProfileCache};
use super::revoked::{ActiveSessions, RevokedSessions};
use super::store::{self, SESSION_COLUMNS, TokenRow, stmt};
use crate::mfa::{MFA_POLICY_CHANNEL, MfaPolicy, MfaRequirement};

/// Shorthand for session results.
pub type Result<T, E = SessionError> = std::result::Result<T, E>;

/// Sessions and their refresh-token families. Cheap to clone; clones share the in-process
/// set of revoked sessions, so build one per process and clone it.
#[derive(Clone, Debug)]
pub struct SessionService {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub kernel: Kernel,
    pub config: SessionConfig,
    pub lifetimes: Lifetimes,
    pub revoked: RevokedSessions,
    pub active: ActiveSessions,
    pub profiles: ProfileCache,
    /// Organization id → whether it requires MFA ([`MfaPolicy::Organization`] answers).
    pub mfa_policies: FeedCache<bool>,
    /// Live while [`SessionService::follow_revocations`] hears every revocation.
    pub feed: RwLock<Arc<helix_core::notify::Feed>>,
}

/// The channel revocations are announced on (by a trigger on `auth_sessions`, PostgreSQL).
pub const REVOCATION_CHANNEL: &str = "helix_auth_session_revoked";

impl SessionService {
    /// A session service over the kernel's database and clock. Fails on invalid lifetimes.
    pub fn new(kernel: Kernel, config: SessionConfig) -> Result<Self, helix_core::Error> {
        let lifetimes = config.lifetimes()?;
        Ok(Self {
            inner: Arc::new(Inner {
                kernel,
                config,
                lifetimes,
                revoked: RevokedSessions::default(),
                active: ActiveSessions::default(),
                profiles: ProfileCache::default(),
                mfa_policies: FeedCache::default(),
                feed: RwLock::new(helix_core::notify::Feed::never_live()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    pub(crate) fn ctx() -> PlatformContext {
        PlatformContext::system("helix-auth.sessions")
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.inner.kernel.db().connection().get_database_backend()
    }

    pub(crate) async fn begin(&self) -> Result<PlatformTx> {
        Ok(self.inner.kernel.db().platform(&Self::ctx()).await?)
    }

    /// Starts a normal or admin session for `account_id` and issues the first refresh token
    /// of its family. Impersonation sessions start with [`SessionService::start_impersonation`]
    /// (asking this method for one is [`SessionError::NotRenewable`]).
    pub async fn start(
        &self,
        account_id: Uuid,
        meta: SessionMeta,
    ) -> Result<(Session, RefreshToken)> {
        let l = &self.inner.lifetimes;
        let lifetime = match meta.kind {
            SessionKind::Normal => l.absolute,
            SessionKind::Admin => l.admin,
            SessionKind::Impersonation => return Err(SessionError::NotRenewable),
        };
        let now = self.inner.kernel.now();
        let session = self.new_session(account_id, None, &meta, now, lifetime);
        let token = RefreshToken::generate((now + l.refresh_ttl).min(session.absolute_expires_at));
        let tx = self.begin().await?;
        store::insert_session(tx.raw(), &session).await?;
        store::insert_token(
            tx.raw(),
            &TokenRow {
                hash: token.hash(),
                family_id: session.id,
                generation: 0,
                parent_hash: None,
                created_at: now,
                expires_at: token.expires_at(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((session, token))
    }

    /// Starts an impersonation session: `actor_account_id` acts as `account_id` for the
    /// impersonation lifetime (30 minutes by default), with no refresh token (it cannot be
    /// renewed, so its idle deadline is its absolute one). Put the actor in the access
    /// token's `act` claim. Checking that the actor may impersonate is the caller's job
    /// ([`crate::impersonation::ImpersonationService::start`] does it).
    pub async fn start_impersonation(
        &self,
        account_id: Uuid,
        actor_account_id: Uuid,
        meta: SessionMeta,
    ) -> Result<Session> {
        let now = self.inner.kernel.now();
        let meta = SessionMeta {
            kind: SessionKind::Impersonation,
            ..meta
        };
        let lifetime = self.inner.lifetimes.impersonation;
        let mut session =
            self.new_session(account_id, Some(actor_account_id), &meta, now, lifetime);
        // Nothing refreshes an impersonation session: it lasts its whole (short) lifetime.
        session.idle_expires_at = session.absolute_expires_at;
        let tx = self.begin().await?;
        store::insert_session(tx.raw(), &session).await?;
        tx.commit().await?;
        Ok(session)
    }

    fn new_session(
        &self,
        account_id: Uuid,
        actor_account_id: Option<Uuid>,
        meta: &SessionMeta,
        now: DateTime<Utc>,
        lifetime: chrono::Duration,
    ) -> Session {
        let absolute = now + lifetime;
        Session {
            id: self.inner.kernel.new_id(),
            account_id,
            kind: meta.kind,
            actor_account_id,
            user_agent: meta.user_agent_truncated(),
            ip: meta.ip,
            created_at: now,
            last_seen_at: now,
            idle_expires_at: (now + self.inner.lifetimes.idle).min(absolute),
            absolute_expires_at: absolute,
            revoked_at: None,
            revoked_reason: None,
            active_org_id: meta.active_org_id,
            amr: meta.amr,
        }
    }

    /// The session `session_id`, active or not.
    pub async fn get(&self, session_id: Uuid) -> Result<Option<Session>> {
        let tx = self.inner.kernel.db().platform_read(&Self::ctx()).await?;
        let row = tx
            .raw()
            .query_one_raw(stmt(
                self.backend(),
                &format!("SELECT {SESSION_COLUMNS} FROM auth_sessions s WHERE s.id = $1"),
                vec![session_id.into()],
            ))
            .await?;
        tx.rollback().await?;
        Ok(row.as_ref().map(store::session_from_row).transpose()?)
    }

    /// Selects `org_id` (or none) as the active organization of `account_id`'s session
    /// `session_id`; refreshes keep it. Checking that the account may use the organization is
    /// the caller's job. Another account's session is [`SessionError::NotFound`]; a revoked
    /// or expired one is [`SessionError::SessionRevoked`] / [`SessionError::SessionExpired`].
    pub async fn set_active_org(
        &self,
        account_id: Uuid,
        session_id: Uuid,
        org_id: Option<Uuid>,
    ) -> Result<Session> {
        let now = self.inner.kernel.now();
        let tx = self.begin().await?;
        let row = tx
            .raw()
            .query_one_raw(stmt(
                self.backend(),
                &format!("SELECT {SESSION_COLUMNS} FROM auth_sessions s WHERE s.id = $1"),
                vec![session_id.into()],
            ))
            .await?;
        let mut session = match row.as_ref().map(store::session_from_row).transpose()? {
            Some(s) if s.account_id == account_id => s,
            _ => {
                tx.rollback().await?;
                return Err(SessionError::NotFound);
            }
        };
        if session.revoked_at.is_some() {
            tx.rollback().await?;
            return Err(SessionError::SessionRevoked);
        }
        if !session.is_active_at(now) {
            tx.rollback().await?;
            return Err(SessionError::SessionExpired);
        }
        let updated = tx
            .raw()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE auth_sessions SET active_org_id = $1 \
                 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL",
                vec![org_id.into(), session_id.into(), account_id.into()],
            ))
            .await?
            .rows_affected();
        if updated != 1 {
            // Revoked between our read and our write.
            tx.rollback().await?;
            return Err(SessionError::SessionRevoked);
        }
        tx.commit().await?;
        session.active_org_id = org_id;
        Ok(session)
    }

    /// Adds `methods` to how `account_id`'s active session `session_id` authenticated (a
    /// second factor verified during the session); later tokens and refreshes carry them in
    /// `amr`. Another account's session, or a revoked or expired one, is
    /// [`SessionError::NotFound`].
    pub async fn add_auth_methods(
        &self,
        account_id: Uuid,
        session_id: Uuid,
        methods: crate::tokens::AuthMethods,
    ) -> Result<Session> {
        let now = self.inner.kernel.now();
        let tx = self.begin().await?;
        let row = tx
            .raw()
            .query_one_raw(stmt(
                self.backend(),
                &format!("SELECT {SESSION_COLUMNS} FROM auth_sessions s WHERE s.id = $1"),
                vec![session_id.into()],
            ))
            .await?;
        let mut session = match row.as_ref().map(store::session_from_row).transpose()? {
            Some(s) if s.account_id == account_id && s.is_active_at(now) => s,
            _ => {
                tx.rollback().await?;
                return Err(SessionError::NotFound);
            }
        };
        session.amr = session.amr.with(methods);
        tx.raw()
            .execute_raw(stmt(
                self.backend(),
                "UPDATE auth_sessions SET amr = $1 WHERE id = $2 AND revoked_at IS NULL",
                vec![store::amr_text(session.amr).into(), session_id.into()],
            ))
            .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The account's active sessions (its devices), most recently used first.
    pub async fn list(&self, account_id: Uuid) -> Result<Vec<Session>> {
        let now = self.inner.kernel.now();
        let tx = self.inner.kernel.db().platform_read(&Self::ctx()).await?;
        let rows = tx
            .raw()
            .query_all_raw(stmt(
                self.backend(),
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM auth_sessions s \
                     WHERE s.account_id = $1 AND s.revoked_at IS NULL"
                ),
                vec![account_id.into()],
            ))
            .await?;
        tx.rollback().await?;
        let mut sessions = rows
            .iter()
            .map(store::session_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        sessions.retain(|s| s.is_active_at(now));
        sessions.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then(b.id.cmp(&a.id)));
        Ok(sessions)
    }

    /// Whether `session_id` is active (not revoked, not expired). Call it for every access
    /// token, with its `sid` claim. A session revoked through this process is refused from
    /// memory at once. While [`SessionService::follow_revocations`] is live (PostgreSQL), a
    /// session read once is answered from memory until it expires or a revocation is
    /// announced; otherwise the database answers.
    pub async fn is_active(&self, session_id: Uuid) -> Result<bool> {
        if self.inner.revoked.contains(session_id) {
            return Ok(false);
        }
        let now = self.inner.kernel.now();
        // Read the generation before the database: a loss during the read invalidates it.
        let generation = self.feed().live_generation();
        if let Some(g) = generation
            && self.inner.active.is_active(session_id, g, now)
        {
            return Ok(true);
        }
        match self.get(session_id).await? {
            Some(s) if s.revoked_at.is_some() => {
                self.remember_revoked([s.id], now);
                Ok(false)
            }
            Some(s) if s.is_active_at(now) => {
                if let Some(g) = generation {
                    let ends_at = s.idle_expires_at.min(s.absolute_expires_at);
                    self.inner.active.insert(s.id, ends_at, g);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Whether [`SessionService::follow_revocations`] currently hears every revocation, so
    /// that active sessions are answered from memory.
    pub fn follows_revocations(&self) -> bool {
        self.feed().live_generation().is_some()
    }

    fn feed(&self) -> Arc<helix_core::notify::Feed> {
        self.inner
            .feed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Follows revocations made by every instance sharing the database until `stop`, so
    /// that [`SessionService::is_active`] can answer from memory without ever accepting a
    /// revoked session: on PostgreSQL a trigger announces each revoked or deleted session on
    /// [`REVOCATION_CHANNEL`], and a heartbeat proves no announcement was missed (when it
    /// does not come back within a second, the cache is bypassed until it does). Run one per
    /// process, for example in a spawned task. On SQLite it returns at once: the cache stays
    /// off and the embedded database answers every check.
    ///
    /// The same listener hears account changes ([`ACCOUNT_CHANNEL`]: email or verification
    /// changed, account deleted), which keeps [`SessionService::account_profile`]'s cache
    /// fresh under the same rule, and organization MFA policy changes announced by the host
    /// ([`MFA_POLICY_CHANNEL`]), which keep
    /// [`SessionService::organization_requires_mfa`]'s cache fresh.
    pub async fn follow_revocations(&self, stop: tokio_util::sync::CancellationToken) {
        let db = self.inner.kernel.db();
        if db.backend() != helix_core::Backend::Postgres {
            return;
        }
        #[cfg(feature = "postgres")]
        {
            let listener = match helix_core::notify::Listener::new(
                db,
                [REVOCATION_CHANNEL, ACCOUNT_CHANNEL, MFA_POLICY_CHANNEL],
            ) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot follow session revocations");
                    return;
                }
            };
            *self.inner.feed.write().unwrap_or_else(|p| p.into_inner()) = listener.feed();
            let this = self.clone();
            listener
                .run(stop, move |channel, payload| {
                    if let Ok(id) = Uuid::parse_str(payload) {
                        if channel == ACCOUNT_CHANNEL {
                            this.forget_accounts([id]);
                        } else if channel == MFA_POLICY_CHANNEL {
                            this.forget_mfa_policies([id]);
                        } else {
                            this.mark_revoked([id]);
                        }
                    }
                })
                .await;
            *self.inner.feed.write().unwrap_or_else(|p| p.into_inner()) =
                helix_core::notify::Feed::never_live();
        }
        #[cfg(not(feature = "postgres"))]
        let _ = stop;
    }

    /// The profile of `account_id` (what `GET /api/v1/auth/me` shows), read by `load` when
    /// it is not cached. While [`SessionService::follow_revocations`] is live (PostgreSQL) a
    /// profile read once is answered from memory until the account changes (a trigger
    /// announces it; see [`ACCOUNT_CHANNEL`]) or the feed loses its liveness; otherwise
    /// `load` runs every time. A process that changes an account's email or verification
    /// state should also call [`SessionService::forget_accounts`] right after its commit, so
    /// that its own next read does not wait for the announcement.
    pub async fn account_profile<F, Fut, E>(
        &self,
        account_id: Uuid,
        load: F,
    ) -> std::result::Result<crate::accounts::AccountProfile, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<crate::accounts::AccountProfile, E>>,
    {
        // The generation and the stamp are taken before the database is read.
        let Some(generation) = self.feed().live_generation() else {
            return load().await;
        };
        if let Some(profile) = self.inner.profiles.get(account_id, generation) {
            return Ok(profile);
        }
        let stamp = self.inner.profiles.stamp();
        let profile = load().await?;
        if profile.account_id == account_id {
            self.inner
                .profiles
                .insert(account_id, profile.clone(), generation, stamp);
        }
        Ok(profile)
    }

    /// Drops `account_ids` from the cache of [`SessionService::account_profile`] (their email
    /// or verification state changed).
    pub fn forget_accounts(&self, account_ids: impl IntoIterator<Item = Uuid>) {
        self.inner.profiles.invalidate(account_ids);
    }

    /// Whether `org_id` requires MFA of `account_id`, as `requirement` answers
    /// ([`MfaRequirement::policy`]). While [`SessionService::follow_revocations`] is live
    /// (PostgreSQL), an [`MfaPolicy::Organization`] answer is kept in memory for every account
    /// of the organization until the host announces a change on [`MFA_POLICY_CHANNEL`] or the
    /// feed loses its liveness (the rule of [`SessionService::account_profile`]); otherwise,
    /// and for [`MfaPolicy::Account`] answers, `requirement` is asked every time. A process
    /// that changes a policy should also call [`SessionService::forget_mfa_policies`] right
    /// after its commit, so that its own next answer does not wait for the announcement.
    pub async fn organization_requires_mfa(
        &self,
        requirement: &dyn MfaRequirement,
        org_id: Uuid,
        account_id: Uuid,
    ) -> std::result::Result<bool, helix_core::Error> {
        // The generation and the stamp are taken before the host is asked.
        let Some(generation) = self.feed().live_generation() else {
            return Ok(requirement.policy(org_id, account_id).await?.required());
        };
        if let Some(required) = self.inner.mfa_policies.get(org_id, generation) {
            return Ok(required);
        }
        let stamp = self.inner.mfa_policies.stamp();
        let policy = requirement.policy(org_id, account_id).await?;
        if let MfaPolicy::Organization { required } = policy {
            self.inner
                .mfa_policies
                .insert(org_id, required, generation, stamp);
        }
        Ok(policy.required())
    }

    /// Drops `org_ids` from the cache of [`SessionService::organization_requires_mfa`]
    /// (their MFA policy changed).
    pub fn forget_mfa_policies(&self, org_ids: impl IntoIterator<Item = Uuid>) {
        self.inner.mfa_policies.invalidate(org_ids);
    }

    /// Revokes one session (sign-out). Returns whether it was active until now.
    pub async fn revoke(&self, session_id: Uuid, reason: RevokeReason) -> Result<bool> {
        let ids = self
            .revoke_where("id = $3", vec![session_id.into()], reason)
            .await?;
        Ok(!ids.is_empty())
    }

    /// Revokes one of `account_id`'s sessions ("sign out that device"): another account's
    /// session is [`SessionError::NotFound`]. Revoking a revoked session is not an error.
    pub async fn revoke_owned(
        &self,
        account_id: Uuid,
        session_id: Uuid,
        reason: RevokeReason,
    ) -> Result<()> {
        match self.get(session_id).await? {
            Some(s) if s.account_id == account_id => {
                self.revoke_where(
                    "id = $3 AND account_id = $4",
                    vec![session_id.into(), account_id.into()],
                    reason,
                )
                .await?;
                Ok(())
            }
            _ => Err(SessionError::NotFound),
        }
    }

    /// Revokes every session of `account_id` except `keep` (the caller's own). Returns how
    /// many were revoked.
    pub async fn revoke_all_except(
        &self,
        account_id: Uuid,
        keep: Uuid,
        reason: RevokeReason,
    ) -> Result<u64> {
        let ids = self
            .revoke_where(
                "account_id = $3 AND id <> $4",
                vec![account_id.into(), keep.into()],
                reason,
            )
            .await?;
        Ok(ids.len() as u64)
    }

    /// Revokes every session of `account_id`. Returns how many were revoked.
    pub async fn revoke_all(&self, account_id: Uuid, reason: RevokeReason) -> Result<u64> {
        let ids = self
            .revoke_where("account_id = $3", vec![account_id.into()], reason)
            .await?;
        Ok(ids.len() as u64)
    }

    /// Records sessions revoked elsewhere (another instance, announced through the database
    /// or Redis) in this process's revoked set, so they are refused at once.
    pub fn mark_revoked(&self, session_ids: impl IntoIterator<Item = Uuid>) {
        self.remember_revoked(session_ids, self.inner.kernel.now());
    }

    async fn revoke_where(
        &self,
        filter: &str,
        values: Vec<sea_orm::Value>,
        reason: RevokeReason,
    ) -> Result<Vec<Uuid>> {
        let now = self.inner.kernel.now();
        let tx = self.begin().await?;
        let ids = store::revoke_where(tx.raw(), filter, values, now, reason.as_str()).await?;
        tx.commit().await?;
        self.remember_revoked(ids.iter().copied(), now);
        Ok(ids)
    }

    pub(crate) fn remember_revoked(&self, ids: impl IntoIterator<Item = Uuid>, now: DateTime<Utc>) {
        let l = &self.inner.lifetimes;
        // After the longest lifetime the session has ended anyway.
        let longest = l.absolute.max(l.admin).max(l.impersonation);
        let ids: Vec<Uuid> = ids.into_iter().collect();
        self.inner.active.remove(ids.iter().copied());
        self.inner.revoked.insert(ids, now + longest, now);
    }
}
