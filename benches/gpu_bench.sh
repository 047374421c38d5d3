#!/usr/bin/env bash
# GPU figures of the `cuda` build of veriscope-gpt (docs/trainer.md §CUDA), on a machine with
# an NVIDIA GPU. CI never runs this (CI has no GPU); the build recipe is docs/trainer.md §CUDA.
#
# Usage: benches/gpu_bench.sh BIN_DIR OUT_DIR        (from the repository root)
#   BIN_DIR  holds `veriscope` and `veriscope-gpt` (the latter built with `--features cuda`)
#   OUT_DIR  receives bench.txt and, from the capsule (kept in a temporary directory), its
#            report.md, results_summary.json and metrics.jsonl
# Env: STEPS      timed steps per throughput round (default 200)
#      ROUNDS     interleaved throughput rounds (default 3)
#      PROBE_ITERS iterations of each probe-overhead run (default 600)
#      RUN_ITERS  iterations of the wrapped gpu-preset run (default 2000: 10 gate checks)
#      PYTHON     python3 with a CUDA torch for the PyTorch twin (skipped when it has none)
#
# What it prints, in order:
#  1. the GPU and driver;
#  2. tokens/s of our trainer and of its PyTorch twin (benches/pytorch_gpt.py), same `gpu`
#     model in f32, rounds interleaved, probe and eval off (median of the per-sample mean
#     step times after 10 warm-up steps; PyTorch: median over rounds);
#  3. the probe's cost: whole runs of PROBE_ITERS iterations with the probe in `sync` and
#     `async` mode and with `--no-probe`, same seed, interleaved; plus the per-sample timing
#     fields (probe_ms, metric_ms, snapshot_ms, probe_wait_ms) that say where the time goes;
#  4. a wrapped `veriscope run gpt` of the gpu preset on CUDA, then `validate` and `report`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=$(cd "${1:?usage: benches/gpu_bench.sh BIN_DIR OUT_DIR}" && pwd)
OUT_DIR=${2:?usage: benches/gpu_bench.sh BIN_DIR OUT_DIR}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
STEPS=${STEPS:-200}
ROUNDS=${ROUNDS:-3}
PROBE_ITERS=${PROBE_ITERS:-600}
RUN_ITERS=${RUN_ITERS:-2000}
PYTHON=${PYTHON:-python3}
GPT="$BIN_DIR/veriscope-gpt"
VS="$BIN_DIR/veriscope"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
exec > >(tee "$OUT_DIR/bench.txt") 2>&1

echo "== 1. device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"

# The gpu preset's model (docs/trainer.md §Presets); tokens per step = 64 × 256.
TWIN_FLAGS=(--n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 64 --gelu tanh --lr 6e-4)
TOKENS_PER_STEP=$((64 * 256))

median_timing() {  # FILE FIELD [FROM_ITER]: median of timing.FIELD over sample lines
  python3 - "$1" "$2" "${3:-10}" <<'PY'
import json, statistics, sys
path, field, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = []
for line in open(path):
    r = json.loads(line)
    v = r.get("timing", {}).get(field) if r.get("type") == "sample" else None
    if v is not None and r["iter"] >= first:
        vals.append(v)
print(f"{statistics.median(vals):.3f}" if vals else "n/a")
PY
}

ours_tokens_per_s() {
  local out=$TMP/ours_$1.jsonl
  "$GPT" --preset gpu --device cuda --max-iters $((STEPS + 10)) --no-probe --eval-interval 0 \
    --metric-interval 1 --gate-window 20 --metrics-out "$out" 2>/dev/null
  python3 -c "print(round($TOKENS_PER_STEP / ($(median_timing "$out" step_ms) / 1e3)))"
}

echo "== 2. throughput (gpu preset model, f32, probe and eval off; tokens/s)"
HAVE_TORCH=0
"$PYTHON" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && HAVE_TORCH=1
for r in $(seq 1 "$ROUNDS"); do
  ours=$(ours_tokens_per_s "$r")
  torch_tps=n/a
  if [[ $HAVE_TORCH == 1 ]]; then
    torch_tps=$("$PYTHON" benches/pytorch_gpt.py --device cuda "${TWIN_FLAGS[@]}" --steps "$STEPS" \
      --rounds 1 | python3 -c "import json,sys; print(round(json.load(sys.stdin)['tokens_per_s']))")
  fi
  echo "round $r: ours=$ours pytorch=$torch_tps"
done

echo "== 3. probe cost (gpu preset, $PROBE_ITERS iters, seed 42, probe every 5 iters)"
wall() {  # NAME FLAGS...: wall seconds of one run, metrics kept as $TMP/NAME.jsonl
  local name=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$GPT" --preset gpu --device cuda --max-iters "$PROBE_ITERS" --eval-interval 0 \
    --metrics-out "$TMP/$name.jsonl" "$@" 2>/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
for r in 1 2; do
  none=$(wall none --no-probe)
  sync=$(wall sync --probe-mode sync)
  asyn=$(wall async --probe-mode async)
  echo "pair $r: no-probe ${none}s  sync ${sync}s  async ${asyn}s"
done
for mode in sync async; do
  f=$TMP/$mode.jsonl
  echo "$mode: step_ms=$(median_timing "$f" step_ms) probe_ms=$(median_timing "$f" probe_ms)" \
    "metric_ms=$(median_timing "$f" metric_ms) snapshot_ms=$(median_timing "$f" snapshot_ms)" \
    "probe_wait_ms=$(median_timing "$f" probe_wait_ms)"
done
echo "no-probe: step_ms=$(median_timing "$TMP/none.jsonl" step_ms)"
# The async probe must see exactly what the sync one sees (src/probe.rs): same losses and
# same metric values at every sample, timing aside.
python3 - "$TMP/sync.jsonl" "$TMP/async.jsonl" <<'PY'
import json, sys
def rows(p):
    return [(r["iter"], r.get("loss"), r.get("metrics")) for r in map(json.loads, open(p))
            if r.get("type") == "sample"]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
same = sum(x == y for x, y in zip(a, b))
print(f"sync vs async samples identical (loss and metrics): {same}/{len(a)} (async has {len(b)})")
PY

echo "== 4. wrapped run: veriscope run gpt --gate-preset tuned_v0 -- --preset gpu --device cuda --max-iters $RUN_ITERS"
cap=$TMP/capsule
t0=$(date +%s.%N)
rc=0
"$VS" run gpt --gate-preset tuned_v0 --outdir "$cap" -- --preset gpu --device cuda \
  --max-iters "$RUN_ITERS" || rc=$?
echo "run exit=$rc wall=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")s"
"$VS" validate "$cap" && echo "validate exit=0"
"$VS" report "$cap" --format md > "$OUT_DIR/report.md"
"$VS" report "$cap"
cp "$cap/metrics.jsonl" "$cap/results_summary.json" "$OUT_DIR/"
