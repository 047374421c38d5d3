#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
# Installs what the tests need on a fresh machine, then runs every check CI enforces.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== toolchain"
cargo --version
rustc --version

# Disk, printed so that a CI log shows what was there when a step runs out of it (a run once
# died with "No space left on device"). A fresh clone needs about 6.5 GB: build directory up
# to 1.5 GB, venv 4.6 GB (README "Run the tests").
target_dir="${CARGO_TARGET_DIR:-target}"
disk_report() {
    local free_kb need_gb=2 used=none
    free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
    [[ -d "${target_dir}" ]] && used=$(du -sh "${target_dir}" | cut -f1)
    # Without a cached venv, torch and its CUDA wheels need another 4.6 GB.
    [[ -x "${VERISCOPE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/veriscope/venv}/bin/python" ]] || need_gb=7
    echo "disk: $((free_kb / 1024 / 1024)) GB free here; build dir ${target_dir}: ${used}"
    if (( free_kb < need_gb * 1024 * 1024 )); then
        echo "warning: less than ${need_gb} GB free; the build (and the venv) may not fit" >&2
    fi
}
disk_report

echo "== python environment (torch + transformers for the real 'run hf' test)"
# The venv lives in the user cache, keyed by python/requirements-ci.txt, so a fresh clone
# on the same machine (CI) reuses it instead of downloading torch again.
export VERISCOPE_VENV="${VERISCOPE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/veriscope/venv}"
bash scripts/setup_python_env.sh
# `veriscope run hf` and the real-HF test use this interpreter.
export VERISCOPE_HF_PYTHON="$VERISCOPE_VENV/bin/python"

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets --release -- -D warnings

# One build: `cargo test` compiles every bin, lib, example and test. (Before the feature pins
# in the root Cargo.toml, a separate `cargo build --release` compiled candle, faer and ~20
# other crates a second time with other features, doubling CI's build time and disk.)
echo "== build (all targets, test feature set)"
cargo test --workspace --release --no-run

echo "== rust tests"
cargo test --workspace --release

echo "== python tests"
"$VERISCOPE_HF_PYTHON" -m pytest -q python/tests

echo "== disk after the run"
disk_report
