//! What a pending MFA challenge remembers about its first step, so that completing it
//! signs in the way the first step asked:
//!
//! - `auth_mfa_challenges.first_factor`: the RFC 8176 name of the first factor (`pwd` after
//!   a password, `fed` after an OpenID Connect provider); the session's `amr` is this plus
//!   `otp`. Rows written before this migration were password logins: `pwd`.
//! - `auth_mfa_challenges.browser`: the first step asked for a browser session (cookies and
//!   a CSRF token instead of tokens in the body).

use helix_core::migrate::exec_for;
use sea_orm_migration::prelude::*;

pub(crate) struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "helix_auth_0610_mfa_challenge_context"
    }
}

const SQLITE: &str = r#"
ALTER TABLE auth_mfa_challenges ADD COLUMN first_factor TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE auth_mfa_challenges ADD COLUMN browser INTEGER NOT NULL DEFAULT 0;
"#;

const POSTGRES: &str = r#"
ALTER TABLE auth_mfa_challenges ADD COLUMN first_factor text NOT NULL DEFAULT 'pwd';
ALTER TABLE auth_mfa_challenges ADD COLUMN browser boolean NOT NULL DEFAULT false;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_for(manager, SQLITE, POSTGRES).await
    }
}
