#!/usr/bin/env python3
"""Where the wrapper's added wall time goes (docs/wrapper.md "Measured"): start-up (exec ->
first statement of the job), the job itself (first -> last statement: does the wrapper slow
the job down while it runs?) and finalization (last statement -> exit), bare and under
`veriscope run cmd`, around benches/wrapper_job.py; medians of REPEATS alternating runs.
The differences bare -> wrapped are the wrapper's costs in each phase.

Usage: wrapper_phases.py VERISCOPE [N] [REPEATS]"""
import os, statistics, subprocess, sys, tempfile, time

veriscope = sys.argv[1]
n = sys.argv[2] if len(sys.argv) > 2 else "100000"
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, PYTHONUNBUFFERED="1")
# The job, timestamped at its first and last statement: argv = FIRST LAST JOB N.
job = ("import runpy, sys, time\n"
       "open(sys.argv[1], 'w').write(repr(time.time()))\n"
       "last = sys.argv[2]\n"
       "sys.argv = sys.argv[3:]\n"
       "runpy.run_path(sys.argv[0], run_name='__main__')\n"
       "open(last, 'w').write(repr(time.time()))\n")
phases = {"bare": ([], [], [], []), "wrapped": ([], [], [], [])}
with tempfile.TemporaryDirectory() as tmp:
    for i in range(reps):
        for kind in ("bare", "wrapped"):
            first, last = os.path.join(tmp, f"{kind}first{i}"), os.path.join(tmp, f"{kind}last{i}")
            cmd = ["python3", "-c", job, first, last, os.path.join(here, "wrapper_job.py"), n]
            if kind == "wrapped":
                cmd = [veriscope, "run", "cmd", "--outdir", os.path.join(tmp, f"cap{i}"),
                       "--metric-interval", "1", "--gate-window", "100", "--gate-warmup", "100",
                       "--"] + cmd
            t0 = time.time()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                           check=True)
            t1 = time.time()
            start, end, wall, during = phases[kind]
            t_first, t_last = float(open(first).read()), float(open(last).read())
            start.append(t_first - t0)
            end.append(t1 - t_last)
            wall.append(t1 - t0)
            during.append(t_last - t_first)
ms = lambda xs: statistics.median(xs) * 1000
for kind, (start, end, wall, during) in phases.items():
    print(f"{kind}: wall_s={statistics.median(wall):.3f} exec_to_first_ms={ms(start):.1f} "
          f"job_s={statistics.median(during):.3f} last_to_exit_ms={ms(end):.1f} "
          f"(min {min(end) * 1000:.1f}, max {max(end) * 1000:.1f})")
(bs, be, _, bj), (ws, we, _, wj) = phases["bare"], phases["wrapped"]
print(f"added start-up_ms={ms(ws) - ms(bs):.1f} job_ms={ms(wj) - ms(bj):.1f} "
      f"finalization_ms={ms(we) - ms(be):.1f}")
