#!/usr/bin/env bash
# Create or reuse the Python virtual environment for the Veriscope SDK.
#
# What it does, in order:
#   1. picks the venv directory: $VERISCOPE_VENV, else <repo>/.venv;
#   2. computes a cache key: sha256 of python/requirements-ci.txt plus the
#      interpreter's major.minor (a pin change or a new Python rebuilds);
#   3. when the venv exists and its stored key matches, reuses it; otherwise (re)creates
#      it and pip-installs the pins (first build: ~5.5 min, 4.6 GB with torch);
#   4. removes triton (unused, ~1 GB), then always (re)installs the SDK from python/
#      in editable mode (cheap, and it keeps the venv pointing at *this* checkout even
#      when CI clones elsewhere), then imports numpy/torch/transformers/pytest/veriscope;
#      a reused venv that fails that check is rebuilt once.
#
# Environment:
#   VERISCOPE_VENV    venv directory (default <repo>/.venv)
#   VERISCOPE_PYTHON  interpreter used to create the venv (default python3)
#   VERISCOPE_FORCE=1 rebuild even when the cache key matches
#
# Idempotent: a second run on the same machine with the same pins does no
# download. Prints what it did; exits non-zero on any failure.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="${repo_root}/python/requirements-ci.txt"
venv="${VERISCOPE_VENV:-${repo_root}/.venv}"
base_python="${VERISCOPE_PYTHON:-python3}"
stamp="${venv}/.veriscope-requirements.sha256"

log() { printf 'setup_python_env: %s\n' "$*"; }

if [[ ! -f "${requirements}" ]]; then
    log "missing ${requirements}" >&2
    exit 2
fi

py_version="$("${base_python}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
req_hash="$(sha256sum "${requirements}" | cut -d' ' -f1)"
cache_key="${req_hash}-py${py_version}"

stamp_matches() {
    [[ -x "${venv}/bin/python" && -f "${stamp}" && "$(cat "${stamp}")" == "${cache_key}" ]]
}

build_venv() {
    log "building ${venv} with ${base_python} (Python ${py_version}), cache key ${cache_key}"
    rm -rf "${venv}"
    "${base_python}" -m venv "${venv}"
    # --no-cache-dir: pip's wheel cache would keep a second copy of torch and the CUDA
    # wheels (~4 GB) in ~/.cache/pip; CI runs on a shared, sometimes nearly full disk.
    "${venv}/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
    local start_s
    start_s=$(date +%s)
    # torch's default PyPI wheel on Linux x86_64 pulls the CUDA runtime wheels;
    # expect a multi-GB download the first time.
    "${venv}/bin/python" -m pip install --quiet --no-cache-dir -r "${requirements}"
    log "installed pins in $(( $(date +%s) - start_s ))s; venv size $(du -sh "${venv}" | cut -f1)"
    # Written last: a half-finished install leaves no stamp and is rebuilt next time.
    printf '%s' "${cache_key}" > "${stamp}"
}

# triton (~1 GB) arrives as a torch dependency but only serves torch.compile on a GPU; the
# SDK and its tests never compile, and `import torch` does not need it. Removed from fresh
# and reused venvs alike, so an existing CI venv gives the space back too.
drop_triton() {
    if "${venv}/bin/python" -m pip show --quiet triton >/dev/null 2>&1; then
        "${venv}/bin/python" -m pip uninstall --quiet --yes triton
        log "removed triton (unused on CPU); venv size $(du -sh "${venv}" | cut -f1)"
    fi
}

# Editable install without dependencies or build isolation: no network needed, and it
# repoints the venv at this checkout (CI clones elsewhere). Then the import check that
# doubles as the health check of a reused venv.
install_sdk_and_check() {
    drop_triton &&
    "${venv}/bin/python" -m pip install --quiet --no-cache-dir --no-deps --no-build-isolation -e "${repo_root}/python" &&
    "${venv}/bin/python" -c '
import numpy, torch, transformers, pytest, veriscope
print("setup_python_env: numpy %s, torch %s, transformers %s, veriscope %s from %s" % (
    numpy.__version__, torch.__version__, transformers.__version__,
    veriscope.__version__, veriscope.__file__))'
}

if [[ "${VERISCOPE_FORCE:-0}" != "1" ]] && stamp_matches; then
    log "reusing ${venv} (cache key ${cache_key})"
    if ! install_sdk_and_check; then
        log "reused venv is broken; rebuilding"
        build_venv
        install_sdk_and_check
    fi
else
    build_venv
    install_sdk_and_check
fi
log "activate with: source ${venv}/bin/activate"
