//! Streaming export of a tenant's audit log as CSV or JSON Lines.
//!
//! The export reads the chain in `seq` order in batches (keyset pagination, one short
//! transaction per batch) and yields one chunk per batch, so memory stays bounded whatever
//! the size of the log. Starting an export is itself audited (`audit.exported`) in its own
//! short write transaction; the batches are read in read-only transactions (deferred on
//! SQLite, so a streaming export never holds the write lock). The export covers the rows
//! that existed before that entry.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::Stream;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use super::entity::{Column, Entity, Model};
use super::{AuditEntry, AuditFilter};
use crate::context::TenantContext;
use crate::db::Db;
use crate::error::{Error, Result};

/// Rows per exported chunk.
const BATCH: u64 = 500;

/// The export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row; cells that a spreadsheet would read as a formula are
    /// prefixed with `'`.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl ExportFormat {
    /// The media type to serve the export with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::JsonLines => "application/jsonl",
        }
    }
}

const CSV_COLUMNS: [&str; 15] = [
    "id",
    "org_id",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "correlation_id",
    "ip",
    "user_agent",
    "data",
    "prev_hash",
    "hash",
    // Last, so the columns before it keep their positions.
    "impersonator",
];

enum State {
    Start,
    Rows { after: i64, through: i64 },
    Done,
}

struct Export {
    db: Db,
    ctx: TenantContext,
    filter: AuditFilter,
    format: ExportFormat,
    now: DateTime<Utc>,
}

/// Streams the tenant's audit rows matching `filter`, in chain order, as `format`.
///
/// The first item records an `audit.exported` entry (with the format and filter) in the
/// tenant's chain; the rows exported are those appended before it. Errors end the stream.
pub fn export(
    db: &Db,
    ctx: &TenantContext,
    filter: AuditFilter,
    format: ExportFormat,
    now: DateTime<Utc>,
) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
    let job = std::sync::Arc::new(Export {
        db: db.clone(),
        ctx: ctx.clone(),
        filter,
        format,
        now,
    });
    futures::stream::try_unfold(State::Start, move |state| {
        let job = job.clone();
        async move { job.step(state).await }
    })
}

impl Export {
    async fn step(&self, state: State) -> Result<Option<(Bytes, State)>> {
        match state {
            State::Done => Ok(None),
            State::Start => {
                // The one write: append the entry and commit before reading any row.
                let tx = self.db.tenant(&self.ctx).await?;
                let entry = AuditEntry {
                    action: "audit.exported".into(),
                    entity_type: "audit_log".into(),
                    entity_id: None,
                    data: json!({ "format": self.format, "filter": self.filter }),
                };
                let seq = super::append_in(&tx, self.now, entry).await?;
                tx.commit().await?;
                let header = match self.format {
                    ExportFormat::Csv => {
                        let mut line = CSV_COLUMNS.join(",");
                        line.push_str("\r\n");
                        Bytes::from(line)
                    }
                    ExportFormat::JsonLines => Bytes::new(),
                };
                Ok(Some((
                    header,
                    State::Rows {
                        after: 0,
                        through: seq - 1,
                    },
                )))
            }
            State::Rows { after, through } => {
                let tx = self.db.tenant_read(&self.ctx).await?;
                let rows = tx
                    .find::<Entity>()
                    .filter(self.filter.condition())
                    .filter(Column::Seq.gt(after))
                    .filter(Column::Seq.lte(through))
                    .order_by_asc(Column::Seq)
                    .limit(BATCH)
                    .all(tx.raw())
                    .await?;
                tx.rollback().await?;
                let Some(last) = rows.last().map(|r| r.seq) else {
                    return Ok(None);
                };
                let next = if (rows.len() as u64) < BATCH {
                    State::Done
                } else {
                    State::Rows {
                        after: last,
                        through,
                    }
                };
                Ok(Some((self.encode(&rows)?, next)))
            }
        }
    }

    fn encode(&self, rows: &[Model]) -> Result<Bytes> {
        let mut out = String::with_capacity(rows.len() * 512);
        for row in rows {
            match self.format {
                ExportFormat::Csv => csv_row(&mut out, row),
                ExportFormat::JsonLines => {
                    out.push_str(&serde_json::to_string(row).map_err(Error::internal)?);
                    out.push('\n');
                }
            }
        }
        Ok(Bytes::from(out))
    }
}

fn csv_row(out: &mut String, row: &Model) {
    let data = row.data.to_string();
    let cells: [&str; 15] = [
        &row.id.to_string(),
        &row.org_id.to_string(),
        &row.seq.to_string(),
        &row.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        &row.actor,
        &row.action,
        &row.entity_type,
        row.entity_id.as_deref().unwrap_or(""),
        &row.correlation_id,
        row.ip.as_deref().unwrap_or(""),
        row.user_agent.as_deref().unwrap_or(""),
        &data,
        &row.prev_hash,
        &row.hash,
        row.impersonator.as_deref().unwrap_or(""),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// Writes one CSV cell: formula-looking text gets a leading `'`; cells with a quote,
/// comma, or line break are quoted with inner quotes doubled.
pub(crate) fn csv_cell(out: &mut String, cell: &str) {
    let guarded = matches!(
        cell.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    );
    let needs_quotes = cell.contains([',', '"', '\n', '\r']);
    if needs_quotes {
        out.push('"');
    }
    if guarded {
        out.push('\'');
    }
    for c in cell.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if needs_quotes {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    fn cell(s: &str) -> String {
        let mut out = String::new();
        csv_cell(&mut out, s);
        out
    }

    #[test]
    fn escapes_csv_cells() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn guards_against_formula_injection() {
        assert_eq!(cell("=SUM(A1:A2)"), "'=SUM(A1:A2)");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@cmd"), "'@cmd");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(
            cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(cell("a=b"), "a=b");
    }
}
