"""The same-day index of the claim table: lines that share patient, day and service
with another line.

Only such lines can be duplicates or over a per-day limit (settlement/rules.py), and
finding them is one window over every claim line, the costliest step of checking a year
(about 10 s at scale 1). Synth builds the index when it writes claims; an ingest that
adds claims to an indexed table extends it with the lines that share a key with a new
line (``extend``: the keys of one month, not a window over every year), and one that
replaces earlier claims, or is the first, rebuilds it (``update``, after the import has
committed); the
check uses it while the claim table still matches the stamp it was built from (row
count, largest and integer sum of claim_id), and falls back to the window otherwise. The index
holds the lines that share a key over the whole table, a superset of those that share
one within any period checked, so results are the same either way (a test checks it).
"""

from __future__ import annotations

import ibis
import pyarrow as pa

from almen.errors import StorageError
from almen.warehouse import Warehouse

__all__ = ["build", "extend", "indexed_rows", "read", "update"]


def _stamp(wh: Warehouse) -> tuple[int, int, int]:
    """Rows, largest and sum of claim_id: integers, exact however many claims (the sum
    stays inside int64 up to about 4 billion claim ids)."""
    c = wh.read_table("claim")
    row = (
        # fill_null: an empty table has no max (PostgreSQL's answer would not fit the
        # non-nullable type Ibis gives the aggregate)
        c.aggregate(n=c.count(), mx=c.claim_id.max().fill_null(0), sm=c.claim_id.sum().fill_null(0))
        .to_pyarrow()
        .to_pylist()[0]
    )
    return int(row["n"]), int(row["mx"] or 0), int(row["sm"] or 0)


def build(wh: Warehouse) -> int:
    """(Re)build the index from the claim table; returns the lines in it."""
    c = wh.read_table("claim")
    w = ibis.window(group_by=[c.patient_id, c.service_date, c.service_code])
    counted = c.select("claim_id", n=c.count().over(w))
    ids = counted.filter(counted.n > 1).select("claim_id").to_pyarrow()
    # no transaction of its own (ingest calls this inside one); the stamp is written last,
    # so an interrupted build leaves no stamp that matches and the window is used
    wh.con.drop_table("claim_same_day_stamp", force=True)
    wh.write_table("claim_same_day", ids)
    _write_stamp(wh)
    return ids.num_rows


def _write_stamp(wh: Warehouse) -> None:
    n, mx, sm = _stamp(wh)
    wh.write_table(
        "claim_same_day_stamp",
        pa.table({"claim_rows": pa.array([n], pa.int64()),
                  "max_claim_id": pa.array([mx], pa.int64()),
                  "sum_claim_id": pa.array([sm], pa.int64())}),
    )  # fmt: skip


def extend(wh: Warehouse, ingest_ids: list[str]) -> int:
    """Bring a current index up to date after the claims of ``ingest_ids`` were appended
    (nothing removed): a key's count only grows, so every indexed line stays indexed and
    the new index lines are those of the keys the batches touch (their lines and the
    earlier ones that share a key with them). Returns the lines added.

    The caller checks that the index matched the claim table before the append (else
    ``build``)."""
    keys = ["patient_id", "service_date", "service_code"]
    c = wh.read_table("claim")
    touched = c.filter(c.ingest_id.isin(ingest_ids)).select(*keys).distinct()
    lines = c.semi_join(touched, keys).select("claim_id", *keys)
    w = ibis.window(group_by=keys)
    counted = lines.select("claim_id", n=lines.count().over(w))
    indexed = wh.read_table("claim_same_day")
    new = counted.filter(counted.n > 1).select("claim_id").anti_join(indexed, "claim_id")
    ids = new.to_pyarrow()
    wh.con.drop_table("claim_same_day_stamp", force=True)  # the stamp is written last
    if ids.num_rows:
        wh.append_table("claim_same_day", ids)
    _write_stamp(wh)
    return ids.num_rows


def update(wh: Warehouse, ingest_ids: list[str], *, rows_before: int | None) -> int:
    """The index after imports ``ingest_ids`` have committed, in a transaction of its own;
    returns the lines it holds or added.

    ``rows_before``: ``indexed_rows`` before the imports, or None when they also removed
    rows (``--replace``). A current index of a non-empty table is extended by the new
    batches; otherwise the index is rebuilt, which for a first import is a window over
    its own lines only. Done after the commit because DuckDB reads rows committed to its
    file faster than rows still in a transaction (at scale 1: 19 s against 31 s); if it
    is interrupted, the stamp does not match, the check uses the window and ``settle``
    rebuilds the index."""
    with wh.transaction():
        if rows_before:
            return extend(wh, ingest_ids)
        return build(wh)


def indexed_rows(wh: Warehouse) -> int | None:
    """The claim table's rows if the index matches it, else None."""
    if not (wh.has_table("claim_same_day") and wh.has_table("claim_same_day_stamp")):
        return None
    if not wh.has_table("claim"):
        return None
    try:
        stamp = wh.read_table("claim_same_day_stamp").to_pyarrow().to_pylist()
    except StorageError:  # a stamp of an earlier version (a float sum): not trusted
        return None
    if len(stamp) != 1:
        return None
    s = stamp[0]
    now = _stamp(wh)
    if (s["claim_rows"], s["max_claim_id"], s["sum_claim_id"]) != now:
        return None
    return now[0]


def read(wh: Warehouse) -> ibis.Table | None:
    """The index if it matches the claim table, else None (use the window)."""
    if indexed_rows(wh) is None:
        return None
    return wh.read_table("claim_same_day")
