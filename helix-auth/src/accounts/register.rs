//! Registration: enumeration-safe (an existing email gets the same outcome shape and the
//! same hashing cost, and leaves a security event instead of an error).

use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, RequestMeta};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::email::{email_key, normalize_email};
use super::entity::{account, password_history};
use super::events::{Event, SecurityEventKind};
use super::{RegisterOutcome, RegistrationMail};
use crate::error::{AuthError, Result};
use crate::passwords::Password;
use crate::service::AuthService;

impl AuthService {
    /// Registers an account for `email` with `password`.
    ///
    /// Fails only on invalid input (`VALIDATION_ERROR` on `email` or `password`) or a server
    /// error. When the email already has an account nothing is created and the outcome is
    /// [`RegistrationMail::AlreadyRegistered`]; the password is hashed either way so both
    /// paths cost the same. A new account gets a verification token
    /// ([`RegistrationMail::Verify`]) for the host to mail.
    pub async fn register(
        &self,
        meta: &RequestMeta,
        email: &str,
        password: &Password,
    ) -> Result<RegisterOutcome> {
        let email = normalize_email(email)?;
        self.check_policy("password", password, &email).await?;
        let hash = self.hasher().hash(password).await?;
        let key = email_key(&email);

        match self.create_account(meta, &email, &key, hash).await {
            Ok(outcome) => Ok(outcome),
            // A concurrent registration won the unique email: same answer as "exists".
            Err(AuthError::Core(e)) if e.is_unique_violation() => {
                self.register_existing(meta, &email, &key).await
            }
            Err(e) => Err(e),
        }
    }

    async fn create_account(
        &self,
        meta: &RequestMeta,
        email: &str,
        key: &str,
        hash: String,
    ) -> Result<RegisterOutcome> {
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let existing = account::Entity::find()
            .filter(account::Column::Email.eq(email))
            .one(tx.raw())
            .await?;
        if let Some(existing) = existing {
            self.record_event(
                tx.raw(),
                meta,
                Event::new(SecurityEventKind::RegisterExistingEmail)
                    .account(existing.id)
                    .email_key(key),
            )
            .await?;
            tx.commit().await?;
            return Ok(RegisterOutcome {
                email: email.to_owned(),
                mail: RegistrationMail::AlreadyRegistered,
            });
        }

        let now = self.kernel().now();
        let id = self.kernel().new_id();
        let row = account::ActiveModel {
            id: Set(id),
            email: Set(email.to_owned()),
            email_verified_at: Set(None),
            password_hash: Set(hash.clone()),
            failed_logins: Set(0),
            locked_until: Set(None),
            last_login_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        account::Entity::insert(row)
            .exec_without_returning(tx.raw())
            .await
            .map_err(|e| AuthError::Core(e.into()))?;
        password_history::Entity::insert(password_history::ActiveModel {
            id: Set(self.kernel().new_id()),
            account_id: Set(id),
            hash: Set(hash),
            created_at: Set(now),
        })
        .exec_without_returning(tx.raw())
        .await?;
        let mail = self.issue_verification(tx.raw(), id, email).await?;
        self.queue_mail(&tx, meta, mail.outgoing()).await?;
        self.record_event(
            tx.raw(),
            meta,
            Event::new(SecurityEventKind::Registered)
                .account(id)
                .email_key(key),
        )
        .await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.account.registered", "account", id),
        )
        .await?;
        tx.commit().await?;
        Ok(RegisterOutcome {
            email: email.to_owned(),
            mail: RegistrationMail::Verify(mail),
        })
    }

    async fn register_existing(
        &self,
        meta: &RequestMeta,
        email: &str,
        key: &str,
    ) -> Result<RegisterOutcome> {
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let existing = account::Entity::find()
            .filter(account::Column::Email.eq(email))
            .one(tx.raw())
            .await?;
        let mut event = Event::new(SecurityEventKind::RegisterExistingEmail).email_key(key);
        if let Some(existing) = existing {
            event = event.account(existing.id);
        }
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Ok(RegisterOutcome {
            email: email.to_owned(),
            mail: RegistrationMail::AlreadyRegistered,
        })
    }
}
