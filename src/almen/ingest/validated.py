"""The result of validating an extract, and writing it to the warehouse."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from almen import claim_index
from almen.errors import ConflictError
from almen.warehouse import Warehouse

__all__ = [
    "ClaimWriter",
    "Reject",
    "Validated",
    "check_not_ingested",
    "merge_listing",
    "write_validated",
]


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
    # the accepted rows went to the warehouse as they were read (``ClaimWriter``);
    # ``accepted`` and ``source_lines`` are then empty
    streamed: bool = False

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_accepted + len(self.rejects):
            raise AssertionError(
                f"ingest does not reconcile: {self.rows_read} read, "
                f"{self.rows_accepted} accepted, {len(self.rejects)} rejected"
            )


def _earlier(wh: Warehouse, table: str, sha256: str) -> list[str]:
    """Ingest ids of earlier imports of the same file (by content hash) into ``table``."""
    if not sha256 or not wh.has_table("ingest_log"):
        return []
    log = wh.read_table("ingest_log")
    hits = log.filter((log.content_sha256 == sha256) & (log.target_table == table)).select(
        "ingest_id", "ingested_at"
    )
    return [str(r["ingest_id"]) for r in hits.to_pyarrow().to_pylist()]


def check_not_ingested(
    wh: Warehouse,
    validated: Validated | None = None,
    *,
    replace: bool = False,
    table: str = "",
    sha256: str = "",
    source: str = "",
) -> list[str]:
    """The earlier imports of this very file (by content hash) into this table;
    ConflictError if there are any, unless ``replace``. The file is ``validated``'s, or
    named by ``table``, ``sha256`` and ``source`` before it is read."""
    if validated is not None:
        table, sha256, source = (
            validated.target_table,
            validated.content_sha256,
            validated.source,
        )
    earlier = _earlier(wh, table, sha256)
    if earlier and not replace:
        raise ConflictError(
            f"this file was already imported into {table} (ingest "
            f"{', '.join(earlier)}); give --replace to import it again in its place",
            source=source,
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


class ClaimWriter:
    """Claim rows written to the warehouse as they are read, so a file of tens of
    millions of lines is never held in memory whole.

    Use it inside ``wh.transaction()`` and as a context manager: the rows become visible,
    with their rejects and ingest log, only when the transaction commits, and a file that
    turns out to be malformed halfway leaves nothing. ``append`` takes each piece of
    accepted rows with their lines in the file; ``discard`` drops what this import took
    so far (the reader starts again another way); ``finish`` writes the rows, the
    rejects and the ingest log and returns the ingest id. Earlier imports of the same
    file are refused unless ``replace``, and then removed (``earlier``). The same-day
    index is brought up to date after the commit (``claim_index.update``).

    On DuckDB each piece is spilled to a Parquet file in a temporary directory
    (``spill_dir``, default the system's) and ``finish`` inserts them all in one
    statement: DuckDB keeps Arrow rows appended inside a transaction in memory until it
    commits, beyond its memory limit, and does not keep rows it reads from files. Other
    backends get each piece at once.
    """

    def __init__(
        self,
        wh: Warehouse,
        *,
        sha256: str,
        source: str,
        replace: bool = False,
        spill_dir: Path | None = None,
    ) -> None:
        self.wh = wh
        self.earlier = check_not_ingested(
            wh, table="claim", sha256=sha256, source=source, replace=replace
        )
        self.ingest_id = uuid.uuid4().hex[:12]
        self.rows = 0
        self._spill: Path | None = None
        if wh.spills_to_parquet:
            self._spill = Path(tempfile.mkdtemp(prefix="almen-claims-", dir=spill_dir))
        self._files: list[Path] = []
        wh.delete_rows("claim", "ingest_id", self.earlier)

    def __enter__(self) -> ClaimWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the spilled pieces (done after ``finish`` or on any error)."""
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None
        self._files = []

    def append(self, piece: pa.Table, lines: pa.Array | pa.ChunkedArray | list[int] | None) -> None:
        """Add accepted claim rows (``lines``: each row's line in the file)."""
        ids = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(piece.num_rows, np.int32)), pa.array([self.ingest_id])
        )
        piece = piece.append_column("ingest_id", ids)
        if lines is not None:
            lines = (
                pa.array(lines, pa.int64()) if isinstance(lines, list) else lines.cast(pa.int64())
            )
            piece = piece.append_column("source_line", lines)
        if self._spill is not None:
            path = self._spill / f"piece-{len(self._files):05d}.parquet"
            # no column statistics: the file is read whole, once (30 % less time to write)
            pq.write_table(self.wh.conform("claim", piece), path, compression="lz4",
                           write_statistics=False)  # fmt: skip
            self._files.append(path)
        else:
            self.wh.append_table("claim", piece)
        self.rows += piece.num_rows

    def discard(self) -> None:
        """Drop the rows this import took so far."""
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files = []
        if self.rows and self._spill is None:
            self.wh.delete_rows("claim", "ingest_id", [self.ingest_id])
        self.rows = 0

    def finish(self, validated: Validated) -> str:
        """The rows, rejects and ingest log of ``validated``; the ingest id."""
        if self.rows != validated.rows_accepted:
            raise AssertionError(
                f"{self.rows} claim rows written, {validated.rows_accepted} accepted"
            )
        if self._spill is not None:
            self.wh.append_parquet("claim", self._files)
            self.close()
        _write_log(self.wh, validated, self.ingest_id)
        return self.ingest_id


def _write_log(wh: Warehouse, validated: Validated, ingest_id: str) -> None:
    """The rejects and the ingest-log line of an import."""
    name = validated.target_table
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
    claims removes the lines of the earlier import first (``ClaimWriter``, which also
    writes claims streamed as they are read). ``source_lines``: the line in the file of
    each accepted claim, kept with the claim.
    """
    name = validated.target_table
    if name == "claim":
        before = claim_index.indexed_rows(wh)
        with (
            wh.transaction(),
            ClaimWriter(
                wh, sha256=validated.content_sha256, source=validated.source, replace=replace
            ) as writer,
        ):
            writer.append(validated.accepted, validated.source_lines)
            ingest_id = writer.finish(validated)
        claim_index.update(wh, [ingest_id], rows_before=None if writer.earlier else before)
        return ingest_id
    with wh.transaction():
        check_not_ingested(wh, validated, replace=replace)
        ingest_id = uuid.uuid4().hex[:12]
        new = validated.accepted
        key = validated.replace_key
        if name == "patient":
            _write_patients(wh, new, today or dt.date.today())
        elif key is None:
            wh.append_table(name, new)  # no key: rows are added (contacts)
        else:
            _replace_rows(wh, name, new, key)
        _write_log(wh, validated, ingest_id)
    return ingest_id
