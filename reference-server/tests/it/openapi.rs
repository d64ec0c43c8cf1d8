//! The OpenAPI document is one reviewed snapshot: any change to the public API shows up in
//! the diff. Refresh with `UPDATE_SNAPSHOTS=1 cargo nextest run -p reference-server openapi`.

#[test]
fn openapi_document_matches_the_snapshot() {
    let doc = reference_server::openapi::document();
    let json = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &json).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == json,
        "the OpenAPI document changed; review it and refresh the snapshot with UPDATE_SNAPSHOTS=1\n{json}"
    );
}
