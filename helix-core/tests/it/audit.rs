//! The audit log on both backends: append-only enforcement, verification, query, export,
//! retention and purge.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test bodies are plain async fns

use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::StreamExt;
use helix_core::audit::{self, AuditEntry, AuditFilter, BreakKind, ExportFormat, PLATFORM_CHAIN};
use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_core::{Actor, Backend, Db, Helix, PlatformContext, TenantContext, backend_test};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use audit::entity::{Column, Entity, Model};

fn tenant() -> TenantContext {
    TenantContext::new(Uuid::now_v7(), Actor::User(Uuid::now_v7()))
}

fn platform() -> PlatformContext {
    PlatformContext::system("audit-test")
}

async fn setup(t: &TestDb) {
    Helix::builder(t.db.clone()).build().await.unwrap();
}

/// Appends `n` entries, one transaction each, at `at`.
async fn append(db: &Db, ctx: &TenantContext, n: usize, at: DateTime<Utc>) {
    for i in 0..n {
        let tx = db.tenant(ctx).await.unwrap();
        audit::record(&tx, at, AuditEntry::new("thing.created", "thing", i))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

/// All rows of `org_id` in seq order, read with the owner connection.
async fn rows_of(db: &Db, org_id: Uuid) -> Vec<Model> {
    Entity::find()
        .filter(Column::OrgId.eq(org_id))
        .order_by_asc(Column::Seq)
        .all(db.connection())
        .await
        .unwrap()
}

fn err_text<T: std::fmt::Debug>(r: helix_core::Result<T>) -> String {
    format!(
        "{:?}",
        r.expect_err("the database accepted a change to the audit log")
    )
}

fn update_all(org_id: Uuid) -> sea_orm::sea_query::UpdateStatement {
    Query::update()
        .table(Alias::new("helix_audit_log"))
        .value(Alias::new("action"), Expr::value("forged"))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .to_owned()
}

fn delete_all(org_id: Uuid) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new("helix_audit_log"))
        .and_where(Expr::col(Alias::new("org_id")).eq(org_id))
        .to_owned()
}

async fn records_chain_in_business_transaction(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    for i in 0..3 {
        let tx = t.db.tenant(&ctx).await.unwrap();
        audit::record(
            &tx,
            chrono::Utc::now(),
            AuditEntry::new("thing.created", "thing", i).data(json!({"n": i, "password": "p"})),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let tx = t.db.tenant(&ctx).await.unwrap();
    let rows = tx
        .find::<audit::entity::Entity>()
        .all(tx.raw())
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let mut rows = rows;
    rows.sort_by_key(|r| r.seq);
    assert_eq!(rows[0].prev_hash, audit::GENESIS_HASH);
    for w in rows.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
    }
    for r in &rows {
        assert_eq!(r.recompute_hash(), r.hash);
        assert_eq!(r.data["password"], "[REDACTED]");
    }
}
backend_test!(records_chain, records_chain_in_business_transaction);

async fn update_and_delete_are_refused_body(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    let org = ctx.org_id();
    append(&t.db, &ctx, 2, Utc::now()).await;

    // Through the platform transaction.
    let tx = t.db.platform(&platform()).await.unwrap();
    let e = err_text(tx.raw().execute(&update_all(org)).await.map_err(Into::into));
    assert!(
        e.contains("append-only") || e.contains("permission denied"),
        "{e}"
    );
    drop(tx);
    let tx = t.db.platform(&platform()).await.unwrap();
    let e = err_text(tx.raw().execute(&delete_all(org)).await.map_err(Into::into));
    assert!(e.contains("helix_audit_log is append-only"), "{e}");
    drop(tx);

    // Through the plain (owner / superuser) connection: the trigger still refuses.
    let conn = t.db.connection();
    let e = err_text(conn.execute(&update_all(org)).await.map_err(Into::into));
    assert!(e.contains("helix_audit_log is append-only"), "{e}");
    let e = err_text(conn.execute(&delete_all(org)).await.map_err(Into::into));
    assert!(e.contains("helix_audit_log is append-only"), "{e}");

    // Through the tenant transaction.
    let tx = t.db.tenant(&ctx).await.unwrap();
    err_text(tx.raw().execute(&update_all(org)).await.map_err(Into::into));
    drop(tx);
    let tx = t.db.tenant(&ctx).await.unwrap();
    err_text(tx.raw().execute(&delete_all(org)).await.map_err(Into::into));
    drop(tx);

    if t.db.backend() == Backend::Postgres {
        let e = err_text(
            conn.execute_unprepared("TRUNCATE helix_audit_log")
                .await
                .map_err(Into::into),
        );
        assert!(e.contains("append-only"), "{e}");
        // The application role cannot open the purge guard...
        let tx = t.db.tenant(&ctx).await.unwrap();
        let open = format!(
            "INSERT INTO helix_audit_purge_guard (org_id, through_seq, run_id) VALUES ('{org}', 100, '{org}')"
        );
        let e = err_text(tx.raw().execute_unprepared(&open).await.map_err(Into::into));
        assert!(e.contains("permission denied"), "{e}");
        drop(tx);
        // ...and the platform role cannot leave it open past its transaction.
        let tx = t.db.platform(&platform()).await.unwrap();
        tx.raw().execute_unprepared(&open).await.unwrap();
        let e = err_text(tx.commit().await);
        assert!(e.contains("must be removed"), "{e}");
    }

    assert_eq!(rows_of(&t.db, org).await.len(), 2);
    assert!(audit::verify(&t.db, &ctx).await.unwrap().is_valid());
}
backend_test!(
    update_and_delete_are_refused,
    update_and_delete_are_refused_body
);

/// Runs `stmt` with the append-only triggers out of the way, as an attacker with owner
/// access would.
async fn tamper<S: sea_orm::StatementBuilder>(db: &Db, stmt: &S) {
    match db.backend() {
        Backend::Sqlite => {
            let conn = db.connection();
            conn.execute_unprepared(
                "DROP TRIGGER IF EXISTS helix_audit_log_no_update; DROP TRIGGER IF EXISTS helix_audit_log_no_delete;",
            )
            .await
            .unwrap();
            conn.execute(stmt).await.unwrap();
        }
        Backend::Postgres => {
            let tx = db.connection().begin().await.unwrap();
            tx.execute_unprepared("SET LOCAL session_replication_role = replica")
                .await
                .unwrap();
            tx.execute(stmt).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

fn by_id(id: Uuid) -> sea_orm::sea_query::SimpleExpr {
    Expr::col(Alias::new("id")).eq(id)
}

async fn verify_pinpoints_tampering_body(t: TestDb) {
    setup(&t).await;
    let now = Utc::now();
    let [edited, gap, tail, rehashed, clean] = [tenant(), tenant(), tenant(), tenant(), tenant()];
    for ctx in [&edited, &gap, &tail, &rehashed, &clean] {
        append(&t.db, ctx, 5, now).await;
    }

    // An edited row: its own hash no longer matches.
    let row3 = rows_of(&t.db, edited.org_id()).await.remove(2);
    let mut upd = Query::update();
    upd.table(Alias::new("helix_audit_log"))
        .value(Alias::new("action"), Expr::value("thing.deleted"))
        .and_where(by_id(row3.id));
    tamper(&t.db, &upd).await;
    let r = audit::verify(&t.db, &edited).await.unwrap();
    let brk = r.first_break.clone().unwrap();
    assert_eq!((brk.seq, brk.row_id), (3, Some(row3.id)));
    assert!(matches!(brk.kind, BreakKind::HashMismatch { ref stored, .. } if *stored == row3.hash));
    assert_eq!(r.last_valid_seq, 2);

    // A removed row in the middle: a seq gap at the next row.
    let rows = rows_of(&t.db, gap.org_id()).await;
    let mut del = Query::delete();
    del.from_table(Alias::new("helix_audit_log"))
        .and_where(by_id(rows[1].id));
    tamper(&t.db, &del).await;
    let brk = audit::verify(&t.db, &gap)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!((brk.seq, brk.row_id), (3, Some(rows[2].id)));
    assert_eq!(brk.kind, BreakKind::SeqGap { expected: 2 });

    // A removed last row: the head still remembers it.
    let rows = rows_of(&t.db, tail.org_id()).await;
    let mut del = Query::delete();
    del.from_table(Alias::new("helix_audit_log"))
        .and_where(by_id(rows[4].id));
    tamper(&t.db, &del).await;
    let brk = audit::verify_platform(&t.db, &platform(), tail.org_id())
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(brk.seq, 5);
    assert_eq!(brk.kind, BreakKind::TailMissing { head_seq: 5 });

    // An edited row whose hash was recomputed: the next row's link breaks.
    let rows = rows_of(&t.db, rehashed.org_id()).await;
    let mut forged = rows[1].clone();
    forged.action = "thing.deleted".into();
    let new_hash = forged.recompute_hash();
    let mut upd = Query::update();
    upd.table(Alias::new("helix_audit_log"))
        .value(Alias::new("action"), Expr::value("thing.deleted"))
        .value(Alias::new("hash"), Expr::value(new_hash.clone()))
        .and_where(by_id(rows[1].id));
    tamper(&t.db, &upd).await;
    let brk = audit::verify(&t.db, &rehashed)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!((brk.seq, brk.row_id), (3, Some(rows[2].id)));
    assert_eq!(
        brk.kind,
        BreakKind::PrevHashMismatch {
            expected: new_hash,
            found: rows[1].hash.clone()
        }
    );

    let ok = audit::verify(&t.db, &clean).await.unwrap();
    assert!(ok.is_valid(), "{ok:?}");
    assert_eq!((ok.rows_checked, ok.head_seq, ok.last_valid_seq), (5, 5, 5));
}
backend_test!(verify_pinpoints_tampering, verify_pinpoints_tampering_body);

async fn concurrent_appends_body(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (db, ctx) = (t.db.clone(), ctx.clone());
        tasks.push(tokio::spawn(async move {
            append(&db, &ctx, 10, Utc::now()).await
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seqs: Vec<i64> = rows_of(&t.db, ctx.org_id())
        .await
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
    let r = audit::verify(&t.db, &ctx).await.unwrap();
    assert!(r.is_valid(), "{r:?}");
    assert_eq!(r.rows_checked, 60);
}
backend_test!(concurrent_appends_make_one_chain, concurrent_appends_body);

async fn tenant_isolation_body(t: TestDb) {
    setup(&t).await;
    let (a, b) = (tenant(), tenant());
    append(&t.db, &a, 3, Utc::now()).await;
    let a_row = rows_of(&t.db, a.org_id()).await.remove(0);

    let tx = t.db.tenant(&b).await.unwrap();
    assert!(tx.find::<Entity>().all(tx.raw()).await.unwrap().is_empty());
    assert!(
        tx.find_by_id::<Entity, _>(a_row.id)
            .await
            .unwrap()
            .is_none()
    );
    let page = audit::query(&tx, &AuditFilter::default(), 1, 100)
        .await
        .unwrap();
    assert_eq!(page.meta.total, 0);
    if t.db.backend() == Backend::Postgres {
        // Row Level Security holds even for an unfiltered query.
        assert!(Entity::find().all(tx.raw()).await.unwrap().is_empty());
    }
    drop(tx);
    let out = collect(audit::export(
        &t.db,
        &b,
        AuditFilter::default(),
        ExportFormat::JsonLines,
        Utc::now(),
    ))
    .await;
    assert!(out.is_empty(), "{out}");
    // B's chain holds only B's own `audit.exported` entry.
    let r = audit::verify(&t.db, &b).await.unwrap();
    assert!(r.is_valid());
    assert_eq!(r.rows_checked, 1);
    let tx = t.db.tenant(&b).await.unwrap();
    let page = audit::query(&tx, &AuditFilter::default(), 1, 100)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].action, "audit.exported");
}
backend_test!(tenant_b_cannot_read_tenant_a, tenant_isolation_body);

async fn query_filters_body(t: TestDb) {
    setup(&t).await;
    let alice = tenant();
    let bob = TenantContext::new(alice.org_id(), Actor::User(Uuid::now_v7()));
    let base = (Utc::now() - Duration::hours(10)).trunc_subsecs(0);
    let entries = [
        (&alice, 0, "invoice.created", "invoice", "1"),
        (&alice, 1, "invoice.sent", "invoice", "1"),
        (&bob, 2, "invoice.created", "invoice", "2"),
        (&bob, 3, "contact.created", "contact", "1"),
        (&alice, 4, "invoice.paid", "invoice", "1"),
    ];
    for (ctx, h, action, ty, id) in entries {
        let tx = t.db.tenant(ctx).await.unwrap();
        audit::record(
            &tx,
            base + Duration::hours(h),
            AuditEntry::new(action, ty, id),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let tx = t.db.tenant(&alice).await.unwrap();
    let actions = |p: &helix_core::list::Page<Model>| {
        p.data.iter().map(|r| r.action.clone()).collect::<Vec<_>>()
    };

    let p = audit::query(&tx, &AuditFilter::entity("invoice", "1"), 1, 25)
        .await
        .unwrap();
    assert_eq!(
        actions(&p),
        ["invoice.paid", "invoice.sent", "invoice.created"]
    );
    assert_eq!(p.meta.total, 3);

    let f = AuditFilter {
        actor: Some(bob.actor().as_ref_string()),
        ..Default::default()
    };
    let p = audit::query(&tx, &f, 1, 25).await.unwrap();
    assert_eq!(actions(&p), ["contact.created", "invoice.created"]);

    let f = AuditFilter {
        action: Some("invoice.created".into()),
        ..Default::default()
    };
    assert_eq!(audit::query(&tx, &f, 1, 25).await.unwrap().meta.total, 2);

    let f = AuditFilter {
        from: Some(base + Duration::hours(1)),
        to: Some(base + Duration::hours(3)),
        ..Default::default()
    };
    let p = audit::query(&tx, &f, 1, 25).await.unwrap();
    assert_eq!(
        actions(&p),
        ["contact.created", "invoice.created", "invoice.sent"]
    );

    // Paging: newest first, total across pages.
    let p = audit::query(&tx, &AuditFilter::default(), 2, 2)
        .await
        .unwrap();
    assert_eq!(actions(&p), ["invoice.created", "invoice.sent"]);
    assert_eq!(
        (p.meta.total, p.meta.total_pages, p.meta.has_next),
        (5, 3, true)
    );

    // The standard list query, with its allow-list.
    let gte = (base + Duration::hours(2)).to_rfc3339();
    let q = ListQuery::parse(&format!(
        "filter[entity_type]=invoice&filter[occurred_at.gte]={}",
        urlencode(&gte)
    ))
    .unwrap();
    let p = audit::list(&tx, &q).await.unwrap();
    assert_eq!(actions(&p), ["invoice.paid", "invoice.created"]);
    let bad = ListQuery::parse("filter[data]=x&sort=hash:asc").unwrap();
    let err = audit::list(&tx, &bad).await.unwrap_err();
    assert_eq!(err.details().len(), 2);
}
backend_test!(query_filters, query_filters_body);

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn collect<S: futures::Stream<Item = helix_core::Result<bytes::Bytes>>>(s: S) -> String {
    let chunks: Vec<_> = s.collect().await;
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&c.unwrap());
    }
    String::from_utf8(out).unwrap()
}

async fn export_body(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    let now = Utc::now();
    let tx = t.db.tenant(&ctx).await.unwrap();
    audit::record(
        &tx,
        now,
        AuditEntry::new("note.created", "note", "=HYPERLINK(\"http://x\")")
            .data(json!({"text": "a, \"quoted\"\nline"})),
    )
    .await
    .unwrap();
    for i in 0..1100 {
        audit::record(&tx, now, AuditEntry::new("thing.created", "thing", i))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let csv = collect(audit::export(
        &t.db,
        &ctx,
        AuditFilter::entity("note", "=HYPERLINK(\"http://x\")"),
        ExportFormat::Csv,
        now,
    ))
    .await;
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "id,org_id,seq,occurred_at,actor,action,entity_type,entity_id,correlation_id,ip,user_agent,data,prev_hash,hash,impersonator"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(",note.created,note,\"'=HYPERLINK(\"\"http://x\"\")\","),
        "{row}"
    );
    assert!(
        row.contains(r#""{""text"":""a, \""quoted\""\nline""}""#),
        "{row}"
    );
    assert_eq!(lines.collect::<Vec<_>>(), [""]);

    // JSON Lines over several batches, in chain order; the export itself is audited after.
    let stream = audit::export(
        &t.db,
        &ctx,
        AuditFilter::default(),
        ExportFormat::JsonLines,
        now,
    );
    let chunks: Vec<_> = stream.collect().await;
    assert!(chunks.len() >= 3);
    let text: String = chunks
        .into_iter()
        .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
        .collect();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 1101 rows plus the first export's own entry.
    assert_eq!(rows.len(), 1102);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["seq"], i as i64 + 1);
    }
    assert_eq!(rows[0]["data"]["text"], "a, \"quoted\"\nline");
    assert_eq!(rows[1101]["action"], "audit.exported");
    let tx = t.db.tenant(&ctx).await.unwrap();
    let f = AuditFilter {
        action: Some("audit.exported".into()),
        ..Default::default()
    };
    assert_eq!(audit::query(&tx, &f, 1, 10).await.unwrap().meta.total, 2);
    drop(tx);
    assert!(audit::verify(&t.db, &ctx).await.unwrap().is_valid());
}
backend_test!(export_csv_and_jsonl, export_body);

async fn count_runs(db: &Db, run_id: Uuid) -> usize {
    let q = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new("helix_audit_purge_runs"))
        .and_where(Expr::col(Alias::new("id")).eq(run_id))
        .to_owned();
    db.connection().query_all(&q).await.unwrap().len()
}

async fn purge_body(t: TestDb) {
    setup(&t).await;
    let now = Utc::now();
    let pctx = platform();
    let (a, held, forever) = (tenant(), tenant(), tenant());
    for ctx in [&a, &held, &forever] {
        for days in [100, 60, 40, 10] {
            append(&t.db, ctx, 1, now - Duration::days(days)).await;
        }
    }
    for ctx in [&a, &held] {
        let tx = t.db.tenant(ctx).await.unwrap();
        audit::set_retention(&tx, now, Some(30)).await.unwrap();
        tx.commit().await.unwrap();
    }
    let tx = t.db.platform(&pctx).await.unwrap();
    audit::set_legal_hold(&tx, pctx.meta(), held.org_id(), now, true, Some("case 42"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let report = audit::purge(&t.db, &pctx, now).await.unwrap();
    assert_eq!(report.held, [held.org_id()]);
    assert!(report.failed.is_empty());
    assert_eq!(report.purged.len(), 1);
    assert_eq!(
        (report.purged[0].org_id, report.purged[0].rows_deleted),
        (a.org_id(), 3)
    );
    assert_eq!(report.purged[0].anchor.seq, 3);
    assert_eq!(count_runs(&t.db, report.run_id).await, 1);

    let rows = rows_of(&t.db, a.org_id()).await;
    let actions: Vec<_> = rows.iter().map(|r| (r.seq, r.action.as_str())).collect();
    assert_eq!(
        actions,
        [
            (4, "thing.created"),
            (5, "audit.retention_changed"),
            (6, "audit.purged")
        ]
    );
    assert_eq!(rows[2].data["run_id"], report.run_id.to_string());
    assert_eq!(rows_of(&t.db, held.org_id()).await.len(), 6); // 4 + retention + hold
    assert_eq!(rows_of(&t.db, forever.org_id()).await.len(), 4);
    let platform_rows = rows_of(&t.db, PLATFORM_CHAIN).await;
    assert_eq!(
        platform_rows.last().unwrap().action,
        "audit.purge_completed"
    );

    let r = audit::verify(&t.db, &a).await.unwrap();
    assert!(r.is_valid(), "{r:?}");
    assert_eq!((r.anchor.seq, r.rows_checked), (3, 3));
    for ctx in [&held, &forever] {
        assert!(audit::verify(&t.db, ctx).await.unwrap().is_valid());
    }
    assert!(
        audit::verify_platform(&t.db, &pctx, PLATFORM_CHAIN)
            .await
            .unwrap()
            .is_valid()
    );

    // Nothing more to do now; 25 days later the 10-day-old row has aged out too.
    assert!(
        audit::purge(&t.db, &pctx, now)
            .await
            .unwrap()
            .purged
            .is_empty()
    );
    let later = now + Duration::days(25);
    let report = audit::purge(&t.db, &pctx, later).await.unwrap();
    assert_eq!(report.purged[0].rows_deleted, 1);
    let r = audit::verify(&t.db, &a).await.unwrap();
    assert!(r.is_valid(), "{r:?}");
    assert_eq!(r.anchor.seq, 4);

    // Lifting the hold lets the next run purge the held tenant.
    let tx = t.db.platform(&pctx).await.unwrap();
    audit::set_legal_hold(&tx, pctx.meta(), held.org_id(), later, false, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let report = audit::purge(&t.db, &pctx, later).await.unwrap();
    assert_eq!(report.purged.len(), 1);
    assert_eq!(
        (report.purged[0].org_id, report.purged[0].rows_deleted),
        (held.org_id(), 4)
    );
    assert!(audit::verify(&t.db, &held).await.unwrap().is_valid());
}
backend_test!(purge_respects_retention_and_legal_hold, purge_body);

async fn purge_refuses_broken_prefix_body(t: TestDb) {
    setup(&t).await;
    let now = Utc::now();
    let ctx = tenant();
    append(&t.db, &ctx, 3, now - Duration::days(90)).await;
    let tx = t.db.tenant(&ctx).await.unwrap();
    audit::set_retention(&tx, now, Some(30)).await.unwrap();
    tx.commit().await.unwrap();
    let row2 = rows_of(&t.db, ctx.org_id()).await.remove(1);
    let mut upd = Query::update();
    upd.table(Alias::new("helix_audit_log"))
        .value(Alias::new("actor"), Expr::value("user:someone-else"))
        .and_where(by_id(row2.id));
    tamper(&t.db, &upd).await;

    let report = audit::purge(&t.db, &platform(), now).await.unwrap();
    assert!(report.purged.is_empty());
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (
            report.failed[0].chain_break.seq,
            report.failed[0].chain_break.row_id
        ),
        (2, Some(row2.id))
    );
    // The evidence is kept.
    assert_eq!(rows_of(&t.db, ctx.org_id()).await.len(), 4);
}
backend_test!(
    purge_refuses_broken_prefix,
    purge_refuses_broken_prefix_body
);

async fn retention_settings_body(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    let tx = t.db.tenant(&ctx).await.unwrap();
    assert_eq!(audit::retention(&tx).await.unwrap(), Default::default());
    assert_eq!(
        audit::set_retention(&tx, Utc::now(), Some(0))
            .await
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        audit::set_retention(&tx, Utc::now(), Some(40_000))
            .await
            .unwrap_err()
            .status(),
        400
    );
    // A tenant cannot shrink its retention below the minimum to wipe its own trail.
    let e = audit::set_retention(&tx, Utc::now(), Some(audit::MIN_RETENTION_DAYS - 1))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 400);
    match &e {
        helix_core::Error::Validation { details } => {
            assert_eq!(details.len(), 1);
            assert_eq!(
                (details[0].field.as_str(), details[0].code.as_str()),
                ("retention_days", "out_of_range")
            );
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(audit::retention(&tx).await.unwrap().retention_days, None);
    audit::set_retention(&tx, Utc::now(), Some(audit::MIN_RETENTION_DAYS))
        .await
        .unwrap();
    audit::set_retention(&tx, Utc::now(), Some(audit::MAX_RETENTION_DAYS))
        .await
        .unwrap();
    audit::set_retention(&tx, Utc::now(), Some(365))
        .await
        .unwrap();
    audit::set_retention(&tx, Utc::now(), None).await.unwrap();
    assert_eq!(audit::retention(&tx).await.unwrap().retention_days, None);
    tx.commit().await.unwrap();
    let rows = rows_of(&t.db, ctx.org_id()).await;
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].data, json!({"from_days": null, "to_days": 30}));
    assert_eq!(rows[1].data, json!({"from_days": 30, "to_days": 36_500}));
    assert_eq!(rows[2].data, json!({"from_days": 36_500, "to_days": 365}));
    assert_eq!(rows[3].data, json!({"from_days": 365, "to_days": null}));

    if t.db.backend() == Backend::Postgres {
        // A tenant cannot lift (or place) a legal hold by writing the table itself.
        let tx = t.db.tenant(&ctx).await.unwrap();
        let e = err_text(
            tx.raw()
                .execute_unprepared("UPDATE helix_audit_retention SET legal_hold = false")
                .await
                .map_err(Into::into),
        );
        assert!(e.contains("permission denied"), "{e}");
    }
}
backend_test!(
    retention_settings_are_validated_and_audited,
    retention_settings_body
);

/// `data` whose stored form differs from what was written (jsonb reorders keys and rewrites
/// numbers; text parsing may be one ulp off) still verifies.
async fn canonical_data_round_trips_body(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    // Built member by member so the insertion order is not sorted (it is kept when
    // serde_json's `preserve_order` feature is on).
    let mut inner = serde_json::Map::new();
    inner.insert("zeta".into(), json!(1));
    inner.insert(
        "alpha".into(),
        json!({"y": [3, {"b": 2, "a": 1}], "x": null}),
    );
    inner.insert("Mid".into(), json!(false));
    let mut data = serde_json::Map::new();
    data.insert("z_nested".into(), serde_json::Value::Object(inner));
    data.insert("int".into(), json!(42));
    data.insert("neg".into(), json!(-7));
    data.insert("big".into(), json!(9_007_199_254_740_993_i64));
    data.insert("huge".into(), json!(u64::MAX));
    data.insert("half".into(), json!(1.5));
    data.insert("e16".into(), json!(1e16));
    data.insert("neg_zero".into(), json!(-0.0));
    data.insert("third".into(), json!(0.1 + 0.2));
    data.insert("tiny".into(), json!(1.5e-7));
    data.insert("vast".into(), json!(1.234_567_890_123_45e200));
    data.insert("text".into(), json!("héllo 😀 \"q\" \\ /\n\t\u{1}\u{2028}"));
    data.insert("a_list".into(), json!([1, 1.25, "x", {"k2": 2, "k1": 1}]));
    let data = serde_json::Value::Object(data);
    let tx = t.db.tenant(&ctx).await.unwrap();
    audit::record(
        &tx,
        Utc::now(),
        AuditEntry::new("thing.created", "thing", 1).data(data.clone()),
    )
    .await
    .unwrap();
    audit::record(
        &tx,
        Utc::now(),
        AuditEntry::new("thing.updated", "thing", 1).data(json!({"after": 1})),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let rows = rows_of(&t.db, ctx.org_id()).await;
    assert_eq!(rows.len(), 2);
    let back = &rows[0].data;
    assert_eq!(back["z_nested"]["alpha"]["y"][1]["b"], 2);
    assert_eq!(back["big"], json!(9_007_199_254_740_993_i64));
    assert_eq!(back["huge"], json!(u64::MAX));
    assert_eq!(back["half"].as_f64(), Some(1.5));
    assert_eq!(back["e16"].as_f64(), Some(1e16));
    assert_eq!(back["neg_zero"].as_f64(), Some(0.0));
    assert_eq!(back["third"].as_f64(), Some(0.3));
    assert_eq!(back["text"], data["text"]);
    for r in &rows {
        assert_eq!(r.recompute_hash(), r.hash, "{:?}", r.data);
    }
    let report = audit::verify(&t.db, &ctx).await.unwrap();
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.rows_checked, 2);
}
backend_test!(
    verify_accepts_round_tripped_data,
    canonical_data_round_trips_body
);

/// Verifying and exporting read in read-only transactions: on SQLite they proceed while
/// another transaction holds the write lock.
async fn reads_do_not_take_the_write_lock_body(t: TestDb) {
    setup(&t).await;
    let ctx = tenant();
    append(&t.db, &ctx, 3, Utc::now()).await;
    let pctx = platform();
    let other = tenant();
    let writer = t.db.tenant(&other).await.unwrap();
    audit::record(
        &writer,
        Utc::now(),
        AuditEntry::new("thing.created", "thing", 0),
    )
    .await
    .unwrap();
    let within = std::time::Duration::from_secs(2);
    let r = tokio::time::timeout(within, audit::verify(&t.db, &ctx))
        .await
        .expect("verify waited for the write lock")
        .unwrap();
    assert!(r.is_valid(), "{r:?}");
    let r = tokio::time::timeout(within, audit::verify_platform(&t.db, &pctx, ctx.org_id()))
        .await
        .expect("verify_platform waited for the write lock")
        .unwrap();
    assert_eq!(r.rows_checked, 3);
    writer.commit().await.unwrap();
}
backend_test!(
    reads_do_not_take_the_write_lock,
    reads_do_not_take_the_write_lock_body
);

async fn impersonator_is_recorded_and_chained_body(t: TestDb) {
    setup(&t).await;
    let now = Utc::now();
    let (user, support) = (Uuid::now_v7(), Uuid::now_v7());
    let org = Uuid::now_v7();
    let plain = TenantContext::new(org, Actor::User(user));
    let impersonated = TenantContext::new(
        org,
        Actor::Impersonated {
            user,
            impersonator: support,
        },
    );
    // A chain mixing rows with and without an impersonator.
    append(&t.db, &plain, 2, now).await;
    append(&t.db, &impersonated, 2, now).await;
    append(&t.db, &plain, 1, now).await;

    let rows = rows_of(&t.db, org).await;
    assert_eq!(rows.len(), 5);
    let support_ref = format!("user:{support}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.actor, format!("user:{user}"), "row {i}");
        let expected = (i == 2 || i == 3).then(|| support_ref.clone());
        assert_eq!(row.impersonator, expected, "row {i}");
        assert_eq!(row.recompute_hash(), row.hash, "row {i}");
    }
    assert!(audit::verify(&t.db, &plain).await.unwrap().is_valid());

    // The filter finds the impersonated rows only.
    let tx = t.db.tenant(&plain).await.unwrap();
    let filter = AuditFilter {
        impersonator: Some(support_ref.clone()),
        ..AuditFilter::default()
    };
    let page = audit::query(&tx, &filter, 1, 25).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(page.data.len(), 2);
    assert!(
        page.data
            .iter()
            .all(|r| r.impersonator == Some(support_ref.clone()))
    );

    // Erasing the impersonator breaks the chain at that row.
    let mut upd = Query::update();
    upd.table(Alias::new("helix_audit_log"))
        .value(
            Alias::new("impersonator"),
            Expr::value(Option::<String>::None),
        )
        .and_where(by_id(rows[2].id));
    tamper(&t.db, &upd).await;
    let brk = audit::verify(&t.db, &plain)
        .await
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!((brk.seq, brk.row_id), (3, Some(rows[2].id)));
    assert!(matches!(brk.kind, BreakKind::HashMismatch { .. }));
}
backend_test!(
    impersonator_is_recorded_and_chained,
    impersonator_is_recorded_and_chained_body
);
