//! sea-orm entities of the auth tables (all platform-plane: no `org_id`).

/// `auth_accounts`: one row per identity.
pub mod account {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// An account row. `password_hash` is a PHC string; never log or return it.
    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_accounts")]
    pub struct Model {
        /// Account id (UUID v7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Email, trimmed and lowercased; unique.
        pub email: String,
        /// When the email was verified.
        pub email_verified_at: Option<DateTime<Utc>>,
        /// argon2id PHC string.
        pub password_hash: String,
        /// Consecutive failed logins since the last success or lock.
        pub failed_logins: i32,
        /// Logins are refused until then.
        pub locked_until: Option<DateTime<Utc>>,
        /// The last successful login.
        pub last_login_at: Option<DateTime<Utc>>,
        /// Creation time.
        pub created_at: DateTime<Utc>,
        /// Last change.
        pub updated_at: DateTime<Utc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Account")
                .field("id", &self.id)
                .field("email_verified_at", &self.email_verified_at)
                .field("failed_logins", &self.failed_logins)
                .field("locked_until", &self.locked_until)
                .finish_non_exhaustive()
        }
    }

    /// No relations are declared; joins are written explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_password_history`: the hashes of recent passwords (the current one included).
pub mod password_history {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A history row.
    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_password_history")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The account.
        pub account_id: Uuid,
        /// argon2id PHC string of a past password.
        pub hash: String,
        /// When the password was set.
        pub created_at: DateTime<Utc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("PasswordHistory")
                .field("account_id", &self.account_id)
                .field("created_at", &self.created_at)
                .finish_non_exhaustive()
        }
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_email_verifications`: single-use tokens, stored as SHA-256 hashes.
pub mod email_verification {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A verification token row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_email_verifications")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Hex SHA-256 of the token.
        pub token_hash: String,
        /// The account to verify.
        pub account_id: Uuid,
        /// When the token stops working.
        pub expires_at: DateTime<Utc>,
        /// When it was used (tokens work once).
        pub used_at: Option<DateTime<Utc>>,
        /// When it was issued (for the send limit).
        pub created_at: DateTime<Utc>,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_password_resets`: single-use password-reset tokens, stored as SHA-256 hashes.
pub mod password_reset {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A password-reset token row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_password_resets")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Hex SHA-256 of the token.
        pub token_hash: String,
        /// The account whose password the token resets.
        pub account_id: Uuid,
        /// When the token stops working.
        pub expires_at: DateTime<Utc>,
        /// When it was used (tokens work once).
        pub used_at: Option<DateTime<Utc>>,
        /// When it was invalidated without being used (another token of the account was
        /// used, or the password was changed).
        pub revoked_at: Option<DateTime<Utc>>,
        /// When it was issued (for the request limit).
        pub created_at: DateTime<Utc>,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_security_events`: every authentication outcome, append-only.
pub mod security_event {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A security event row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_security_events")]
    pub struct Model {
        /// Event id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The account concerned, when one exists.
        pub account_id: Option<Uuid>,
        /// What happened (see [`crate::accounts::SecurityEventKind`]).
        pub kind: String,
        /// Pseudonymous key of the email the attempt named (SHA-256 with a domain prefix),
        /// so attempts on unknown emails can be correlated without storing the address.
        pub email_hash: Option<String>,
        /// Client IP.
        pub ip: Option<String>,
        /// Client user agent.
        pub user_agent: Option<String>,
        /// The request's correlation id.
        pub correlation_id: String,
        /// When it happened.
        pub occurred_at: DateTime<Utc>,
        /// Details (never secrets).
        pub data: Json,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
