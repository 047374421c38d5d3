#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
# Installs what the tests need on a fresh machine, then runs every check CI enforces.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== toolchain"
cargo --version
rustc --version

echo "== python environment (torch + transformers for the real 'run hf' test)"
if [[ -f scripts/setup_python_env.sh ]]; then
  bash scripts/setup_python_env.sh
  venv="${VERISCOPE_VENV:-$PWD/.venv}"
  export VERISCOPE_PYTHON="$venv/bin/python"
fi

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets --release -- -D warnings

echo "== build"
cargo build --workspace --release

echo "== rust tests"
cargo test --workspace --release

if [[ -n "${VERISCOPE_PYTHON:-}" && -d python/tests ]]; then
  echo "== python tests"
  "$VERISCOPE_PYTHON" -m pytest -q python/tests
fi
