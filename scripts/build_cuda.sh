#!/usr/bin/env bash
# Builds the `cuda` veriscope-gpt (docs/trainer.md §CUDA) on a machine WITHOUT a CUDA toolkit,
# for an NVIDIA machine that has one (the way this project's GPU binaries are made: the dev
# VM has no GPU, the GPU machine has no Rust). On a machine with the toolkit installed, plain
# `cargo build --release -p veriscope-gpt --features cuda` is all it takes.
#
# Usage: scripts/build_cuda.sh STUBS_DIR [OUT_DIR]        (from the repository root)
#   STUBS_DIR  the link stubs of the target machine's toolkit: lib64/stubs/{libcuda,libcublas,
#              libcublasLt,libcurand,libnvrtc}.so (a few hundred KB; their sonames fix which
#              libraries the binary loads at run time, e.g. libcublas.so.13)
#   OUT_DIR    where the stripped `veriscope-gpt` and `veriscope` land (default .devbin)
# Env: CUDA_VERSION   toolkit release of the target (default 13.0; nvcc and headers from PyPI)
#      CUDA_COMPUTE_CAP  target compute capability (default 90: H100/H200)
#      CARGO_TARGET_DIR  (default target-cuda)
#
# What it does: downloads nvcc, the runtime headers, CCCL and NVVM as PyPI wheels
# (nvidia-cuda-nvcc, -runtime, -cccl, nvidia-nvvm, nvidia-cuda-crt) into
# ~/.cache/veriscope/cuda-<version>, lays the stubs beside them as lib64/stubs, and builds with
# CUDA_HOME pointing there: candle-kernels compiles its PTX with that nvcc, cudarc links
# against the stubs. The binary then needs the real libraries (driver 580+ for 13.0) at run
# time, e.g. LD_LIBRARY_PATH=/usr/local/cuda/lib64.
set -euo pipefail
cd "$(dirname "$0")/.."
STUBS=$(cd "${1:?usage: scripts/build_cuda.sh STUBS_DIR [OUT_DIR]}" && pwd)
OUT=${2:-.devbin}
VERSION=${CUDA_VERSION:-13.0}
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target-cuda}
KIT=${XDG_CACHE_HOME:-$HOME/.cache}/veriscope/cuda-$VERSION
major=${VERSION%%.*}

for lib in cuda cublas cublasLt curand nvrtc; do
  [[ -f $STUBS/lib$lib.so ]] || { echo "error: $STUBS/lib$lib.so missing (need the toolkit's lib64/stubs)" >&2; exit 2; }
done

if [[ ! -x $KIT/root/nvidia/cu$major/bin/nvcc ]]; then
  mkdir -p "$KIT/wheels" "$KIT/root"
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 -d "$KIT/wheels" \
    "nvidia-cuda-nvcc==$VERSION.*" "nvidia-cuda-runtime==$VERSION.*" \
    "nvidia-cuda-cccl==$VERSION.*" "nvidia-nvvm==$VERSION.*" "nvidia-cuda-crt==$VERSION.*"
  for w in "$KIT"/wheels/*.whl; do python3 -m zipfile -e "$w" "$KIT/root"; done
  chmod +x "$KIT"/root/nvidia/cu"$major"/bin/* "$KIT"/root/nvidia/cu"$major"/nvvm/bin/*
fi
CUDA_HOME=$KIT/root/nvidia/cu$major
mkdir -p "$CUDA_HOME/lib64/stubs"
cp "$STUBS"/lib{cuda,cublas,cublasLt,curand,nvrtc}.so "$CUDA_HOME/lib64/stubs/"
# candle-kernels links its MoE objects against `-lcudart`; the wheel ships only the soname.
ln -sf "libcudart.so.$major" "$CUDA_HOME/lib/libcudart.so"
"$CUDA_HOME/bin/nvcc" --version | tail -2

export CUDA_HOME CUDA_PATH=$CUDA_HOME PATH=$CUDA_HOME/bin:$PATH
t0=$(date +%s)
cargo build --release -p veriscope-gpt --features cuda
cargo build --release -p veriscope-cli
echo "build: $(( $(date +%s) - t0 )) s"
mkdir -p "$OUT"
strip -o "$OUT/veriscope-gpt" "$CARGO_TARGET_DIR/release/veriscope-gpt"
strip -o "$OUT/veriscope" "$CARGO_TARGET_DIR/release/veriscope"
ls -l "$OUT"
