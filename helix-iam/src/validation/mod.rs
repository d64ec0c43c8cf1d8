//! A YAML format for testing an authorization model in CI, and its runner.
//!
//! ```yaml
//! schema: |
//!   type document {
//!     relation viewer: user | team#member
//!     permission view = viewer
//!     bind docs.documents.read = view
//!   }
//! roles:                      # key -> catalog permissions (owner, admin, member and
//!   editor: [docs.documents.write]   # read_only exist unless redefined here)
//! assignments:
//!   - { subject: user:alice, role: editor, scope: tenant }        # or team:eng, document:1
//!   - { subject: "team:eng#member", role: read_only, scope: team:eng }
//! tuples:
//!   - "document:1#viewer@user:bob"
//!   - "team:eng#member@user:carol"
//! assert_allow:
//!   - user:alice docs.documents.write document:1          # permission on an object
//!   - user:bob view document:1                            # relation (no dot)
//!   - user:carol docs.documents.read document:2 team:eng  # object owned by team eng
//! assert_deny:
//!   - user:dave docs.documents.read tenant
//! expect_list_objects:
//!   - { user: user:bob, permission: view, type: document, objects: [document:1] }
//! ```
//!
//! Users and teams may be named instead of given as UUIDs: `user:alice` and `team:eng`
//! stand for the UUID v5 of `user:alice` / `team:eng` in [`NAME_NAMESPACE`] (see
//! [`name_uuid`]), so the same name is the same id in every run. Reports print names back.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use uuid::Uuid;

use crate::catalog::{Catalog, DEFAULT_ROLE_KEYS};
use crate::engine::{Engine, EngineConfig, EngineError, LoadError};
use crate::model::{
    AssignmentRecord, AssignmentSource, OWNER_ROLE, ObjectRef, Resource, Revision, RoleRecord,
    Scope, Subject, TEAM_TYPE, TenantSnapshot, Tuple, USER_TYPE,
};
use crate::schema::{Schema, SchemaError};

/// The namespace of the UUIDs that names in validation files stand for.
pub const NAME_NAMESPACE: Uuid = Uuid::from_u128(0x6865_6c69_782d_6961_6d2d_6e61_6d65_7300);

/// The organization validation files are evaluated in.
pub const VALIDATION_ORG: Uuid = Uuid::from_u128(0x6865_6c69_782d_6961_6d2d_6f72_6700_0001);

/// The UUID a name stands for: `name_uuid("user", "alice")` is the UUID v5 of
/// `user:alice` in [`NAME_NAMESPACE`]; a name that already is a UUID is itself.
pub fn name_uuid(kind: &str, name: &str) -> Uuid {
    Uuid::parse_str(name)
        .unwrap_or_else(|_| Uuid::new_v5(&NAME_NAMESPACE, format!("{kind}:{name}").as_bytes()))
}

/// The file could not be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Not valid YAML or not the expected shape.
    #[error("validation file: {0}")]
    Yaml(String),
    /// The schema is invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The roles, assignments or tuples do not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An entry is malformed.
    #[error("{section}[{index}] `{text}`: {why}")]
    Entry {
        /// The section (`tuples`, `assert_allow`, …).
        section: &'static str,
        /// 0-based index in the section.
        index: usize,
        /// The entry's text.
        text: String,
        /// What is wrong.
        why: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    schema: String,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    assignments: Vec<AssignmentEntry>,
    #[serde(default)]
    tuples: Vec<String>,
    #[serde(default)]
    assert_allow: Vec<String>,
    #[serde(default)]
    assert_deny: Vec<String>,
    #[serde(default)]
    expect_list_objects: Vec<ListEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentEntry {
    subject: String,
    role: String,
    #[serde(default = "tenant")]
    scope: String,
}

fn tenant() -> String {
    "tenant".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListEntry {
    user: String,
    permission: String,
    #[serde(rename = "type")]
    object_type: String,
    #[serde(default)]
    objects: Vec<String>,
}

/// One assertion that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The section (`assert_allow`, `assert_deny`, `expect_list_objects`).
    pub section: &'static str,
    /// 0-based index in the section.
    pub index: usize,
    /// The assertion as written.
    pub assertion: String,
    /// What happened instead.
    pub message: String,
}

/// The outcome of a validation file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Assertions that held.
    pub passed: usize,
    /// Assertions that did not.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Whether every assertion held.
    pub fn is_success(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} passed, {} failed", self.passed, self.failures.len())?;
        for x in &self.failures {
            writeln!(
                f,
                "  FAILED {}[{}] `{}`: {}",
                x.section, x.index, x.assertion, x.message
            )?;
        }
        Ok(())
    }
}

/// Maps names to UUIDs in text forms, and back in messages.
#[derive(Default)]
struct Names {
    back: Vec<(String, String)>,
}

impl Names {
    fn id(&mut self, kind: &str, name: &str) -> Uuid {
        let id = name_uuid(kind, name);
        let long = format!("{kind}:{id}");
        let short = format!("{kind}:{name}");
        if long != short && !self.back.iter().any(|(l, _)| *l == long) {
            self.back.push((long, short));
        }
        id
    }

    /// `type:id`, with team names mapped.
    fn object(&mut self, s: &str) -> String {
        match s.split_once(':') {
            Some((TEAM_TYPE, name)) => format!("{TEAM_TYPE}:{}", self.id(TEAM_TYPE, name)),
            Some((USER_TYPE, name)) => format!("{USER_TYPE}:{}", self.id(USER_TYPE, name)),
            _ => s.to_owned(),
        }
    }

    /// `user:name` or `type:id#relation`.
    fn subject(&mut self, s: &str) -> String {
        match s.split_once('#') {
            Some((o, r)) => format!("{}#{r}", self.object(o)),
            None => self.object(s),
        }
    }

    fn user(&mut self, s: &str) -> Option<Uuid> {
        let name = s.strip_prefix("user:")?;
        Some(self.id(USER_TYPE, name))
    }

    fn pretty(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (long, short) in &self.back {
            out = out.replace(long, short);
        }
        out
    }
}

fn entry(
    section: &'static str,
    index: usize,
    text: &str,
    why: impl Into<String>,
) -> ValidationError {
    ValidationError::Entry {
        section,
        index,
        text: text.to_owned(),
        why: why.into(),
    }
}

/// Runs a validation file against `catalog` (the platform's permission catalog): builds
/// the schema, loads the roles, assignments and tuples as one organization, and checks
/// every assertion. A malformed file is an error; assertions that do not hold are listed
/// in the [`Report`].
pub fn run(yaml: &str, catalog: &Catalog) -> Result<Report, ValidationError> {
    let file: File =
        serde_yaml_ng::from_str(yaml).map_err(|e| ValidationError::Yaml(e.to_string()))?;
    let schema = Schema::build(&[("validation", file.schema.as_str())], catalog)?;
    let engine = Engine::new(
        catalog.clone(),
        schema,
        EngineConfig {
            cache_capacity: 0,
            ..EngineConfig::default()
        },
    );
    let mut names = Names::default();

    // Roles: the file's, plus the built-in ones it does not redefine.
    let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
    roles.insert(OWNER_ROLE.to_owned(), Vec::new());
    for key in DEFAULT_ROLE_KEYS {
        let perms = catalog
            .default_permissions(key)
            .into_iter()
            .map(str::to_owned)
            .collect();
        roles.insert(key.to_owned(), perms);
    }
    roles.extend(file.roles);
    let role_records: Vec<RoleRecord> = roles
        .into_iter()
        .map(|(key, permissions)| RoleRecord {
            id: name_uuid("role", &key),
            builtin: key == OWNER_ROLE || DEFAULT_ROLE_KEYS.contains(&key.as_str()),
            name: key.clone(),
            key,
            permissions,
        })
        .collect();

    let mut assignments = Vec::new();
    for (i, a) in file.assignments.iter().enumerate() {
        let text = format!("{} {} {}", a.subject, a.role, a.scope);
        let subject: Subject = names
            .subject(&a.subject)
            .parse()
            .map_err(|e: crate::model::ParseError| entry("assignments", i, &text, e.why))?;
        let scope: Scope = if a.scope == "tenant" {
            Scope::Tenant
        } else {
            names
                .object(&a.scope)
                .parse()
                .map_err(|e: crate::model::ParseError| entry("assignments", i, &text, e.why))?
        };
        let Some(role) = role_records.iter().find(|r| r.key == a.role) else {
            return Err(entry("assignments", i, &text, "unknown role"));
        };
        assignments.push(AssignmentRecord {
            id: name_uuid("assignment", &i.to_string()),
            subject,
            role_id: role.id,
            scope,
            source: AssignmentSource::Explicit,
        });
    }

    let mut tuples = Vec::new();
    for (i, t) in file.tuples.iter().enumerate() {
        let Some((left, subject)) = t.split_once('@') else {
            return Err(entry("tuples", i, t, "expected `type:id#relation@subject`"));
        };
        let Some((object, relation)) = left.split_once('#') else {
            return Err(entry("tuples", i, t, "expected `type:id#relation@subject`"));
        };
        let mapped = format!(
            "{}#{relation}@{}",
            names.object(object),
            names.subject(subject)
        );
        let tuple: Tuple = mapped
            .parse()
            .map_err(|e: crate::model::ParseError| entry("tuples", i, t, e.why))?;
        tuples.push(tuple);
    }

    engine.load(&TenantSnapshot {
        org_id: VALIDATION_ORG,
        revision: Revision(1),
        roles: role_records,
        assignments,
        tuples,
    })?;

    let mut report = Report::default();
    for (section, expect, list) in [
        ("assert_allow", true, &file.assert_allow),
        ("assert_deny", false, &file.assert_deny),
    ] {
        for (i, text) in list.iter().enumerate() {
            match assertion(&engine, &mut names, section, i, text, expect)? {
                None => report.passed += 1,
                Some(message) => report.failures.push(Failure {
                    section,
                    index: i,
                    assertion: text.clone(),
                    message: names.pretty(&message),
                }),
            }
        }
    }
    for (i, l) in file.expect_list_objects.iter().enumerate() {
        let section = "expect_list_objects";
        let text = format!("{} {} {}", l.user, l.permission, l.object_type);
        let Some(user) = names.user(&l.user) else {
            return Err(entry(
                section,
                i,
                &text,
                "the user must be `user:<name or uuid>`",
            ));
        };
        let mut want = Vec::new();
        for o in &l.objects {
            let r: ObjectRef = names
                .object(o)
                .parse()
                .map_err(|e: crate::model::ParseError| entry(section, i, &text, e.why))?;
            want.push(r);
        }
        want.sort();
        want.dedup();
        let got = match engine.list_objects(VALIDATION_ORG, user, &l.permission, &l.object_type) {
            Ok(got) => got,
            Err(EngineError::UnknownPermission(u)) => {
                return Err(entry(section, i, &text, u.to_string()));
            }
            Err(e) => {
                report.failures.push(Failure {
                    section,
                    index: i,
                    assertion: text,
                    message: names.pretty(&e.to_string()),
                });
                continue;
            }
        };
        let mut msg = Vec::new();
        if got.all {
            msg.push("a tenant-wide role grants every object of the type".to_owned());
        }
        if !got.teams.is_empty() {
            let teams: Vec<String> = got
                .teams
                .iter()
                .map(|t| names.pretty(&ObjectRef::team(*t).to_string()))
                .collect();
            msg.push(format!(
                "team-scoped roles grant the objects of {}",
                teams.join(", ")
            ));
        }
        if got.objects != want {
            let show = |v: &[ObjectRef]| {
                v.iter()
                    .map(|o| names.pretty(&o.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            msg.push(format!(
                "expected [{}], got [{}]",
                show(&want),
                show(&got.objects)
            ));
        }
        if msg.is_empty() {
            report.passed += 1;
        } else {
            report.failures.push(Failure {
                section,
                index: i,
                assertion: text,
                message: msg.join("; "),
            });
        }
    }
    Ok(report)
}

/// Runs one `user target resource [team]` line; `Some(message)` when it does not hold.
fn assertion(
    engine: &Engine,
    names: &mut Names,
    section: &'static str,
    index: usize,
    text: &str,
    expect: bool,
) -> Result<Option<String>, ValidationError> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    if !(3..=4).contains(&parts.len()) {
        return Err(entry(
            section,
            index,
            text,
            "expected `user:<name> <permission|relation> <resource> [team:<name>]`",
        ));
    }
    let Some(user) = names.user(parts[0]) else {
        return Err(entry(
            section,
            index,
            text,
            "the subject must be `user:<name or uuid>`",
        ));
    };
    let target = parts[1];
    let bad = |e: crate::model::ParseError| entry(section, index, text, e.why);
    let team = match parts.get(3) {
        Some(t) => {
            let o: ObjectRef = names.object(t).parse().map_err(bad)?;
            if o.kind != TEAM_TYPE {
                return Err(entry(
                    section,
                    index,
                    text,
                    "the fourth part must be `team:<name>`",
                ));
            }
            Some(name_uuid(TEAM_TYPE, &o.id))
        }
        None => None,
    };
    let resource = if parts[2] == "tenant" {
        Resource::Tenant
    } else {
        let o: ObjectRef = names.object(parts[2]).parse().map_err(bad)?;
        match (o.kind == TEAM_TYPE, Uuid::parse_str(&o.id)) {
            (true, Ok(t)) => Resource::Team(t),
            _ => Resource::Object { object: o, team },
        }
    };
    let want = if expect { "allow" } else { "deny" };
    if target.contains('.') {
        let ex = match engine.check_explained(VALIDATION_ORG, user, target, &resource) {
            Ok(ex) => ex,
            Err(EngineError::UnknownPermission(u)) => {
                return Err(entry(section, index, text, u.to_string()));
            }
            Err(e) => return Ok(Some(format!("expected {want}, got an error: {e}"))),
        };
        if ex.allowed == expect {
            Ok(None)
        } else {
            Ok(Some(format!(
                "expected {want}, got {} ({ex})",
                if ex.allowed { "allow" } else { "deny" }
            )))
        }
    } else {
        let Resource::Object { object, .. } = &resource else {
            return Err(entry(
                section,
                index,
                text,
                "a relation assertion needs an object (`type:id`)",
            ));
        };
        match engine.check_relation(VALIDATION_ORG, &Subject::user(user), object, target) {
            Ok(d) if d.allowed == expect => Ok(None),
            Ok(d) => Ok(Some(format!(
                "expected {want}, got {}",
                if d.allowed { "allow" } else { "deny" }
            ))),
            Err(e @ (EngineError::UnknownRelation { .. } | EngineError::UnknownType { .. })) => {
                Err(entry(section, index, text, e.to_string()))
            }
            Err(e) => Ok(Some(format!("expected {want}, got an error: {e}"))),
        }
    }
}
