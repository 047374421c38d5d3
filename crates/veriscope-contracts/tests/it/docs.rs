//! `docs/contract.md` documents every finding code.

use veriscope_contracts::FindingCode;

#[test]
fn contract_doc_lists_every_finding_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/contract.md");
    let doc = std::fs::read_to_string(path).expect("docs/contract.md is readable");
    let missing: Vec<&str> = FindingCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|token| !doc.contains(&format!("`{token}`")))
        .collect();
    assert!(missing.is_empty(), "docs/contract.md lacks: {missing:?}");
}
