//! Reading one account's public facts (for "who am I" answers, and for operator tools that
//! name an account by its e-mail address).

use chrono::{DateTime, Utc};
use helix_core::{Actor, PlatformContext};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::AccountProfile;
use super::email::normalize_email;
use super::entity::account;
use crate::error::{AuthError, Result};
use crate::service::AuthService;

impl AuthService {
    /// The profile of `account_id` (the authenticated caller): id, email, verification.
    /// An unknown id is [`AuthError::AccountNotFound`]. No security event: a read.
    pub async fn account(&self, account_id: Uuid) -> Result<AccountProfile> {
        let ctx = PlatformContext::new(Actor::User(account_id));
        let tx = self.kernel().db().platform_read(&ctx).await?;
        let acc = account::Entity::find_by_id(account_id)
            .one(tx.raw())
            .await?;
        tx.rollback().await?;
        let acc = acc.ok_or(AuthError::AccountNotFound)?;
        Ok(profile(&acc))
    }

    /// The profile of the account registered with `email` (compared after
    /// [`normalize_email`]), for operator tools on the host that name accounts by address
    /// (never for an HTTP route: an answer that differs by existence would enumerate
    /// accounts). A malformed address is [`AuthError::Validation`], an unknown one
    /// [`AuthError::AccountNotFound`]. No security event: a read.
    pub async fn account_by_email(&self, email: &str) -> Result<AccountProfile> {
        let email = normalize_email(email)?;
        let ctx = PlatformContext::system("helix-auth.accounts");
        let tx = self.kernel().db().platform_read(&ctx).await?;
        let acc = account::Entity::find()
            .filter(account::Column::Email.eq(email))
            .one(tx.raw())
            .await?;
        tx.rollback().await?;
        let acc = acc.ok_or(AuthError::AccountNotFound)?;
        Ok(profile(&acc))
    }
}

fn profile(acc: &account::Model) -> AccountProfile {
    let verified_at: Option<DateTime<Utc>> = acc.email_verified_at;
    AccountProfile {
        account_id: acc.id,
        email: acc.email.clone(),
        email_verified: verified_at.is_some(),
        created_at: acc.created_at,
    }
}
