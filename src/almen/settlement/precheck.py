"""Check claim lines before they are sent: every return rule, nothing imported.

Seed 002 §5 asks to eliminate returned claims (returregninger) digitally: a clinic runs
the same rules the settlement runs on the lines it is about to send, against the fee
schedule, its patients and the lines it has already sent (duplicates and yearly limits
count those), and mends what would come back.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl
import pyarrow as pa

from almen.settlement.rules import check_claims, load_return_rules, load_service_rules
from almen.warehouse import Warehouse

__all__ = ["precheck"]

COLUMNS = {
    "source": pl.Utf8,
    "line": pl.Int64,
    "column": pl.Utf8,
    "rule": pl.Utf8,
    "reason_da": pl.Utf8,
    "reason_en": pl.Utf8,
    "service_code": pl.Utf8,
    "service_date": pl.Date,
}


def precheck(
    wh: Warehouse,
    lines: pa.Table,
    *,
    source: str,
    source_lines: list[int],
    as_of: dt.date,
) -> pl.DataFrame:
    """The lines of ``lines`` (``claim`` rows with ids above the warehouse's) that the
    settlement would return, with the rule, its reasons and their line in ``source``."""
    if lines.num_rows == 0:
        return pl.DataFrame(schema=COLUMNS)
    new = wh.conform("claim", lines)
    sent = wh.read_table("claim") if wh.has_table("claim") else None
    days = pl.from_arrow(new.column("service_date"))
    assert isinstance(days, pl.Series)
    years = sorted({d.year for d in days.to_list()})
    mine = ibis.memtable(new)
    if sent is not None:
        earlier = sent.filter(sent.service_date.year().isin(years))
        claims = earlier.union(mine.cast(earlier.schema()))
    else:
        claims = mine
    listing = wh.read_table("listing") if wh.has_table("listing") else None
    checked = check_claims(
        claims,
        wh.read_table("fee_schedule"),
        wh.read_table("patient"),
        load_service_rules(),
        as_of=as_of,
        listing=listing,
    )
    first = int(pa.compute.min(new.column("claim_id")).as_py())
    hits = (
        checked.filter((checked.claim_id >= first) & checked.rule.notnull())
        .select("claim_id", "rule", "service_code", "service_date")
        .to_polars()
    )
    line_of = pl.DataFrame(
        {"claim_id": new.column("claim_id").to_pylist(), "line": source_lines},
        schema={"claim_id": pl.Int64, "line": pl.Int64},
    )
    reasons = load_return_rules().select("rule", "reason_da", "reason_en")
    out = (
        hits.join(line_of, on="claim_id")
        .join(reasons, on="rule", how="left")
        .with_columns(source=pl.lit(source), column=pl.lit(None, pl.Utf8))
    )
    return out.select(list(COLUMNS)).cast(COLUMNS).sort("line")
