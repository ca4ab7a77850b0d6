"""Reading delimited extracts: encoding, delimiter and header names, with line numbers."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from almen.errors import InputError

__all__ = [
    "Extract",
    "decode_strict",
    "file_sha256",
    "map_header",
    "normalise_header",
    "open_extract",
    "parse_date",
]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (the ingest log's content hash)."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None


def normalise_header(name: str) -> str:
    """Lower case, spaces and dashes to underscores, BOM and quotes removed."""
    return re.sub(r"[\s\-]+", "_", name.strip().strip('"').lstrip("\ufeff").lower())


@dataclass(slots=True)
class Extract:
    """An opened extract: the file name, its columns (canonical names) and its rows."""

    source: str
    columns: dict[str, int]  # canonical name → position
    rows: list[tuple[int, list[str]]]  # (line number, values)
    sha256: str = ""  # of the file's bytes


def decode_strict(raw: bytes, encoding: str, source: str) -> str:
    """Decode ``raw`` or raise an ``InputError`` at the line and column of the first bad byte."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise InputError(
            f"not valid {encoding} (byte 0x{raw[exc.start]:02x}); give the file's encoding "
            "with --encoding, e.g. --encoding cp1252",
            source=source,
            line=line,
            column=column,
        ) from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", source=source) from None


def map_header(
    header: list[str],
    aliases: Mapping[str, tuple[str, ...]],
    required: tuple[str, ...],
    source: str,
) -> dict[str, int]:
    """Canonical column → position for a header of normalised names; an ``InputError``
    at line 1 names the required columns that are missing."""
    lookup = {a: canon for canon, names in aliases.items() for a in (canon, *names)}
    columns: dict[str, int] = {}
    for pos, name in enumerate(header):
        canon = lookup.get(name)
        if canon is not None and canon not in columns:
            columns[canon] = pos
    missing = [c for c in required if c not in columns]
    if missing:
        names = ", ".join(f"{c} (or {' / '.join(aliases[c])})" for c in missing)
        raise InputError(f"missing column {names}", source=source, line=1, column=len(header) + 1)
    return columns


def open_extract(
    path: Path,
    aliases: Mapping[str, tuple[str, ...]],
    required: tuple[str, ...],
    *,
    encoding: str | None = None,
    strict_fields: bool = True,
) -> Extract:
    """Read ``path`` (``;`` ``,`` or tab) and map its header to canonical names.

    ``aliases`` maps a canonical column to the header names that mean it. With
    ``encoding`` None the file is read as UTF-8, else Latin-1; with an encoding given, a
    byte that does not decode is an error at its line and column. ``strict_fields`` makes
    a line with another number of fields than the header an error. A missing required
    column, an empty file or an unreadable file is an ``InputError`` naming the file, line
    and column; nothing is read further.
    """
    source = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    if b"\x00" in raw[:4096]:
        raise InputError("not a text file (it contains NUL bytes)", source=source, line=1)
    if encoding is not None:
        text = decode_strict(raw, encoding, source).lstrip("\ufeff")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputError("the file is empty or has no header line", source=source, line=1)
    header_line = lines[0]
    counts = {d: header_line.count(d) for d in (";", "\t", ",")}
    delimiter = max(counts, key=lambda d: counts[d])
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = [normalise_header(h) for h in next(reader)]
    except csv.Error as exc:
        raise InputError(f"malformed header: {exc}", source=source, line=1) from None
    columns = map_header(header, aliases, required, source)
    rows = []
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: its first line counts
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(
                f"malformed line ({exc}; check the quotes); nothing was imported",
                source=source,
                line=start,
            ) from None
        i = start
        if not any(v.strip() for v in values):
            continue
        if strict_fields and len(values) != len(header):
            raise InputError(
                f"malformed line: {len(values)} fields where the header has {len(header)}; "
                "nothing was imported",
                source=source,
                line=i,
                column=min(len(values), len(header)) + 1,
            )
        rows.append((i, values))
    return Extract(source=source, columns=columns, rows=rows,
                   sha256=hashlib.sha256(raw).hexdigest())  # fmt: skip


_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d")


def parse_date(text: str) -> dt.date:
    """A date in ISO (2025-03-01) or Danish (01-03-2025, 01.03.2025) form; ValueError if neither."""
    t = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    raise ValueError("not a date (use YYYY-MM-DD or DD-MM-YYYY)")
