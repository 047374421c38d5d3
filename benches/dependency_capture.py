#!/usr/bin/env python3
"""Dependency capture cost (docs/wrapper.md "Measured", "Environment capture").

Usage: benches/dependency_capture.py [REPS] [PYTHON...]

Times, alternating, the wrapper's two ways of capturing a Python runner's dependency list,
both at nice 10 as the wrapper runs them:
  old: `PY -c 'print(sys.version)'` then `PY -m pip freeze` (two interpreter starts, pip imported)
  new: one `PY -c DEPENDENCY_SCRIPT` (importlib.metadata), the script read from
       crates/veriscope-runner/src/environment.rs so the bench runs exactly what ships.
For each it prints the median and min CPU time (user+sys of the child, from wait4) and wall
time, the CPU other processes used meanwhile (machine busy time from /proc/stat minus ours),
and the load average before and after. PYTHON defaults to the project venv and `python3` as
found on PATH (printed). Note: when this script itself is started through a pyenv shim, pyenv
has put the real interpreter's directory first on PATH, so name the shim explicitly (e.g.
~/.pyenv/shims/python3) to include its cost, as the wrapper pays it for `run cmd -- python3`.
It also checks that the new script's output is identical across repetitions.
"""

import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "crates", "veriscope-runner", "src", "environment.rs")


def dependency_script():
    text = open(SRC, encoding="utf-8").read()
    m = re.search(r'pub const DEPENDENCY_SCRIPT: &str = r#"(.*?)"#;', text, re.S)
    if not m:
        sys.exit(f"DEPENDENCY_SCRIPT not found in {SRC}")
    return m.group(1)


def busy_s():
    with open("/proc/stat") as f:
        fields = f.readline().split()
    # user nice system irq softirq steal, like wrapper_overhead.sh
    ticks = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
    return ticks / os.sysconf("SC_CLK_TCK")


def run(argv):
    """(cpu_s, wall_s, stdout) of one child at nice 10."""
    t0 = time.perf_counter()
    p = subprocess.Popen(["nice", "-n", "10", *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{argv[:3]} failed: status {status}")
    return ru.ru_utime + ru.ru_stime, wall, out


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    pythons = sys.argv[2:] or [os.path.join(cache, "veriscope", "venv", "bin", "python"), "python3"]
    script = dependency_script()
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  reps={reps}")
    for py in pythons:
        if os.sep in py and not os.path.exists(py):
            print(f"{py}: SKIP (absent)")
            continue
        res = {"old": [], "new": []}
        digests = set()
        for _ in range(reps):
            for name in ("old", "new"):
                b0 = busy_s()
                if name == "old":
                    c1, w1, _ = run([py, "-c", "import sys; print(sys.version.replace('\\n', ' '))"])
                    c2, w2, _ = run([py, "-m", "pip", "freeze"])
                    cpu, wall = c1 + c2, w1 + w2
                else:
                    cpu, wall, out = run([py, "-c", script])
                    digests.add(hashlib.sha256(out).hexdigest())
                others = busy_s() - b0 - cpu
                res[name].append((cpu, wall, others))
        print(f"{py} ({shutil.which(py) or 'not on PATH'}):")
        for name, rows in res.items():
            cpu = [r[0] for r in rows]
            wall = [r[1] for r in rows]
            others = [r[2] for r in rows]
            print(f"  {name}: cpu median {1000 * statistics.median(cpu):.0f} ms "
                  f"(min {1000 * min(cpu):.0f}), wall median {1000 * statistics.median(wall):.0f} ms "
                  f"(min {1000 * min(wall):.0f}), others' cpu median {statistics.median(others):.2f} s")
        saved = statistics.median(r[0] for r in res["old"]) - statistics.median(r[0] for r in res["new"])
        print(f"  cpu saved per capture (median): {1000 * saved:.0f} ms; "
              f"new output identical across reps: {len(digests) == 1}")
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
