#!/bin/sh
# Wrapper overhead benchmark (docs/wrapper.md "Measured").
# Usage: benches/wrapper_overhead.sh [path/to/veriscope] [N lines+samples] [repeats]
# Prints bare vs wrapped wall time (median of repeats) and console latency percentiles.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../target/release/veriscope}
n=${2:-100000}
reps=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
now() { python3 -c 'import time; print(time.time())'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in $(seq "$reps"); do
  t0=$(now); python3 "$here/wrapper_job.py" "$n" > /dev/null; t1=$(now)
  echo "$t1 - $t0" | bc -l >> "$tmp/bare"
  t0=$(now)
  "$bin" run cmd --outdir "$tmp/cap$i" --metric-interval 1 --gate-window 100 --gate-warmup 100 \
    -- python3 "$here/wrapper_job.py" "$n" > /dev/null 2> "$tmp/err$i"
  t1=$(now)
  echo "$t1 - $t0" | bc -l >> "$tmp/wrapped"
done
bare=$(median < "$tmp/bare"); wrapped=$(median < "$tmp/wrapped")
echo "n=$n reps=$reps bare_s=$bare wrapped_s=$wrapped overhead_pct=$(echo "($wrapped - $bare) / $bare * 100" | bc -l | cut -c1-6)"
grep -h "run_status" "$tmp/err1" || true
python3 "$here/wrapper_latency.py" "$bin" "$tmp/lat"
