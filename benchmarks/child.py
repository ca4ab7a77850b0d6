"""A command run as a child process, timed, with its own peak memory.

The peak comes from ``os.wait4`` on that one child. ``getrusage(RUSAGE_CHILDREN)`` gives
the largest peak of every child so far, and a child's peak counts the memory its parent
held when it was forked: after the benchmark itself has used 8 GB (writing an extract,
say), every later child would report at least that much.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Child:
    seconds: float
    peak_gb: float  # resident set, GiB as `ru_maxrss` counts it (KiB / 1024²)
    stdout: str


def timed_child(cmd: list[str], env: dict[str, str] | None = None) -> Child:
    """Run ``cmd``; its wall time, peak resident memory and output. Exits with the
    command's error output when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        took = time.perf_counter() - t
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed: {err.read()[-2000:].decode()}")
        out.seek(0)
        text = out.read().decode()
    return Child(took, usage.ru_maxrss / 1024 / 1024, text)
