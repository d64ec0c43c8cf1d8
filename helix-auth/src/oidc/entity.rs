//! sea-orm entities of the OpenID Connect tables (platform-plane, like every auth table).

/// `auth_external_identities`: an account's identity at an issuer (`issuer` + `subject`).
pub mod external_identity {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// An external identity row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_external_identities")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The account it signs in to.
        pub account_id: Uuid,
        /// The configured provider name it was first linked through.
        pub provider: String,
        /// The issuer (`iss`).
        pub issuer: String,
        /// The subject at the issuer (`sub`); unique with `issuer`.
        pub subject: String,
        /// When it was linked.
        pub created_at: DateTime<Utc>,
        /// The last sign-in through it.
        pub last_login_at: Option<DateTime<Utc>>,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `auth_oidc_states`: pending sign-in attempts, keyed by the SHA-256 of their `state`.
pub mod oidc_state {
    use chrono::{DateTime, Utc};
    use sea_orm::entity::prelude::*;

    /// A pending sign-in attempt.
    #[derive(Clone, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "auth_oidc_states")]
    pub struct Model {
        /// Row id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Hex SHA-256 of the `state` sent to the provider.
        pub state_hash: String,
        /// The provider the attempt is bound to.
        pub provider: String,
        /// Random salt; with the `state` (which is never stored) it derives the nonce and
        /// the PKCE verifier, so neither this row nor the redirect alone yields them.
        pub salt: String,
        /// The account to link the identity to (explicit linking by a signed-in user).
        pub link_account_id: Option<Uuid>,
        /// The allow-listed post-login redirect, if one was asked for.
        pub redirect_uri: Option<String>,
        /// When the attempt stops working.
        pub expires_at: DateTime<Utc>,
        /// When it was used (attempts work once).
        pub used_at: Option<DateTime<Utc>>,
        /// When it was created.
        pub created_at: DateTime<Utc>,
    }

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OidcState")
                .field("id", &self.id)
                .field("provider", &self.provider)
                .field("link_account_id", &self.link_account_id)
                .field("expires_at", &self.expires_at)
                .field("used_at", &self.used_at)
                .finish_non_exhaustive()
        }
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
