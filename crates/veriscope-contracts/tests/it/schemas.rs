//! The committed `schemas/*.schema.json` equal what the types generate.
//! Run with `VERISCOPE_BLESS=1` to rewrite them after an intended change.

use std::path::PathBuf;

use veriscope_contracts::schema::{SCHEMA_NAMES, schema_text};

fn schema_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas"))
}

#[test]
fn committed_schemas_match_generated() {
    let bless = std::env::var_os("VERISCOPE_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in SCHEMA_NAMES {
        let path = schema_dir().join(format!("{name}.schema.json"));
        let generated = schema_text(name).expect("known schema name");
        if bless {
            std::fs::write(&path, &generated).expect("write schema");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas (regenerate with VERISCOPE_BLESS=1 cargo test -p veriscope-contracts): {stale:?}"
    );
}
