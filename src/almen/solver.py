"""A HiGHS model that prints nothing (shared by the capacity and access domains).

HiGHS prints its banner on the C-level stdout when the first model of a process is made,
before any option can be set; that would spoil ``--format csv`` output, and engines
never print.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["quiet_highs"]


@contextmanager
def _c_stdout_silenced() -> Iterator[None]:
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def quiet_highs() -> Any:
    """A ``highspy.Highs`` with its output off."""
    import highspy

    with _c_stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h
