//! Benchmarks of the authorization engine (criterion means) plus a per-iteration sampling
//! pass that prints p50/p99/max, a casbin-rs comparison at 1,000 tenants and the memory
//! held per tuple and per assignment (`approx_bytes` and resident-memory growth).
//!
//! `cargo bench -p helix-iam --bench checks` (add `-- --quick` for a shorter criterion run).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary: setup failures abort it

use std::hint::black_box;
use std::time::{Duration, Instant};

use casbin::prelude::*;
use criterion::Criterion;
use helix_core::{DeclaredPermission, PermissionDef};
use helix_iam::model::{
    AssignmentRecord, AssignmentSource, ObjectRef, Resource, Revision, RoleRecord, Scope, Subject,
    TenantSnapshot, Tuple,
};
use helix_iam::{Catalog, Engine, EngineConfig, Schema, oracle};
use uuid::Uuid;

const PERMS: &[PermissionDef] = &[
    PermissionDef {
        name: "docs.documents.read",
        description: "",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "docs.documents.write",
        description: "",
        default_roles: &["admin", "member"],
    },
    PermissionDef {
        name: "docs.documents.delete",
        description: "",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "billing.invoices.read",
        description: "",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "billing.invoices.write",
        description: "",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "crm.contacts.read",
        description: "",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "crm.contacts.write",
        description: "",
        default_roles: &["admin", "member"],
    },
];

const SCHEMA: &str = "
type folder {
  relation parent: folder
  relation viewer: user | team#member
  permission view = viewer + parent->view
}
type document {
  relation parent: folder
  relation viewer: user | team#member
  permission view = viewer + parent->view
  bind docs.documents.read = view
}
";

fn catalog() -> Catalog {
    let d: Vec<DeclaredPermission> = PERMS
        .iter()
        .map(|def| DeclaredPermission {
            module: "bench",
            def: *def,
        })
        .collect();
    Catalog::build(&d).unwrap()
}

fn engine(cache: usize) -> Engine {
    let c = catalog();
    let s = Schema::build(&[("bench", SCHEMA)], &c).unwrap();
    Engine::new(
        c,
        s,
        EngineConfig {
            cache_capacity: cache,
            ..EngineConfig::default()
        },
    )
}

fn org(t: usize) -> Uuid {
    Uuid::from_u128(0x1_0000_0000 + t as u128)
}
fn user(t: usize, i: usize) -> Uuid {
    Uuid::from_u128(((t as u128) << 32) | (0x100_0000 + i as u128))
}
fn team(t: usize, i: usize) -> Uuid {
    Uuid::from_u128(((t as u128) << 32) | (0x200_0000 + i as u128))
}
fn role(i: usize) -> Uuid {
    Uuid::from_u128(0x300_0000 + i as u128)
}

const TEAMS: usize = 4;

/// A typical small organization: `users` members with a tenant-wide base role, four teams
/// (each with a team-scoped billing role), a few object-scoped admins and `docs` documents
/// shared through tuples.
fn tenant(t: usize, users: usize, docs: usize) -> TenantSnapshot {
    let roles: Vec<(&str, Vec<&str>)> = vec![
        ("owner", vec![]),
        ("admin", PERMS.iter().map(|p| p.name).collect()),
        (
            "member",
            vec![
                "docs.documents.read",
                "docs.documents.write",
                "crm.contacts.read",
                "crm.contacts.write",
            ],
        ),
        (
            "read_only",
            vec!["docs.documents.read", "crm.contacts.read"],
        ),
        (
            "billing",
            vec!["billing.invoices.read", "billing.invoices.write"],
        ),
    ];
    let roles: Vec<RoleRecord> = roles
        .into_iter()
        .enumerate()
        .map(|(i, (k, p))| RoleRecord {
            id: role(i),
            key: k.into(),
            name: k.into(),
            builtin: i < 4,
            permissions: p.into_iter().map(str::to_owned).collect(),
        })
        .collect();
    let mut assignments = Vec::new();
    let mut n = 0u128;
    let mut assign = |subject: Subject, r: usize, scope: Scope, source| {
        n += 1;
        assignments.push(AssignmentRecord {
            id: Uuid::from_u128(((t as u128) << 32) | (0x400_0000 + n)),
            subject,
            role_id: role(r),
            scope,
            source,
        });
    };
    for i in 0..users {
        let r = if i == 0 {
            0
        } else if i % 2 == 0 {
            2
        } else {
            3
        };
        assign(
            Subject::user(user(t, i)),
            r,
            Scope::Tenant,
            AssignmentSource::Membership,
        );
    }
    for k in 0..TEAMS {
        assign(
            Subject::team_members(team(t, k)),
            4,
            Scope::Team { id: team(t, k) },
            AssignmentSource::Explicit,
        );
    }
    for i in 0..users.min(5) {
        assign(
            Subject::user(user(t, i)),
            1,
            Scope::Object {
                object: ObjectRef::new("document", format!("d{i}")),
            },
            AssignmentSource::Explicit,
        );
    }
    let mut tuples = Vec::new();
    for i in 0..users {
        tuples.push(Tuple::new(
            ObjectRef::team(team(t, i % TEAMS)),
            "member",
            Subject::user(user(t, i)),
        ));
    }
    for k in 0..TEAMS {
        tuples.push(Tuple::new(
            ObjectRef::new("folder", format!("f{k}")),
            "viewer",
            Subject::team_members(team(t, k)),
        ));
    }
    for j in 0..docs {
        tuples.push(Tuple::new(
            ObjectRef::new("document", format!("d{j}")),
            "viewer",
            Subject::user(user(t, j % users)),
        ));
        tuples.push(Tuple::new(
            ObjectRef::new("document", format!("d{j}")),
            "parent",
            Subject::Set {
                object: ObjectRef::new("folder", format!("f{}", j % TEAMS)),
                relation: "self_".into(),
            },
        ));
    }
    TenantSnapshot {
        org_id: org(t),
        revision: Revision(1),
        roles,
        assignments,
        tuples,
    }
}

/// The RBAC check used uncached: a team-scoped role on an object owned by the team.
fn rbac_args(t: usize, i: usize) -> (Uuid, Uuid, Resource) {
    (
        org(t),
        user(t, i),
        Resource::Object {
            object: ObjectRef::new("document", format!("d{}", i % 40)),
            team: Some(team(t, i % TEAMS)),
        },
    )
}

/// A chain `document:doc -> folder:l1 -> … -> folder:l5`, each of the six objects with 100
/// team subject sets as viewers (each team of 5 users); `winner` is a member of the last
/// team of `folder:l5` only, `loser` of an unrelated team: both checks visit all 600 teams.
fn deep_tenant() -> (TenantSnapshot, Uuid, Uuid) {
    let t = 999_999;
    let mut tuples = Vec::new();
    let objs: Vec<ObjectRef> = std::iter::once(ObjectRef::new("document", "doc"))
        .chain((1..=5).map(|l| ObjectRef::new("folder", format!("l{l}"))))
        .collect();
    for (l, o) in objs.iter().enumerate() {
        if let Some(next) = objs.get(l + 1) {
            tuples.push(Tuple::new(
                o.clone(),
                "parent",
                Subject::Set {
                    object: next.clone(),
                    relation: "self_".into(),
                },
            ));
        }
        for k in 0..100 {
            let tm = team(t, l * 100 + k);
            tuples.push(Tuple::new(o.clone(), "viewer", Subject::team_members(tm)));
            for m in 0..5 {
                tuples.push(Tuple::new(
                    ObjectRef::team(tm),
                    "member",
                    Subject::user(user(t, 10 + (l * 100 + k) * 5 + m)),
                ));
            }
        }
    }
    let winner = user(t, 1);
    let loser = user(t, 2);
    tuples.push(Tuple::new(
        ObjectRef::team(team(t, 599)),
        "member",
        Subject::user(winner),
    ));
    tuples.push(Tuple::new(
        ObjectRef::team(team(t, 10_000)),
        "member",
        Subject::user(loser),
    ));
    (
        TenantSnapshot {
            org_id: org(t),
            revision: Revision(1),
            roles: Vec::new(),
            assignments: Vec::new(),
            tuples,
        },
        winner,
        loser,
    )
}

fn doc_res(id: &str) -> Resource {
    Resource::Object {
        object: ObjectRef::new("document", id),
        team: None,
    }
}

/// Per-iteration latencies: (p50, p99, max) in microseconds.
fn sample(iters: usize, mut f: impl FnMut(usize)) -> (f64, f64, f64) {
    for i in 0..iters.min(10_000) {
        f(i);
    }
    let mut v = Vec::with_capacity(iters);
    for i in 0..iters {
        let t0 = Instant::now();
        f(i);
        v.push(t0.elapsed());
    }
    v.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (
        us(v[iters / 2]),
        us(v[(iters * 99 / 100).min(iters - 1)]),
        us(v[iters - 1]),
    )
}

fn rss_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// A pseudo-random sequence, so consecutive checks hit different tenants.
fn mix(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 7)) % n
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut report: Vec<String> = Vec::new();
    let perm_read = "docs.documents.read";
    let perm_bill = "billing.invoices.read";

    // Memory per tuple and per assignment, two ways: `approx_bytes` (what the index's
    // containers hold) and the growth of resident memory. The resident figure is taken
    // after the build settles: one copy of the tenant is loaded first (its compile step's
    // freed temporaries stay with the allocator, ready for reuse), then COPIES more copies
    // under other organization ids, so the growth is what the held indexes cost and the
    // allocator's noise is spread over COPIES x 100,000 entries.
    const COPIES: usize = 8;
    const N: usize = 100_000;
    let mem = engine(0);
    let mut tuples_only = TenantSnapshot {
        org_id: org(777_777),
        revision: Revision(1),
        ..TenantSnapshot::default()
    };
    for j in 0..N {
        tuples_only.tuples.push(Tuple::new(
            ObjectRef::new("document", format!("{}", 1_000_000 + j)),
            "viewer",
            Subject::user(user(7, j % 5_000)),
        ));
    }
    let mut assigns_only = tenant(888_888, 1, 0);
    assigns_only.tuples.clear();
    assigns_only.assignments.clear();
    for j in 0..N {
        assigns_only.assignments.push(AssignmentRecord {
            id: Uuid::from_u128(0x5000_0000 + j as u128),
            subject: Subject::user(user(8, j % 20_000)),
            role_id: role(1 + j % 4),
            scope: match j % 3 {
                0 => Scope::Tenant,
                1 => Scope::Team {
                    id: team(8, j % 50),
                },
                _ => Scope::Object {
                    object: ObjectRef::new("invoice", format!("{}", 2_000_000 + j)),
                },
            },
            source: AssignmentSource::Explicit,
        });
    }
    let mut held = |snap: &mut TenantSnapshot, what: &str| {
        let base = snap.org_id;
        let r0 = rss_bytes();
        mem.load(snap).unwrap();
        let r1 = rss_bytes();
        for k in 1..=COPIES {
            snap.org_id = Uuid::from_u128(base.as_u128() + k as u128);
            mem.load(snap).unwrap();
        }
        let r2 = rss_bytes();
        snap.org_id = base;
        let idx = mem.tenant(base).unwrap();
        let entries = idx.tuple_count() + idx.assignment_count();
        assert_eq!(entries, N);
        let per = |a: Option<usize>, b: Option<usize>, n: usize| {
            a.zip(b)
                .map_or(0.0, |(a, b)| a.saturating_sub(b) as f64 / n as f64)
        };
        report.push(format!(
            "{what}: approx {:.0} B each; resident growth {:.0} B each over {COPIES} more copies \
             (first load, with its compile temporaries: {:.0} B each)",
            idx.approx_bytes() as f64 / N as f64,
            per(r2, r1, COPIES * N),
            per(r1, r0, N),
        ));
    };
    held(
        &mut tuples_only,
        "100,000 tuples (100,000 objects, 5,000 users)",
    );
    held(
        &mut assigns_only,
        "100,000 assignments (20,000 users, 1/3 object-scoped)",
    );
    // `mem` and the snapshots stay alive, so the 10,000-tenant figure below does not reuse
    // their memory.

    // 1 tenant, cached and uncached.
    let cached = engine(4096);
    cached.load(&tenant(0, 50, 200)).unwrap();
    let uncached = engine(0);
    uncached.load(&tenant(0, 50, 200)).unwrap();
    let cached_args = rbac_args(0, 3);
    assert!(
        cached
            .check(cached_args.0, cached_args.1, perm_bill, &cached_args.2)
            .unwrap()
            .allowed
    );
    let args1: Vec<_> = (0..50).map(|i| rbac_args(0, i)).collect();
    for a in &args1 {
        assert!(uncached.check(a.0, a.1, perm_bill, &a.2).unwrap().allowed);
    }
    c.bench_function("check/cached", |b| {
        b.iter(|| {
            black_box(
                cached
                    .check(cached_args.0, cached_args.1, perm_bill, &cached_args.2)
                    .unwrap(),
            )
        })
    });
    let mut i = 0;
    c.bench_function("check/uncached_rbac/1_tenant", |b| {
        b.iter(|| {
            i += 1;
            let a = &args1[i % args1.len()];
            black_box(uncached.check(a.0, a.1, perm_bill, &a.2).unwrap())
        })
    });
    let (p50, p99, max) = sample(200_000, |_| {
        black_box(
            cached
                .check(cached_args.0, cached_args.1, perm_bill, &cached_args.2)
                .unwrap(),
        );
    });
    report.push(format!(
        "cached check                      p50 {p50:7.2} us  p99 {p99:7.2} us  max {max:9.1} us"
    ));
    let (p50, p99, max) = sample(200_000, |i| {
        let a = &args1[i % args1.len()];
        black_box(uncached.check(a.0, a.1, perm_bill, &a.2).unwrap());
    });
    report.push(format!(
        "uncached RBAC, 1 tenant           p50 {p50:7.2} us  p99 {p99:7.2} us  max {max:9.1} us"
    ));

    // 10,000 tenants.
    let many = engine(0);
    let t0 = Instant::now();
    let rss0 = rss_bytes();
    for t in 0..10_000 {
        many.load(&tenant(t, 20, 40)).unwrap();
    }
    let load_s = t0.elapsed().as_secs_f64();
    let rss1 = rss_bytes();
    let bytes: usize = (0..10_000)
        .filter_map(|t| many.tenant(org(t)))
        .map(|x| x.approx_bytes())
        .sum();
    report.push(format!(
        "10,000 tenants loaded in {load_s:.2} s; approx_bytes {:.1} MB total; RSS grew {:.1} MB",
        bytes as f64 / 1e6,
        rss1.zip(rss0)
            .map_or(0.0, |(a, b)| a.saturating_sub(b) as f64 / 1e6)
    ));
    let argsn: Vec<_> = (0..100_000)
        .map(|i| rbac_args(mix(i, 10_000), i % 20))
        .collect();
    for a in argsn.iter().take(1000) {
        assert!(many.check(a.0, a.1, perm_bill, &a.2).unwrap().allowed);
    }
    let mut i = 0;
    c.bench_function("check/uncached_rbac/10000_tenants", |b| {
        b.iter(|| {
            i += 1;
            let a = &argsn[i % argsn.len()];
            black_box(many.check(a.0, a.1, perm_bill, &a.2).unwrap())
        })
    });
    let (p50, p99, max) = sample(200_000, |i| {
        let a = &argsn[i % argsn.len()];
        black_box(many.check(a.0, a.1, perm_bill, &a.2).unwrap());
    });
    report.push(format!(
        "uncached RBAC, 10,000 tenants     p50 {p50:7.2} us  p99 {p99:7.2} us  max {max:9.1} us"
    ));
    drop(many);

    // Relationship check, depth 5, fan-out 100.
    let deep = engine(0);
    let (snap, winner, loser) = deep_tenant();
    deep.load(&snap).unwrap();
    let d_org = snap.org_id;
    let res = doc_res("doc");
    assert!(deep.check(d_org, winner, perm_read, &res).unwrap().allowed);
    assert!(!deep.check(d_org, loser, perm_read, &res).unwrap().allowed);
    c.bench_function("check/relation_depth5_fanout100/allow", |b| {
        b.iter(|| black_box(deep.check(d_org, winner, perm_read, &res).unwrap()))
    });
    c.bench_function("check/relation_depth5_fanout100/deny", |b| {
        b.iter(|| black_box(deep.check(d_org, loser, perm_read, &res).unwrap()))
    });
    let (p50, p99, max) = sample(20_000, |_| {
        black_box(deep.check(d_org, winner, perm_read, &res).unwrap());
    });
    report.push(format!(
        "relation depth 5 x 100, allow     p50 {p50:7.2} us  p99 {p99:7.2} us  max {max:9.1} us"
    ));
    let (p50, p99, max) = sample(20_000, |_| {
        black_box(deep.check(d_org, loser, perm_read, &res).unwrap());
    });
    report.push(format!(
        "relation depth 5 x 100, deny      p50 {p50:7.2} us  p99 {p99:7.2} us  max {max:9.1} us"
    ));

    // casbin-rs at 1,000 tenants (one enforcer, domains), against the engine.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cat = catalog();
    let t0 = Instant::now();
    let mut e = rt.block_on(async {
        let m = DefaultModel::from_str(oracle::casbin_model())
            .await
            .unwrap();
        Enforcer::new(m, MemoryAdapter::default()).await.unwrap()
    });
    let mut lines = 0;
    for t in 0..1_000 {
        let (p, g) = oracle::policy_lines(&tenant(t, 20, 40), &cat);
        lines += p.len() + g.len();
        rt.block_on(async {
            e.add_policies(p).await.unwrap();
            e.add_grouping_policies(g).await.unwrap();
        });
    }
    let build_s = t0.elapsed().as_secs_f64();
    let reqs: Vec<[String; 5]> = (0..20)
        .map(|i| {
            let a = rbac_args(mix(i, 1_000), i % 20);
            oracle::request(a.0, a.1, &a.2, perm_bill)
        })
        .collect();
    let mut casbin_times = Vec::new();
    for r in &reqs {
        let t0 = Instant::now();
        let ok = e.enforce(r.to_vec()).unwrap();
        casbin_times.push(t0.elapsed());
        assert!(ok);
    }
    casbin_times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    report.push(format!(
        "casbin-rs, 1,000 tenants ({lines} policy lines, built in {build_s:.1} s): 20 checks, median {:.1} ms, max {:.1} ms",
        ms(casbin_times[casbin_times.len() / 2]),
        ms(casbin_times[casbin_times.len() - 1])
    ));

    c.final_summary();
    println!("\n== helix-iam engine: per-iteration sampling ==");
    for l in report {
        println!("{l}");
    }
}
