//! Platform administrators from the host: the `reference-server platform-admin` command, and
//! [`AuthAccountDirectory`], helix-iam's [`AccountDirectory`] over helix-auth.
//!
//! Only a platform administrator may grant platform roles over HTTP, so the first one is
//! made here, by an operator with access to the server's configuration (and so to its
//! database):
//!
//! ```text
//! reference-server [--config FILE] platform-admin grant <email>
//! reference-server [--config FILE] platform-admin revoke <email>
//! reference-server [--config FILE] platform-admin list
//! ```
//!
//! The command loads the settings exactly as the server does, builds the same application
//! (connecting and running every migration, see [`crate::build_app`]), finds the account by
//! e-mail through helix-auth, and calls helix-iam's operator path
//! ([`helix_iam::Iam::grant_platform_role_as_operator`]): the account must exist and its
//! address must be verified, the grant is audited on the platform chain with the actor
//! `system:cli.platform-admin` and a user agent naming the operating-system user who ran it,
//! and the last platform administrator cannot be revoked.
//!
//! There is deliberately no setting that grants the role at startup: see the book's
//! operations page ("The first platform administrator").

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use helix_auth::{AccountProfile, AuthError, AuthService};
use helix_core::list::ListQuery;
use helix_core::{Actor, PlatformContext, RequestMeta};
use helix_iam::IamError;
use helix_iam::platform::{
    ACCOUNT_NOT_VERIFIED, AccountDirectory, DirectoryAccount, LAST_PLATFORM_ADMIN,
};
use helix_iam::store::{PlatformRole, PlatformRoleGrant};
use uuid::Uuid;

use crate::Settings;

/// The audit actor of the command (`system:cli.platform-admin`).
pub const CLI_ACTOR: &str = "cli.platform-admin";

/// The `--help` text of `reference-server platform-admin`.
pub const HELP: &str = "\
usage: reference-server [--config FILE] platform-admin <command>

Manage platform administrators from the host (the first one cannot be granted over HTTP).

commands:
  grant <email>    grant platform_admin to the account registered with <email>
                   (the account must exist and its e-mail address must be verified)
  revoke <email>   revoke it (refused for the last platform administrator)
  list             list the platform administrators

The command uses the server's settings (defaults, then FILE or $HELIX_CONFIG, then
HELIX__SECTION__KEY variables) and its database, and runs pending migrations first, as the
server does. Every change is audited as `system:cli.platform-admin`, with the
operating-system user in the audit row's user agent. Exit status 0 on success, 1 on any
failure (unknown or unverified account, last administrator, database unreachable).";

/// A `platform-admin` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Grant `platform_admin` to the account with this e-mail address.
    Grant {
        /// The account's e-mail address.
        email: String,
    },
    /// Revoke `platform_admin` from the account with this e-mail address.
    Revoke {
        /// The account's e-mail address.
        email: String,
    },
    /// List the platform administrators.
    List,
}

impl Command {
    /// Parses the words after `platform-admin`.
    pub fn parse(words: &[String]) -> Result<Self, String> {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["grant", email] => Ok(Self::Grant {
                email: (*email).to_owned(),
            }),
            ["revoke", email] => Ok(Self::Revoke {
                email: (*email).to_owned(),
            }),
            ["list"] => Ok(Self::List),
            ["grant" | "revoke"] => Err(format!("`{}` needs an e-mail address", words[0])),
            ["grant" | "revoke" | "list", ..] => {
                Err(format!("too many arguments for `{}`", words[0]))
            }
            [] => Err("missing command: grant, revoke or list".to_owned()),
            [other, ..] => Err(format!(
                "unknown command `{other}`: expected grant, revoke or list"
            )),
        }
    }
}

/// Who runs the command, for the audit row: the operating-system user (the binary reads it
/// from the environment; a library never does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operator {
    /// The operating-system user, when known.
    pub os_user: Option<String>,
}

impl Operator {
    /// The platform context of the command: actor `system:cli.platform-admin`, a fresh
    /// correlation id, and a user agent naming the tool and the operating-system user.
    pub fn context(&self) -> PlatformContext {
        let user = self
            .os_user
            .as_deref()
            .map(|u| {
                u.chars()
                    .filter(|c| !c.is_control())
                    .take(64)
                    .collect::<String>()
            })
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        let meta = RequestMeta {
            user_agent: Some(format!(
                "reference-server/{} platform-admin (os user: {user})",
                env!("CARGO_PKG_VERSION")
            )),
            ..RequestMeta::new_internal()
        };
        PlatformContext::with_meta(Actor::System(CLI_ACTOR.to_owned()), Arc::new(meta))
    }
}

/// helix-iam's [`AccountDirectory`] over helix-auth's accounts: platform role grants go
/// only to accounts that exist and whose e-mail address is verified.
#[derive(Debug, Clone)]
pub struct AuthAccountDirectory {
    auth: AuthService,
}

impl AuthAccountDirectory {
    /// The directory of `auth`'s accounts.
    pub fn new(auth: AuthService) -> Self {
        Self { auth }
    }
}

#[async_trait]
impl AccountDirectory for AuthAccountDirectory {
    async fn account(
        &self,
        account_id: Uuid,
    ) -> Result<Option<DirectoryAccount>, helix_core::Error> {
        match self.auth.account(account_id).await {
            Ok(account) => Ok(Some(DirectoryAccount {
                account_id: account.account_id,
                email_verified: account.email_verified,
            })),
            Err(AuthError::AccountNotFound) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

/// Runs `command` against the database `settings` name and returns what to print (one line
/// for a change; one line per administrator for `list`). Every failure is an error with a
/// message fit for the operator.
pub async fn run(
    settings: &Settings,
    command: &Command,
    operator: &Operator,
) -> anyhow::Result<String> {
    let app = crate::build_app(settings)
        .await
        .context("cannot open the platform (check `database.url` and the settings)")?;
    let auth = app.state.auth.auth().clone();
    let iam = &app.state.iam;
    let ctx = operator.context();
    let role = PlatformRole::PlatformAdmin;
    match command {
        Command::Grant { email } => {
            let account = find(&auth, email).await?;
            let outcome = iam
                .grant_platform_role_as_operator(&ctx, account.account_id, role)
                .await
                .map_err(|e| explain(e, &account))?;
            Ok(if outcome.created {
                format!(
                    "granted {role} to {} (account {})",
                    account.email, account.account_id
                )
            } else {
                format!(
                    "{} (account {}) already holds {role}; nothing changed",
                    account.email, account.account_id
                )
            })
        }
        Command::Revoke { email } => {
            let account = find(&auth, email).await?;
            iam.revoke_platform_role_as_operator(&ctx, account.account_id, role)
                .await
                .map_err(|e| explain(e, &account))?;
            Ok(format!(
                "revoked {role} from {} (account {})",
                account.email, account.account_id
            ))
        }
        Command::List => {
            let grants = administrators(iam, &ctx).await?;
            if grants.is_empty() {
                return Ok(
                    "no platform administrators yet (grant one with `reference-server \
                     platform-admin grant <email>`)"
                        .to_owned(),
                );
            }
            let mut lines = Vec::with_capacity(grants.len());
            for grant in grants {
                let email = match auth.account(grant.user_id).await {
                    Ok(account) => account.email,
                    Err(AuthError::AccountNotFound) => "(no such account)".to_owned(),
                    Err(err) => {
                        return Err(anyhow!(helix_core::Error::from(err)))
                            .context("cannot read the accounts");
                    }
                };
                lines.push(format!(
                    "{email}\taccount {}\tgranted {} by {}",
                    grant.user_id,
                    grant
                        .granted_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    grant.granted_by
                ));
            }
            Ok(lines.join("\n"))
        }
    }
}

/// The account registered with `email`, or an error saying why there is none.
async fn find(auth: &AuthService, email: &str) -> anyhow::Result<AccountProfile> {
    match auth.account_by_email(email).await {
        Ok(account) => Ok(account),
        Err(AuthError::AccountNotFound) => bail!(
            "no account is registered with the e-mail address `{}`: register it first \
             (POST /api/v1/auth/register) and verify the address",
            email.trim()
        ),
        Err(AuthError::Validation(_)) => {
            bail!("`{}` is not a valid e-mail address", email.trim())
        }
        Err(err) => Err(anyhow!(helix_core::Error::from(err))).context("cannot read the accounts"),
    }
}

/// Every platform administrator, oldest grant first.
async fn administrators(
    iam: &helix_iam::Iam,
    ctx: &PlatformContext,
) -> anyhow::Result<Vec<PlatformRoleGrant>> {
    let mut grants = Vec::new();
    let mut query = ListQuery::parse("filter[role]=platform_admin&sort=granted_at:asc&limit=100")
        .map_err(|e| anyhow!(e))?;
    for page in 1u64.. {
        query.page = page;
        let found = iam
            .list_platform_roles_as_operator(ctx, &query)
            .await
            .map_err(|e| anyhow!(helix_core::Error::from(e)))
            .context("cannot list the platform administrators")?;
        let more = found.meta.has_next;
        grants.extend(found.data);
        if !more {
            break;
        }
    }
    Ok(grants)
}

/// The operator's message for a refused grant or revocation.
fn explain(err: IamError, account: &AccountProfile) -> anyhow::Error {
    let who = format!("{} (account {})", account.email, account.account_id);
    if matches!(err, IamError::NotFound("account")) {
        // The account was removed between the lookup and the grant.
        return anyhow!("{who} no longer exists");
    }
    match err.code() {
        ACCOUNT_NOT_VERIFIED => anyhow!(
            "the e-mail address of {who} is not verified: its owner must verify it first \
             (platform roles go only to verified accounts)"
        ),
        LAST_PLATFORM_ADMIN => anyhow!(
            "{who} is the last platform administrator and cannot be removed: grant the role \
             to another account first"
        ),
        "NOT_FOUND" => anyhow!("{who} does not hold platform_admin"),
        _ => anyhow!(helix_core::Error::from(err)).context("the change was not made"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_commands() {
        assert_eq!(
            Command::parse(&words("grant ada@example.com")),
            Ok(Command::Grant {
                email: "ada@example.com".into()
            })
        );
        assert_eq!(
            Command::parse(&words("revoke ada@example.com")),
            Ok(Command::Revoke {
                email: "ada@example.com".into()
            })
        );
        assert_eq!(Command::parse(&words("list")), Ok(Command::List));
        for (bad, says) in [
            ("", "missing command"),
            ("grant", "needs an e-mail address"),
            ("grant a@x.io b@x.io", "too many arguments"),
            ("list all", "too many arguments"),
            ("promote a@x.io", "unknown command `promote`"),
        ] {
            let err = Command::parse(&words(bad)).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_context_is_a_system_actor_naming_the_os_user() {
        let ctx = Operator {
            os_user: Some("ops\u{7}-alice".into()),
        }
        .context();
        assert_eq!(ctx.actor().as_ref_string(), "system:cli.platform-admin");
        let agent = ctx.meta().user_agent.clone().unwrap();
        assert!(agent.ends_with("(os user: ops-alice)"), "{agent}");
        let unknown = Operator::default().context();
        assert!(
            unknown
                .meta()
                .user_agent
                .as_deref()
                .unwrap()
                .ends_with("(os user: unknown)")
        );
    }
}
