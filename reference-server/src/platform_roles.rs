//! [`SupportAccounts`]: helix-auth's [`PlatformRoles`] from helix-iam's platform-plane roles
//! and the setting `auth.impersonation.support_accounts`.
//!
//! An account is a support account (may impersonate users, and may not be impersonated)
//! when it holds helix-iam's platform role `support` (table `iam_platform_roles`, granted
//! with `IamStore::grant_platform_role`, audited on the platform chain), or when the setting
//! lists its id or its verified e-mail address (compared case-insensitively), which
//! bootstraps the first support accounts. The defaults, no grant and an empty list, let
//! nobody impersonate. Platform administrators (role `platform_admin`) cannot be
//! impersonated either.

use std::collections::HashSet;

use async_trait::async_trait;
use helix_auth::{AuthError, AuthService, PlatformRoles};
use helix_core::{Kernel, PlatformContext};
use helix_iam::store::{PlatformRole, platform_roles_of};
use uuid::Uuid;

/// The support accounts named in the settings.
#[derive(Clone, Debug)]
pub struct SupportAccounts {
    auth: AuthService,
    kernel: Kernel,
    ids: HashSet<Uuid>,
    emails: HashSet<String>,
}

impl SupportAccounts {
    /// The support accounts among `entries` (ids or e-mail addresses), looked up through
    /// `auth`.
    pub fn new(auth: AuthService, kernel: Kernel, entries: &[String]) -> Self {
        let mut ids = HashSet::new();
        let mut emails = HashSet::new();
        for entry in entries {
            let entry = entry.trim();
            match Uuid::parse_str(entry) {
                Ok(id) => {
                    ids.insert(id);
                }
                Err(_) => {
                    emails.insert(entry.to_lowercase());
                }
            }
        }
        Self {
            auth,
            kernel,
            ids,
            emails,
        }
    }

    async fn roles_of(&self, account_id: Uuid) -> Result<Vec<PlatformRole>, helix_core::Error> {
        let ctx = PlatformContext::system("reference-server.platform-roles");
        let tx = self.kernel.db().platform_read(&ctx).await?;
        let roles = platform_roles_of(tx.raw(), account_id)
            .await
            .map_err(helix_core::Error::from)?;
        tx.commit().await?;
        Ok(roles)
    }

    async fn is_support(&self, account_id: Uuid) -> Result<bool, helix_core::Error> {
        if self.ids.contains(&account_id) {
            return Ok(true);
        }
        let roles = self.roles_of(account_id).await?;
        if roles.contains(&PlatformRole::Support) {
            return Ok(true);
        }
        if self.emails.is_empty() {
            return Ok(false);
        }
        match self.auth.account(account_id).await {
            Ok(account) => {
                Ok(account.email_verified && self.emails.contains(&account.email.to_lowercase()))
            }
            Err(AuthError::AccountNotFound) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

#[async_trait]
impl PlatformRoles for SupportAccounts {
    async fn may_impersonate(&self, account_id: Uuid) -> Result<bool, helix_core::Error> {
        self.is_support(account_id).await
    }

    /// Support accounts and platform administrators: nobody impersonates them.
    async fn is_platform_account(&self, account_id: Uuid) -> Result<bool, helix_core::Error> {
        if self.is_support(account_id).await? {
            return Ok(true);
        }
        Ok(self
            .roles_of(account_id)
            .await?
            .contains(&PlatformRole::PlatformAdmin))
    }
}

/// Checks the entries of `auth.impersonation.support_accounts`: each must be an account id
/// (UUID) or an e-mail address. Returns the first bad entry's position.
pub fn validate_entries(entries: &[String]) -> Result<(), String> {
    for (i, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        if Uuid::parse_str(entry).is_ok() {
            continue;
        }
        if helix_auth::accounts::normalize_email(entry).is_err() {
            return Err(format!(
                "entry {i} is neither an account id (UUID) nor an e-mail address"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_ids_or_emails() {
        let ok = ["support@example.com".to_owned(), Uuid::now_v7().to_string()];
        assert!(validate_entries(&ok).is_ok());
        let bad = [
            "support@example.com".to_owned(),
            "not an address".to_owned(),
        ];
        assert!(validate_entries(&bad).unwrap_err().contains("entry 1"));
    }
}
