//! The relationship schema: object types, their relations and rewrites, and the binding of
//! catalog permissions to relations.
//!
//! Each module provides a fragment in a small text format (see the book's "IAM engine"
//! chapter); [`Schema::build`] merges the fragments, resolves every name and validates the
//! whole against the [`Catalog`]:
//!
//! ```text
//! type folder {
//!   relation parent: folder
//!   relation viewer: user | team#member
//!   permission view = viewer + parent->view
//! }
//! type document {
//!   relation parent: folder
//!   relation viewer: user | team#member
//!   relation banned: user
//!   permission view = viewer + parent->view - banned   // ((viewer + parent->view) - banned)
//!   bind docs.documents.read = view
//! }
//! ```
//!
//! - `relation name: t1 | t2#rel | t3` is stored in tuples; its subjects are users (`user`),
//!   subject sets (`team#member`: tuples `…@team:eng#member`) or bare objects (`folder`:
//!   tuples `…@folder:a#self_`, see [`SELF_RELATION`]), used by arrows.
//! - `permission name = expr` is computed: a relation of the same object (`viewer`), a
//!   relation on the objects a relation points at (`parent->view`), union `+`,
//!   intersection `&` and exclusion `-`; operators are left-associative with equal
//!   precedence, parentheses group.
//! - `bind perm[, perm…] = name` lets a check of catalog permission `perm` on an object of
//!   this type be satisfied by relation `name`.
//!
//! The built-in types `user` (no relations) and `team` (`relation member: user`) are always
//! present.

mod parser;

use std::collections::HashMap;

use crate::catalog::{Catalog, PermId};
use crate::model::{MEMBER_RELATION, Subject, TEAM_TYPE, Tuple, USER_TYPE};
use parser::{ExprAst, MemberAst, TypeAst};

/// The relation a tuple's subject names when it points at an object itself rather than a
/// set of users: `document:1#parent@folder:a#self_` makes folder `a` the document's parent.
pub const SELF_RELATION: &str = "self_";

/// The module name the built-in types are declared under.
pub const BUILTIN_MODULE: &str = "helix-iam";

/// The built-in fragment: tenancy teams.
pub const BUILTIN_SCHEMA: &str = "type team {\n  relation member: user\n}\n";

/// Index of an object type in a [`Schema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u16);

/// Index of a relation (or permission) of some type in a [`Schema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelId(pub u32);

/// What a tuple's subject resolved to ([`Schema::resolve_tuple`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleSubject {
    /// One user.
    User,
    /// A bare object (`folder:a#self_`).
    Object,
    /// A subject set: everyone holding this relation on the subject object.
    Set(RelId),
}

/// Why the schema was refused. Every variant names the module and, where it applies, the
/// line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The text does not follow the grammar.
    #[error("schema of `{module}`, line {line}, column {col}: {message}")]
    Parse {
        /// The module whose fragment it is.
        module: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (0 at the end of the text).
        col: usize,
        /// What was expected.
        message: String,
    },
    /// A type is declared twice (in one fragment or by two modules).
    #[error("type `{name}` is declared by both `{first}` and `{second}` (line {line})")]
    DuplicateType {
        /// The type.
        name: String,
        /// The first module.
        first: String,
        /// The second module.
        second: String,
        /// The second declaration's line.
        line: usize,
    },
    /// A name is not valid in its place (a duplicate relation, a reserved name, …).
    #[error("schema of `{module}`, line {line}: {message}")]
    Invalid {
        /// The module.
        module: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A binding names a permission the catalog does not hold.
    #[error(
        "schema of `{module}`, line {line}: `bind {permission}`: unknown permission (no registered module declares it)"
    )]
    UnknownPermission {
        /// The module.
        module: String,
        /// 1-based line.
        line: usize,
        /// The permission.
        permission: String,
    },
}

/// A subject type a direct relation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedSubject {
    /// `user`: one user.
    User,
    /// A bare type (`folder`): the object itself, written `folder:a#self_`.
    Object(TypeId),
    /// `team#member`: everyone holding the relation on an object of the type.
    Set(TypeId, RelId),
}

/// A resolved rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Another relation of the same object.
    Rel(RelId),
    /// The relation `name` on every object the tupleset relation points at; `targets` gives,
    /// per allowed type of the tupleset, the relation that name resolves to.
    Arrow {
        /// The direct relation of this type whose tuples point at other objects.
        tupleset: RelId,
        /// The relation's name on the target types.
        name: String,
        /// `(target type, relation)` for every type the tupleset allows.
        targets: Vec<(TypeId, RelId)>,
    },
    /// Any of them.
    Union(Vec<Expr>),
    /// All of them.
    Inter(Vec<Expr>),
    /// The first but not the second.
    Excl(Box<Expr>, Box<Expr>),
}

/// What a relation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationKind {
    /// Stored in tuples, with the subject types it accepts.
    Direct(Vec<AllowedSubject>),
    /// Computed from other relations.
    Computed(Expr),
}

/// A relation or permission of a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationDef {
    /// The type it belongs to.
    pub type_id: TypeId,
    /// Its name.
    pub name: String,
    /// What it is.
    pub kind: RelationKind,
}

/// An object type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    /// Its name.
    pub name: String,
    /// The module that declared it.
    pub module: String,
    /// Relations by name.
    pub relations: HashMap<String, RelId>,
    /// Catalog permissions bound to relations of this type.
    pub bindings: Vec<(PermId, RelId)>,
}

/// The merged, validated relationship schema.
#[derive(Debug, Clone)]
pub struct Schema {
    types: Vec<TypeDef>,
    type_ids: HashMap<String, TypeId>,
    rels: Vec<RelationDef>,
    /// `(type, permission) -> relations` bound.
    bound: HashMap<(TypeId, PermId), Vec<RelId>>,
}

struct Pending<'a> {
    module: &'a str,
    ast: TypeAst,
}

impl Schema {
    /// Parses, merges and validates the fragments `(module, text)` (as
    /// `helix_core::Helix::authz_schemas` gives them), plus the built-in types.
    pub fn build(fragments: &[(&str, &str)], catalog: &Catalog) -> Result<Self, SchemaError> {
        let mut pending: Vec<Pending<'_>> = Vec::new();
        for ast in parser::parse(BUILTIN_MODULE, BUILTIN_SCHEMA)? {
            pending.push(Pending {
                module: BUILTIN_MODULE,
                ast,
            });
        }
        for (module, text) in fragments {
            for ast in parser::parse(module, text)? {
                pending.push(Pending { module, ast });
            }
        }

        let mut s = Schema {
            types: Vec::new(),
            type_ids: HashMap::new(),
            rels: Vec::new(),
            bound: HashMap::new(),
        };
        // `user` first: it has no relations and cannot be declared.
        s.type_ids.insert(USER_TYPE.to_owned(), TypeId(0));
        s.types.push(TypeDef {
            name: USER_TYPE.to_owned(),
            module: BUILTIN_MODULE.to_owned(),
            relations: HashMap::new(),
            bindings: Vec::new(),
        });

        // Pass 1: types and relation names.
        for p in &pending {
            if let Some(first) = s.type_ids.get(&p.ast.name) {
                return Err(SchemaError::DuplicateType {
                    name: p.ast.name.clone(),
                    first: s.types[first.0 as usize].module.clone(),
                    second: p.module.to_owned(),
                    line: p.ast.line,
                });
            }
            if s.types.len() >= u16::MAX as usize {
                return Err(invalid(p.module, p.ast.line, "too many types".into()));
            }
            let tid = TypeId(s.types.len() as u16);
            s.type_ids.insert(p.ast.name.clone(), tid);
            let mut relations = HashMap::new();
            for m in &p.ast.members {
                let (name, line) = match m {
                    MemberAst::Relation { name, line, .. }
                    | MemberAst::Permission { name, line, .. } => (name, *line),
                    MemberAst::Bind { .. } => continue,
                };
                if name == SELF_RELATION {
                    return Err(invalid(
                        p.module,
                        line,
                        format!("`{SELF_RELATION}` is reserved (it names an object itself)"),
                    ));
                }
                if relations.contains_key(name) {
                    return Err(invalid(
                        p.module,
                        line,
                        format!("`{}` is declared twice in type `{}`", name, p.ast.name),
                    ));
                }
                let rid = RelId(s.rels.len() as u32);
                relations.insert(name.clone(), rid);
                s.rels.push(RelationDef {
                    type_id: tid,
                    name: name.clone(),
                    // Placeholder until pass 2 resolves it.
                    kind: RelationKind::Direct(Vec::new()),
                });
            }
            s.types.push(TypeDef {
                name: p.ast.name.clone(),
                module: p.module.to_owned(),
                relations,
                bindings: Vec::new(),
            });
        }

        // Pass 2: resolve subject types, rewrites and bindings.
        for p in &pending {
            let tid = s.type_ids[&p.ast.name];
            for m in &p.ast.members {
                match m {
                    MemberAst::Relation {
                        name,
                        line,
                        subjects,
                    } => {
                        let mut allowed = Vec::new();
                        for (t, r) in subjects {
                            let a = s.resolve_subject(p.module, *line, t, r.as_deref())?;
                            if !allowed.contains(&a) {
                                allowed.push(a);
                            }
                        }
                        let rid = s.types[tid.0 as usize].relations[name];
                        s.rels[rid.0 as usize].kind = RelationKind::Direct(allowed);
                    }
                    MemberAst::Permission { name, expr, .. } => {
                        let e = s.resolve_expr(p.module, tid, expr)?;
                        let rid = s.types[tid.0 as usize].relations[name];
                        s.rels[rid.0 as usize].kind = RelationKind::Computed(e);
                    }
                    MemberAst::Bind { .. } => {}
                }
            }
            for m in &p.ast.members {
                if let MemberAst::Bind {
                    permissions,
                    relation,
                    line,
                } = m
                {
                    let Some(&rid) = s.types[tid.0 as usize].relations.get(relation) else {
                        return Err(invalid(
                            p.module,
                            *line,
                            format!(
                                "`bind … = {relation}`: type `{}` has no relation `{relation}`",
                                p.ast.name
                            ),
                        ));
                    };
                    for perm in permissions {
                        let pid =
                            catalog
                                .resolve(perm)
                                .map_err(|_| SchemaError::UnknownPermission {
                                    module: p.module.to_owned(),
                                    line: *line,
                                    permission: perm.clone(),
                                })?;
                        let entry = s.bound.entry((tid, pid)).or_default();
                        if !entry.contains(&rid) {
                            entry.push(rid);
                            s.types[tid.0 as usize].bindings.push((pid, rid));
                        }
                    }
                }
            }
        }
        s.check_stratified(&pending)?;
        Ok(s)
    }

    fn resolve_subject(
        &self,
        module: &str,
        line: usize,
        t: &str,
        r: Option<&str>,
    ) -> Result<AllowedSubject, SchemaError> {
        let Some(&tid) = self.type_ids.get(t) else {
            return Err(invalid(module, line, format!("unknown type `{t}`")));
        };
        match (t, r) {
            (USER_TYPE, None) => Ok(AllowedSubject::User),
            (USER_TYPE, Some(r)) => Err(invalid(
                module,
                line,
                format!("`user#{r}`: users have no relations; write `user`"),
            )),
            (_, None) => Ok(AllowedSubject::Object(tid)),
            (_, Some(r)) => match self.types[tid.0 as usize].relations.get(r) {
                Some(&rid) => Ok(AllowedSubject::Set(tid, rid)),
                None => Err(invalid(
                    module,
                    line,
                    format!("`{t}#{r}`: type `{t}` has no relation `{r}`"),
                )),
            },
        }
    }

    fn resolve_expr(&self, module: &str, tid: TypeId, e: &ExprAst) -> Result<Expr, SchemaError> {
        let tdef = &self.types[tid.0 as usize];
        Ok(match e {
            ExprAst::Name(n, l) => match tdef.relations.get(n) {
                Some(&r) => Expr::Rel(r),
                None => {
                    return Err(invalid(
                        module,
                        *l,
                        format!("type `{}` has no relation `{n}`", tdef.name),
                    ));
                }
            },
            ExprAst::Arrow(ts, name, l) => {
                let Some(&tsid) = tdef.relations.get(ts) else {
                    return Err(invalid(
                        module,
                        *l,
                        format!(
                            "`{ts}->{name}`: type `{}` has no relation `{ts}`",
                            tdef.name
                        ),
                    ));
                };
                let RelationKind::Direct(allowed) = &self.rels[tsid.0 as usize].kind else {
                    return Err(invalid(
                        module,
                        *l,
                        format!(
                            "`{ts}->{name}`: `{ts}` must be a `relation` (stored), not a `permission`"
                        ),
                    ));
                };
                let mut targets = Vec::new();
                for a in allowed {
                    let AllowedSubject::Object(t) = a else {
                        return Err(invalid(
                            module,
                            *l,
                            format!(
                                "`{ts}->{name}`: `{ts}` may only allow bare object types (like `folder`), not users or subject sets"
                            ),
                        ));
                    };
                    let target = &self.types[t.0 as usize];
                    let Some(&r) = target.relations.get(name) else {
                        return Err(invalid(
                            module,
                            *l,
                            format!(
                                "`{ts}->{name}`: type `{}` has no relation `{name}`",
                                target.name
                            ),
                        ));
                    };
                    targets.push((*t, r));
                }
                Expr::Arrow {
                    tupleset: tsid,
                    name: name.clone(),
                    targets,
                }
            }
            ExprAst::Union(a, b) => {
                let mut v = Vec::new();
                for x in [a, b] {
                    match self.resolve_expr(module, tid, x)? {
                        Expr::Union(inner) => v.extend(inner),
                        other => v.push(other),
                    }
                }
                Expr::Union(v)
            }
            ExprAst::Inter(a, b) => {
                let mut v = Vec::new();
                for x in [a, b] {
                    match self.resolve_expr(module, tid, x)? {
                        Expr::Inter(inner) => v.extend(inner),
                        other => v.push(other),
                    }
                }
                Expr::Inter(v)
            }
            ExprAst::Excl(a, b) => Expr::Excl(
                Box::new(self.resolve_expr(module, tid, a)?),
                Box::new(self.resolve_expr(module, tid, b)?),
            ),
        })
    }

    /// Refuses a relation that depends on itself through the subtracted side of an
    /// exclusion: its meaning would be undefined.
    fn check_stratified(&self, pending: &[Pending<'_>]) -> Result<(), SchemaError> {
        let n = self.rels.len();
        let mut edges: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
        fn walk(e: &Expr, neg: bool, out: &mut Vec<(usize, bool)>) {
            match e {
                Expr::Rel(r) => out.push((r.0 as usize, neg)),
                Expr::Arrow {
                    tupleset, targets, ..
                } => {
                    out.push((tupleset.0 as usize, neg));
                    for (_, r) in targets {
                        out.push((r.0 as usize, neg));
                    }
                }
                Expr::Union(v) | Expr::Inter(v) => v.iter().for_each(|x| walk(x, neg, out)),
                Expr::Excl(a, b) => {
                    walk(a, neg, out);
                    walk(b, true, out);
                }
            }
        }
        for (i, r) in self.rels.iter().enumerate() {
            match &r.kind {
                RelationKind::Direct(allowed) => {
                    for a in allowed {
                        if let AllowedSubject::Set(_, rid) = a {
                            edges[i].push((rid.0 as usize, false));
                        }
                    }
                }
                RelationKind::Computed(e) => walk(e, false, &mut edges[i]),
            }
        }
        for (from, out) in edges.iter().enumerate() {
            for &(to, neg) in out {
                if neg && reaches(&edges, to, from) {
                    let r = &self.rels[from];
                    let tname = &self.types[r.type_id.0 as usize].name;
                    let (module, line) = pending.iter().find(|p| &p.ast.name == tname).map_or(
                        (BUILTIN_MODULE, 0),
                        |p| {
                            let line = p
                                .ast
                                .members
                                .iter()
                                .find_map(|m| match m {
                                    MemberAst::Permission { name, line, .. } if *name == r.name => {
                                        Some(*line)
                                    }
                                    _ => None,
                                })
                                .unwrap_or(p.ast.line);
                            (p.module, line)
                        },
                    );
                    return Err(invalid(
                        module,
                        line,
                        format!(
                            "`{tname}#{}` excludes `{}#{}`, which depends on `{tname}#{}` again: exclusion may not be recursive",
                            r.name,
                            self.types[self.rels[to].type_id.0 as usize].name,
                            self.rels[to].name,
                            r.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a tuple against the schema: a declared type, a stored (not computed)
    /// relation, and a subject the relation accepts (a user, a subject set `type#relation`,
    /// or a bare object written `type:id#self_`). Returns the relation and what the subject
    /// resolved to; the error says why, for people.
    pub fn resolve_tuple(&self, t: &Tuple) -> Result<(RelId, TupleSubject), String> {
        if !t.object.is_valid() {
            return Err("malformed object".into());
        }
        let Some(tid) = self.type_id(&t.object.kind) else {
            return Err(format!("unknown type `{}`", t.object.kind));
        };
        let Some(rid) = self.relation(tid, &t.relation) else {
            return Err(format!(
                "type `{}` has no relation `{}`",
                t.object.kind, t.relation
            ));
        };
        let Some(RelationKind::Direct(allowed)) = self.rel(rid).map(|r| &r.kind) else {
            return Err(format!(
                "`{}#{}` is a computed permission; tuples may only name stored relations",
                t.object.kind, t.relation
            ));
        };
        match &t.subject {
            Subject::User { .. } => {
                if allowed.contains(&AllowedSubject::User) {
                    Ok((rid, TupleSubject::User))
                } else {
                    Err(format!(
                        "`{}#{}` does not accept users",
                        t.object.kind, t.relation
                    ))
                }
            }
            Subject::Set { object, relation } => {
                if !object.is_valid() {
                    return Err("malformed subject".into());
                }
                let Some(stid) = self.type_id(&object.kind) else {
                    return Err(format!("unknown subject type `{}`", object.kind));
                };
                if relation == SELF_RELATION {
                    return if allowed.contains(&AllowedSubject::Object(stid)) {
                        Ok((rid, TupleSubject::Object))
                    } else {
                        Err(format!(
                            "`{}#{}` does not accept `{}` objects",
                            t.object.kind, t.relation, object.kind
                        ))
                    };
                }
                self.relation(stid, relation)
                    .filter(|r| allowed.contains(&AllowedSubject::Set(stid, *r)))
                    .map(|r| (rid, TupleSubject::Set(r)))
                    .ok_or_else(|| {
                        format!(
                            "`{}#{}` does not accept `{}#{}`",
                            t.object.kind, t.relation, object.kind, relation
                        )
                    })
            }
        }
    }

    /// The id of type `name`.
    pub fn type_id(&self, name: &str) -> Option<TypeId> {
        self.type_ids.get(name).copied()
    }

    /// The type `id`.
    pub fn type_def(&self, id: TypeId) -> Option<&TypeDef> {
        self.types.get(id.0 as usize)
    }

    /// The relation `name` of type `t`.
    pub fn relation(&self, t: TypeId, name: &str) -> Option<RelId> {
        self.types.get(t.0 as usize)?.relations.get(name).copied()
    }

    /// The relation `id`.
    pub fn rel(&self, id: RelId) -> Option<&RelationDef> {
        self.rels.get(id.0 as usize)
    }

    /// Every relation, indexed by [`RelId`].
    pub fn relations(&self) -> &[RelationDef] {
        &self.rels
    }

    /// Every type, indexed by [`TypeId`].
    pub fn types(&self) -> &[TypeDef] {
        &self.types
    }

    /// The relations of type `t` that permission `p` is bound to.
    pub fn bound(&self, t: TypeId, p: PermId) -> &[RelId] {
        self.bound.get(&(t, p)).map_or(&[], |v| v.as_slice())
    }

    /// `type#relation`, for messages.
    pub fn rel_name(&self, id: RelId) -> String {
        match self.rel(id) {
            Some(r) => format!("{}#{}", self.types[r.type_id.0 as usize].name, r.name),
            None => "?".to_owned(),
        }
    }

    /// The id of the built-in team type's `member` relation.
    pub fn team_member(&self) -> Option<RelId> {
        self.relation(self.type_id(TEAM_TYPE)?, MEMBER_RELATION)
    }
}

fn reaches(edges: &[Vec<(usize, bool)>], from: usize, target: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![from];
    while let Some(n) = stack.pop() {
        if n == target {
            return true;
        }
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        stack.extend(edges[n].iter().map(|(t, _)| *t));
    }
    false
}

fn invalid(module: &str, line: usize, message: String) -> SchemaError {
    SchemaError::Invalid {
        module: module.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helix_core::{DeclaredPermission, PermissionDef};

    const DOCS: &[PermissionDef] = &[PermissionDef {
        name: "docs.documents.read",
        description: "",
        default_roles: &[],
    }];

    fn catalog() -> Catalog {
        let d: Vec<_> = DOCS
            .iter()
            .map(|def| DeclaredPermission {
                module: "docs",
                def: *def,
            })
            .collect();
        Catalog::build(&d).unwrap()
    }

    const GOOD: &str = "
type folder {
  relation parent: folder
  relation viewer: user | team#member
  permission view = viewer + parent->view
}
type document {
  relation parent: folder
  relation viewer: user | team#member | folder#view
  relation banned: user
  permission view = viewer + parent->view - banned
  bind docs.documents.read = view
}";

    fn err(text: &str) -> SchemaError {
        Schema::build(&[("docs", text)], &catalog()).unwrap_err()
    }

    fn line(e: &SchemaError) -> usize {
        match e {
            SchemaError::Parse { line, .. }
            | SchemaError::Invalid { line, .. }
            | SchemaError::UnknownPermission { line, .. }
            | SchemaError::DuplicateType { line, .. } => *line,
        }
    }

    #[test]
    fn builds_and_resolves() {
        let c = catalog();
        let s = Schema::build(&[("docs", GOOD)], &c).unwrap();
        let doc = s.type_id("document").unwrap();
        let view = s.relation(doc, "view").unwrap();
        assert_eq!(
            s.bound(doc, c.resolve("docs.documents.read").unwrap()),
            &[view]
        );
        assert!(s.team_member().is_some());
        let RelationKind::Computed(Expr::Excl(a, _)) = &s.rel(view).unwrap().kind else {
            panic!("view should be an exclusion");
        };
        assert!(matches!(&**a, Expr::Union(v) if v.len() == 2));
        assert_eq!(s.rel_name(view), "document#view");
    }

    #[test]
    fn fragments_merge_and_duplicates_fail() {
        let c = catalog();
        let s = Schema::build(
            &[
                ("a", "type folder { relation viewer: user }"),
                (
                    "b",
                    "type doc { relation parent: folder permission view = parent->viewer }",
                ),
            ],
            &c,
        )
        .unwrap();
        assert!(s.type_id("doc").is_some());
        let e = Schema::build(
            &[
                ("a", "type folder { relation viewer: user }"),
                ("b", "\ntype folder { relation x: user }"),
            ],
            &c,
        )
        .unwrap_err();
        assert!(
            matches!(&e, SchemaError::DuplicateType { first, second, line: 2, .. } if first == "a" && second == "b"),
            "{e}"
        );
        assert!(matches!(
            err("type team { relation member: user }"),
            SchemaError::DuplicateType { .. }
        ));
        assert!(matches!(
            err("type user { relation x: user }"),
            SchemaError::DuplicateType { .. }
        ));
    }

    #[test]
    fn validation_errors_name_the_line() {
        let cases = [
            ("type a {\n relation r: nosuch\n}", 2, "unknown type"),
            ("type a {\n relation r: team#nosuch\n}", 2, "no relation"),
            (
                "type a {\n relation r: user#x\n}",
                2,
                "users have no relations",
            ),
            (
                "type a {\n relation r: user\n permission p = r + q\n}",
                3,
                "no relation `q`",
            ),
            (
                "type a {\n relation r: user\n relation r: user\n}",
                3,
                "declared twice",
            ),
            ("type a {\n relation self_: user\n}", 2, "reserved"),
            (
                "type a {\n relation r: user\n permission p = r->x\n}",
                3,
                "bare object types",
            ),
            (
                "type a {\n relation r: a\n permission p = r->nosuch\n}",
                3,
                "no relation `nosuch`",
            ),
            (
                "type a {\n relation r: a\n permission q = r\n permission p = q->q\n}",
                4,
                "must be a `relation`",
            ),
            (
                "type a {\n relation r: user\n bind docs.documents.read = nosuch\n}",
                3,
                "no relation",
            ),
            (
                "type a {\n relation r: a\n relation b: user\n permission p = b - r->p\n}",
                4,
                "exclusion may not be recursive",
            ),
        ];
        for (text, l, needle) in cases {
            let e = err(text);
            assert_eq!(line(&e), l, "{text}: {e}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
        let e = err("type a {\n relation r: user\n\n bind docs.nosuch.read = r\n}");
        assert!(
            matches!(&e, SchemaError::UnknownPermission { line: 4, permission, .. } if permission == "docs.nosuch.read"),
            "{e}"
        );
    }

    #[test]
    fn recursion_without_exclusion_is_fine() {
        let c = catalog();
        Schema::build(
            &[("a", "type a { relation r: a  relation u: user  permission p = u + r->p  permission q = p & u - u }")],
            &c,
        )
        .unwrap();
    }
}
