//! Tuples: batched idempotent writes, filtered reads, pagination without truncation.

use std::collections::BTreeSet;

use helix_core::backend_test;
use helix_core::list::ListQuery;
use helix_core::testing::TestDb;
use helix_iam::model::{ObjectRef, Subject, Tuple};
use helix_iam::store::{MAX_TUPLE_BATCH, TupleFilter, TupleWrite};
use uuid::Uuid;

use crate::common::*;
use crate::in_tx;

fn t(s: &str) -> Tuple {
    s.parse().unwrap()
}

async fn tuples_are_written_in_batches(t_: TestDb) {
    let fx = setup(&t_).await;
    let org = create_org(&fx.tenancy).await;
    let alice = Uuid::now_v7();
    let team = Uuid::now_v7();
    let batch = vec![
        t(&format!("document:1#viewer@user:{alice}")),
        t(&format!("document:1#editor@user:{alice}")),
        t(&format!("document:2#viewer@team:{team}#member")),
        t("document:2#parent@folder:root#self_"),
        t(&format!("document:1#viewer@user:{alice}")), // duplicate inside the batch
    ];
    let before = revision(&fx.db, &org.ctx).await;
    let out = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: batch.clone(),
                delete: vec![],
            }
        )
        .await
        .unwrap());
    assert_eq!((out.inserted, out.deleted), (4, 0));
    assert_eq!(out.revision.0, before.0 + 4);

    // Writing them again changes nothing.
    let again = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: batch.clone(),
                delete: vec![t("document:9#viewer@folder:x#self_")],
            }
        )
        .await
        .unwrap());
    assert_eq!((again.inserted, again.deleted), (0, 0));
    assert_eq!(again.revision, out.revision);

    // Filters.
    let read = |filter: TupleFilter| {
        let fx = &fx;
        let ctx = org.ctx.clone();
        async move {
            let tx = fx.db.tenant_read(&ctx).await.unwrap();
            let page = fx
                .store
                .list_tuples(&tx, &filter, &ListQuery::default())
                .await
                .unwrap();
            assert_eq!(page.meta.total as usize, page.data.len());
            page.data
        }
    };
    assert_eq!(
        read(TupleFilter::object(&ObjectRef::new("document", "1")))
            .await
            .len(),
        2
    );
    assert_eq!(
        read(TupleFilter {
            relation: Some("viewer".into()),
            ..TupleFilter::default()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        read(TupleFilter {
            subject: Some(Subject::user(alice)),
            ..TupleFilter::default()
        })
        .await
        .len(),
        2
    );
    let by_team = read(TupleFilter {
        subject: Some(Subject::team_members(team)),
        ..TupleFilter::default()
    })
    .await;
    assert_eq!(by_team, vec![batch[2].clone()]);

    // Delete and insert in one batch.
    let mixed = in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: vec![t("document:3#viewer@folder:root#self_")],
                delete: vec![batch[0].clone(), batch[3].clone()],
            }
        )
        .await
        .unwrap());
    assert_eq!((mixed.inserted, mixed.deleted), (1, 2));
    assert_eq!(mixed.revision.0, out.revision.0 + 3);
    assert_eq!(read(TupleFilter::default()).await.len(), 3);
}
backend_test!(tuples_are_written_in_batches, tuples_are_written_in_batches);

async fn bad_tuple_batches_are_refused(t_: TestDb) {
    let fx = setup(&t_).await;
    let org = create_org(&fx.tenancy).await;
    let u = Uuid::now_v7();
    let one = t(&format!("document:1#viewer@user:{u}"));
    let cases = vec![
        // Team membership belongs to helix-tenancy.
        TupleWrite {
            insert: vec![t(&format!("team:{u}#member@user:{u}"))],
            delete: vec![],
        },
        // The same tuple inserted and deleted.
        TupleWrite {
            insert: vec![one.clone()],
            delete: vec![one.clone()],
        },
        // Built in code without validation.
        TupleWrite {
            insert: vec![Tuple::new(
                ObjectRef::new("Doc", "1"),
                "viewer",
                Subject::user(u),
            )],
            delete: vec![],
        },
        // Too many.
        TupleWrite {
            insert: (0..=MAX_TUPLE_BATCH)
                .map(|i| t(&format!("document:{i}#viewer@user:{u}")))
                .collect(),
            delete: vec![],
        },
    ];
    let before = revision(&fx.db, &org.ctx).await;
    for w in cases {
        let tx = fx.db.tenant(&org.ctx).await.unwrap();
        assert_eq!(
            code(fx.store.write_tuples(&tx, &w).await),
            "VALIDATION_ERROR"
        );
    }
    assert_eq!(revision(&fx.db, &org.ctx).await, before);
    let tx = fx.db.tenant(&org.ctx).await.unwrap();
    let bad_filter = TupleFilter {
        object_type: Some("Doc".into()),
        ..TupleFilter::default()
    };
    assert_eq!(
        code(
            fx.store
                .list_tuples(&tx, &bad_filter, &ListQuery::default())
                .await
        ),
        "VALIDATION_ERROR"
    );
}
backend_test!(bad_tuple_batches_are_refused, bad_tuple_batches_are_refused);

async fn tuple_pages_cover_everything_once(t_: TestDb) {
    let fx = setup(&t_).await;
    let org = create_org(&fx.tenancy).await;
    let users: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    // 3 objects x 2 relations x 4 users = 24 tuples sharing many sort prefixes.
    let mut all = BTreeSet::new();
    for o in 0..3 {
        for rel in ["editor", "viewer"] {
            for u in &users {
                all.insert(t(&format!("document:{o}#{rel}@user:{u}")));
            }
        }
    }
    in_tx!(fx.db, &org.ctx, |tx| fx
        .store
        .write_tuples(
            &tx,
            &TupleWrite {
                insert: all.iter().cloned().collect(),
                delete: vec![],
            }
        )
        .await
        .unwrap());
    let mut seen = BTreeSet::new();
    let mut page_no = 1;
    loop {
        let q = ListQuery::parse(&format!("limit=5&page={page_no}")).unwrap();
        let tx = fx.db.tenant_read(&org.ctx).await.unwrap();
        let page = fx
            .store
            .list_tuples(&tx, &TupleFilter::default(), &q)
            .await
            .unwrap();
        assert_eq!(page.meta.total, 24);
        for tuple in page.data {
            assert!(seen.insert(tuple), "a tuple appeared on two pages");
        }
        if !page.meta.has_next {
            break;
        }
        page_no += 1;
    }
    assert_eq!(page_no, 5);
    assert_eq!(seen, all);
}
backend_test!(
    tuple_pages_cover_everything_once,
    tuple_pages_cover_everything_once
);
