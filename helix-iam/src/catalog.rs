//! The permission catalog: every permission the registered modules declared, fixed when the
//! platform is built.
//!
//! Each permission gets a dense integer id ([`PermId`]) so a role's permission set is a
//! bitset ([`PermSet`]). The catalog has a stable [`version`](Catalog::version): a hash of
//! the sorted permission names, so two processes with the same modules agree on it. Naming
//! a permission the catalog does not hold is an error ([`UnknownPermission`]), never a silent
//! deny.

use std::collections::HashMap;
use std::fmt;

use helix_core::{DeclaredPermission, PermissionDef};
use sha2::{Digest, Sha256};

/// The module name helix-iam declares its own permissions under.
pub const MODULE: &str = "helix-iam";

/// The permissions helix-iam itself contributes to the catalog.
pub const PERMISSIONS: &[PermissionDef] = &[
    PermissionDef {
        name: "iam.catalog.read",
        description: "Read the permission catalog.",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "iam.roles.read",
        description: "List the organization's roles and their permissions.",
        default_roles: &["admin", "member", "read_only"],
    },
    PermissionDef {
        name: "iam.roles.manage",
        description: "Create, edit and delete the organization's roles.",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "iam.assignments.read",
        description: "List who holds which role where.",
        default_roles: &["admin", "member"],
    },
    PermissionDef {
        name: "iam.assignments.manage",
        description: "Grant and revoke role assignments.",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "iam.tuples.read",
        description: "List relationship tuples (object sharing).",
        default_roles: &["admin"],
    },
    PermissionDef {
        name: "iam.tuples.manage",
        description: "Write and delete relationship tuples (object sharing). A tuple can put \
                      anyone into a subject set that holds roles, so only owners hold it by \
                      default.",
        default_roles: &[],
    },
    PermissionDef {
        name: "iam.explain",
        description: "Explain why another user is allowed or denied something.",
        default_roles: &["admin"],
    },
];

/// The built-in roles whose initial permissions come from `default_roles`.
pub const DEFAULT_ROLE_KEYS: [&str; 3] = ["admin", "member", "read_only"];

/// A dense permission id, valid for the [`Catalog`] that issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermId(pub u32);

/// A permission name the catalog does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission `{name}`: no registered module declares it")]
pub struct UnknownPermission {
    /// The name, cut to 128 bytes.
    pub name: String,
}

impl UnknownPermission {
    pub(crate) fn new(name: &str) -> Self {
        let mut end = name.len().min(128);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            name: name[..end].to_owned(),
        }
    }
}

/// Why a catalog could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A name is not `module.resource.action` in lowercase.
    #[error(
        "permission `{name}` (module `{module}`) is malformed: expected `module.resource.action` or `module.action`, each part matching [a-z][a-z0-9_]*"
    )]
    InvalidName {
        /// The declaring module.
        module: String,
        /// The name.
        name: String,
    },
    /// Two modules declare the same name.
    #[error("permission `{name}` is declared by both `{first}` and `{second}`")]
    Duplicate {
        /// The name.
        name: String,
        /// The first declaring module.
        first: String,
        /// The second one.
        second: String,
    },
    /// A `default_roles` entry is not one of `admin`, `member`, `read_only`.
    #[error(
        "permission `{name}` names default role `{role}`; expected one of admin, member, read_only"
    )]
    InvalidDefaultRole {
        /// The permission.
        name: String,
        /// The role key.
        role: String,
    },
}

/// One permission of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Its id.
    pub id: PermId,
    /// The declaring module.
    pub module: String,
    /// Dotted name.
    pub name: String,
    /// One line of description.
    pub description: String,
    /// Built-in roles that receive it in a new organization.
    pub default_roles: Vec<String>,
}

/// The immutable permission catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    by_name: HashMap<String, PermId>,
    version: String,
}

/// Checks a permission name: `module.resource.action` (or `module.action` for a
/// module-wide action such as `iam.explain`), each part `[a-z][a-z0-9_]*`, at most 128 bytes.
pub fn valid_permission_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    name.len() <= 128
        && (parts.len() == 2 || parts.len() == 3)
        && parts.iter().all(|p| crate::model::valid_name(p))
}

impl Catalog {
    /// Builds the catalog from what the modules declared, plus helix-iam's own
    /// [`PERMISSIONS`] (unless `declared` already holds them under [`MODULE`]).
    pub fn build(declared: &[DeclaredPermission]) -> Result<Self, CatalogError> {
        let mut all: Vec<DeclaredPermission> = declared.to_vec();
        for def in PERMISSIONS {
            let present = declared
                .iter()
                .any(|d| d.module == MODULE && d.def.name == def.name);
            if !present {
                all.push(DeclaredPermission {
                    module: MODULE,
                    def: *def,
                });
            }
        }
        let mut entries = Vec::with_capacity(all.len());
        let mut by_name: HashMap<String, PermId> = HashMap::with_capacity(all.len());
        for d in &all {
            if !valid_permission_name(d.def.name) {
                return Err(CatalogError::InvalidName {
                    module: d.module.to_owned(),
                    name: d.def.name.to_owned(),
                });
            }
            for role in d.def.default_roles {
                if !DEFAULT_ROLE_KEYS.contains(role) {
                    return Err(CatalogError::InvalidDefaultRole {
                        name: d.def.name.to_owned(),
                        role: (*role).to_owned(),
                    });
                }
            }
            if let Some(first) = by_name.get(d.def.name) {
                let first: &CatalogEntry = &entries[first.0 as usize];
                return Err(CatalogError::Duplicate {
                    name: d.def.name.to_owned(),
                    first: first.module.clone(),
                    second: d.module.to_owned(),
                });
            }
            // Fewer than 2^32 permissions: `all` came from static slices of source code.
            let id = PermId(entries.len() as u32);
            by_name.insert(d.def.name.to_owned(), id);
            entries.push(CatalogEntry {
                id,
                module: d.module.to_owned(),
                name: d.def.name.to_owned(),
                description: d.def.description.to_owned(),
                default_roles: d
                    .def
                    .default_roles
                    .iter()
                    .map(|r| (*r).to_owned())
                    .collect(),
            });
        }
        let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        let mut h = Sha256::new();
        for n in names {
            h.update(n.as_bytes());
            h.update(b"\n");
        }
        let digest = h.finalize();
        let version = hex_prefix(&digest, 16);
        Ok(Self {
            entries,
            by_name,
            version,
        })
    }

    /// The id of `name`, or [`UnknownPermission`].
    pub fn resolve(&self, name: &str) -> Result<PermId, UnknownPermission> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| UnknownPermission::new(name))
    }

    /// The entry of `id`, if this catalog issued it.
    pub fn get(&self, id: PermId) -> Option<&CatalogEntry> {
        self.entries.get(id.0 as usize)
    }

    /// The name of `id` (`"?"` for an id of another catalog).
    pub fn name(&self, id: PermId) -> &str {
        self.get(id).map_or("?", |e| e.name.as_str())
    }

    /// Every entry, in declaration order (module order, then each module's order).
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// Number of permissions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog is empty (never, once helix-iam's own permissions are in).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A stable version: the first 16 hex digits of SHA-256 over the sorted names.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every permission: the owner role's set.
    pub fn all(&self) -> PermSet {
        let mut s = PermSet::with_len(self.len());
        for e in &self.entries {
            s.insert(e.id);
        }
        s
    }

    /// The permissions whose `default_roles` name `role` (`admin`, `member`, `read_only`).
    pub fn default_permissions(&self, role: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| e.default_roles.iter().any(|r| r == role))
            .map(|e| e.name.as_str())
            .collect()
    }
}

fn hex_prefix(bytes: &[u8], digits: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(digits);
    for b in bytes {
        if s.len() >= digits {
            break;
        }
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s.truncate(digits);
    s
}

/// A set of permissions as a bitset over [`PermId`]s.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PermSet {
    words: Box<[u64]>,
}

impl PermSet {
    /// An empty set sized for `len` permissions.
    pub fn with_len(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(64)].into_boxed_slice(),
        }
    }

    /// Adds `id` (ignored when out of range for this set's size).
    pub fn insert(&mut self, id: PermId) {
        let (w, b) = (id.0 as usize / 64, id.0 % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word |= 1 << b;
        }
    }

    /// Whether `id` is in the set.
    #[inline]
    pub fn contains(&self, id: PermId) -> bool {
        let (w, b) = (id.0 as usize / 64, id.0 % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &PermSet) {
        if other.words.len() > self.words.len() {
            let mut v = self.words.to_vec();
            v.resize(other.words.len(), 0);
            self.words = v.into_boxed_slice();
        }
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a |= *b;
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = PermId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            (0..64u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| PermId(i as u32 * 64 + b))
        })
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

impl fmt::Debug for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|p| p.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(module: &'static str, defs: &'static [PermissionDef]) -> Vec<DeclaredPermission> {
        defs.iter()
            .map(|d| DeclaredPermission { module, def: *d })
            .collect()
    }

    const DOCS: &[PermissionDef] = &[
        PermissionDef {
            name: "docs.documents.read",
            description: "Read documents.",
            default_roles: &["admin", "member", "read_only"],
        },
        PermissionDef {
            name: "docs.documents.write",
            description: "Write documents.",
            default_roles: &["admin", "member"],
        },
    ];

    #[test]
    fn builds_with_iam_permissions_and_dense_ids() {
        let c = Catalog::build(&decl("docs", DOCS)).unwrap();
        assert_eq!(c.len(), DOCS.len() + PERMISSIONS.len());
        assert_eq!(c.resolve("docs.documents.read").unwrap(), PermId(0));
        assert_eq!(c.resolve("docs.documents.write").unwrap(), PermId(1));
        assert!(c.resolve("iam.explain").is_ok());
        for (i, e) in c.entries().iter().enumerate() {
            assert_eq!(e.id, PermId(i as u32));
            assert_eq!(c.name(e.id), e.name);
        }
        assert!(
            c.default_permissions("read_only")
                .contains(&"docs.documents.read")
        );
        assert!(
            !c.default_permissions("read_only")
                .contains(&"docs.documents.write")
        );
    }

    #[test]
    fn unknown_permission_is_a_typed_error() {
        let c = Catalog::build(&[]).unwrap();
        let e = c.resolve("docs.documents.read").unwrap_err();
        assert_eq!(e.name, "docs.documents.read");
        assert!(e.to_string().contains("unknown permission"));
    }

    #[test]
    fn version_is_stable_and_order_independent() {
        let a = Catalog::build(&decl("docs", DOCS)).unwrap();
        let mut rev = decl("docs", DOCS);
        rev.reverse();
        let b = Catalog::build(&rev).unwrap();
        assert_eq!(a.version(), b.version());
        assert_eq!(a.version().len(), 16);
        let c = Catalog::build(&[]).unwrap();
        assert_ne!(a.version(), c.version());
        // Declaring IAM's own permissions explicitly changes nothing.
        let mut with_iam = decl("docs", DOCS);
        with_iam.extend(decl(MODULE, PERMISSIONS));
        assert_eq!(Catalog::build(&with_iam).unwrap().version(), a.version());
    }

    #[test]
    fn refuses_bad_names_duplicates_and_roles() {
        for bad in [
            "docs",
            "Docs.documents.read",
            "docs..read",
            "docs.documents.read.x",
            "",
        ] {
            const D: &str = "d";
            let d = DeclaredPermission {
                module: D,
                def: PermissionDef {
                    name: Box::leak(bad.to_owned().into_boxed_str()),
                    description: "",
                    default_roles: &[],
                },
            };
            assert!(
                matches!(Catalog::build(&[d]), Err(CatalogError::InvalidName { .. })),
                "{bad}"
            );
        }
        let mut twice = decl("docs", DOCS);
        twice.extend(decl("other", DOCS));
        assert!(matches!(
            Catalog::build(&twice),
            Err(CatalogError::Duplicate { .. })
        ));
        let iam_dup = decl("docs", &PERMISSIONS[..1]);
        assert!(matches!(
            Catalog::build(&iam_dup),
            Err(CatalogError::Duplicate { .. })
        ));
        const BAD_ROLE: &[PermissionDef] = &[PermissionDef {
            name: "docs.documents.read",
            description: "",
            default_roles: &["owner"],
        }];
        assert!(matches!(
            Catalog::build(&decl("docs", BAD_ROLE)),
            Err(CatalogError::InvalidDefaultRole { .. })
        ));
    }

    #[test]
    fn permset_bits() {
        let mut s = PermSet::with_len(130);
        for i in [0, 63, 64, 129] {
            s.insert(PermId(i));
        }
        assert!(s.contains(PermId(63)) && s.contains(PermId(129)));
        assert!(!s.contains(PermId(1)) && !s.contains(PermId(500)));
        assert_eq!(
            s.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![0, 63, 64, 129]
        );
        let mut t = PermSet::with_len(1);
        t.union_with(&s);
        assert_eq!(t, s);
    }
}
