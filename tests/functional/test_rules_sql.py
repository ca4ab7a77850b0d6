"""The return rules against an implementation written apart (issue 14 item 5, issue 16
item 8): every rule as one hand-written SQL query (benchmarks/rules_sql.py) gives each
claim line the same rule as almen's engine, on the tiny Denmark with lines added so that
every rule fires (unknown service and patient, future date, quantity, chronic-care fee,
a listing history with an ended period and a patient listed nowhere)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from almen.settlement import load_service_rules, readers
from almen.warehouse import Warehouse


def _load_rules_sql():  # type: ignore[no-untyped-def]
    """benchmarks/rules_sql.py, loaded by path (the benchmarks are scripts, not a package)."""
    path = Path(__file__).parents[2] / "benchmarks" / "rules_sql.py"
    spec = importlib.util.spec_from_file_location("rules_sql", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rule_per_line = _load_rules_sql().rule_per_line

YEAR = 2025
AS_OF = dt.date(YEAR, 12, 10)  # before the last lines of December: future dates exist
RULES = {
    "unknown_service", "unknown_patient", "outside_period", "future_date",
    "invalid_quantity", "not_listed", "age_sex", "duplicate", "per_day", "per_year",
    "chronic_fee",
}  # fmt: skip


def _add_breaking_lines(wh: Warehouse) -> None:
    """Lines that break the rules synth does not inject, made from accepted March lines;
    a listing history in which one patient's earlier clinic is an ended period, and one
    group-1 patient listed nowhere."""
    c = wh.read_table("claim")
    base = c.filter((c.settlement_month == dt.date(YEAR, 3, 1)) & (c.service_code == "0101"))
    lines = pl.from_arrow(base.order_by("claim_id").limit(6).to_pyarrow())
    assert isinstance(lines, pl.DataFrame) and len(lines) == 6
    top = int(c.claim_id.max().execute())
    k001 = pl.from_arrow(c.filter(c.service_code == "K001").limit(1).to_pyarrow())
    assert isinstance(k001, pl.DataFrame) and len(k001) == 1
    dec = dt.date(YEAR, 12, 1)
    new = pl.concat(
        [
            lines[0].with_columns(service_code=pl.lit("ZZ99")),
            lines[1].with_columns(patient_id=pl.lit(12345, pl.Int64)),
            lines[2].with_columns(
                service_date=pl.lit(dt.date(YEAR, 12, 20)), settlement_month=pl.lit(dec)
            ),
            lines[3].with_columns(quantity=pl.lit(0, pl.Int16)),
            # the annual control for the fee's condition, in the fee's year
            k001.with_columns(service_code=pl.lit("0120"), condition_code=pl.lit("T90")),
            # a line at another clinic, inside an ended listing period there
            lines[4].with_columns(provider_number=pl.lit("999998")),
        ]
    ).with_columns(claim_id=pl.int_range(top + 1, top + 7, dtype=pl.Int64))
    wh.append_table("claim", wh.conform("claim", new.to_arrow()))
    p = wh.read_table("patient")
    listed = p.filter(p.provider_number.notnull()).select(
        "patient_id", "provider_number", "listed_from", listed_to=p.listed_from.cast("date")
    )
    listing = pl.from_arrow(listed.to_pyarrow())
    assert isinstance(listing, pl.DataFrame)
    listing = listing.with_columns(listed_to=pl.lit(None, pl.Date))
    ended = pl.DataFrame(
        {
            "patient_id": [int(lines[4, "patient_id"])],
            "provider_number": ["999998"],
            "listed_from": [dt.date(YEAR - 3, 1, 1)],
            "listed_to": [dt.date(YEAR, 6, 30)],
        },
        schema=listing.schema,
    )
    wh.write_table("listing", pa.concat_tables([listing.to_arrow(), ended.to_arrow()]))
    # a group-1 patient listed nowhere (an ended list, no new one): a line is not listed
    nowhere = int(lines[5, "patient_id"])
    rows = pl.from_arrow(p.to_pyarrow())
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(
        provider_number=pl.when(pl.col("patient_id") == nowhere).then(None)
        .otherwise(pl.col("provider_number")),
        listed_from=pl.when(pl.col("patient_id") == nowhere).then(None)
        .otherwise(pl.col("listed_from")),
    )  # fmt: skip
    wh.write_table("patient", wh.conform("patient", rows.to_arrow()))


def test_every_rule_gives_the_same_line_the_same_rule_as_hand_written_sql(
    tiny_copy: Path,
) -> None:
    with Warehouse.connect(tiny_copy) as wh:
        _add_breaking_lines(wh)
        checked = readers.checked_year(wh, YEAR, dt.date(YEAR, 12, 1), as_of=AS_OF)
        engine = pl.from_arrow(checked.select("claim_id", "rule").to_pyarrow())
    assert isinstance(engine, pl.DataFrame)
    con = duckdb.connect(str(tiny_copy / "warehouse.duckdb"), read_only=True)
    try:
        sql = rule_per_line(con, year=YEAR, as_of=AS_OF, service_rules=load_service_rules())
    finally:
        con.close()
    both = engine.join(sql, on="claim_id", how="full", suffix="_sql", coalesce=True)
    differ = both.filter(pl.col("rule").ne_missing(pl.col("rule_sql")))
    assert differ.is_empty(), differ.group_by("rule", "rule_sql").len()
    assert len(engine) == len(sql)
    fired = set(engine["rule"].drop_nulls().unique().to_list())
    assert fired == RULES, RULES - fired  # every rule has lines that break it
