#!/usr/bin/env python3
"""Console latency of the wrapper: the child prints its wall-clock time every 10 ms; we read
the wrapper's stdout and take arrival - print time per line. Usage: wrapper_latency.py VERISCOPE OUTDIR"""
import statistics, subprocess, sys, time

veriscope, outdir = sys.argv[1], sys.argv[2]
child = "import time,sys\nfor i in range(300):\n    print(time.time_ns(), flush=True); time.sleep(0.01)\n"
p = subprocess.Popen([veriscope, "run", "cmd", "--outdir", outdir, "--", "python3", "-c", child],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
lat = []
for line in p.stdout:
    now = time.time_ns()
    try:
        lat.append((now - int(line.strip())) / 1e6)
    except ValueError:
        pass
p.wait()
lat.sort()
print(f"lines={len(lat)} p50_ms={statistics.median(lat):.3f} p99_ms={lat[int(len(lat) * 0.99) - 1]:.3f} max_ms={lat[-1]:.3f}")
