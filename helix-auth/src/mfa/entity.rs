//! sea-orm entities of the MFA tables (platform-plane: no `org_id`).

/// `auth_mfa_totp`: an account's TOTP authenticator, pending or confirmed.
pub mod totp {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A TOTP row. `Debug` leaves out the sealed secret.
    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_mfa_totp")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        /// The secret sealed by the key ring (`v1.<key id>.<...>`), bound to the account.
        pub secret_sealed: String,
        /// The id of the key that sealed it.
        pub key_id: String,
        /// When the enrolment was confirmed; `None` while pending.
        pub confirmed_at: Option<DateTime<Utc>>,
        /// The newest accepted time step (codes of that step or older are refused).
        pub last_used_step: Option<i64>,
        /// When the enrolment started.
        pub created_at: DateTime<Utc>,
        /// Last change.
        pub updated_at: DateTime<Utc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("MfaTotp")
                .field("account_id", &self.account_id)
                .field("key_id", &self.key_id)
                .field("confirmed_at", &self.confirmed_at)
                .field("last_used_step", &self.last_used_step)
                .finish_non_exhaustive()
        }
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_mfa_backup_codes`: single-use backup codes, stored hashed.
pub mod backup_code {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A backup-code row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_mfa_backup_codes")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The account.
        pub account_id: Uuid,
        /// Hex SHA-256 of the normalized code (keyed by the account id).
        pub code_hash: String,
        /// When it was used (codes work once).
        pub used_at: Option<DateTime<Utc>>,
        /// When it was issued.
        pub created_at: DateTime<Utc>,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_mfa_challenges`: the MFA tokens of logins waiting for a second factor.
pub mod challenge {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A challenge row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_mfa_challenges")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Hex SHA-256 of the token.
        pub token_hash: String,
        /// The account whose password was verified.
        pub account_id: Uuid,
        /// Client IP of the login.
        pub ip: Option<String>,
        /// Client user agent of the login.
        pub user_agent: Option<String>,
        /// Wrong codes presented with this token.
        pub failed_attempts: i32,
        /// When the token stops working.
        pub expires_at: DateTime<Utc>,
        /// When it was used (tokens work once).
        pub used_at: Option<DateTime<Utc>>,
        /// When it was issued.
        pub created_at: DateTime<Utc>,
        /// The first factor's RFC 8176 name (`pwd`, `fed`).
        pub first_factor: String,
        /// Whether the first step asked for a browser session (cookies).
        pub browser: bool,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
