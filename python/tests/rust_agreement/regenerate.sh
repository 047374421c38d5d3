#!/usr/bin/env bash
# Rebuilds python/tests/data/rust_metrics.json from the Rust gate crate in this checkout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${here}/../data/rust_metrics.json"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${here}/../../../target-python}"
cargo run --quiet --release --manifest-path "${here}/Cargo.toml" > "${out}.tmp"
mv "${out}.tmp" "${out}"
echo "wrote ${out}"
