//! One platform-plane function call in one round trip (PostgreSQL).
//!
//! A [`PlatformTx`](super::PlatformTx) costs four round trips before and after its work:
//! `BEGIN`, the preamble (role and actor), the statements, `COMMIT`. For a hot path whose
//! whole work is one statement, [`Db::platform_call`] sends the preamble and a call of a
//! database function as **one** simple-protocol message. PostgreSQL runs the statements of
//! such a message as one implicit transaction: they commit together at its end, or all roll
//! back on the first error, and the `SET LOCAL` settings end with it, so nothing is left on
//! the pooled connection. The function's statements keep their cached plans (PL/pgSQL
//! prepares them once per connection), which is why the work goes into a function rather
//! than into the message itself.
//!
//! The simple protocol takes no bind parameters, so the arguments are [`CallArg`]s: typed
//! values that are written as SQL literals by this module alone (strings escaped, every
//! other kind from its canonical form with an explicit cast). The function name must be a
//! plain identifier. No part of the message is taken from the caller as SQL text.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::QueryResult;
use uuid::Uuid;

use super::scoped::sql_literal;
use super::{Backend, Db, PLATFORM_ROLE};
use crate::context::PlatformContext;
use crate::error::{Error, Result};

/// An argument of [`Db::platform_call`], written into the message as a typed literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallArg<'a> {
    /// `text`: escaped (`E'...'`, backslashes and quotes doubled, NUL dropped).
    Text(&'a str),
    /// `timestamptz`, to the microsecond, in UTC.
    Timestamp(DateTime<Utc>),
    /// `uuid`.
    Uuid(Uuid),
    /// `bigint`.
    BigInt(i64),
}

impl CallArg<'_> {
    fn write(&self, out: &mut String) -> Result<()> {
        match self {
            Self::Text(s) => {
                // `sql_literal` drops NUL (PostgreSQL text cannot hold it): refuse instead, so
                // two different arguments never become the same literal.
                if s.contains('\0') {
                    return Err(Error::Config(
                        "a text argument of Db::platform_call contains NUL".into(),
                    ));
                }
                out.push_str(&sql_literal(s));
            }
            Self::Timestamp(t) => {
                out.push('\'');
                out.push_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true));
                out.push_str("'::timestamptz");
            }
            Self::Uuid(u) => {
                out.push('\'');
                out.push_str(&u.to_string());
                out.push_str("'::uuid");
            }
            Self::BigInt(n) => {
                // Quoted, so `i64::MIN` is one literal rather than the negation of an
                // out-of-range one.
                out.push('\'');
                out.push_str(&n.to_string());
                out.push_str("'::bigint");
            }
        }
        Ok(())
    }
}

/// When a [`Db::platform_call`]'s commit is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commit {
    /// After the commit record is flushed to disk (and, where synchronous standbys are
    /// configured, confirmed by them): PostgreSQL's `synchronous_commit` setting as
    /// configured (`on` by default).
    #[default]
    Flushed,
    /// Without waiting for the flush (`SET LOCAL synchronous_commit = off`). Other sessions
    /// see the change at once and the database stays consistent, but the change is durable
    /// only once a later flush covers it: a crash of the database server in the moment
    /// after the answer can lose it (by default at most about 0.6 s of such commits, three
    /// times `wal_writer_delay`; whole transactions, in order), and a failover to a standby
    /// can lose up to the replication lag, since the commit does not wait for standbys
    /// either. Use it only for changes whose loss clients recover from and that weaken
    /// nothing when undone (a refresh-token rotation: see helix-auth), never for
    /// revocations, security state or money.
    Unflushed,
}

impl Db {
    /// Calls the set-returning database function `function` with `args` as the platform
    /// role, in one round trip, and returns the first row it returns (`None` when it
    /// returns none). See the [module documentation](self).
    ///
    /// The message is `SET LOCAL ROLE helix_platform; SET LOCAL helix.actor = ...; SET LOCAL
    /// TimeZone = 'UTC'; [SET LOCAL synchronous_commit = off;] SELECT * FROM
    /// function(args...)`: the same role and actor as [`Db::platform`], one implicit
    /// transaction (the rows come back in text format, so the session's time zone is pinned
    /// for their timestamps). A [`Db`] made with [`Db::from_connection`] sends the same
    /// statements in a transaction of its own (`BEGIN`, the preamble, the call, `COMMIT`).
    /// The message goes to sqlx directly, so sea-orm's metrics do not see it; with
    /// [`PoolOptions::sql_logging`](super::PoolOptions::sql_logging) on, sqlx logs it like
    /// any statement, and here the arguments are part of its text: never pass a secret as
    /// an argument (helix-auth passes hashes of refresh tokens, not the tokens).
    ///
    /// PostgreSQL only; on SQLite (or without the `postgres` feature) it is
    /// [`Error::Config`]. A `function` that is not a plain identifier (`[a-z_][a-z0-9_]*`)
    /// and a text argument holding NUL are [`Error::Config`] too.
    pub async fn platform_call(
        &self,
        ctx: &PlatformContext,
        function: &str,
        args: &[CallArg<'_>],
        commit: Commit,
    ) -> Result<Option<QueryResult>> {
        if self.backend() != Backend::Postgres {
            return Err(Error::Config(
                "Db::platform_call is only available on PostgreSQL".into(),
            ));
        }
        let call = Call::new(&ctx.actor().as_ref_string(), function, args, commit)?;
        self.call_postgres(call).await
    }

    #[cfg(feature = "postgres")]
    async fn call_postgres(&self, call: Call) -> Result<Option<QueryResult>> {
        use sea_orm::{ConnectionTrait, sqlx};
        let Some(pool) = &self.pg_pool else {
            let tx = self.begin_tx(false).await?;
            tx.execute_unprepared(&call.preamble).await?;
            let row = tx
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    call.select,
                ))
                .await?;
            tx.commit().await?;
            return Ok(row);
        };
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(call.message()))
            .fetch_optional(pool)
            .await
            .map_err(|e| {
                Error::Database(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(
                    e.into(),
                )))
            })?;
        Ok(row.map(QueryResult::from))
    }

    #[cfg(not(feature = "postgres"))]
    async fn call_postgres(&self, _call: Call) -> Result<Option<QueryResult>> {
        Err(Error::Config(
            "Db::platform_call needs helix-core's `postgres` feature".into(),
        ))
    }
}

/// What [`Db::platform_call`] sends: the preamble (`SET LOCAL`s) and the call.
struct Call {
    preamble: String,
    select: String,
}

impl Call {
    fn new(actor: &str, function: &str, args: &[CallArg<'_>], commit: Commit) -> Result<Self> {
        if !is_plain_identifier(function) {
            return Err(Error::Config(format!(
                "`{function}` is not a plain function name"
            )));
        }
        let mut preamble = format!(
            "SET LOCAL ROLE {PLATFORM_ROLE}; SET LOCAL helix.actor = {}; \
             SET LOCAL TimeZone = 'UTC';",
            sql_literal(actor)
        );
        if commit == Commit::Unflushed {
            preamble.push_str(" SET LOCAL synchronous_commit = off;");
        }
        let mut select = format!("SELECT * FROM {function}(");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                select.push_str(", ");
            }
            arg.write(&mut select)?;
        }
        select.push(')');
        Ok(Self { preamble, select })
    }

    /// The one simple-protocol message.
    fn message(&self) -> String {
        format!("{} {}", self.preamble, self.select)
    }
}

pub(super) fn is_plain_identifier(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_message_writes_typed_literals() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 13, 4, 5).single();
        let Some(at) = at else {
            panic!("a valid timestamp")
        };
        let id = Uuid::nil();
        let sql = Call::new(
            "system:o'brien",
            "helix_do_it",
            &[
                CallArg::Text("a'b\\c"),
                CallArg::Timestamp(at),
                CallArg::Uuid(id),
                CallArg::BigInt(-7),
            ],
            Commit::Unflushed,
        )
        .map(|c| c.message())
        .ok();
        assert_eq!(
            sql.as_deref(),
            Some(
                "SET LOCAL ROLE helix_platform; SET LOCAL helix.actor = E'system:o''brien'; \
                 SET LOCAL TimeZone = 'UTC'; SET LOCAL synchronous_commit = off; \
                 SELECT * FROM helix_do_it(E'a''b\\\\c', \
                 '2026-11-22T13:04:05.000000Z'::timestamptz, \
                 '00000000-0000-0000-0000-000000000000'::uuid, '-7'::bigint)"
            )
        );
        let flushed = Call::new("system:x", "f", &[], Commit::Flushed)
            .map(|c| c.message())
            .ok();
        assert_eq!(
            flushed.as_deref(),
            Some(
                "SET LOCAL ROLE helix_platform; SET LOCAL helix.actor = E'system:x'; \
                 SET LOCAL TimeZone = 'UTC'; SELECT * FROM f()"
            )
        );
        let nul = Call::new("system:x", "f", &[CallArg::Text("a\0b")], Commit::Flushed);
        assert!(nul.is_err());
    }

    #[test]
    fn only_plain_function_names_are_called() {
        for bad in ["", "F", "f()", "f; drop table x", "1f", "public.f", "f-g"] {
            assert!(
                Call::new("system:x", bad, &[], Commit::Flushed).is_err(),
                "{bad}"
            );
        }
    }
}
