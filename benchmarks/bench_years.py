"""Benchmark (issue 14 item 3): ten years of claims (about 480 million lines).

    python benchmarks/bench_years.py DATA_DIR WORK_DIR [--doc docs/benchmarks.md]

DATA_DIR holds a scale-1 warehouse of 2025 (`almen synth --scale 1.0`) and the claim
extract that `benchmarks/bench_ingest.py` writes beside it (claims-scale1.csv). WORK_DIR
gets a copy of the warehouse with the year's claims repeated for 2016-2024 (dates and
settlement months moved back a year at a time, new claim ids, each year's lines
together as months arrive in a real warehouse), then:

- the same-day index built over every year: what every `almen ingest claims` did before
  the index was extended per batch (the baseline of the ingest figure);
- `almen settle --year 2025` as a user runs it (a child process, DuckDB memory limit from
  ``--memory-limit``): wall time and peak memory; targets under 40 s and 6 GB;
- `almen ingest claims` of one more month (January 2026: January 2025's lines of the
  extract, dates moved on a year): wall time and peak memory; target under 60 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from child import timed_child
from docblock import measured_on, verdict, write_block

ALMEN = Path(sys.executable).with_name("almen")
YEARS = 10
COLUMNS = ("provider_number, patient_id, service_code, time_band, quantity, ingest_id, "
           "source_line")  # fmt: skip


def make_years(src: Path, work: Path) -> tuple[int, float]:
    """The warehouse with ``YEARS`` years of claims; (claim lines, seconds)."""
    t = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    db = work / "warehouse.duckdb"
    shutil.copy(src / "warehouse.duckdb", db)
    con = duckdb.connect(str(db))
    con.execute("SET preserve_insertion_order = true")
    top = con.execute("SELECT max(claim_id) FROM claim").fetchone()[0]  # type: ignore[index]
    con.execute("ALTER TABLE claim RENAME TO claim_2025")
    con.execute("CREATE TABLE claim AS SELECT * FROM claim_2025 LIMIT 0")
    for back in range(YEARS - 1, -1, -1):  # oldest first
        con.execute(f"""
            INSERT INTO claim SELECT claim_id + {(YEARS - 1 - back) * top} AS claim_id,
              provider_number, patient_id, service_code,
              CAST(service_date - INTERVAL {back} YEAR AS DATE) AS service_date, time_band,
              quantity, CAST(settlement_month - INTERVAL {back} YEAR AS DATE),
              ingest_id, source_line
            FROM claim_2025
        """)
    con.execute("DROP TABLE claim_2025")
    n = con.execute("SELECT count(*) FROM claim").fetchone()[0]  # type: ignore[index]
    con.execute("DROP TABLE IF EXISTS claim_same_day_stamp")
    con.execute("CHECKPOINT")
    con.close()
    return int(n), time.perf_counter() - t


def one_more_month(extract: Path, dest: Path, month: int = 1) -> int:
    """``month`` of 2026: that month's lines of the 2025 extract with dates a year on."""
    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT "CPR", "Ydernummer", "Ydelse", replace("Dato", '-2025', '-2026') AS "Dato",
                 "Antal", "Tidsrum", "Beløb", '2026-{month:02d}' AS "Periode"
          FROM read_csv('{extract}', delim=';', header=true, all_varchar=true, quote='')
          WHERE "Periode" = '2025-{month:02d}'
        ) TO '{dest}' (HEADER, DELIMITER ';', QUOTE '')
    """)
    got = con.execute(f"SELECT count(*) FROM read_csv('{dest}', delim=';', header=true)")
    n = int(got.fetchone()[0])  # type: ignore[index]
    con.close()
    return n


def index_build(work: Path) -> float:
    code = ("from almen import claim_index; from almen.warehouse import Warehouse\n"
            f"with Warehouse.connect({str(work)!r}) as wh: claim_index.build(wh)")  # fmt: skip
    return timed_child([sys.executable, "-c", code], dict(os.environ)).seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="data directory with a scale-1 warehouse")
    ap.add_argument("work", type=Path, help="where the ten-year warehouse is made")
    ap.add_argument("--memory-limit", default="5GB", help="ALMEN_DUCKDB_MEMORY_LIMIT")
    ap.add_argument("--doc", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true",
                    help="use the ten-year warehouse already in WORK_DIR (its making and "
                    "index build are not measured again)")  # fmt: skip
    args = ap.parse_args()
    extract = args.data / "claims-scale1.csv"
    if not extract.exists():
        raise SystemExit(f"no {extract}: run benchmarks/bench_ingest.py first")
    month = 1
    if args.reuse and (args.work / "warehouse.duckdb").exists():
        con = duckdb.connect(str(args.work / "warehouse.duckdb"), read_only=True)
        lines, last = con.execute("SELECT count(*), max(settlement_month) FROM claim").fetchone()  # type: ignore[misc]
        con.close()
        month = last.month + 1 if last.year == 2026 else 1
        make_s = build_s = float("nan")
    else:
        lines, make_s = make_years(args.data, args.work)
        build_s = index_build(args.work)
    env = {**os.environ, "ALMEN_DATA": str(args.work),
           "ALMEN_DUCKDB_MEMORY_LIMIT": args.memory_limit}  # fmt: skip
    settled = timed_child(
        [str(ALMEN), "settle", "--year", "2025", "--as-of", "2026-01-31", "--format", "csv",
         "--output", str(args.work / "settle.csv")], env)  # fmt: skip
    settle_s, settle_gb = settled.seconds, settled.peak_gb
    month_file = args.work / f"claims-2026-{month:02d}.csv"
    month_lines = one_more_month(extract, month_file, month)
    ingested = timed_child([str(ALMEN), "ingest", "claims", str(month_file)], env)
    ingest_s, ingest_gb = ingested.seconds, ingested.peak_gb
    text = "\n".join([
        measured_on(f"a warehouse of {YEARS} years of claims ({lines:,} lines: the scale-1 "
                    f"year repeated for 2016-2025, and months of 2026 ingested by earlier runs), "
                    + (f"made in {make_s:.0f} s; " if make_s == make_s else "")
                    + "DuckDB memory "
                    f"limit {args.memory_limit}."),
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| same-day index built over all {YEARS} years (what every ingest did before) | "
        + (f"{build_s:.1f} s | |" if build_s == build_s else "not re-measured (--reuse) | |"),
        f"| `almen settle --year 2025` (12 months, statements and returned lines written) | "
        f"{settle_s:.1f} s, {settle_gb:.2f} GB | < 40 s ({verdict(settle_s < 40)}), "
        f"< 6 GB ({verdict(settle_gb < 6)}) |",
        f"| `almen ingest claims` of one more month ({month_lines:,} lines; the index "
        f"extended, not rebuilt) | {ingest_s:.1f} s, {ingest_gb:.2f} GB | < 60 s "
        f"({verdict(ingest_s < 60)}) |",
    ])  # fmt: skip
    print(text)
    if args.doc is not None:
        write_block(args.doc, "years", text, "Ten years of claims (issue 14)")


if __name__ == "__main__":
    main()
