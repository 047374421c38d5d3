#!/bin/sh
# Minimal shell runner speaking the metrics stream by hand (docs/metrics-stream.md):
# hello, N samples, end, written with one printf per line to $VERISCOPE_METRICS_FD.
n=${1:-5}
fd=${VERISCOPE_METRICS_FD:?VERISCOPE_METRICS_FD not set}
echo "shell-runner: start run_id=$VERISCOPE_RUN_ID"
printf '{"type":"hello","protocol":1,"runner":"sh"}\n' >&"$fd"
i=0
while [ "$i" -lt "$n" ]; do
  printf '{"type":"sample","iter":%d,"metrics":{"var_out_k":0.5,"eff_dim":10,"rankme":20,"cos_disp":0.1},"loss":1.0}\n' "$i" >&"$fd"
  i=$((i + 1))
done
printf '{"type":"end","status":"completed"}\n' >&"$fd"
echo "shell-runner: done"
