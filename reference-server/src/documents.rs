//! Shared documents: the reference server's own object types, declared the way a product
//! declares its own (a [`helix_core::Module`] contributing catalog permissions and a
//! fragment of the relationship schema), so organizations can share documents and folders
//! through relationship tuples (`POST /api/v1/iam/tuples`).
//!
//! ```text
//! type folder {
//!   relation parent: folder
//!   relation viewer: user | team#member
//!   permission view = viewer + parent->view
//! }
//! type document {
//!   relation parent: folder
//!   relation owner: user | team#member
//!   relation editor: user | team#member
//!   relation viewer: user | team#member
//!   permission delete = owner
//!   permission edit = owner + editor
//!   permission view = viewer + edit + parent->view
//!   bind docs.documents.read = view
//!   bind docs.documents.edit = edit
//!   bind docs.documents.delete = delete
//! }
//! ```
//!
//! An owner of a document may edit it, an editor (or owner) may view it, and whoever views a
//! folder (directly, or through one of its parent folders) views the documents in it. The
//! subjects are users and team members (`team:<id>#member`). The server stores no documents
//! itself: tuples name documents by id (`document:q3-plan#viewer@user:<id>`), and a product
//! adding a documents API checks `docs.documents.*` on `document:<id>` with
//! [`helix_iam::Iam::check`] or lists them with [`helix_iam::Iam::list_objects`].
//!
//! The three permissions are held by the built-in owner role (which holds the whole
//! catalog) and are given to no other built-in role: an admin, member or read-only member
//! reaches a document only through its tuples (or a role the organization composes).

use helix_core::{Module, PermissionDef};

/// The name the module registers under.
pub const MODULE_NAME: &str = "reference-documents";

/// Read a document (bound to `document#view`).
pub const DOCUMENTS_READ: &str = "docs.documents.read";
/// Change a document (bound to `document#edit`).
pub const DOCUMENTS_EDIT: &str = "docs.documents.edit";
/// Delete a document (bound to `document#delete`).
pub const DOCUMENTS_DELETE: &str = "docs.documents.delete";

/// The permissions the module contributes to the catalog.
pub const PERMISSIONS: &[PermissionDef] = &[
    PermissionDef {
        name: DOCUMENTS_READ,
        description: "Read a shared document (its viewers, editors and owners, and the \
                      viewers of its folders).",
        default_roles: &[],
    },
    PermissionDef {
        name: DOCUMENTS_EDIT,
        description: "Change a shared document (its editors and owners).",
        default_roles: &[],
    },
    PermissionDef {
        name: DOCUMENTS_DELETE,
        description: "Delete a shared document (its owners).",
        default_roles: &[],
    },
];

/// The relationship schema of folders and documents (the module documentation explains it).
pub const SCHEMA: &str = "
type folder {
  relation parent: folder
  relation viewer: user | team#member
  permission view = viewer + parent->view
}
type document {
  relation parent: folder
  relation owner: user | team#member
  relation editor: user | team#member
  relation viewer: user | team#member
  permission delete = owner
  permission edit = owner + editor
  permission view = viewer + edit + parent->view
  bind docs.documents.read = view
  bind docs.documents.edit = edit
  bind docs.documents.delete = delete
}
";

/// Folders and documents shared through relationship tuples. Registered by
/// [`crate::build_app`]; it has no tables and no routes of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentsModule;

impl Module for DocumentsModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn depends_on(&self) -> &'static [&'static str] {
        // The schema names `team#member`, which helix-iam declares.
        &[helix_iam::MODULE_NAME]
    }

    fn permissions(&self) -> &'static [PermissionDef] {
        PERMISSIONS
    }

    fn authz_schema(&self) -> &'static str {
        SCHEMA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helix_core::DeclaredPermission;
    use helix_iam::model::{ObjectRef, Subject, Tuple};
    use helix_iam::{Catalog, Schema};

    fn schema() -> Schema {
        let declared: Vec<DeclaredPermission> = PERMISSIONS
            .iter()
            .map(|def| DeclaredPermission {
                module: MODULE_NAME,
                def: *def,
            })
            .collect();
        let catalog = Catalog::build(&declared).unwrap();
        Schema::build(&[(MODULE_NAME, SCHEMA)], &catalog).unwrap()
    }

    #[test]
    fn the_schema_builds_and_binds_every_permission() {
        let s = schema();
        let doc = s.type_id("document").unwrap();
        let bound: Vec<String> = s
            .type_def(doc)
            .unwrap()
            .bindings
            .iter()
            .map(|(_, rel)| s.rel_name(*rel))
            .collect();
        assert_eq!(
            bound,
            ["document#view", "document#edit", "document#delete"],
            "{bound:?}"
        );
        assert!(s.type_id("folder").is_some());
    }

    #[test]
    fn tuples_name_stored_relations_only() {
        let s = schema();
        let user = Subject::user(uuid::Uuid::nil());
        for ok in [
            "document:q3-plan#owner@user:00000000-0000-0000-0000-000000000000",
            "document:q3-plan#viewer@team:00000000-0000-0000-0000-000000000000#member",
            "document:q3-plan#parent@folder:reports#self_",
            "folder:reports#parent@folder:finance#self_",
        ] {
            let t: Tuple = ok.parse().unwrap();
            assert!(s.resolve_tuple(&t).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("view", "computed permission"),
            ("edit", "computed permission"),
            ("nosuch", "no relation"),
        ] {
            let t = Tuple::new(ObjectRef::new("document", "q3-plan"), bad, user.clone());
            let e = s.resolve_tuple(&t).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let t: Tuple = "document:q3-plan#parent@user:00000000-0000-0000-0000-000000000000"
            .parse()
            .unwrap();
        assert!(s.resolve_tuple(&t).is_err());
    }
}
