"""Benchmark: `almen ingest claims` on the scale-1 claims written out as a `;`-separated
CSV (about 48 million lines), the way a region's extract would come.

    python benchmarks/bench_ingest.py DATA_DIR [--doc docs/benchmarks.md]

DATA_DIR holds a scale-1 warehouse (`almen synth --scale 1.0`). Its claims are written
once to DATA_DIR/claims-scale1.csv with Danish headers, Danish dates, decimal-comma
amounts and made-up CPR numbers (unique per synthetic person, with their birth year and
sex), then imported into a new empty warehouse (`almen init`) by the command a user runs.
Measured: wall time and peak memory of that command (a child process), and the lines a
second. Baseline: the line-by-line reader on the file's first million lines against the
column-wise reader on the same lines (the validation step alone).

Targets (issue 12): under 120 s and under 8 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from child import timed_child
from docblock import measured_on, verdict, write_block

ALMEN = Path(sys.executable).with_name("almen")
TARGET_S, TARGET_GB = 120.0, 8.0

EXPORT = """
COPY (
  WITH p AS (
    SELECT patient_id, birth_year, sex,
           row_number() OVER (PARTITION BY birth_year, sex ORDER BY patient_id) - 1 AS k
    FROM patient
  ), cpr AS (
    SELECT patient_id,
      lpad(CAST(1 + k % 28 AS VARCHAR), 2, '0')
      || lpad(CAST(1 + (k // 28) % 12 AS VARCHAR), 2, '0')
      || lpad(CAST(birth_year % 100 AS VARCHAR), 2, '0')
      || CASE WHEN birth_year >= 2000 THEN '4' ELSE '0' END
      || lpad(CAST((k // 1680) % 100 AS VARCHAR), 2, '0')
      || CAST(2 * ((k // 336) % 5) + CASE WHEN sex = 'M' THEN 1 ELSE 0 END AS VARCHAR)
      AS cpr
    FROM p
  ), price AS (
    SELECT service_code, max(price_dkk) AS price_dkk FROM fee_schedule
    WHERE agreement = 'Aftale25' GROUP BY service_code
  )
  SELECT cpr.cpr AS "CPR", c.provider_number AS "Ydernummer", c.service_code AS "Ydelse",
         strftime(c.service_date, '%d-%m-%Y') AS "Dato", c.quantity AS "Antal",
         CASE c.time_band WHEN 'day' THEN 'dag' WHEN 'evening' THEN 'aften' ELSE 'vagt' END
           AS "Tidsrum",
         replace(printf('%.2f', coalesce(price.price_dkk, 0) * c.quantity), '.', ',')
           AS "Beløb",
         strftime(c.settlement_month, '%Y-%m') AS "Periode"
  FROM claim c JOIN cpr USING (patient_id) LEFT JOIN price USING (service_code)
  ORDER BY c.claim_id
) TO '{path}' (HEADER, DELIMITER ';', QUOTE '')
"""


def export_claims(data: Path, csv: Path) -> float:
    """Write the claims out, in a child process: this process stays small, so the
    children measured after it do not start with its memory."""
    code = ("import duckdb, sys\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "con.execute(sys.argv[2])\n"
            "con.close()")  # fmt: skip
    sql = EXPORT.format(path=str(csv))
    return timed_child([sys.executable, "-c", code, str(data / "warehouse.duckdb"), sql]).seconds


def lines_of(csv: Path) -> int:
    n = 0
    with csv.open("rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n - 1


def sample(csv: Path, dest: Path, n: int) -> None:
    with csv.open("rb") as f, dest.open("wb") as out:
        for _ in range(n + 1):
            line = f.readline()
            if not line:
                break
            out.write(line)


def reader_rates(sample_csv: Path, n: int) -> tuple[float, float]:
    """Lines a second of the line-by-line and the column-wise reader (validation only)."""
    from almen.ingest.claims import validate_claims

    rates = []
    for column_wise in (False, True):
        t0 = time.perf_counter()
        v, _ = validate_claims(sample_csv, b"bench-key", first_claim_id=1,
                               column_wise=column_wise)  # fmt: skip
        rates.append(v.rows_read / (time.perf_counter() - t0))
    return rates[0], rates[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="data directory with a scale-1 warehouse")
    ap.add_argument("--doc", type=Path, default=None, help="write the figures into this file")
    ap.add_argument("--sample-lines", type=int, default=1_000_000)
    args = ap.parse_args()
    csv = args.data / "claims-scale1.csv"
    if not csv.exists():
        print(f"writing the claims to {csv} …", file=sys.stderr)
        secs = export_claims(args.data, csv)
        print(f"  {secs:.1f} s", file=sys.stderr)
    n_lines = lines_of(csv)
    size_gb = csv.stat().st_size / 1e9
    env = {**os.environ, "ALMEN_PSEUDONYM_KEY": "bench-key"}
    with tempfile.TemporaryDirectory(prefix="almen-ingest-bench-", dir=args.data.parent) as tmp:
        target = Path(tmp) / "data"
        subprocess.run([str(ALMEN), "--data", str(target), "init", "--year", "2025"],
                       check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"almen ingest claims on {n_lines:,} lines ({size_gb:.2f} GB) …", file=sys.stderr)
        done = timed_child([str(ALMEN), "--data", str(target), "ingest", "claims", str(csv)],
                           env)  # fmt: skip
        wall, peak_gb = done.seconds, done.peak_gb
        summary = done.stdout.splitlines()[0]
        part = Path(tmp) / "sample.csv"
        sample(csv, part, args.sample_lines)
        slow, fast = reader_rates(part, args.sample_lines)
    ok = wall < TARGET_S and peak_gb < TARGET_GB
    limit = os.environ.get("ALMEN_DUCKDB_MEMORY_LIMIT")
    text = "\n".join(
        [
            measured_on(
                f"`benchmarks/bench_ingest.py` on {n_lines:,} claim lines "
                f"({size_gb:.2f} GB, `;`, Danish dates and amounts, UTF-8)"
                + (
                    f", `ALMEN_DUCKDB_MEMORY_LIMIT={limit}`."
                    if limit
                    else ", DuckDB's default memory limit (80 % of RAM)."
                )
            ),
            "",
            "| measure | figure | target |",
            "|---|---|---|",
            f"| `almen ingest claims` wall time (read, validate, pseudonymise, write, "
            f"same-day index) | {wall:.1f} s | < {TARGET_S:.0f} s: {verdict(wall < TARGET_S)} |",
            f"| peak memory of the command | {peak_gb:.2f} GB | < {TARGET_GB:.0f} GB: "
            f"{verdict(peak_gb < TARGET_GB)} |",
            f"| lines a second, end to end | {n_lines / wall:,.0f} | |",
            f"| validation alone, column-wise reader (first {args.sample_lines:,} lines) | "
            f"{fast:,.0f} lines/s | |",
            f"| validation alone, line-by-line reader (baseline, same lines) | "
            f"{slow:,.0f} lines/s | |",
            f"| column-wise ÷ line-by-line | {fast / slow:.1f}× | |",
            "",
            f"The command printed: `{summary}`. Overall: {verdict(ok)}.",
        ]
    )
    print(text)
    if args.doc:
        write_block(args.doc, "bench-ingest", text, "Claim ingest at scale 1 (issue 12)")


if __name__ == "__main__":
    main()
