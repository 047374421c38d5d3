#!/usr/bin/env python3
"""The floor of any wrapper that reads a job's output: runs CMD with its stdout on a pipe and
a metrics pipe in $VERISCOPE_METRICS_FD, drains both into nothing (no console, no log, no
parsing, no gate), with the same 1 ms read coalescing as veriscope's relays, and exits with
the job's status. benches/wrapper_overhead.sh times it as the `piped` arm, so the wrapped
overhead splits into "the job now writes into pipes" and "what veriscope does with them".

Usage: pipe_sink.py CMD [ARGS...]
"""
import os
import subprocess
import sys
import threading
import time

COALESCE_S = 0.001
CHUNK = 64 * 1024


def drain(fd: int) -> None:
    """Blocking reads and a 1 ms pause after a short one, like veriscope's relays. No
    select/poll: once a reader polls a pipe, Linux wakes it on every write (pipe_write's
    `poll_usage`), which would make this floor costlier than the wrapper itself."""
    while True:
        data = os.read(fd, CHUNK)
        if not data:
            return
        if len(data) < CHUNK // 2:
            time.sleep(COALESCE_S)


def main() -> int:
    metrics_read, metrics_write = os.pipe()
    env = dict(os.environ, VERISCOPE_METRICS_FD=str(metrics_write))
    child = subprocess.Popen(
        sys.argv[1:], stdout=subprocess.PIPE, env=env, pass_fds=(metrics_write,)
    )
    os.close(metrics_write)
    readers = [
        threading.Thread(target=drain, args=(fd,))
        for fd in (child.stdout.fileno(), metrics_read)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
