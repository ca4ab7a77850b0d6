"""Benchmark: `almen synth` at a scale, its wall time, peak memory and row counts.

Run with `make bench` or `almen bench` (scale 1.0 by default) from the repository root.
The synth runs in a child process so its peak resident memory is measured alone
(getrusage of the children); the figures go into docs/benchmarks.md between markers.
Targets (issue 2): scale 1.0 in under 3 minutes on 2 cores, peak memory under 8 GB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from child import timed_child
from docblock import measured_on, write_block

TARGET_SECONDS = 180.0
TARGET_PEAK_GB = 8.0


def run(scale: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="almen-bench-") as tmp:
        cmd = [sys.executable, "-m", "almen", "--data", tmp, "synth", "--scale", str(scale)]
        done = timed_child(cmd)
        import duckdb

        con = duckdb.connect(os.path.join(tmp, "warehouse.duckdb"), read_only=True)
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        counts = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
        con.close()
        size_mb = os.path.getsize(os.path.join(tmp, "warehouse.duckdb")) / 1e6
    return {
        "scale": scale,
        "seconds": done.seconds,
        "peak_gb": done.peak_gb,
        "counts": counts,
        "size_mb": size_mb,
    }


def render(r: dict[str, object]) -> str:
    counts = r["counts"]
    assert isinstance(counts, dict)
    seconds, peak = float(r["seconds"]), float(r["peak_gb"])  # type: ignore[arg-type]
    ok_t = "meets" if seconds < TARGET_SECONDS else "MISSES"
    ok_m = "meets" if peak < TARGET_PEAK_GB else "MISSES"
    lines = [
        measured_on(f"`almen synth --scale {r['scale']}`:"),
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| wall time | {seconds:.1f} s | < {TARGET_SECONDS:.0f} s ({ok_t}) |",
        f"| peak resident memory | {peak:.2f} GB | < {TARGET_PEAK_GB:.0f} GB ({ok_m}) |",
        f"| warehouse file | {float(r['size_mb']):.0f} MB | |",  # type: ignore[arg-type]
        "",
        "| table | rows |",
        "|---|---:|",
        *(f"| {t} | {n:,} |" for t, n in sorted(counts.items())),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args()
    result = run(args.scale)
    block = render(result)
    print(block)
    write_block(args.output, "bench_synth", block, "Synthetic Denmark (issue 2)")


if __name__ == "__main__":
    main()
