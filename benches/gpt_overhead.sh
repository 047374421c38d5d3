#!/usr/bin/env bash
# Probe + gate overhead of the built-in trainer (issue #5): whole cpu_small runs at one seed
# with the probe (its default mode: async on CPU) against `--no-gate` (no probe, no metrics),
# in interleaved pairs, wall and CPU time (user + sys) per run, load average before/after.
#
# Usage: benches/gpt_overhead.sh [pairs]            (from the repository root; default 3)
# Env:   BIN      trainer (default target-gpt/release/veriscope-gpt, else target/release)
#        WRAPPER  a `veriscope` binary: when set, every pair is also run through
#                 `veriscope run gpt --gate-preset tuned_v0 --outdir D [-- --no-gate]`, with
#                 VERISCOPE_GPT_RUNNER_CMD=$BIN so the wrapper launches this trainer
#        MODES    trainer variants per pair (default "probe nogate"); "sync" adds
#                 `--probe-mode sync` (the probe inline on the training thread)
#        SEED     (default 42)
#        EXTRA    extra trainer flags for every run, e.g. "--max-iters 100" for a smoke test
#        WAIT_LOAD  before each run, wait (up to MAX_WAIT s, default 900) until the 1-min load
#                 average is at most this, so runs land in the machine's quiet spells
#        KEEP     directory to keep the streams, timings and rows in (default: deleted)
#
# Pair k runs the variants in order for odd k and reversed for even k, so a drift in the
# machine's load hits both sides alike. Overhead = median over pairs of (with / without - 1).
# Trainer runs also get CPU seconds per thread (training thread "veriscope-gpt", probe worker
# "veriscope-probe"): the probe's cost on the training thread, the worker's CPU relative to
# it, and the training thread's off-CPU time (wall - its CPU), which is where a busy second
# core shows up.
# The machine is shared: quote wall figures with their load average; CPU time is steadier,
# and with the async probe it is the honest cost (the probe runs on the second core).
# Also reported, from the probe runs' streams: the training thread's own probe cost
# (snapshot_ms + probe_wait_ms, async) and the worker's (probe_ms + metric_ms), as fractions
# of training time (step_ms weighted by the iterations each sample covers), and whether every
# run with the probe wrote byte-identical metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-3}
MODES=${MODES:-probe nogate}
SEED=${SEED:-42}
EXTRA=${EXTRA:-}
BIN=${BIN:-}
if [[ -z "$BIN" ]]; then
  for cand in target-gpt/release/veriscope-gpt target/release/veriscope-gpt; do
    [[ -x "$cand" ]] && BIN=$cand && break
  done
fi
[[ -x "${BIN:-}" ]] || { echo "build first: cargo build -p veriscope-gpt --release" >&2; exit 2; }
BIN=$(realpath "$BIN")
WRAPPER=${WRAPPER:-}
[[ -z "$WRAPPER" || -x "$WRAPPER" ]] || { echo "WRAPPER=$WRAPPER is not executable" >&2; exit 2; }
WAIT_LOAD=${WAIT_LOAD:-}
MAX_WAIT=${MAX_WAIT:-900}
KEEP=${KEEP:-}
if [[ -n "$KEEP" ]]; then
  mkdir -p "$KEEP" && TMP=$(realpath "$KEEP")
else
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
fi
ROWS=$TMP/rows.tsv

# Runs a command; writes "wall user sys rss_kb" (rusage of the command and its children) and,
# for the trainer, CPU seconds per thread name (the training thread is "veriscope-gpt", the
# async probe worker "veriscope-probe"; polled from /proc every 0.25 s, so each may lag by
# up to that much).
cat >"$TMP/timer.py" <<'PY'
import glob, json, os, resource, subprocess, sys, time
out, threads_out, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
tick = os.sysconf("SC_CLK_TCK")
t0 = time.monotonic()
p = subprocess.Popen(cmd)
per_thread = {}
while p.poll() is None:
    for d in glob.glob(f"/proc/{p.pid}/task/*"):
        try:
            name = open(d + "/comm").read().strip()
            f = open(d + "/stat").read().rsplit(")", 1)[1].split()
            per_thread[(d, name)] = (int(f[11]) + int(f[12])) / tick
        except (OSError, IndexError):
            pass
    time.sleep(0.25)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(out, "w").write(f"{wall:.2f} {ru.ru_utime:.2f} {ru.ru_stime:.2f} {ru.ru_maxrss}\n")
by_name = {}
for (_, name), cpu in per_thread.items():
    by_name[name] = round(by_name.get(name, 0.0) + cpu, 2)
json.dump(by_name, open(threads_out, "w"))
sys.exit(p.returncode)
PY

flags_of() {  # trainer flags of a variant
  case $1 in
    probe) echo "" ;;
    nogate) echo "--no-gate" ;;
    sync) echo "--probe-mode sync" ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
  esac
}

# One timed run: appends "via mode pair wall user sys rss_kb load_before load_after stream threads".
timed() {
  local via=$1 mode=$2 pair=$3 tag=$1_$2_$3 load0 load1
  local -a flags
  read -r -a flags <<<"$(flags_of "$mode") $EXTRA"
  if [[ -n "$WAIT_LOAD" ]]; then
    local waited=0
    while (( waited < MAX_WAIT )) && ! python3 -c "import sys; sys.exit(float(open('/proc/loadavg').read().split()[0]) > $WAIT_LOAD)"; do
      sleep 10; waited=$((waited + 10))
    done
  fi
  load0=$(cut -d' ' -f1 /proc/loadavg)
  if [[ $via == trainer ]]; then
    python3 "$TMP/timer.py" "$TMP/$tag.time" "$TMP/$tag.threads" \
      "$BIN" --seed "$SEED" "${flags[@]}" --metrics-out "$TMP/$tag.jsonl" 2>"$TMP/$tag.err"
    stream=$TMP/$tag.jsonl
  else
    VERISCOPE_GPT_RUNNER_CMD=$BIN python3 "$TMP/timer.py" "$TMP/$tag.time" "$TMP/$tag.threads" \
      "$WRAPPER" run gpt --gate-preset tuned_v0 --outdir "$TMP/$tag" -- --seed "$SEED" "${flags[@]}" \
      >"$TMP/$tag.err" 2>&1
    stream=$TMP/$tag/metrics.jsonl
  fi
  load1=$(cut -d' ' -f1 /proc/loadavg)
  echo "$via $mode $pair $(tail -1 "$TMP/$tag.time") $load0 $load1 $stream $TMP/$tag.threads" >>"$ROWS"
  echo "pair $pair $via $mode: $(tail -1 "$TMP/$tag.time") (wall user sys rss_kb), load $load0 -> $load1" >&2
}

read -r -a ORDER <<<"$MODES"
for pair in $(seq 1 "$PAIRS"); do
  if (( pair % 2 == 0 )); then
    mapfile -t ORDER < <(printf '%s\n' "${ORDER[@]}" | tac)
  fi
  for mode in "${ORDER[@]}"; do
    timed trainer "$mode" "$pair"
    [[ -n "$WRAPPER" ]] && timed wrapper "$mode" "$pair"
  done
  read -r -a ORDER <<<"$MODES"
done

python3 - "$ROWS" <<'PY'
import json, statistics, sys
from collections import defaultdict

rows = [l.split() for l in open(sys.argv[1])]
runs = defaultdict(dict)          # (via, mode) -> pair -> record
for via, mode, pair, wall, user, sys_, rss, l0, l1, stream, threads in rows:
    runs[(via, mode)][int(pair)] = dict(wall=float(wall), cpu=float(user) + float(sys_),
                                        rss_mb=int(rss) / 1024, load=(float(l0), float(l1)),
                                        stream=stream, threads=json.load(open(threads)))

def stream_costs(path):
    """Training-thread and worker probe cost as fractions of training time."""
    step = train_side = worker = 0.0
    prev = None
    metrics = []
    for line in open(path):
        r = json.loads(line)
        if r.get("type") != "sample":
            continue
        t = r.get("timing", {})
        gap = r["iter"] - prev if prev is not None else 1
        prev = r["iter"]
        step += t.get("step_ms", 0.0) * gap
        probe = t.get("probe_ms", 0.0) + t.get("metric_ms", 0.0)
        if "snapshot_ms" in t:   # async: the probe ran on the worker
            train_side += t["snapshot_ms"] + t.get("probe_wait_ms", 0.0)
            worker += probe
        else:                    # sync: the probe ran on the training thread
            train_side += probe
        metrics.append(json.dumps(r.get("metrics"), sort_keys=True))
    return dict(train_thread_frac=train_side / step, worker_frac=worker / step), metrics

med = statistics.median
out = {}
for via in sorted({v for v, _ in runs}):
    base = runs.get((via, "nogate"), {})
    for (v, mode), by_pair in sorted(runs.items()):
        if v != via:
            continue
        key = f"{via}_{mode}"
        rec = dict(
            wall_s=med(r["wall"] for r in by_pair.values()),
            cpu_s=med(r["cpu"] for r in by_pair.values()),
            rss_mb_max=max(r["rss_mb"] for r in by_pair.values()),
            wall_rounds=[by_pair[p]["wall"] for p in sorted(by_pair)],
            cpu_rounds=[round(by_pair[p]["cpu"], 2) for p in sorted(by_pair)],
            load_avg_1min=[by_pair[p]["load"] for p in sorted(by_pair)],
        )
        if via == "trainer":
            for name, key_ in (("veriscope-gpt", "train_thread_cpu_s"), ("veriscope-probe", "probe_thread_cpu_s")):
                rec[key_] = med(r["threads"].get(name, 0.0) for r in by_pair.values())
            # Time the training thread was not on a CPU (start-up, waiting for a core): with a
            # free second core the async probe should not raise it.
            rec["off_cpu_rounds"] = [round(by_pair[p]["wall"] - by_pair[p]["threads"].get("veriscope-gpt", 0.0), 2)
                                     for p in sorted(by_pair)]
        if mode != "nogate" and base and via == "trainer":
            pairs = sorted(set(by_pair) & set(base))
            tt = lambda r: r["threads"].get("veriscope-gpt", 0.0)
            rec["train_thread_cpu_overhead_pairs"] = [round(tt(by_pair[p]) / tt(base[p]) - 1, 4) for p in pairs]
            rec["probe_thread_cpu_frac"] = med(by_pair[p]["threads"].get("veriscope-probe", 0.0) / tt(by_pair[p])
                                               for p in by_pair)
        if mode != "nogate" and base:
            pairs = sorted(set(by_pair) & set(base))
            rec["wall_overhead_pairs"] = [round(by_pair[p]["wall"] / base[p]["wall"] - 1, 4) for p in pairs]
            rec["cpu_overhead_pairs"] = [round(by_pair[p]["cpu"] / base[p]["cpu"] - 1, 4) for p in pairs]
            rec["wall_overhead"] = med(rec["wall_overhead_pairs"])
            rec["cpu_overhead"] = med(rec["cpu_overhead_pairs"])
        if mode != "nogate":
            costs = [stream_costs(r["stream"]) for r in by_pair.values()]
            rec["stream_train_thread_frac"] = med(c["train_thread_frac"] for c, _ in costs)
            rec["stream_worker_frac"] = med(c["worker_frac"] for c, _ in costs)
            rec["metrics_identical_across_runs"] = all(m == costs[0][1] for _, m in costs)
        out[key] = rec
print(json.dumps(out, indent=2))
PY
