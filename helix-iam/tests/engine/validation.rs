use helix_iam::validation::{ValidationError, name_uuid, run};

use crate::catalog;

const EXAMPLE: &str = include_str!("../fixtures/documents.yaml");

#[test]
fn the_example_file_passes() {
    let report = run(EXAMPLE, &catalog()).unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(report.passed, 15, "{report}");
}

#[test]
fn a_failing_assertion_is_named_in_the_report() {
    let broken = EXAMPLE.replace(
        "assert_deny:\n",
        "assert_deny:\n  - user:carol docs.documents.read document:spec1\n",
    );
    let broken = broken.replace(
        "objects: [document:notes]",
        "objects: [document:notes, document:spec1]",
    );
    let report = run(&broken, &catalog()).unwrap();
    assert!(!report.is_success());
    assert_eq!(report.failures.len(), 2, "{report}");
    let f = &report.failures[0];
    assert_eq!(f.section, "assert_deny");
    assert_eq!(f.index, 0);
    assert_eq!(f.assertion, "user:carol docs.documents.read document:spec1");
    // The message explains the allow with names, not UUIDs.
    assert!(
        f.message.contains("expected deny, got allow")
            && f.message.contains("team:eng#member <- user:carol"),
        "{}",
        f.message
    );
    let text = report.to_string();
    assert!(
        text.contains("FAILED assert_deny[0] `user:carol docs.documents.read document:spec1`"),
        "{text}"
    );
    assert!(
        text.contains("FAILED expect_list_objects[1]")
            && text.contains("expected [document:notes, document:spec1], got [document:notes]"),
        "{text}"
    );
}

#[test]
fn malformed_files_are_errors() {
    let c = catalog();
    assert!(matches!(
        run("schema: [", &c),
        Err(ValidationError::Yaml(_))
    ));
    assert!(matches!(run("nope: 1", &c), Err(ValidationError::Yaml(_))));
    let e = run("schema: |\n  type a {\n    relation r: nosuch\n  }\n", &c).unwrap_err();
    assert!(matches!(e, ValidationError::Schema(_)), "{e}");
    let e = run("roles:\n  r: [docs.nope.read]\n", &c).unwrap_err();
    assert!(e.to_string().contains("docs.nope.read"), "{e}");
    let e = run("assert_allow:\n  - user:a docs.nope.read tenant\n", &c).unwrap_err();
    assert!(
        matches!(
            &e,
            ValidationError::Entry {
                section: "assert_allow",
                index: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = run("tuples:\n  - nonsense\n", &c).unwrap_err();
    assert!(
        matches!(
            &e,
            ValidationError::Entry {
                section: "tuples",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn names_map_to_stable_uuids() {
    assert_eq!(name_uuid("user", "alice"), name_uuid("user", "alice"));
    assert_ne!(name_uuid("user", "alice"), name_uuid("team", "alice"));
    let u = uuid::Uuid::from_u128(42);
    assert_eq!(name_uuid("user", &u.to_string()), u);
    assert_eq!(name_uuid("user", "alice").get_version_num(), 5);
}
