#!/usr/bin/env python3
"""The floor of any wrapper that reads a job's output: runs CMD with its stdout on a pipe and
a metrics pipe in $VERISCOPE_METRICS_FD, drains both into nothing (no console, no log, no
parsing, no gate), with the same 1 ms read coalescing as veriscope's relays, and exits with
the job's status. benches/wrapper_overhead.sh times it as the `piped` arm, so the wrapped
overhead splits into "the job now writes into pipes" and "what veriscope does with them".

Usage: pipe_sink.py CMD [ARGS...]
"""
import os
import select
import subprocess
import sys
import time

COALESCE_S = 0.001
CHUNK = 64 * 1024


def main() -> int:
    metrics_read, metrics_write = os.pipe()
    env = dict(os.environ, VERISCOPE_METRICS_FD=str(metrics_write))
    child = subprocess.Popen(
        sys.argv[1:], stdout=subprocess.PIPE, env=env, pass_fds=(metrics_write,)
    )
    os.close(metrics_write)
    open_fds = {child.stdout.fileno(), metrics_read}
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [])
        short_read = False
        for fd in ready:
            data = os.read(fd, CHUNK)
            if not data:
                open_fds.discard(fd)
            elif len(data) < CHUNK // 2:
                short_read = True
        if short_read:
            time.sleep(COALESCE_S)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
