"""Write a benchmark's figures into docs/benchmarks.md between its markers.

Each benchmark owns the block between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``;
a block not yet in the file is added at the end under ``heading``.
"""

from __future__ import annotations

from pathlib import Path


def write_block(doc: Path, name: str, text: str, heading: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        body = body[: body.index(start)] + block + body[body.index(end) + len(end) :]
    else:
        body = body.rstrip() + f"\n\n## {heading}\n\n" + block + "\n"
    doc.write_text(body, encoding="utf-8")
