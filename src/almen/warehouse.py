"""The warehouse: analytic tables behind Ibis, a DuckDB file by default.

``Warehouse.connect(target)`` takes a data directory (the DuckDB file
``warehouse.duckdb`` inside it) or a backend URL that Ibis understands
(``postgres://…``, ``duckdb:///path``). Tables are written and read by name; their
columns and types are checked against ``almen.schema`` in both directions.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from almen.errors import NotFoundError, StorageError
from almen.schema import Table, get_table

__all__ = [
    "WAREHOUSE_FILE",
    "BusyError",
    "Target",
    "Warehouse",
    "check_data_dir",
    "copy_warehouse",
    "stamp",
    "writer_waiting",
]

WAREHOUSE_FILE = "warehouse.duckdb"
WRITER_SUFFIX = ".writer"  # beside the DuckDB file while a process writes or waits to


class BusyError(StorageError):
    """Another process holds the warehouse (a DuckDB file has one writer or many
    readers at a time); the caller may try again shortly."""

    kind = "busy"


def check_data_dir(path: Path) -> Path:
    """Make sure ``path`` is a directory we can write to; StorageError if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise StorageError(f"cannot write to data directory {path}: {reason}") from None
    return path


def _claim_writer(path: Path) -> Path:
    """Say that this process writes ``path`` (or waits to), for readers to see."""
    marker = path.with_name(path.name + WRITER_SUFFIX)
    with contextlib.suppress(OSError):
        marker.write_text(str(os.getpid()))
    return marker


def _release_writer(marker: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if int(marker.read_text().strip() or 0) == os.getpid():
            marker.unlink()


def _same_type(actual: dt.DataType, declared: dt.DataType) -> bool:
    """A column's backend type stands for its declared type: equal, or the backend's
    nearest type where it has no exact one (PostgreSQL's smallest integer is int16, so a
    declared int8 is stored as int16; timestamps may carry the backend's precision)."""
    a, d = actual.copy(nullable=True), declared.copy(nullable=True)
    if a == d:
        return True
    if d.is_int8() and a.is_int16():
        return True
    return a.is_timestamp() and d.is_timestamp() and a.timezone == d.timezone


@dataclass(frozen=True)
class Target:
    """Where a warehouse is, and the DuckDB settings to open a DuckDB file with
    (``memory_limit``, ``threads``, ``temp_directory``; ignored for other backends)."""

    where: str | Path
    duckdb: dict[str, object] = field(default_factory=dict)
    lock_wait: float = 0.0  # seconds to wait while another process holds a DuckDB file


def _duckdb_file(target: str | Path | Target) -> Path | None:
    """The DuckDB file behind ``target``; None for a backend URL."""
    text = str(target.where if isinstance(target, Target) else target)
    if "://" in text:
        return None
    path = Path(text)
    return path if path.suffix == ".duckdb" else path / WAREHOUSE_FILE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_waiting(target: str | Path | Target) -> bool:
    """Whether a process writes the DuckDB file, or waits to: readers that can wait
    (the web app) then open no new connection, so the writer is not starved."""
    path = _duckdb_file(target)
    if path is None:
        return False
    marker = path.with_name(path.name + WRITER_SUFFIX)
    try:
        pid = int(marker.read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and _pid_alive(pid)


def stamp(target: str | Path | Target) -> str | None:
    """A cheap version of what the warehouse holds, which changes when a process
    writes it: the DuckDB file's inode, size and modification time (with its
    write-ahead log's), so a file replaced by `almen synth` or written by `almen settle`
    gives a new stamp; None when there is no such file. For a backend URL, see
    ``Warehouse.backend_stamp``."""
    path = _duckdb_file(target)
    if path is None:
        return None
    parts = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
        except FileNotFoundError:
            parts.append("-")
            continue
        parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts) if parts[0] != "-" else None


def _is_lock_conflict(exc: Exception) -> bool:
    return "Could not set lock" in str(exc) or "Conflicting lock" in str(exc)


class Warehouse:
    """A connection to the warehouse backend with schema-checked reads and writes."""

    def __init__(self, con: ibis.BaseBackend, *, location: str, marker: Path | None = None) -> None:
        self.con = con
        self.location = location
        self._tx_depth = 0
        self._marker = marker  # our writer marker, removed on close

    # -- opening -----------------------------------------------------------------
    @classmethod
    def connect(cls, target: str | Path | Target, *, read_only: bool = False) -> Warehouse:
        """Open a data directory's DuckDB file, a ``.duckdb`` file, or a backend URL;
        a ``Target`` adds DuckDB settings (memory limit, threads, temporary directory)."""
        options: dict[str, object] = {}
        lock_wait = 0.0
        if isinstance(target, Target):
            options = dict(target.duckdb)
            lock_wait = target.lock_wait
            text = str(target.where)
        else:
            text = str(target)
        if "://" in text:
            try:
                con = ibis.connect(text)
                if con.name == "postgres":
                    # Ibis reads results through a server-side cursor, which PostgreSQL
                    # plans for the first 10 % of rows (nested loops over aggregates:
                    # minutes for case finding); almen always reads every row
                    con.raw_sql("SET cursor_tuple_fraction = 1.0").close()
                return cls(con, location=text)
            except Exception as exc:  # backend drivers raise many types
                raise StorageError(f"cannot connect to {text}: {exc}") from None
        path = Path(text)
        if path.suffix != ".duckdb":
            if read_only and not (path / WAREHOUSE_FILE).exists():
                raise NotFoundError(
                    f"no warehouse in {path}: run `almen synth` or `almen ingest` first"
                )
            if not read_only:
                check_data_dir(path)
            path = path / WAREHOUSE_FILE
        marker = None if read_only else _claim_writer(path)
        deadline = time.monotonic() + lock_wait
        while True:
            try:
                con = ibis.duckdb.connect(str(path), read_only=read_only, **options)
                con.raw_sql("SET enable_progress_bar = false")
                if not read_only and path.stat().st_mode & 0o077:
                    path.chmod(0o600)  # patient data: its owner only
                break
            except Exception as exc:
                if _is_lock_conflict(exc) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                if marker is not None:
                    _release_writer(marker)
                if _is_lock_conflict(exc):
                    raise BusyError(
                        f"warehouse {path} is in use by another process (the web app or "
                        f"another command) and stayed so for {lock_wait:g} s; try again, "
                        "or set ALMEN_LOCK_WAIT to wait longer"
                    ) from None
                raise StorageError(f"cannot open warehouse {path}: {exc}") from None
        return cls(con, location=str(path), marker=marker)

    def backend_stamp(self) -> str:
        """A version of what a backend holds that changes when rows are written: on
        PostgreSQL the tables' insert/update/delete counters (updated by the server
        within about a second of a commit); on DuckDB the file's ``stamp``."""
        if self.con.name == "postgres":
            with self.con.con.cursor() as cur:
                cur.execute(
                    "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0), "
                    "count(*) FROM pg_stat_user_tables"
                )
                n, t = cur.fetchone()
            return f"{n}:{t}"
        return stamp(self.location) or ""

    def close(self) -> None:
        # drop tables cached by ``Table.cache()`` while the connection is still open
        cached = getattr(self.con, "_cache_name_to_entry", {})
        for name in list(cached):
            # a failed drop of a temporary table is harmless
            with contextlib.suppress(Exception):
                self.con._finalize_cached_table(name)
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None:
            disconnect()
        if self._marker is not None:
            _release_writer(self._marker)
            self._marker = None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------
    def _conform(self, spec: Table, data: pa.Table) -> pa.Table:
        # a nullable column left out is written empty (e.g. a claim's source line in synth)
        for col in spec.columns:
            if col.nullable and col.name not in data.column_names:
                data = data.append_column(
                    col.name, pa.nulls(data.num_rows, col.ibis_dtype.to_pyarrow())
                )
        missing = [c for c in spec.column_names if c not in data.column_names]
        if missing:
            raise ValueError(f"table {spec.name}: missing columns {missing}")
        extra = [c for c in data.column_names if c not in spec.column_names]
        if extra:
            raise ValueError(f"table {spec.name}: undeclared columns {extra}")
        data = data.select(spec.column_names)
        for col in spec.columns:
            if not col.nullable and data.column(col.name).null_count:
                raise ValueError(f"table {spec.name}: nulls in non-nullable column {col.name}")
        target = spec.arrow_schema()
        fields = []
        for fld in target:
            actual = data.schema.field(fld.name).type
            # dictionary-encoded strings stay encoded: the backend stores them as strings
            if pa.types.is_dictionary(actual) and pa.types.is_string(fld.type):
                if not pa.types.is_string(actual.value_type):
                    raise ValueError(f"table {spec.name}: column {fld.name} is {actual}")
                fields.append(pa.field(fld.name, actual, nullable=fld.nullable))
            else:
                fields.append(fld)
        return data.cast(pa.schema(fields))

    def conform(self, name: str, data: pa.Table) -> pa.Table:
        """``data`` cast to table ``name``'s declared columns (missing nullable ones empty)."""
        return self._conform(get_table(name), data)

    def write_table(self, name: str, data: pa.Table, *, overwrite: bool = True) -> None:
        """Write ``data`` as table ``name`` (replacing it), cast to the declared schema."""
        spec = get_table(name)
        conformed = self._conform(spec, data)
        if self.con.name == "postgres" and conformed.num_rows:
            self.con.create_table(name, schema=spec.ibis_schema(), overwrite=overwrite)
            self._copy_into(name, conformed)
            return
        self.con.create_table(name, conformed, overwrite=overwrite)

    def _copy_into(self, name: str, data: pa.Table) -> None:
        """Bulk-load rows into a PostgreSQL table with COPY (CSV through psycopg): about
        50 times the rate of Ibis' INSERT. Nulls go as unquoted empty fields, empty
        strings as quoted ones, which is how PostgreSQL's CSV tells them apart."""
        import io

        import pyarrow.csv as pacsv

        buf = io.BytesIO()
        pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        raw = self.con.con
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{name}" ({cols}) FROM STDIN (FORMAT csv)') as cp:
                cp.write(buf.getvalue())
            cur.execute(f'ANALYZE "{name}"')  # row counts for the planner

    def _add_new_columns(self, spec: Table) -> None:
        """Add the nullable columns a table made by an earlier version lacks (empty in
        its rows): a table grows columns, it is never rewritten to do so."""
        have = self.con.table(spec.name).schema().names
        for col in spec.columns:
            if col.nullable and col.name not in have:
                mapper = self.con.compiler.type_mapper
                kind = mapper.from_ibis(col.ibis_dtype).sql(self.con.name)
                self.con.raw_sql(f'ALTER TABLE "{spec.name}" ADD COLUMN "{col.name}" {kind}')

    def append_table(self, name: str, data: pa.Table) -> None:
        """Append rows to table ``name``, creating it when missing."""
        spec = get_table(name)
        conformed = self._conform(spec, data)
        if name not in self.con.list_tables():
            self.write_table(name, conformed)
            return
        self._add_new_columns(spec)
        if self.con.name == "postgres" and conformed.num_rows:
            self._copy_into(name, conformed)
        elif self.con.name == "duckdb":
            self._duckdb_insert(name, conformed)
        else:
            self.con.insert(name, conformed)

    def _duckdb_insert(self, name: str, data: pa.Table) -> None:
        """Insert Arrow rows into a DuckDB table through a view that is dropped at once.
        Ibis' ``insert`` registers its data until the process ends (a finaliser at
        exit), so a long import of many pieces kept every piece in memory."""
        raw = self.con.con
        view = f"_almen_append_{uuid.uuid4().hex}"
        raw.register(view, data)
        try:
            cols = ", ".join(f'"{c}"' for c in data.column_names)
            raw.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM "{view}"')
        finally:
            raw.unregister(view)

    @property
    def spills_to_parquet(self) -> bool:
        """Whether ``append_parquet`` is available (DuckDB reads Parquet natively)."""
        return bool(self.con.name == "duckdb")

    def append_parquet(self, name: str, files: list[Path]) -> None:
        """Append the rows of Parquet files (written from ``conform``ed tables) to table
        ``name`` in one statement, creating it when missing. DuckDB only.

        Appending Arrow data piece by piece inside one transaction keeps memory that
        DuckDB releases only at commit (about 30 bytes a row beyond its memory limit,
        measured); one insert from files it reads itself stays within the limit."""
        if not self.spills_to_parquet:
            raise StorageError(f"Parquet appends need DuckDB, not {self.con.name}")
        spec = get_table(name)
        if not self.has_table(name):
            self.create_empty(name)
        else:
            self._add_new_columns(spec)
        if not files:
            return
        cols = ", ".join(f'"{c}"' for c in spec.column_names)
        self.con.con.execute(
            f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM read_parquet(?)',
            [[str(f) for f in files]],
        )

    def delete_rows(self, name: str, column: str, values: list[str]) -> None:
        """Delete the rows of table ``name`` whose ``column`` is one of ``values``, in
        place (the table is not read or rewritten)."""
        if not values or not self.has_table(name):
            return
        get_table(name).column(column)  # a declared column, or KeyError
        quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
        self.con.raw_sql(f'DELETE FROM "{name}" WHERE "{column}" IN ({quoted})')

    def create_empty(self, name: str) -> None:
        """Create table ``name`` with no rows, replacing it."""
        spec = get_table(name)
        self.con.create_table(name, schema=spec.ibis_schema(), overwrite=True)

    # -- reading -----------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return name in self.con.list_tables()

    def read_table(self, name: str) -> ibis.Table:
        """Table ``name`` as a lazy Ibis expression, checked against the schema."""
        spec = get_table(name)
        if not self.has_table(name):
            raise NotFoundError(f"table {name} is not in the warehouse {self.location}")
        table = self.con.table(name)
        actual = table.schema()
        problems = []
        added = {}
        for col in spec.columns:
            if col.name not in actual and col.nullable:
                # a column added since the table was made: read as empty
                added[col.name] = ibis.null(col.ibis_dtype.copy(nullable=True))
            elif col.name not in actual:
                problems.append(f"column {col.name} is missing")
            elif not _same_type(actual[col.name], col.ibis_dtype):
                problems.append(
                    f"column {col.name} is {actual[col.name]}, declared {col.ibis_dtype}"
                )
        extra = [c for c in actual.names if c not in spec.column_names]
        if extra:
            problems.append(f"undeclared columns {extra}")
        if problems:
            raise StorageError(
                f"table {name} in {self.location} does not match the schema: "
                + "; ".join(problems)
                + " (made by another version of almen? run `almen init` or `almen synth` again)"
            )
        return table.mutate(**added).select(*spec.column_names) if added else table

    def last_data_date(self) -> datetime.date | None:
        """The last day the warehouse has data for: the latest claim's service date (else
        the latest diagnosis), None when it holds neither. Analyses default to it rather
        than to today, so a year's data is read as of its end."""
        for name, column in (("claim", "service_date"), ("condition", "onset_date")):
            if self.has_table(name):
                day = self.read_table(name)[column].max().cast("date").to_pyarrow().as_py()
                if day is not None:
                    return day
        return None

    def row_count(self, name: str) -> int:
        return int(self.read_table(name).count().to_pyarrow().as_py())

    def content_hash(self, name: str, rows: ibis.Table | None = None) -> str:
        """SHA-256 of the table's row count and the XOR of its row hashes: equal tables
        give equal hashes whatever the row order or chunking, computed inside the backend
        (no row leaves it). Rows are unique by key, so XOR does not cancel them out.
        ``rows``: a filter of the table (e.g. one year's claims) to hash instead."""
        spec = get_table(name)
        table = self.read_table(name) if rows is None else rows
        if self.con.name == "duckdb":
            cols = ", ".join(f'"{c}"' for c in spec.column_names)
            source = f'"{name}"' if rows is None else f"({ibis.to_sql(rows, dialect='duckdb')})"
            raw = self.con.raw_sql(f"SELECT count(*), bit_xor(hash({cols})) FROM {source} AS t")
            n, x = raw.fetchone()
        else:
            row: ibis.Value | None = None
            for c in spec.column_names:
                v = table[c].cast("string").fill_null("\x00")
                row = v if row is None else row + "|" + v
            assert row is not None
            got = table.aggregate(n=table.count(), x=row.hash().bit_xor()).to_pyarrow()
            n, x = got.to_pylist()[0].values()
        digest = hashlib.sha256(f"{name}|{spec.column_names}|{n}|{x}".encode())
        return digest.hexdigest()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A backend transaction where the backend offers one (DuckDB does).

        Nested use joins the outer transaction: everything commits or rolls back with it.
        """
        raw = getattr(self.con, "raw_sql", None)
        if raw is None or self._tx_depth:
            self._tx_depth += 1
            try:
                yield
            finally:
                self._tx_depth -= 1
            return
        raw("BEGIN TRANSACTION")
        self._tx_depth = 1
        try:
            yield
        except BaseException:
            self._tx_depth = 0
            raw("ROLLBACK")
            raise
        self._tx_depth = 0
        raw("COMMIT")


def copy_warehouse(
    source: Warehouse,
    dest: Warehouse,
    *,
    tables: list[str] | None = None,
    batch_rows: int = 1_000_000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Copy every declared table of ``source`` (or ``tables``) into ``dest``, replacing
    them there; rows by table. Tables go across in Arrow batches of ``batch_rows`` and
    are bulk-loaded (PostgreSQL: COPY; DuckDB: Arrow), so no row passes through Python
    one at a time. ``progress(table, rows_done, rows_total)`` after each batch. Each
    table's row count is compared after loading; StorageError if one differs."""
    from almen.schema import TABLES

    names = tables if tables is not None else [n for n in TABLES if source.has_table(n)]
    counts: dict[str, int] = {}
    for name in names:
        table = source.read_table(name)
        total = source.row_count(name)
        done = 0
        first = True
        for batch in table.to_pyarrow_batches(chunk_size=batch_rows):
            piece = pa.Table.from_batches([batch])
            if first:
                dest.write_table(name, piece)
                first = False
            else:
                dest.append_table(name, piece)
            done += piece.num_rows
            if progress is not None:
                progress(name, done, total)
        if first:
            dest.create_empty(name)
        got = dest.row_count(name)
        if got != total:
            raise StorageError(f"table {name}: {total} rows read, {got} in {dest.location}")
        counts[name] = got
    return counts
