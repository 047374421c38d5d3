#!/usr/bin/env bash
# Side-by-side CPU throughput of veriscope-gpt (candle) and its PyTorch twin
# (benches/pytorch_gpt.py) on the cpu_small model, interleaved in one run, optionally plus
# (FULL_RUN=1) the wall time of a whole cpu_small run with the probe vs --no-probe at the same
# seed. The probe overhead proper (wall and CPU, A/B pairs, via the wrapper too) is
# benches/gpt_overhead.sh.
#
# Usage: benches/gpt_throughput.sh [rounds]     (from the repository root)
# Our trainer gets --threads THREADS (its cpu_small default is 1), PyTorch set_num_threads.
# Env:   BIN      trainer binary (default target-gpt/release/veriscope-gpt, else target/release)
#        PYTHON   python with torch (default: the project venv from scripts/setup_python_env.sh; skipped if it lacks torch)
#        THREADS  threads for both frameworks (default 2)
#        STEPS    timed steps per throughput round (default 150)
#        FULL_RUN 1 to also time whole runs with and without the probe (default 0)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
THREADS=${THREADS:-2}
STEPS=${STEPS:-150}
FULL_RUN=${FULL_RUN:-0}
BIN=${BIN:-}
if [[ -z "$BIN" ]]; then
  for cand in target-gpt/release/veriscope-gpt target/release/veriscope-gpt; do
    [[ -x "$cand" ]] && BIN=$cand && break
  done
fi
[[ -x "${BIN:-}" ]] || { echo "build first: cargo build -p veriscope-gpt --release" >&2; exit 2; }
PYTHON=${PYTHON:-${VERISCOPE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/veriscope/venv}/bin/python}
HAVE_TORCH=0
"$PYTHON" -c "import torch" 2>/dev/null && HAVE_TORCH=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Steady-state tokens/s of our trainer: median of the per-sample mean step times, skipping
# the first 10 steps (allocator warm-up), probe and eval off.
ours_tokens_per_s() {
  local out=$TMP/ours_$1.jsonl
  "$BIN" --threads "$THREADS" --max-iters $((STEPS + 10)) --no-probe --eval-interval 0 --metric-interval 1 \
    --gate-window 20 --metrics-out "$out" 2>/dev/null
  python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ms = [r["timing"]["step_ms"] for r in rows if r["type"] == "sample" and r["iter"] >= 10]
print(16 * 64 / (statistics.median(ms) / 1e3))
PY
}

wall_s() {  # whole cpu_small run; prints wall seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" "$@" --metrics-out "$TMP/full.jsonl" 2>/dev/null
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}

declare -a OURS=() TORCH=() WITH=() WITHOUT=()
for r in $(seq 1 "$ROUNDS"); do
  OURS+=("$(ours_tokens_per_s "$r")")
  if [[ $HAVE_TORCH == 1 ]]; then
    TORCH+=("$("$PYTHON" benches/pytorch_gpt.py --threads "$THREADS" --steps "$STEPS" --rounds 1 \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')")
  fi
  if [[ $FULL_RUN == 1 ]]; then
    WITH+=("$(wall_s --seed 42)")
    WITHOUT+=("$(wall_s --seed 42 --no-probe)")
  fi
  echo "round $r: ours ${OURS[-1]} tok/s${TORCH:+, pytorch ${TORCH[-1]} tok/s}${WITH:+, full run ${WITH[-1]}s with probe, ${WITHOUT[-1]}s without}" >&2
done

python3 - "${OURS[*]}" "${TORCH[*]:-}" "${WITH[*]:-}" "${WITHOUT[*]:-}" "$THREADS" <<'PY'
import json, statistics, sys
def nums(s): return [float(x) for x in s.split()] if s.strip() else []
ours, torch, w, wo = (nums(a) for a in sys.argv[1:5])
med = lambda xs: statistics.median(xs) if xs else None
out = {"threads": int(sys.argv[5]), "ours_tokens_per_s": med(ours), "ours_rounds": ours,
       "pytorch_tokens_per_s": med(torch), "pytorch_rounds": torch}
if ours and torch:
    out["ratio_vs_pytorch"] = med(ours) / med(torch)
if w and wo:
    out.update(full_run_wall_s_probe=med(w), full_run_wall_s_no_probe=med(wo),
               probe_overhead_frac=med(w) / med(wo) - 1.0, wall_rounds_probe=w, wall_rounds_no_probe=wo)
print(json.dumps(out, indent=2))
PY
