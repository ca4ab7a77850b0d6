"""Benchmark (issue 14 item 2): a scale-1 warehouse copied into PostgreSQL, then a year
settled there.

Run `python benchmarks/bench_backends.py DATA_DIR` on a warehouse made by `almen synth
--scale 1.0` (or `make bench-postgres`). It starts a throwaway PostgreSQL server
(tests/backends/pgserver.py: Debian's package, a temporary data directory, fsync off),
copies every table with ``warehouse.copy_warehouse`` (as `almen warehouse copy --to URL`:
Arrow batches of a million rows, COPY), then settles the year's 12 months and § 96 on
PostgreSQL and on DuckDB and compares the statements. The figures go into
docs/benchmarks.md between markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.backends.pgserver import running_server

from almen.settlement import readers
from almen.warehouse import Warehouse, copy_warehouse
from docblock import measured_on, write_block

YEAR = 2025
AS_OF = dt.date(YEAR + 1, 1, 31)


def _settle(wh: Warehouse) -> tuple[float, pl.DataFrame]:
    t = time.perf_counter()
    statements, _, _ = readers.settle_year(wh, YEAR, list(range(1, 13)), AS_OF)
    readers.ceiling_for_year(wh, YEAR, dt.date(YEAR, 12, 31))
    return time.perf_counter() - t, statements


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data", type=Path)
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args(argv)
    times: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(table: str, done: int, total: int) -> None:
        if done == total:
            times[table] = time.perf_counter() - last[0]
            last[0] = time.perf_counter()

    with running_server("shared_buffers=2GB", "max_wal_size=8GB", "work_mem=256MB") as url:
        with Warehouse.connect(args.data, read_only=True) as src, Warehouse.connect(url) as pg:
            t0 = time.perf_counter()
            last[0] = t0
            counts = copy_warehouse(src, pg, progress=progress)
            copy_s = time.perf_counter() - t0
            duck_s, duck_st = _settle(src)
            pg_s, pg_st = _settle(pg)
        keys = ["provider_number", "month"]
        assert_frame_equal(duck_st.sort(keys), pg_st.sort(keys), check_dtypes=False,
                           check_exact=False, rel_tol=1e-9)  # fmt: skip
    rows = sum(counts.values())
    big = sorted(counts, key=counts.__getitem__, reverse=True)[:4]
    text = "\n".join([
        measured_on("the scale-1 warehouse copied into a local PostgreSQL server (Debian's, "
                    "fsync off, shared_buffers 2 GB) on the same cores."),
        "",
        "| figure | value |",
        "|---|---|",
        f"| `copy_warehouse` (as `almen warehouse copy --to URL`), {len(counts)} tables | "
        f"{rows:,} rows in {copy_s:.1f} s ({rows / copy_s:,.0f} rows/s) |",
        *[f"| of which {t} | {counts[t]:,} rows in {times.get(t, 0):.1f} s |" for t in big],
        f"| settle 12 months + § 96 on DuckDB | {duck_s:.1f} s |",
        f"| the same on PostgreSQL (statements equal to DuckDB's) | {pg_s:.1f} s |",
    ])  # fmt: skip
    print(text)
    write_block(args.doc, "backends", text, "A warehouse on PostgreSQL (issue 14)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
