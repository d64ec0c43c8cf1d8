//! Reading one account's public facts (for "who am I" answers).

use chrono::{DateTime, Utc};
use helix_core::{Actor, PlatformContext};
use sea_orm::EntityTrait;
use uuid::Uuid;

use super::AccountProfile;
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
