#!/usr/bin/env python3
"""Benchmark job for benches/wrapper_overhead.sh: prints N stdout lines and streams N metric
samples (to $VERISCOPE_METRICS_FD when wrapped, to /dev/null when bare), with a little CPU work
per step so the job resembles a (very fast) training loop."""
import json, os, sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
fd = int(os.environ["VERISCOPE_METRICS_FD"]) if "VERISCOPE_METRICS_FD" in os.environ else os.open(os.devnull, os.O_WRONLY)
os.write(fd, b'{"type":"hello","protocol":1,"runner":"bench"}\n')
acc = 0.0
out = sys.stdout
for i in range(n):
    for j in range(200):
        acc += (i * j) % 7
    out.write(f"step {i} acc {acc}\n")
    m = 0.4 + (i % 13) * 0.01
    os.write(fd, ('{"type":"sample","iter":%d,"metrics":{"var_out_k":%.4f,"eff_dim":%.4f,"rankme":%.4f,"cos_disp":%.4f},"loss":%.4f}\n'
                  % (i, m, 10 + m, 20 + m, 0.1 + m / 10, 2.0 - m)).encode())
os.write(fd, b'{"type":"end","status":"completed"}\n')
