//! Relationship evaluation: bounded depth-first traversal with cycle detection.
//!
//! A node is `(object, relation)`. The traversal keeps the nodes of the current path on a
//! stack; reaching a node already on the path cuts the cycle there (that branch contributes
//! nothing, which computes the least fixpoint for unions and intersections; the schema
//! refuses recursion through exclusion). Results that did not depend on a cut are memoized
//! for the rest of the evaluation (and across the roots of one `list_objects`). Exceeding
//! the depth limit makes the branch `Unknown`, combined with Kleene logic; an `Unknown`
//! result at the root is reported as an error, never as an allow.

use super::index::{IdMap, SELF_REL, SetEdge, TenantIndex, node_key};
use crate::schema::{Expr, RelationKind, Schema};

/// Three-valued result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tri {
    Yes,
    No,
    /// The depth limit was reached before an answer.
    Unknown,
}

/// What the evaluation looks for at the leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    User(u32),
    /// A subject set `(object, relation)`.
    Set(u32, u32),
}

pub(crate) struct Out {
    pub tri: Tri,
    /// Lowest stack position of a cut this result depends on (`usize::MAX`: none).
    low: usize,
    /// With tracing: the nodes from the subject up to this node.
    pub path: Vec<String>,
}

impl Out {
    fn no() -> Self {
        Out {
            tri: Tri::No,
            low: usize::MAX,
            path: Vec::new(),
        }
    }
}

pub(crate) struct Evaluator<'a> {
    idx: &'a TenantIndex,
    schema: &'a Schema,
    target: Target,
    max_depth: usize,
    trace: bool,
    stack: Vec<u64>,
    memo: IdMap<u64, bool>,
    memo_paths: IdMap<u64, Vec<String>>,
    /// Nodes visited (for tests and benches).
    pub visits: usize,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(
        idx: &'a TenantIndex,
        schema: &'a Schema,
        target: Target,
        max_depth: usize,
        trace: bool,
    ) -> Self {
        Self {
            idx,
            schema,
            target,
            max_depth,
            trace,
            stack: Vec::new(),
            memo: IdMap::default(),
            memo_paths: IdMap::default(),
            visits: 0,
        }
    }

    /// Whether the target holds `rel` on `obj`.
    pub(crate) fn root(&mut self, obj: u32, rel: u32) -> Out {
        self.stack.clear();
        self.node(obj, rel, 0)
    }

    fn target_label(&self) -> String {
        match self.target {
            Target::User(u) => format!(
                "user:{}",
                self.idx
                    .user_ids()
                    .get(u as usize)
                    .map_or_else(|| "?".to_owned(), |id| id.to_string())
            ),
            Target::Set(o, r) => self.idx.node_label(self.schema, o, r),
        }
    }

    fn node(&mut self, obj: u32, rel: u32, depth: usize) -> Out {
        let key = node_key(obj, rel);
        if let Some(&v) = self.memo.get(&key) {
            return Out {
                tri: if v { Tri::Yes } else { Tri::No },
                low: usize::MAX,
                path: if v && self.trace {
                    self.memo_paths.get(&key).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                },
            };
        }
        if let Some(pos) = self.stack.iter().position(|k| *k == key) {
            return Out {
                tri: Tri::No,
                low: pos,
                path: Vec::new(),
            };
        }
        if depth > self.max_depth {
            return Out {
                tri: Tri::Unknown,
                low: usize::MAX,
                path: Vec::new(),
            };
        }
        self.visits += 1;
        let pos = self.stack.len();
        self.stack.push(key);
        let schema = self.schema;
        let mut out = match schema.relations().get(rel as usize).map(|r| &r.kind) {
            Some(RelationKind::Direct(_)) => self.direct(obj, rel, depth),
            Some(RelationKind::Computed(e)) => self.expr(e, obj, depth),
            None => Out::no(),
        };
        self.stack.pop();
        if self.trace && out.tri == Tri::Yes {
            out.path.push(self.idx.node_label(self.schema, obj, rel));
        }
        match out.tri {
            Tri::Yes => {
                self.memo.insert(key, true);
                if self.trace {
                    self.memo_paths.insert(key, out.path.clone());
                }
            }
            Tri::No if out.low >= pos => {
                self.memo.insert(key, false);
            }
            _ => {}
        }
        if out.low >= pos {
            out.low = usize::MAX;
        }
        out
    }

    fn direct(&mut self, obj: u32, rel: u32, depth: usize) -> Out {
        let hit = match self.target {
            Target::User(u) => self.idx.has_user(obj, rel, u),
            Target::Set(o, r) => self.idx.has_set(obj, rel, o, r),
        };
        if hit {
            return Out {
                tri: Tri::Yes,
                low: usize::MAX,
                path: if self.trace {
                    vec![self.target_label()]
                } else {
                    Vec::new()
                },
            };
        }
        let idx = self.idx;
        let sets = idx.sets_of(obj, rel);
        if sets.is_empty() {
            return Out::no();
        }
        let mut acc = Acc::union();
        for e in sets {
            if e.srel == SELF_REL {
                continue;
            }
            let o = self.node(e.obj, e.srel, depth + 1);
            if acc.union_step(o) {
                break;
            }
        }
        acc.finish()
    }

    fn expr(&mut self, e: &Expr, obj: u32, depth: usize) -> Out {
        match e {
            Expr::Rel(r) => self.node(obj, r.0, depth + 1),
            Expr::Arrow {
                tupleset, targets, ..
            } => {
                let idx = self.idx;
                let sets = idx.sets_of(obj, tupleset.0);
                if sets.is_empty() {
                    return Out::no();
                }
                let mut acc = Acc::union();
                for &SetEdge { obj: so, srel, .. } in sets {
                    if srel != SELF_REL {
                        continue;
                    }
                    let kind = idx.object_kind(so);
                    let Some(&(_, trel)) =
                        targets.iter().find(|(t, _)| Some(u32::from(t.0)) == kind)
                    else {
                        continue;
                    };
                    let o = self.node(so, trel.0, depth + 1);
                    if acc.union_step(o) {
                        break;
                    }
                }
                acc.finish()
            }
            Expr::Union(v) => {
                let mut acc = Acc::union();
                for x in v {
                    let o = self.expr(x, obj, depth);
                    if acc.union_step(o) {
                        break;
                    }
                }
                acc.finish()
            }
            Expr::Inter(v) => {
                let mut low = usize::MAX;
                let mut unknown = false;
                let mut path = Vec::new();
                for x in v {
                    let o = self.expr(x, obj, depth);
                    low = low.min(o.low);
                    match o.tri {
                        Tri::No => {
                            return Out {
                                tri: Tri::No,
                                low,
                                path: Vec::new(),
                            };
                        }
                        Tri::Unknown => unknown = true,
                        Tri::Yes => {
                            if path.is_empty() {
                                path = o.path;
                            }
                        }
                    }
                }
                Out {
                    tri: if unknown { Tri::Unknown } else { Tri::Yes },
                    low,
                    path,
                }
            }
            Expr::Excl(a, b) => {
                let oa = self.expr(a, obj, depth);
                if oa.tri == Tri::No {
                    return oa;
                }
                let ob = self.expr(b, obj, depth);
                let low = oa.low.min(ob.low);
                let tri = match (oa.tri, ob.tri) {
                    (_, Tri::Yes) => Tri::No,
                    (Tri::Yes, Tri::No) => Tri::Yes,
                    _ => Tri::Unknown,
                };
                Out {
                    tri,
                    low,
                    path: if tri == Tri::Yes { oa.path } else { Vec::new() },
                }
            }
        }
    }
}

/// Accumulates a union with Kleene logic.
struct Acc {
    unknown: bool,
    low: usize,
    yes: Option<Vec<String>>,
}

impl Acc {
    fn union() -> Self {
        Acc {
            unknown: false,
            low: usize::MAX,
            yes: None,
        }
    }

    /// Adds one branch; true when the union is decided (a branch said yes).
    fn union_step(&mut self, o: Out) -> bool {
        self.low = self.low.min(o.low);
        match o.tri {
            Tri::Yes => {
                self.yes = Some(o.path);
                true
            }
            Tri::Unknown => {
                self.unknown = true;
                false
            }
            Tri::No => false,
        }
    }

    fn finish(self) -> Out {
        match self.yes {
            Some(path) => Out {
                tri: Tri::Yes,
                low: self.low,
                path,
            },
            None => Out {
                tri: if self.unknown { Tri::Unknown } else { Tri::No },
                low: self.low,
                path: Vec::new(),
            },
        }
    }
}
