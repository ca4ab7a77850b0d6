"""The result of validating an extract, and writing it to the warehouse."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import ibis
import numpy as np
import polars as pl
import pyarrow as pa

from almen import claim_index
from almen.errors import ConflictError
from almen.warehouse import Warehouse

__all__ = ["Reject", "Validated", "check_not_ingested", "merge_listing", "write_validated"]


@dataclass(frozen=True, slots=True)
class Reject:
    line: int
    column: str | None
    reason: str  # never contains the row's values


@dataclass(slots=True)
class Validated:
    """Accepted rows (for ``target_table``) and rejects; they reconcile with ``rows_read``."""

    target_table: str
    source: str
    rows_read: int
    rows_accepted: int  # input lines accepted (a table row may sum several lines)
    accepted: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    replace_key: tuple[str, ...] | None = None  # rows with these keys are replaced; None: append
    notes: list[str] = field(default_factory=list)
    content_sha256: str = ""  # of the file's bytes (ingest_log), "" when not from a file
    # each accepted row's line in the file (kept with claims)
    source_lines: list[int] | pa.Array | pa.ChunkedArray | None = None

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_accepted + len(self.rejects):
            raise AssertionError(
                f"ingest does not reconcile: {self.rows_read} read, "
                f"{self.rows_accepted} accepted, {len(self.rejects)} rejected"
            )


def _earlier(wh: Warehouse, validated: Validated) -> list[str]:
    """Ingest ids of earlier imports of the same file into the same table."""
    if not validated.content_sha256 or not wh.has_table("ingest_log"):
        return []
    log = wh.read_table("ingest_log")
    hits = log.filter(
        (log.content_sha256 == validated.content_sha256)
        & (log.target_table == validated.target_table)
    ).select("ingest_id", "ingested_at")
    return [str(r["ingest_id"]) for r in hits.to_pyarrow().to_pylist()]


def check_not_ingested(wh: Warehouse, validated: Validated, *, replace: bool = False) -> list[str]:
    """The earlier imports of this very file (by content hash) into this table;
    ConflictError if there are any, unless ``replace``."""
    earlier = _earlier(wh, validated)
    if earlier and not replace:
        raise ConflictError(
            f"this file was already imported into {validated.target_table} (ingest "
            f"{', '.join(earlier)}); give --replace to import it again in its place",
            source=validated.source,
        )
    return earlier


def merge_listing(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """Listing periods of the patients in ``new``, merged with their ``old`` periods.

    A period in ``new`` with the same patient and start as an old one replaces it. Each
    period ends at its own end date or the day before the patient's next period starts,
    whichever is earlier: a patient listed elsewhere from a date closes the earlier
    period then (seed 005: one GP at a time). Columns: patient_id, provider_number,
    listed_from, listed_to.
    """
    cols = ["patient_id", "provider_number", "listed_from", "listed_to"]
    both = pl.concat([old.select(cols).with_columns(_new=pl.lit(False)),
                      new.select(cols).with_columns(_new=pl.lit(True))])  # fmt: skip
    merged = (
        both.sort(["patient_id", "listed_from", "_new"])
        .unique(["patient_id", "listed_from"], keep="last", maintain_order=True)
        .with_columns(
            next_from=pl.col("listed_from").shift(-1).over("patient_id"),
        )
        .with_columns(
            listed_to=pl.min_horizontal(
                pl.col("listed_to"), pl.col("next_from") - pl.duration(days=1)
            )
        )
    )
    return merged.select(cols)


def _write_patients(wh: Warehouse, new: pa.Table, today: dt.date) -> None:
    """The listing periods of ``new`` merged into ``listing``; ``patient`` rows with the
    period in force on ``today`` (or none)."""
    incoming = pl.from_arrow(new)
    assert isinstance(incoming, pl.DataFrame)
    ids = incoming["patient_id"].unique()
    old = pl.DataFrame(
        schema={
            "patient_id": pl.Int64,
            "provider_number": pl.Utf8,
            "listed_from": pl.Date,
            "listed_to": pl.Date,
        }
    )
    kept_listing = None
    if wh.has_table("listing"):
        lt = wh.read_table("listing")
        idt = ibis.memtable(pa.table({"pid": ids.to_arrow()}))
        mine = lt.semi_join(idt, lt.patient_id == idt.pid).to_polars()
        old = mine if not mine.is_empty() else old
        kept_listing = lt.anti_join(idt, lt.patient_id == idt.pid).to_pyarrow()
    elif wh.has_table("patient"):
        # a warehouse without history: the patient table's listings are the first periods
        pt = wh.read_table("patient")
        idt = ibis.memtable(pa.table({"pid": ids.to_arrow()}))
        cur = pt.semi_join(idt, pt.patient_id == idt.pid)
        cur = cur.filter(cur.provider_number.notnull() & cur.listed_from.notnull())
        old = cur.select(
            "patient_id", "provider_number", "listed_from", listed_to=ibis.null("date")
        ).to_polars()
        everyone = pt.filter(pt.provider_number.notnull() & pt.listed_from.notnull())
        kept_listing = (
            everyone.anti_join(idt, everyone.patient_id == idt.pid)
            .select("patient_id", "provider_number", "listed_from", listed_to=ibis.null("date"))
            .to_pyarrow()
        )
    periods = merge_listing(old, incoming)
    listing = periods.to_arrow()
    if kept_listing is not None:
        listing = pa.concat_tables([kept_listing.cast(listing.schema), listing])
    wh.write_table("listing", listing)
    # the patient row: the latest row's facts, and the period in force today
    facts = incoming.sort("listed_from").unique("patient_id", keep="last")
    current = (
        periods.filter(
            (pl.col("listed_from") <= today)
            & (pl.col("listed_to").is_null() | (pl.col("listed_to") >= today))
        )
        .sort("listed_from")
        .unique("patient_id", keep="last")
        .select(
            "patient_id",
            pl.col("provider_number").alias("p_now"),
            pl.col("listed_from").alias("from_now"),
        )
    )
    rows = (
        facts.join(current, on="patient_id", how="left")
        .with_columns(provider_number=pl.col("p_now"), listed_from=pl.col("from_now"))
        .drop("p_now", "from_now", "listed_to")
    )
    _replace_rows(wh, "patient", rows.to_arrow(), ("patient_id",))


def _replace_rows(wh: Warehouse, name: str, new: pa.Table, key: tuple[str, ...]) -> None:
    if wh.has_table(name):
        old = wh.read_table(name)
        keys = ibis.memtable(new.select(list(key)).group_by(list(key)).aggregate([]))
        kept = old.anti_join(keys, list(key)).to_pyarrow()
        new = wh.conform(name, new)
        wh.write_table(name, pa.concat_tables([wh.conform(name, kept), new]))
    else:
        wh.write_table(name, new)


def write_validated(
    wh: Warehouse,
    validated: Validated,
    *,
    replace: bool = False,
    today: dt.date | None = None,
) -> str:
    """Write accepted rows, rejects and the ingest log in one transaction; the ingest id.

    Rows already in the table with the same key (``replace_key``) are replaced, so
    ingesting a newer extract of the same patients or year does not duplicate them. The
    same file (by content hash) is refused a second time unless ``replace``; replacing
    claims removes the lines of the earlier import first. ``source_lines``: the line in
    the file of each accepted claim, kept with the claim.
    """
    earlier = check_not_ingested(wh, validated, replace=replace)
    ingest_id = uuid.uuid4().hex[:12]
    name = validated.target_table
    new = validated.accepted
    key = validated.replace_key
    with wh.transaction():
        # an index that matches the claims now can be extended by the new batch
        extend_index = name == "claim" and not earlier and claim_index.read(wh) is not None
        if name == "claim":
            if earlier and wh.has_table("claim"):
                c = wh.read_table("claim")
                wh.write_table("claim", c.filter(~c.ingest_id.isin(earlier)).to_pyarrow())
            ids = pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(new.num_rows, np.int32)), pa.array([ingest_id])
            )
            new = new.append_column("ingest_id", ids)
            if validated.source_lines is not None:
                lines = (
                    pa.array(validated.source_lines, pa.int64())
                    if isinstance(validated.source_lines, list)
                    else validated.source_lines.cast(pa.int64())
                )
                new = new.append_column("source_line", lines)
        if name == "patient":
            _write_patients(wh, new, today or dt.date.today())
        elif key is None:
            wh.append_table(name, new)  # no key: rows are added (claims, contacts)
        else:
            _replace_rows(wh, name, new, key)
        if name == "claim":  # the same-day index follows the claims
            if extend_index:
                claim_index.extend(wh, ingest_id)
            else:
                claim_index.build(wh)
        n = len(validated.rejects)
        rejects = pa.table(
            {
                "ingest_id": [ingest_id] * n,
                "target_table": [name] * n,
                "source": [validated.source] * n,
                "line": pa.array([r.line for r in validated.rejects], pa.int64()),
                "column_name": pa.array([r.column for r in validated.rejects], pa.string()),
                "reason": [r.reason for r in validated.rejects],
            }
        )
        wh.append_table("reject", rejects)
        log = pa.table(
            {
                "ingest_id": [ingest_id],
                "target_table": [name],
                "source": [validated.source],
                "rows_read": pa.array([validated.rows_read], pa.int64()),
                "rows_accepted": pa.array([validated.rows_accepted], pa.int64()),
                "rows_rejected": pa.array([n], pa.int64()),
                "ingested_at": pa.array([dt.datetime.now()], pa.timestamp("us")),
                "content_sha256": [validated.content_sha256],
            }
        )
        wh.append_table("ingest_log", log)
    return ingest_id
