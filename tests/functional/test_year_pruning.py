"""Claims that grow for years (issue 14 item 3): settling a year reads that year's claim
lines, not every year's. DuckDB skips the row groups whose settlement months lie outside
the range filter (zone maps), so this holds where each year's lines were written
together, as synth and monthly ingests write them. The test reads DuckDB's own profile
of every statement a settlement runs and counts the claim rows each scan read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb

from almen import claim_index
from almen.settlement import readers
from almen.warehouse import Warehouse

YEAR = 2025
ROW_GROUP = 122_880  # DuckDB's rows per row group: a boundary group may hold two years


class _Profiled:
    """A DuckDB connection that writes each statement's JSON profile to its own file
    (DuckDB keeps only the last statement's)."""

    def __init__(self, raw: duckdb.DuckDBPyConnection, out: Path) -> None:
        self._raw, self._out, self._n = raw, out, 0
        raw.execute("PRAGMA enable_profiling = 'json'")
        raw.execute("SET profiling_coverage = 'ALL'")  # CREATE TABLE AS and INSERT too

    def _next(self) -> None:
        self._n += 1
        self._raw.execute(f"PRAGMA profiling_output = '{self._out / f'{self._n}.json'}'")

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._next()
        return self._raw.execute(*args, **kwargs)

    def sql(self, *args: Any, **kwargs: Any) -> Any:
        self._next()
        return self._raw.sql(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _claim_scans(profiles: Path) -> list[tuple[str, int, list[str]]]:
    """(statement, rows scanned, columns) of every scan of the claim table."""
    out: list[tuple[str, int, list[str]]] = []

    def walk(node: dict[str, Any], query: str) -> None:
        info = node.get("extra_info") or {}
        if node.get("operator_type") == "TABLE_SCAN" and str(info.get("Table", "")).endswith(
            ".claim"
        ):
            cols = info.get("Projections", [])
            out.append((query, int(node["operator_rows_scanned"]),
                        [cols] if isinstance(cols, str) else list(cols)))  # fmt: skip
        for child in node.get("children", []):
            walk(child, query)

    for f in profiles.glob("*.json"):
        text = f.read_text()
        if text.strip():
            p = json.loads(text)
            walk(p, str(p.get("query_name", ""))[:80])
    return out


def _add_years_around(wh: Warehouse) -> int:
    """The tiny Denmark's claims copied one year back and one year on (new claim ids),
    each copy appended as one batch; returns the rows of the settled year."""
    raw = wh.con.con
    cols = [r[0] for r in raw.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'claim' ORDER BY ordinal_position").fetchall()]  # fmt: skip
    n, top = raw.execute("SELECT count(*), max(claim_id) FROM claim").fetchone()  # type: ignore[misc]
    for k, shift in ((1, -1), (2, 1)):
        moved = {
            "claim_id": f"claim_id + {k * top}",
            "service_date": f"CAST(service_date + INTERVAL ({shift}) YEAR AS DATE)",
            "settlement_month": f"CAST(settlement_month + INTERVAL ({shift}) YEAR AS DATE)",
        }
        select = ", ".join(moved.get(c, c) for c in cols)
        raw.execute(f"INSERT INTO claim ({', '.join(cols)}) "
                    f"SELECT {select} FROM claim WHERE claim_id <= {top}")  # fmt: skip
    claim_index.build(wh)
    return int(n)


def test_settling_a_year_reads_only_that_years_claim_lines(tiny_copy: Path, tmp_path: Path) -> None:
    """Issue 14 item 3: with 2024, 2025 and 2026 in the claim table, `almen settle --year
    2025`'s statements (the checks, statements, returned lines and the run's fingerprint
    of its claims) scan at most 2025's lines plus the row groups at the year's edges; the
    only scan of every year is the same-day index's stamp, which reads claim_id alone.
    Fails if a settlement filter stops pruning (a filter on year(settlement_month), a
    read of the whole claim table)."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    with Warehouse.connect(tiny_copy) as wh:
        year_rows = _add_years_around(wh)
        all_rows = int(wh.read_table("claim").count().execute())
        assert all_rows == 3 * year_rows
        raw = wh.con.con
        wh.con.con = _Profiled(raw, profiles)  # type: ignore[assignment]
        try:
            # what `almen settle --year 2025` runs (cli/settlement_commands.py)
            readers.fees_for_year(wh, YEAR)
            readers.require_claims(wh, YEAR)
            assert claim_index.read(wh) is not None
            as_of = dt.date(YEAR + 1, 1, 31)
            months = list(range(1, 13))
            stmt, returned, flagged = readers.settle_year(wh, YEAR, months, as_of)
            readers.write_settlement(wh, YEAR, months, stmt, returned, flagged, as_of=as_of)
        finally:
            wh.con.con = raw
            raw.execute("PRAGMA disable_profiling")
    assert stmt.height > 0 and returned.height > 0
    scans = _claim_scans(profiles)
    wide = [s for s in scans if s[2] != ["claim_id"]]
    assert len(wide) >= 3, scans  # the check, the grouped rules and the fingerprint
    too_many = [s for s in wide if s[1] > year_rows + 2 * ROW_GROUP]
    assert not too_many, f"{year_rows:,} lines in {YEAR}, {all_rows:,} in all: {too_many}"
    stamp = [s for s in scans if s[2] == ["claim_id"]]
    assert all(s[1] <= all_rows for s in stamp)
