//! The sign-in flow: authorize, callback, and the account resolution.

use helix_core::audit::{self, AuditEntry, PLATFORM_CHAIN};
use helix_core::{Actor, RequestMeta};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, CsrfToken, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::attempt::AttemptSecrets;
use super::entity::{external_identity, oidc_state};
use super::error::OidcError;
use super::provider::Provider;
use super::{OidcAuthorization, OidcOutcome, OidcSignIn};
use crate::accounts::entity::account;
use crate::accounts::{AuthenticatedAccount, SecurityEventKind, normalize_email};
use crate::accounts::{Event, email_key, locked_account};
use crate::error::{AuthError, Result};
use crate::passwords::NO_PASSWORD_HASH;
use crate::service::AuthService;

/// The verified facts of an ID token.
struct Identity {
    issuer: String,
    subject: String,
    email: Option<String>,
    email_verified: bool,
}

impl AuthService {
    /// Starts an anonymous sign-in with `provider`: answers the provider's authorization URL
    /// (valid [`super::OidcConfig::state_ttl_secs`]). `redirect_uri` is where the provider
    /// sends the browser back: the provider's configured `redirect_uri` when `None`,
    /// otherwise it must be that one or in `allowed_redirect_uris`.
    ///
    /// Errors: unknown provider ([`OidcError::UnknownProvider`]), a redirect URI not allowed,
    /// the provider unreachable ([`OidcError::ProviderUnavailable`]).
    pub async fn oidc_authorize(
        &self,
        meta: &RequestMeta,
        provider: &str,
        redirect_uri: Option<&str>,
    ) -> Result<OidcAuthorization> {
        self.start_attempt(meta, provider, redirect_uri, None).await
    }

    /// Like [`AuthService::oidc_authorize`], for the signed-in `account_id`: the callback
    /// links the identity to that account (it answers [`OidcOutcome::Linked`]).
    pub async fn oidc_link(
        &self,
        meta: &RequestMeta,
        account_id: Uuid,
        provider: &str,
        redirect_uri: Option<&str>,
    ) -> Result<OidcAuthorization> {
        self.start_attempt(meta, provider, redirect_uri, Some(account_id))
            .await
    }

    async fn start_attempt(
        &self,
        meta: &RequestMeta,
        provider_name: &str,
        redirect_uri: Option<&str>,
        link_account: Option<Uuid>,
    ) -> Result<OidcAuthorization> {
        let oidc = self.oidc()?;
        let provider = oidc.get(provider_name)?;
        let redirect = match redirect_uri {
            None => provider.config.redirect_uri.clone(),
            Some(uri)
                if uri == provider.config.redirect_uri
                    || oidc.config.allowed_redirect_uris.iter().any(|a| a == uri) =>
            {
                uri.to_owned()
            }
            Some(_) => return Err(OidcError::RedirectUriNotAllowed.into()),
        };
        let now = self.kernel().now();
        let metadata = oidc.metadata(&provider, now).await?;
        let secrets = AttemptSecrets::generate();
        let client = self.client(&provider, metadata, &redirect)?;
        let verifier = PkceCodeVerifier::new(secrets.pkce_verifier());
        let state = CsrfToken::new(secrets.state.to_string());
        let nonce = Nonce::new(secrets.nonce());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state,
                move || nonce,
            )
            .add_scopes(provider.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();

        let ttl = chrono::Duration::seconds(
            i64::try_from(oidc.config.state_ttl_secs).unwrap_or(i64::MAX / 1000),
        );
        let expires_at = now + ttl;
        let actor = link_account.map_or(Actor::Anonymous, Actor::User);
        let ctx = self.platform_ctx(actor, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        // Expired attempts are useless: drop them as new ones arrive.
        oidc_state::Entity::delete_many()
            .filter(oidc_state::Column::ExpiresAt.lt(now))
            .exec(tx.raw())
            .await?;
        oidc_state::Entity::insert(oidc_state::ActiveModel {
            id: Set(self.kernel().new_id()),
            state_hash: Set(AttemptSecrets::state_hash(&secrets.state)),
            provider: Set(provider.name.clone()),
            salt: Set(secrets.salt.clone()),
            link_account_id: Set(link_account),
            redirect_uri: Set(Some(redirect)),
            expires_at: Set(expires_at),
            used_at: Set(None),
            created_at: Set(now),
        })
        .exec_without_returning(tx.raw())
        .await?;
        tx.commit().await?;
        Ok(OidcAuthorization {
            authorization_url: url.to_string(),
            expires_at,
        })
    }

    /// Completes a sign-in: `code` and `state` as the provider returned them to the
    /// redirect URI. See the [module docs](super) for how the account is resolved.
    ///
    /// Errors: [`OidcError::InvalidState`] (unknown, expired, used, other provider),
    /// [`OidcError::CodeRejected`], the ID-token errors (signature, audience, issuer,
    /// expiry, nonce), [`OidcError::AccountExistsLinkRequired`],
    /// [`OidcError::IdentityInUse`], [`OidcError::EmailRequired`],
    /// [`OidcError::EmailNotVerified`], and [`AuthError::EmailNotVerified`] for a linked
    /// account whose address is unverified while verification is required.
    ///
    /// `caller` is the signed-in account presenting the callback, if any. An attempt started
    /// with [`AuthService::oidc_link`] completes only for the account that started it
    /// (otherwise [`OidcError::InvalidState`], before the code is redeemed): someone who
    /// lures a victim through their own link attempt gets nothing.
    pub async fn oidc_callback(
        &self,
        meta: &RequestMeta,
        provider_name: &str,
        code: &str,
        state: &str,
        caller: Option<Uuid>,
    ) -> Result<OidcSignIn> {
        let oidc = self.oidc()?;
        let provider = oidc.get(provider_name)?;
        let attempt = self.consume_attempt(meta, &provider, state).await?;
        let link = attempt.link_account_id;
        if let Some(owner) = link
            && caller != Some(owner)
        {
            return Err(AuthError::Oidc(OidcError::InvalidState));
        }
        let result = async {
            let secrets = AttemptSecrets::from_parts(state, &attempt.salt);
            let identity = self
                .redeem(&provider, &attempt, &secrets, code)
                .await
                .map_err(AuthError::Oidc)?;
            self.resolve(meta, &provider, link, &identity).await
        }
        .await;
        if let Err(AuthError::Oidc(e)) = &result {
            let mut event = Event::new(SecurityEventKind::OidcSignInFailed)
                .data(json!({ "provider": provider.name, "reason": e.reason() }));
            if let Some(id) = link {
                event = event.account(id);
            }
            self.record_standalone(meta, event).await?;
        }
        result
    }

    fn oidc(&self) -> Result<&super::OidcProviders> {
        self.oidc_providers()
            .ok_or(AuthError::Oidc(OidcError::UnknownProvider))
    }

    fn client(
        &self,
        provider: &Provider,
        metadata: CoreProviderMetadata,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        let in_body = Provider::secret_in_body(&metadata);
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|_| AuthError::Oidc(OidcError::RedirectUriNotAllowed))?;
        let mut client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.config.client_id.clone()),
            provider
                .config
                .client_secret
                .as_ref()
                .map(|s| openidconnect::ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(redirect);
        if in_body {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        Ok(client)
    }

    /// Marks the attempt used (single use, bound to `provider`, unexpired); any failure is
    /// [`OidcError::InvalidState`] with a security event.
    async fn consume_attempt(
        &self,
        meta: &RequestMeta,
        provider: &Provider,
        state: &str,
    ) -> Result<oidc_state::Model> {
        let ctx = self.platform_ctx(Actor::Anonymous, meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        let hash = AttemptSecrets::state_hash(state);
        let found = oidc_state::Entity::find()
            .filter(oidc_state::Column::StateHash.eq(&hash))
            .one(tx.raw())
            .await?;
        let (reason, row) = match found {
            None => ("unknown_state", None),
            Some(row) if row.provider != provider.name => ("other_provider", Some(row)),
            Some(row) if row.used_at.is_some() => ("replayed_state", Some(row)),
            Some(row) if row.expires_at <= now => ("expired_state", Some(row)),
            Some(row) => {
                let claimed = oidc_state::Entity::update_many()
                    .col_expr(oidc_state::Column::UsedAt, Expr::value(now))
                    .filter(oidc_state::Column::Id.eq(row.id))
                    .filter(oidc_state::Column::UsedAt.is_null())
                    .exec(tx.raw())
                    .await?;
                if claimed.rows_affected == 1 {
                    tx.commit().await?;
                    return Ok(row);
                }
                ("replayed_state", Some(row))
            }
        };
        let mut event = Event::new(SecurityEventKind::OidcSignInFailed).data(json!({
            "provider": provider.name,
            "reason": "oidc_invalid_state",
            "state": reason,
        }));
        if let Some(id) = row.and_then(|r| r.link_account_id) {
            event = event.account(id);
        }
        self.record_event(tx.raw(), meta, event).await?;
        tx.commit().await?;
        Err(OidcError::InvalidState.into())
    }

    /// Redeems the code (with the PKCE verifier) and verifies the ID token.
    async fn redeem(
        &self,
        provider: &Provider,
        attempt: &oidc_state::Model,
        secrets: &AttemptSecrets,
        code: &str,
    ) -> Result<Identity, OidcError> {
        let oidc = self.oidc().map_err(|_| OidcError::UnknownProvider)?;
        let now = self.kernel().now();
        let metadata = oidc
            .metadata(provider, now)
            .await
            .map_err(|_| OidcError::ProviderUnavailable)?;
        let redirect = attempt
            .redirect_uri
            .clone()
            .unwrap_or_else(|| provider.config.redirect_uri.clone());
        let client = self
            .client(provider, metadata, &redirect)
            .map_err(|_| OidcError::RedirectUriNotAllowed)?;
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| OidcError::ProviderUnavailable)?
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier()));
        let response = request.request_async(&oidc.http).await.map_err(|e| {
            let (err, kind) = match &e {
                RequestTokenError::ServerResponse(_) => (OidcError::CodeRejected, "refused"),
                RequestTokenError::Parse(..) => (OidcError::InvalidIdToken, "parse"),
                RequestTokenError::Request(_) => (OidcError::ProviderUnavailable, "request"),
                RequestTokenError::Other(_) => (OidcError::ProviderUnavailable, "other"),
            };
            tracing::warn!(oidc.provider = %provider.name, error.kind = kind, "OIDC token request failed");
            err
        })?;
        let id_token = response.id_token().ok_or(OidcError::InvalidIdToken)?;
        let kernel = self.kernel().clone();
        let verifier = client.id_token_verifier().set_time_fn(move || kernel.now());
        let nonce = Nonce::new(secrets.nonce());
        let claims = id_token.claims(&verifier, &nonce).map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(_) => OidcError::InvalidSignature,
            ClaimsVerificationError::InvalidAudience(_) => OidcError::InvalidAudience,
            ClaimsVerificationError::InvalidIssuer(_) => OidcError::InvalidIssuer,
            ClaimsVerificationError::Expired(_) => OidcError::TokenExpired,
            ClaimsVerificationError::InvalidNonce(_) => OidcError::InvalidNonce,
            _ => OidcError::InvalidIdToken,
        })?;
        Ok(Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
        })
    }

    /// Resolves the verified identity to an account (one retry when a concurrent callback
    /// won a unique constraint).
    async fn resolve(
        &self,
        meta: &RequestMeta,
        provider: &Provider,
        link: Option<Uuid>,
        identity: &Identity,
    ) -> Result<OidcSignIn> {
        match self.resolve_once(meta, provider, link, identity).await {
            Err(AuthError::Core(e)) if e.is_unique_violation() => {
                self.resolve_once(meta, provider, link, identity).await
            }
            other => other,
        }
    }

    async fn resolve_once(
        &self,
        meta: &RequestMeta,
        provider: &Provider,
        link: Option<Uuid>,
        identity: &Identity,
    ) -> Result<OidcSignIn> {
        let ctx = self.platform_ctx(link.map_or(Actor::Anonymous, Actor::User), meta);
        let tx = self.kernel().db().platform(&ctx).await?;
        let now = self.kernel().now();
        let existing = external_identity::Entity::find()
            .filter(external_identity::Column::Issuer.eq(&identity.issuer))
            .filter(external_identity::Column::Subject.eq(&identity.subject))
            .one(tx.raw())
            .await?;
        let data = json!({ "provider": provider.name });

        // Explicit linking by a signed-in user.
        if let Some(account_id) = link {
            let Some(acc) = locked_account(&tx, account::Column::Id.eq(account_id)).await? else {
                tx.rollback().await?;
                return Err(AuthError::AccountNotFound);
            };
            match existing {
                Some(ext) if ext.account_id != account_id => {
                    tx.rollback().await?;
                    return Err(OidcError::IdentityInUse.into());
                }
                Some(_) => {}
                None => {
                    self.insert_identity(&tx, account_id, provider, identity, None)
                        .await?;
                    let event = Event::new(SecurityEventKind::OidcIdentityLinked)
                        .account(account_id)
                        .data(json!({ "provider": provider.name, "via": "explicit" }));
                    self.record_event(tx.raw(), meta, event).await?;
                }
            }
            tx.commit().await?;
            return Ok(OidcSignIn {
                account: authenticated(acc),
                outcome: OidcOutcome::Linked,
                provider: provider.name.clone(),
            });
        }

        // A linked identity.
        if let Some(ext) = existing {
            let Some(acc) = locked_account(&tx, account::Column::Id.eq(ext.account_id)).await?
            else {
                tx.rollback().await?;
                return Err(AuthError::AccountNotFound);
            };
            if self.config().email_verification.required && acc.email_verified_at.is_none() {
                let event = Event::new(SecurityEventKind::LoginUnverified)
                    .account(acc.id)
                    .data(data);
                self.record_event(tx.raw(), meta, event).await?;
                tx.commit().await?;
                return Err(AuthError::EmailNotVerified);
            }
            external_identity::Entity::update_many()
                .col_expr(external_identity::Column::LastLoginAt, Expr::value(now))
                .filter(external_identity::Column::Id.eq(ext.id))
                .exec(tx.raw())
                .await?;
            self.finish_sign_in(&tx, meta, &acc, provider).await?;
            tx.commit().await?;
            return Ok(OidcSignIn {
                account: authenticated(acc),
                outcome: OidcOutcome::SignedIn,
                provider: provider.name.clone(),
            });
        }

        // A new identity: by e-mail.
        let Some(email) = identity
            .email
            .as_deref()
            .and_then(|e| normalize_email(e).ok())
        else {
            tx.rollback().await?;
            return Err(OidcError::EmailRequired.into());
        };
        let key = email_key(&email);
        if let Some(acc) = locked_account(&tx, account::Column::Email.eq(&email)).await? {
            let may_link = identity.email_verified
                && provider.config.link_verified_email
                && acc.email_verified_at.is_some();
            if !may_link {
                let event = Event::new(SecurityEventKind::OidcLinkRefused)
                    .account(acc.id)
                    .email_key(key)
                    .data(json!({
                        "provider": provider.name,
                        "email_verified": identity.email_verified,
                        "link_verified_email": provider.config.link_verified_email,
                        "account_email_verified": acc.email_verified_at.is_some(),
                    }));
                self.record_event(tx.raw(), meta, event).await?;
                tx.commit().await?;
                return Err(OidcError::AccountExistsLinkRequired.into());
            }
            self.insert_identity(&tx, acc.id, provider, identity, Some(now))
                .await?;
            let event = Event::new(SecurityEventKind::OidcIdentityLinked)
                .account(acc.id)
                .email_key(key)
                .data(json!({ "provider": provider.name, "via": "verified_email" }));
            self.record_event(tx.raw(), meta, event).await?;
            self.finish_sign_in(&tx, meta, &acc, provider).await?;
            tx.commit().await?;
            return Ok(OidcSignIn {
                account: authenticated(acc),
                outcome: OidcOutcome::LinkedByEmail,
                provider: provider.name.clone(),
            });
        }

        // A new account.
        if !identity.email_verified && self.config().email_verification.required {
            tx.rollback().await?;
            return Err(OidcError::EmailNotVerified.into());
        }
        let id = self.kernel().new_id();
        let row = account::ActiveModel {
            id: Set(id),
            email: Set(email.clone()),
            email_verified_at: Set(identity.email_verified.then_some(now)),
            password_hash: Set(NO_PASSWORD_HASH.to_owned()),
            failed_logins: Set(0),
            locked_until: Set(None),
            last_login_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        };
        account::Entity::insert(row)
            .exec_without_returning(tx.raw())
            .await
            .map_err(|e| AuthError::Core(e.into()))?;
        self.insert_identity(&tx, id, provider, identity, Some(now))
            .await?;
        let event = Event::new(SecurityEventKind::OidcAccountCreated)
            .account(id)
            .email_key(key.clone())
            .data(json!({ "provider": provider.name, "email_verified": identity.email_verified }));
        self.record_event(tx.raw(), meta, event).await?;
        let event = Event::new(SecurityEventKind::OidcSignIn)
            .account(id)
            .email_key(key)
            .data(json!({ "provider": provider.name }));
        self.record_event(tx.raw(), meta, event).await?;
        audit::record_platform(
            &tx,
            meta,
            PLATFORM_CHAIN,
            now,
            AuditEntry::new("auth.account.registered", "account", id),
        )
        .await?;
        tx.commit().await?;
        Ok(OidcSignIn {
            account: AuthenticatedAccount {
                account_id: id,
                email,
                email_verified: identity.email_verified,
                previous_login_at: None,
            },
            outcome: OidcOutcome::AccountCreated,
            provider: provider.name.clone(),
        })
    }

    async fn insert_identity(
        &self,
        tx: &helix_core::PlatformTx,
        account_id: Uuid,
        provider: &Provider,
        identity: &Identity,
        last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<()> {
        external_identity::Entity::insert(external_identity::ActiveModel {
            id: Set(self.kernel().new_id()),
            account_id: Set(account_id),
            provider: Set(provider.name.clone()),
            issuer: Set(identity.issuer.clone()),
            subject: Set(identity.subject.clone()),
            created_at: Set(self.kernel().now()),
            last_login_at: Set(last_login_at),
        })
        .exec_without_returning(tx.raw())
        .await
        .map_err(|e| AuthError::Core(e.into()))?;
        Ok(())
    }

    /// Records the sign-in on the account (last login) and its security event.
    async fn finish_sign_in(
        &self,
        tx: &helix_core::PlatformTx,
        meta: &RequestMeta,
        acc: &account::Model,
        provider: &Provider,
    ) -> Result<()> {
        let now = self.kernel().now();
        account::Entity::update_many()
            .col_expr(account::Column::LastLoginAt, Expr::value(now))
            .col_expr(account::Column::UpdatedAt, Expr::value(now))
            .filter(account::Column::Id.eq(acc.id))
            .exec(tx.raw())
            .await?;
        let event = Event::new(SecurityEventKind::OidcSignIn)
            .account(acc.id)
            .email_key(email_key(&acc.email))
            .data(json!({ "provider": provider.name }));
        self.record_event(tx.raw(), meta, event).await
    }

    /// The external identities linked to `account_id`: `(provider, issuer)` pairs.
    pub async fn external_identities(&self, account_id: Uuid) -> Result<Vec<(String, String)>> {
        let ctx = helix_core::PlatformContext::system("helix-auth");
        let tx = self.kernel().db().platform_read(&ctx).await?;
        let rows = external_identity::Entity::find()
            .filter(external_identity::Column::AccountId.eq(account_id))
            .all(tx.raw())
            .await?;
        tx.rollback().await?;
        Ok(rows.into_iter().map(|r| (r.provider, r.issuer)).collect())
    }
}

fn authenticated(acc: account::Model) -> AuthenticatedAccount {
    AuthenticatedAccount {
        account_id: acc.id,
        email: acc.email,
        email_verified: acc.email_verified_at.is_some(),
        previous_login_at: acc.last_login_at,
    }
}
