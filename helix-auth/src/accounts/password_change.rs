//! Password change: the current password is required, the policy applies, and the last
//! `password.history` passwords (the current one included) cannot be reused. A change also
//! invalidates the account's outstanding password-reset tokens.

use chrono::{DateTime, Utc};
use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, PlatformContext, RequestMeta};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::entity::{account, password_history};
use super::events::{Event, SecurityEventKind};
use crate::error::{AuthError, Result};
use crate::passwords::Password;
use crate::service::AuthService;

impl AuthService {
    /// Changes the password of `account_id` (the authenticated caller).
    ///
    /// A wrong `current` password is a `VALIDATION_ERROR` on `current_password` (code
    /// `incorrect`) and a security event; a `new` password that fails the policy or matches
    /// one of the recent passwords is a `VALIDATION_ERROR` on `new_password` (codes of
    /// [`crate::passwords::PasswordPolicy::validate_field`], or `reused`). Revoking the
    /// account's other sessions is the session layer's job.
    pub async fn change_password(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        current: &Password,
        new: &Password,
    ) -> Result<()> {
        let ctx = self.platform_ctx(Actor::User(account_id), meta);
        let (acc, history) = self.password_state(&ctx, account_id).await?;

        if !self
            .hasher()
            .verify(current, &acc.password_hash)
            .await?
            .is_match()
        {
            let tx = self.kernel().db().platform(&ctx).await?;
            let event = Event::new(SecurityEventKind::PasswordChangeFailed).account(account_id);
            self.record_event(tx.raw(), meta, event).await?;
            tx.commit().await?;
            return Err(AuthError::invalid(
                "current_password",
                "incorrect",
                "the current password is not correct",
            ));
        }
        self.check_new_password(new, &acc, &history).await?;

        let hash = self.hasher().hash(new).await?;
        let now = self.kernel().now();
        let tx = self.kernel().db().platform(&ctx).await?;
        account::Entity::update_many()
            .col_expr(account::Column::PasswordHash, Expr::value(hash.clone()))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(account_id))
            .exec(tx.raw())
            .await?;
        self.push_password_history(tx.raw(), account_id, hash, now)
            .await?;
        self.revoke_reset_tokens(tx.raw(), account_id, now).await?;
        let event = Event::new(SecurityEventKind::PasswordChanged).account(account_id);
        self.record_event(tx.raw(), meta, event).await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.account.password_changed", "account", account_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl AuthService {
    /// The account and its recent password hashes (newest first), read on the platform plane.
    pub(crate) async fn password_state(
        &self,
        ctx: &PlatformContext,
        account_id: Uuid,
    ) -> Result<(account::Model, Vec<password_history::Model>)> {
        let tx = self.kernel().db().platform_read(ctx).await?;
        let acc = account::Entity::find_by_id(account_id)
            .one(tx.raw())
            .await?
            .ok_or(AuthError::AccountNotFound)?;
        let depth = u64::try_from(self.policy().history_depth()).unwrap_or(u64::MAX);
        let history = password_history::Entity::find()
            .filter(password_history::Column::AccountId.eq(account_id))
            .order_by_desc(password_history::Column::CreatedAt)
            .order_by_desc(password_history::Column::Id)
            .limit(depth)
            .all(tx.raw())
            .await?;
        tx.rollback().await?;
        Ok((acc, history))
    }

    /// The policy (field `new_password`) and the reuse check against the current password
    /// and `history` (code `reused`).
    pub(crate) async fn check_new_password(
        &self,
        new: &Password,
        acc: &account::Model,
        history: &[password_history::Model],
    ) -> Result<()> {
        self.check_policy("new_password", new, &acc.email).await?;
        let mut recent: Vec<&str> = history.iter().map(|h| h.hash.as_str()).collect();
        if !recent.contains(&acc.password_hash.as_str()) {
            recent.push(&acc.password_hash);
        }
        for hash in recent {
            if self.hasher().verify(new, hash).await?.is_match() {
                return Err(AuthError::invalid(
                    "new_password",
                    "reused",
                    format!(
                        "choose a password you have not used among your last {}",
                        self.policy().history_depth()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Records `hash` as the newest password of `account_id` and drops the history rows the
    /// reuse check no longer reads (fewer old hashes at rest).
    pub(crate) async fn push_password_history<C: ConnectionTrait>(
        &self,
        conn: &C,
        account_id: Uuid,
        hash: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        password_history::Entity::insert(password_history::ActiveModel {
            id: Set(self.kernel().new_id()),
            account_id: Set(account_id),
            hash: Set(hash),
            created_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
        // A handful of rows; skipped here because SQLite has no OFFSET without LIMIT.
        let stale: Vec<Uuid> = password_history::Entity::find()
            .filter(password_history::Column::AccountId.eq(account_id))
            .order_by_desc(password_history::Column::CreatedAt)
            .order_by_desc(password_history::Column::Id)
            .all(conn)
            .await?
            .into_iter()
            .skip(self.policy().history_depth())
            .map(|h| h.id)
            .collect();
        if !stale.is_empty() {
            password_history::Entity::delete_many()
                .filter(password_history::Column::Id.is_in(stale))
                .exec(conn)
                .await?;
        }
        Ok(())
    }
}
