//! Verification of a tenant's chain: walks it in `seq` order, in batches, from the anchor
//! the last purge recorded (or from genesis), and reports the first broken link.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

use super::chain::{GENESIS_HASH, HEADS};
use super::entity::{self, Column, Entity};
use crate::context::{PlatformContext, TenantContext};
use crate::db::Db;
use crate::error::Result;

/// Rows read per batch while verifying.
const BATCH: u64 = 500;

pub(crate) const ANCHORS: &str = "helix_audit_anchors";

/// Where verification starts: the last row removed by a purge (or genesis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The `seq` of the last purged row (0 for genesis).
    pub seq: i64,
    /// The hash of the last purged row ([`GENESIS_HASH`] for genesis).
    pub hash: String,
}

impl Anchor {
    fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// Why a link of the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BreakKind {
    /// The row's stored hash differs from the hash of its contents: the row was edited.
    HashMismatch {
        /// The hash stored in the row.
        stored: String,
        /// The hash recomputed from the row's fields.
        computed: String,
    },
    /// The row's `prev_hash` is not the previous row's hash: a row was replaced or
    /// re-hashed.
    PrevHashMismatch {
        /// The previous row's hash (or the anchor's).
        expected: String,
        /// The `prev_hash` stored in the row.
        found: String,
    },
    /// The row's `seq` is not the next one: rows are missing before it.
    SeqGap {
        /// The `seq` that should have come next.
        expected: i64,
    },
    /// The chain ends before the head recorded in `helix_audit_heads`: rows were removed
    /// from the end.
    TailMissing {
        /// The head's `seq`.
        head_seq: i64,
    },
    /// The last row's hash is not the hash recorded in the head.
    HeadMismatch {
        /// The hash the head records.
        head_hash: String,
    },
}

/// The first broken link found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The `seq` of the offending row (for [`BreakKind::TailMissing`], the first missing seq).
    pub seq: i64,
    /// The offending row's id, when there is a row.
    pub row_id: Option<Uuid>,
    /// What is wrong.
    pub kind: BreakKind,
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The chain verified.
    pub org_id: Uuid,
    /// Where verification started.
    pub anchor: Anchor,
    /// The head `seq` when verification started (rows appended later are not checked).
    pub head_seq: i64,
    /// Rows checked.
    pub rows_checked: u64,
    /// The `seq` of the last row that verified.
    pub last_valid_seq: i64,
    /// The first broken link, if any.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    /// Whether the whole chain verified.
    pub fn is_valid(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Checks rows one after another against the expected `seq` and `prev_hash`.
#[derive(Debug, Clone)]
pub(crate) struct ChainCursor {
    pub(crate) last_seq: i64,
    pub(crate) last_hash: String,
}

impl ChainCursor {
    pub(crate) fn from_anchor(anchor: &Anchor) -> Self {
        Self {
            last_seq: anchor.seq,
            last_hash: anchor.hash.clone(),
        }
    }

    /// Checks `row` as the next link; on success the cursor moves past it.
    pub(crate) fn check(&mut self, row: &entity::Model) -> Result<(), ChainBreak> {
        let brk = |kind| ChainBreak {
            seq: row.seq,
            row_id: Some(row.id),
            kind,
        };
        if row.seq != self.last_seq + 1 {
            return Err(brk(BreakKind::SeqGap {
                expected: self.last_seq + 1,
            }));
        }
        let computed = row.recompute_hash();
        if computed != row.hash {
            return Err(brk(BreakKind::HashMismatch {
                stored: row.hash.clone(),
                computed,
            }));
        }
        if row.prev_hash != self.last_hash {
            return Err(brk(BreakKind::PrevHashMismatch {
                expected: self.last_hash.clone(),
                found: row.prev_hash.clone(),
            }));
        }
        self.last_seq = row.seq;
        self.last_hash.clone_from(&row.hash);
        Ok(())
    }
}

/// Reads the anchor of `org_id` (genesis when the chain was never purged).
pub(crate) async fn read_anchor(conn: &DatabaseTransaction, org_id: Uuid) -> Result<Anchor> {
    let stmt = Query::select()
        .columns([Alias::new("seq"), Alias::new("hash")])
        .from(Alias::new(ANCHORS))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .to_owned();
    match conn.query_one(&stmt).await? {
        Some(row) => Ok(Anchor {
            seq: row.try_get("", "seq")?,
            hash: row.try_get("", "hash")?,
        }),
        None => Ok(Anchor::genesis()),
    }
}

/// Reads the head `(seq, hash)` of `org_id` (`None` when nothing was ever appended).
pub(crate) async fn read_head(
    conn: &DatabaseTransaction,
    org_id: Uuid,
) -> Result<Option<(i64, String)>> {
    let stmt = Query::select()
        .columns([Alias::new("seq"), Alias::new("hash")])
        .from(Alias::new(HEADS))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .to_owned();
    match conn.query_one(&stmt).await? {
        Some(row) => Ok(Some((row.try_get("", "seq")?, row.try_get("", "hash")?))),
        None => Ok(None),
    }
}

/// Reads up to `limit` rows of `org_id` with `after < seq <= through`, in `seq` order.
pub(crate) async fn read_batch(
    conn: &DatabaseTransaction,
    org_id: Uuid,
    after: i64,
    through: i64,
    limit: u64,
) -> Result<Vec<entity::Model>> {
    Ok(Entity::find()
        .filter(Column::OrgId.eq(org_id))
        .filter(Column::Seq.gt(after))
        .filter(Column::Seq.lte(through))
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Who is verifying: a tenant its own chain, or the platform any chain.
enum Reader<'a> {
    Tenant(&'a TenantContext),
    Platform(&'a PlatformContext),
}

impl Reader<'_> {
    /// Opens a fresh, short read-only transaction of the right kind (`READ ONLY` on
    /// PostgreSQL, deferred on SQLite: verifying never takes SQLite's write lock).
    async fn begin(&self, db: &Db) -> Result<ReadTx> {
        Ok(match self {
            Self::Tenant(ctx) => ReadTx::Tenant(db.tenant_read(ctx).await?),
            Self::Platform(ctx) => ReadTx::Platform(db.platform_read(ctx).await?),
        })
    }
}

enum ReadTx {
    Tenant(crate::db::TenantTx),
    Platform(crate::db::PlatformTx),
}

impl ReadTx {
    fn raw(&self) -> &DatabaseTransaction {
        match self {
            Self::Tenant(tx) => tx.raw(),
            Self::Platform(tx) => tx.raw(),
        }
    }

    async fn finish(self) -> Result<()> {
        match self {
            Self::Tenant(tx) => tx.rollback().await,
            Self::Platform(tx) => tx.rollback().await,
        }
    }
}

/// Verifies the chain of the context's own tenant.
pub async fn verify(db: &Db, ctx: &TenantContext) -> Result<VerifyReport> {
    run(db, Reader::Tenant(ctx), ctx.org_id()).await
}

/// Verifies the chain of `org_id` on the platform path (any tenant, or
/// [`super::PLATFORM_CHAIN`]).
pub async fn verify_platform(db: &Db, ctx: &PlatformContext, org_id: Uuid) -> Result<VerifyReport> {
    run(db, Reader::Platform(ctx), org_id).await
}

async fn run(db: &Db, reader: Reader<'_>, org_id: Uuid) -> Result<VerifyReport> {
    // Anchor and head are read together, so the walk covers exactly what existed then.
    let tx = reader.begin(db).await?;
    let anchor = read_anchor(tx.raw(), org_id).await?;
    let head = read_head(tx.raw(), org_id).await?;
    tx.finish().await?;
    // Without a head nothing was ever appended: any row found is a forgery.
    let (head_seq, head_hash) = head.clone().unwrap_or((0, GENESIS_HASH.to_owned()));
    let through = if head.is_some() { head_seq } else { i64::MAX };

    let mut cursor = ChainCursor::from_anchor(&anchor);
    let mut report = VerifyReport {
        org_id,
        anchor,
        head_seq,
        rows_checked: 0,
        last_valid_seq: cursor.last_seq,
        first_break: None,
    };
    loop {
        // One short transaction per batch; keyset on seq, so concurrent appends (beyond
        // `through`) do not disturb the walk.
        let tx = reader.begin(db).await?;
        let rows = read_batch(tx.raw(), org_id, cursor.last_seq, through, BATCH).await?;
        // A purge that ran meanwhile removed a prefix and moved the anchor: resume there.
        let suspicious = match rows.first() {
            Some(first) => first.seq != cursor.last_seq + 1,
            None => cursor.last_seq < head_seq,
        };
        let moved = if suspicious {
            let now = read_anchor(tx.raw(), org_id).await?;
            (now.seq > cursor.last_seq).then_some(now)
        } else {
            None
        };
        tx.finish().await?;
        if let Some(now) = moved {
            cursor = ChainCursor::from_anchor(&now);
            report.anchor = now;
            report.last_valid_seq = cursor.last_seq;
            if rows.is_empty() {
                continue;
            }
        }
        let done = (rows.len() as u64) < BATCH;
        let skip = cursor.last_seq;
        for row in rows.iter().filter(|r| r.seq > skip) {
            if let Err(brk) = cursor.check(row) {
                report.first_break = Some(brk);
                return Ok(report);
            }
            report.rows_checked += 1;
            report.last_valid_seq = cursor.last_seq;
        }
        if done {
            break;
        }
    }
    if head.is_none() {
        if report.rows_checked > 0 {
            report.first_break = Some(ChainBreak {
                seq: cursor.last_seq,
                row_id: None,
                kind: BreakKind::HeadMismatch { head_hash },
            });
        }
    } else if cursor.last_seq < head_seq {
        report.first_break = Some(ChainBreak {
            seq: cursor.last_seq + 1,
            row_id: None,
            kind: BreakKind::TailMissing { head_seq },
        });
    } else if cursor.last_hash != head_hash {
        report.first_break = Some(ChainBreak {
            seq: cursor.last_seq,
            row_id: None,
            kind: BreakKind::HeadMismatch { head_hash },
        });
    }
    Ok(report)
}
