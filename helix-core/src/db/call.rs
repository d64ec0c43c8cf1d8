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
    fn write(&self, out: &mut String) {
        match self {
            Self::Text(s) => out.push_str(&sql_literal(s)),
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
                out.push_str(&n.to_string());
                out.push_str("::bigint");
            }
        }
    }
}

/// When a [`Db::platform_call`]'s commit is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Commit {
    /// After the commit record is flushed to disk (PostgreSQL's `synchronous_commit`
    /// setting, `on` by default).
    #[default]
    Flushed,
    /// Without waiting for the flush (`SET LOCAL synchronous_commit = off`). The result is
    /// the same and consistent; only a database crash in the moment after the answer can
    /// lose the change (by default at most about 0.6 s of such commits, whole transactions,
    /// in order). Use it only for changes whose loss a client recovers from (a refresh
    /// token rotation: the client signs in again), never for revocations or money.
    Unflushed,
}

impl Db {
    /// Calls the set-returning database function `function` with `args` as the platform
    /// role, in one round trip, and returns the first row it returns (`None` when it
    /// returns none). See the [module documentation](self).
    ///
    /// The message is `SET LOCAL ROLE helix_platform; SET LOCAL helix.actor = ...;
    /// [SET LOCAL synchronous_commit = off;] SELECT * FROM function(args...)`: the same role
    /// and actor as [`Db::platform`], one implicit transaction. PostgreSQL only; on SQLite
    /// (or without the `postgres` feature) it is [`Error::Config`]. A `function` that is not
    /// a plain identifier (`[a-z_][a-z0-9_]*`) is [`Error::Config`] too.
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
        let sql = call_message(&ctx.actor().as_ref_string(), function, args, commit)?;
        self.call_postgres(sql).await
    }

    #[cfg(feature = "postgres")]
    async fn call_postgres(&self, sql: String) -> Result<Option<QueryResult>> {
        use sea_orm::sqlx;
        let pool = self.connection().get_postgres_connection_pool();
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
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
    async fn call_postgres(&self, _sql: String) -> Result<Option<QueryResult>> {
        Err(Error::Config(
            "Db::platform_call needs helix-core's `postgres` feature".into(),
        ))
    }
}

/// The message [`Db::platform_call`] sends.
fn call_message(
    actor: &str,
    function: &str,
    args: &[CallArg<'_>],
    commit: Commit,
) -> Result<String> {
    if !is_plain_identifier(function) {
        return Err(Error::Config(format!(
            "`{function}` is not a plain function name"
        )));
    }
    let mut sql = format!(
        "SET LOCAL ROLE {PLATFORM_ROLE}; SET LOCAL helix.actor = {}; ",
        sql_literal(actor)
    );
    if commit == Commit::Unflushed {
        sql.push_str("SET LOCAL synchronous_commit = off; ");
    }
    sql.push_str("SELECT * FROM ");
    sql.push_str(function);
    sql.push('(');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        arg.write(&mut sql);
    }
    sql.push(')');
    Ok(sql)
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
        let sql = call_message(
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
        .ok();
        assert_eq!(
            sql.as_deref(),
            Some(
                "SET LOCAL ROLE helix_platform; SET LOCAL helix.actor = E'system:o''brien'; \
                 SET LOCAL synchronous_commit = off; SELECT * FROM helix_do_it(E'a''b\\\\c', \
                 '2026-11-22T13:04:05.000000Z'::timestamptz, \
                 '00000000-0000-0000-0000-000000000000'::uuid, -7::bigint)"
            )
        );
        let flushed = call_message("system:x", "f", &[], Commit::Flushed).ok();
        assert_eq!(
            flushed.as_deref(),
            Some(
                "SET LOCAL ROLE helix_platform; SET LOCAL helix.actor = E'system:x'; SELECT * FROM f()"
            )
        );
    }

    #[test]
    fn only_plain_function_names_are_called() {
        for bad in ["", "F", "f()", "f; drop table x", "1f", "public.f", "f-g"] {
            assert!(
                call_message("system:x", bad, &[], Commit::Flushed).is_err(),
                "{bad}"
            );
        }
    }
}
