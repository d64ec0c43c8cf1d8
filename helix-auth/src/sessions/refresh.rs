//! Refresh-token rotation, concurrent refreshes, and reuse detection.

use chrono::{DateTime, Utc};
use helix_core::db::{CallArg, Commit};
use sea_orm::{ConnectionTrait, DbBackend};

use super::error::SessionError;
use super::model::{RefreshToken, RevokeReason, Session, SessionKind, hash_token, well_formed};
use super::service::{Result, SessionService};
use super::store::{self, SESSION_COLUMNS, TokenRow, stmt};

impl SessionService {
    /// Exchanges a refresh token for the next one of its family and extends the session's
    /// idle deadline.
    ///
    /// The token is consumed by one conditional `UPDATE ... WHERE token_hash = $1 AND used_at
    /// IS NULL`: of N concurrent refreshes of one token exactly one wins. A loser presenting
    /// the immediate parent of the newest token within the grace window gets
    /// [`SessionError::RefreshRace`] and nothing is revoked. Any other use of a used token
    /// (after the grace window, or of an older generation) is reuse: the whole family (the
    /// session) is revoked, and [`SessionError::RefreshReused`] is returned.
    pub async fn refresh(&self, token: &str) -> Result<(Session, RefreshToken)> {
        if !well_formed(token) {
            return Err(SessionError::InvalidRefreshToken);
        }
        let hash = hash_token(token);
        let now = self.inner.kernel.now();
        if self.backend() == DbBackend::Postgres
            && let Some(done) = self.rotate_in_one_round_trip(&hash, now).await?
        {
            return Ok(done);
        }
        self.refresh_step_by_step(hash, now).await
    }

    /// The common case on PostgreSQL, in one round trip: when the token is unused and
    /// unexpired and its session active and renewable, the database function
    /// `helix_auth_rotate_refresh` (migration `helix_auth_0920_refresh_rotation`) claims it,
    /// extends the session and inserts the successor, called through
    /// [`helix_core::Db::platform_call`] (the platform role and the call in one implicit
    /// transaction). The conditional `UPDATE ... WHERE used_at IS NULL` still lets exactly
    /// one of N concurrent refreshes win. With [`SessionConfig::durable_refresh`] off, the
    /// commit is not waited for ([`Commit::Unflushed`]): a database crash in the moment
    /// after the answer can only undo a rotation, and the client then signs in again. `None`
    /// when nothing was rotated: [`SessionService::refresh_step_by_step`] then says why, with
    /// the same checks as on SQLite. (The one write a `None` can leave is the presented
    /// token marked used when its session was revoked between the claim and the extension;
    /// the session is revoked either way.)
    ///
    /// [`SessionConfig::durable_refresh`]: crate::sessions::SessionConfig::durable_refresh
    async fn rotate_in_one_round_trip(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Session, RefreshToken)>> {
        let l = &self.inner.lifetimes;
        let next = RefreshToken::generate(now + l.refresh_ttl);
        let next_hash = next.hash();
        let commit = if self.inner.config.durable_refresh {
            Commit::Flushed
        } else {
            Commit::Unflushed
        };
        let row = self
            .inner
            .kernel
            .db()
            .platform_call(
                &Self::ctx(),
                "helix_auth_rotate_refresh",
                &[
                    CallArg::Timestamp(now),
                    CallArg::Text(hash),
                    CallArg::Text(&next_hash),
                    CallArg::Timestamp(now + l.refresh_ttl),
                    CallArg::Timestamp(now + l.idle),
                ],
                commit,
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session = store::session_from_row(&row)?;
        let next_expires_at: DateTime<Utc> = row.try_get("", "t_expires_at")?;
        Ok(Some((session, next.expiring_at(next_expires_at))))
    }

    /// Every refusal (and, on SQLite, every refresh): read the token and its session, decide,
    /// then claim, or tell a concurrent loser from a reuse.
    async fn refresh_step_by_step(
        &self,
        hash: String,
        now: DateTime<Utc>,
    ) -> Result<(Session, RefreshToken)> {
        let backend = self.backend();
        let tx = self.begin().await?;
        let row = tx
            .raw()
            .query_one_raw(stmt(
                backend,
                &format!(
                    "SELECT {SESSION_COLUMNS}, t.generation AS t_generation, \
                     t.expires_at AS t_expires_at \
                     FROM auth_refresh_tokens t JOIN auth_sessions s ON s.id = t.family_id \
                     WHERE t.token_hash = $1"
                ),
                vec![hash.clone().into()],
            ))
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(SessionError::InvalidRefreshToken);
        };
        let mut session = store::session_from_row(&row)?;
        let generation: i64 = row.try_get("", "t_generation")?;
        let token_expires_at: DateTime<Utc> = row.try_get("", "t_expires_at")?;
        let refusal = if session.revoked_at.is_some() {
            self.remember_revoked([session.id], now);
            Some(SessionError::SessionRevoked)
        } else if session.kind == SessionKind::Impersonation {
            Some(SessionError::NotRenewable)
        } else if !session.is_active_at(now) {
            Some(SessionError::SessionExpired)
        } else if now >= token_expires_at {
            Some(SessionError::InvalidRefreshToken)
        } else {
            None
        };
        if let Some(e) = refusal {
            tx.rollback().await?;
            return Err(e);
        }

        let claimed = tx
            .raw()
            .execute_raw(stmt(
                backend,
                "UPDATE auth_refresh_tokens SET used_at = $1 \
                 WHERE token_hash = $2 AND used_at IS NULL",
                vec![now.into(), hash.clone().into()],
            ))
            .await?
            .rows_affected();

        if claimed == 1 {
            let l = &self.inner.lifetimes;
            let absolute = session.absolute_expires_at;
            let next = RefreshToken::generate((now + l.refresh_ttl).min(absolute));
            store::insert_token(
                tx.raw(),
                &TokenRow {
                    hash: next.hash(),
                    family_id: session.id,
                    generation: generation + 1,
                    parent_hash: Some(hash),
                    created_at: now,
                    expires_at: next.expires_at(),
                },
            )
            .await?;
            let idle = (now + l.idle).min(absolute);
            let touched = tx
                .raw()
                .execute_raw(stmt(
                    backend,
                    "UPDATE auth_sessions SET last_seen_at = $1, idle_expires_at = $2 \
                     WHERE id = $3 AND revoked_at IS NULL",
                    vec![now.into(), idle.into(), session.id.into()],
                ))
                .await?
                .rows_affected();
            if touched != 1 {
                // Revoked between our read and our write.
                tx.rollback().await?;
                return Err(SessionError::SessionRevoked);
            }
            tx.commit().await?;
            session.last_seen_at = now;
            session.idle_expires_at = idle;
            return Ok((session, next));
        }

        // The token was used already: by a concurrent request a moment ago, or it is reused.
        let used = tx
            .raw()
            .query_one_raw(stmt(
                backend,
                "SELECT t.used_at AS used_at, \
                 (SELECT MAX(n.generation) FROM auth_refresh_tokens n WHERE n.family_id = $2) \
                 AS newest FROM auth_refresh_tokens t WHERE t.token_hash = $1",
                vec![hash.into(), session.id.into()],
            ))
            .await?;
        let (used_at, newest) = match &used {
            Some(r) => (
                r.try_get::<Option<DateTime<Utc>>>("", "used_at")?,
                r.try_get::<Option<i64>>("", "newest")?,
            ),
            None => (None, None),
        };
        let grace = self.inner.lifetimes.grace;
        let immediate_parent = newest == Some(generation + 1);
        if immediate_parent && used_at.is_some_and(|at| now - at <= grace) {
            tx.rollback().await?;
            return Err(SessionError::RefreshRace);
        }
        let revoked = store::revoke_where(
            tx.raw(),
            "id = $3",
            vec![session.id.into()],
            now,
            RevokeReason::ReuseDetected.as_str(),
        )
        .await?;
        tx.commit().await?;
        self.remember_revoked([session.id], now);
        if !revoked.is_empty() {
            tracing::warn!(
                session.id = %session.id,
                account.id = %session.account_id,
                token.generation = generation,
                "refresh token reused; session revoked"
            );
        }
        Err(SessionError::RefreshReused)
    }
}
