#!/bin/sh
# Wrapper overhead benchmark (docs/wrapper.md "Measured").
# Usage: benches/wrapper_overhead.sh [path/to/veriscope] [N lines+samples] [repeats]
# Prints bare vs wrapped wall time (median and min of repeats, bare and wrapped alternating),
# the CPU time (user+sys) of both and their difference (the wrapper's own CPU plus its
# dependency capture), the load average before and after, and console latency percentiles.
#
# On a shared machine every run also reports `others`: CPU seconds that other processes used
# while it ran (whole-machine busy time from /proc/stat minus the run's own CPU time), so
# runs disturbed by someone else's build can be told apart; `quiet` medians keep only the
# repeats where both runs of the pair saw less than 0.2 s of it.
#
# A third arm, `piped`, runs the job under benches/pipe_sink.py: stdout and the metrics fd on
# pipes that are drained into nothing. Its cost over `bare` is the floor of any wrapper that
# reads the job's output; `wrapped` over `piped` is what veriscope itself adds. A fourth arm,
# `bare_file`, is the job as it usually runs without a wrapper: its stdout kept in a log
# file (metrics still to /dev/null), since a run that costs money does not discard its log.
#
# The job runs with PYTHONUNBUFFERED=1: one write(2) per stdout line and per metric sample,
# the worst case for the wrapper (and the default on the team's dev host).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/veriscope}
n=${2:-100000}
reps=${3:-5}
export PYTHONUNBUFFERED=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hz=$(getconf CLK_TCK)
now() { date +%s.%N; }
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
minimum() { sort -n | head -1; }
# run NAME CMD...: wall, own CPU and others' CPU of one run, appended to $tmp/NAME.
run() {
  name=$1; shift
  b0=$(busy); t0=$(now)
  /usr/bin/time -f '%U %S' -o "$tmp/cpu" "$@"
  t1=$(now); b1=$(busy)
  own=$(awk '{print $1 + $2}' "$tmp/cpu")
  others=$(echo "($b1 - $b0) / $hz - $own" | bc -l)
  echo "$(echo "$t1 - $t0" | bc -l) $own $others" >> "$tmp/$name"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$reps"); do
  run bare python3 "$here/wrapper_job.py" "$n" > /dev/null
  run bare_file python3 "$here/wrapper_job.py" "$n" > "$tmp/bare_file.log"
  run piped python3 "$here/pipe_sink.py" python3 "$here/wrapper_job.py" "$n" > /dev/null
  run wrapped "$bin" run cmd --outdir "$tmp/cap$i" --metric-interval 1 --gate-window 100 \
    --gate-warmup 100 -- python3 "$here/wrapper_job.py" "$n" > /dev/null 2> "$tmp/err$i"
  set -- $(tail -1 "$tmp/bare") $(tail -1 "$tmp/wrapped") $(tail -1 "$tmp/piped") $(tail -1 "$tmp/bare_file")
  printf 'rep %s: bare %.3fs (cpu %.2fs, others %.2fs)  bare_file %.3fs  piped %.3fs (cpu %.2fs)  wrapped %.3fs (cpu %.2fs, others %.2fs)\n' \
    "$i" "$1" "$2" "$3" "${10}" "$7" "$8" "$4" "$5" "$6"
  echo "$5 - $2" | bc -l >> "$tmp/added_cpu"
  if [ "$(echo "$3 < 0.2 && $6 < 0.2" | bc -l)" = 1 ]; then
    echo "$1" >> "$tmp/quiet_bare"; echo "$4" >> "$tmp/quiet_wrapped"
  fi
done
col() { awk "{print \$$2}" "$tmp/$1"; }
bare=$(col bare 1 | median); wrapped=$(col wrapped 1 | median)
pct() { echo "($2 - $1) / $1 * 100" | bc -l | cut -c1-6; }
piped=$(col piped 1 | median); bare_file=$(col bare_file 1 | median)
echo "n=$n reps=$reps bare_s=$bare wrapped_s=$wrapped overhead_pct=$(pct "$bare" "$wrapped")"
echo "bare_file_s=$bare_file (stdout kept in a file) wrapped_over_bare_file_pct=$(pct "$bare_file" "$wrapped")"
echo "floor: piped_s=$piped (pipes drained into nothing) piped_over_bare_pct=$(pct "$bare" "$piped") wrapped_over_piped_pct=$(pct "$piped" "$wrapped")"
bmin=$(col bare 1 | minimum); wmin=$(col wrapped 1 | minimum)
echo "min: bare_s=$bmin wrapped_s=$wmin overhead_pct=$(pct "$bmin" "$wmin")"
if [ -s "$tmp/quiet_bare" ]; then
  qb=$(median < "$tmp/quiet_bare"); qw=$(median < "$tmp/quiet_wrapped")
  echo "quiet pairs: $(wc -l < "$tmp/quiet_bare") bare_s=$qb wrapped_s=$qw overhead_pct=$(pct "$qb" "$qw")"
else
  echo "quiet pairs: 0 (every repeat shared the machine with other work)"
fi
# Per-pair differences (each arm against the bare run of the same repeat, so slow spells
# of the host cancel) with a distribution-free 95% interval of their median (order
# statistics, normal approximation of the binomial).
python3 - "$tmp" <<'PY'
import math, sys
tmp = sys.argv[1]
def walls(name):
    return [float(line.split()[0]) for line in open(f"{tmp}/{name}")]
bare = walls("bare")
for arm in ("wrapped", "piped", "bare_file"):
    diffs = sorted((w - b) / b * 100 for w, b in zip(walls(arm), bare))
    n = len(diffs)
    lo = max(0, math.floor(n / 2 - 0.98 * math.sqrt(n)))
    hi = min(n - 1, math.ceil(n / 2 + 0.98 * math.sqrt(n)) - 1)
    med = (diffs[(n - 1) // 2] + diffs[n // 2]) / 2
    print(f"per-pair {arm} vs bare: median {med:+.2f}% (95% interval {diffs[lo]:+.2f}% .. {diffs[hi]:+.2f}%, n={n})")
PY
echo "cpu_s (user+sys, median): bare=$(col bare 2 | median) piped=$(col piped 2 | median) wrapped=$(col wrapped 2 | median) added=$(median < "$tmp/added_cpu")"
echo "loadavg before: $load_before after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h "run_status" "$tmp/err1" || true
python3 "$here/wrapper_latency.py" "$bin" "$tmp/lat"
