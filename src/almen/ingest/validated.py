"""The result of validating an extract, and writing it to the warehouse."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import ibis
import pyarrow as pa

from almen import claim_index
from almen.warehouse import Warehouse

__all__ = ["Reject", "Validated", "write_validated"]


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

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_accepted + len(self.rejects):
            raise AssertionError(
                f"ingest does not reconcile: {self.rows_read} read, "
                f"{self.rows_accepted} accepted, {len(self.rejects)} rejected"
            )


def write_validated(wh: Warehouse, validated: Validated) -> str:
    """Write accepted rows, rejects and the ingest log; returns the ingest id.

    Rows already in the table with the same key (``replace_key``) are replaced, so
    ingesting a newer extract of the same patients or year does not duplicate them.
    """
    ingest_id = uuid.uuid4().hex[:12]
    name = validated.target_table
    new = validated.accepted
    key = validated.replace_key
    if key is None:
        wh.append_table(name, new)  # no key: rows are added (claims)
        if name == "claim":
            claim_index.build(wh)  # the same-day index follows the claims
    elif wh.has_table(name):
        old = wh.read_table(name)
        keys = ibis.memtable(new.select(list(key)).group_by(list(key)).aggregate([]))
        kept = old.anti_join(keys, list(key)).to_pyarrow()
        wh.write_table(name, pa.concat_tables([kept.cast(new.schema), new]))
    else:
        wh.write_table(name, new)
    rejects = pa.table(
        {
            "ingest_id": [ingest_id] * len(validated.rejects),
            "target_table": [name] * len(validated.rejects),
            "source": [validated.source] * len(validated.rejects),
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
            "rows_rejected": pa.array([len(validated.rejects)], pa.int64()),
            "ingested_at": pa.array([dt.datetime.now()], pa.timestamp("us")),
        }
    )
    wh.append_table("ingest_log", log)
    return ingest_id
