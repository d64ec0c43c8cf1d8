//! sea-orm entities of the one-time-code tables (platform-plane).

/// `auth_one_time_codes`: one row per code sent.
pub mod code {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A code row: only the salted SHA-256 of the code.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_one_time_codes")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The account.
        pub account_id: Uuid,
        /// What the code is for (`verify_phone`, `step_up`).
        pub purpose: String,
        /// `email`, `sms` or `whatsapp`.
        pub channel: String,
        /// Hex SHA-256 of `salt || code`.
        pub code_hash: String,
        /// Hex of 16 random bytes.
        pub salt: String,
        /// The code stops working then.
        pub expires_at: DateTime<Utc>,
        /// When it was used.
        pub used_at: Option<DateTime<Utc>>,
        /// When it was sent.
        pub created_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_otp_attempts`: one row per verification attempt.
pub mod attempt {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// An attempt row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_otp_attempts")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The account.
        pub account_id: Uuid,
        /// The purpose named.
        pub purpose: String,
        /// Whether the code was right.
        pub succeeded: bool,
        /// When.
        pub created_at: DateTime<Utc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_otp_state`: the phone number and the lockout, per account.
pub mod state {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A state row. `Debug` leaves out the phone number.
    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_otp_state")]
    pub struct Model {
        /// The account.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        /// E.164 phone number.
        pub phone: Option<String>,
        /// When a code sent to `phone` was verified.
        pub phone_verified_at: Option<DateTime<Utc>>,
        /// Codes are refused until then.
        pub locked_until: Option<DateTime<Utc>>,
        /// Last change.
        pub updated_at: DateTime<Utc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OtpState")
                .field("account_id", &self.account_id)
                .field("phone_verified_at", &self.phone_verified_at)
                .field("locked_until", &self.locked_until)
                .finish_non_exhaustive()
        }
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
