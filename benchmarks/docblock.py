"""Write a benchmark's figures into docs/benchmarks.md between its markers.

Each benchmark owns the block between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
a block not yet in the file is added at the end under ``heading``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path


def measured_on(what: str) -> str:
    """The first line of a figures block: when, on what machine (the real core count),
    which Python, and ``what`` was measured."""
    return (
        f"Measured {dt.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {what}"
    )


def verdict(ok: bool) -> str:
    """How a figure stands against its target, as the tables say it."""
    return "meets" if ok else "NOT MET"


def write_block(doc: Path, name: str, text: str, heading: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        body = body[: body.index(start)] + block + body[body.index(end) + len(end) :]
    else:
        body = body.rstrip() + f"\n\n## {heading}\n\n" + block + "\n"
    doc.write_text(body, encoding="utf-8")
