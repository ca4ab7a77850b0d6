"""Row-by-row validation shared by the importers: each column has a parser that either
gives the value or says, in words that never quote the value, why the cell is refused.

``parse_rows`` turns an opened extract into columns of accepted values and a list of
rejects (line, column, reason); a row is accepted only when every cell parses, the row
check (if any) passes and its key was not on an earlier line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from almen.ingest.claims import parse_amount
from almen.ingest.csv_reader import Extract, parse_date
from almen.ingest.validated import Reject, Validated
from almen.schema import get_table

__all__ = [
    "Field",
    "choice",
    "parse_day",
    "parse_decimal",
    "parse_int",
    "parse_rows",
    "parse_year",
    "pattern",
    "validated",
]

EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2099, 12, 31)


@dataclass(frozen=True, slots=True)
class Field:
    """A canonical column, its parser and what an empty cell means."""

    name: str
    parse: Callable[[str], object]
    required: bool = True
    default: object = None


def parse_rows(
    ex: Extract,
    fields: Sequence[Field],
    *,
    key: Sequence[str] = (),
    check: Callable[[dict[str, object]], tuple[str | None, str] | None] | None = None,
) -> tuple[dict[str, list[object]], list[int], list[Reject]]:
    """Accepted values by column, the accepted rows' line numbers, and the rejects."""
    out: dict[str, list[object]] = {f.name: [] for f in fields}
    lines: list[int] = []
    rejects: list[Reject] = []
    seen: dict[tuple[object, ...], int] = {}
    for line, values in ex.rows:
        row: dict[str, object] = {}
        bad: Reject | None = None
        for f in fields:
            pos = ex.columns.get(f.name)
            text = values[pos].strip() if pos is not None and pos < len(values) else ""
            if not text:
                if f.required:
                    bad = Reject(line, f.name, "empty")
                    break
                row[f.name] = f.default
                continue
            try:
                row[f.name] = f.parse(text)
            except ValueError as exc:
                bad = Reject(line, f.name, str(exc))
                break
        if bad is None and check is not None:
            problem = check(row)
            if problem is not None:
                bad = Reject(line, problem[0], problem[1])
        if bad is None and key:
            k = tuple(row[c] for c in key)
            if k in seen:
                bad = Reject(line, None, f"same {' and '.join(key)} as line {seen[k]}")
            else:
                seen[k] = line
        if bad is not None:
            rejects.append(bad)
            continue
        for f in fields:
            out[f.name].append(row[f.name])
        lines.append(line)
    return out, lines, rejects


def validated(
    ex: Extract,
    target: str,
    columns: Mapping[str, Sequence[object]],
    rejects: list[Reject],
    *,
    replace_key: tuple[str, ...] | None = None,
    extra_types: dict[str, pa.DataType] | None = None,
) -> Validated:
    """The accepted ``columns`` as ``target`` rows, typed as ``schema.py`` declares them
    (``extra_types`` for columns the table does not have, e.g. a listing's end date)."""
    types = {f.name: f.type for f in get_table(target).arrow_schema()} | (extra_types or {})
    accepted = pa.table({name: pa.array(values, types[name]) for name, values in columns.items()})
    return Validated(
        target_table=target,
        source=ex.source,
        rows_read=len(ex.rows),
        rows_accepted=accepted.num_rows,
        accepted=accepted,
        rejects=rejects,
        replace_key=replace_key,
        content_sha256=ex.sha256,
    )


def parse_day(text: str) -> dt.date:
    """A date from 1900 to 2099 (ISO or Danish form)."""
    day = parse_date(text)
    if not EARLIEST <= day <= LATEST:
        raise ValueError("date out of range (1900-2099)")
    return day


def parse_int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            n = int(text.replace(".", "").replace(" ", ""))
        except ValueError:
            raise ValueError("not a whole number") from None
        if not lo <= n <= hi:
            raise ValueError(f"out of range ({lo}-{hi})")
        return n

    return parse


def parse_year(text: str) -> int:
    return parse_int(1900, 2099)(text)


def parse_decimal(lo: float, hi: float) -> Callable[[str], float]:
    """A number with decimal comma or point, from ``lo`` to ``hi``."""

    def parse(text: str) -> float:
        x = parse_amount(text)
        if not lo <= x <= hi:
            raise ValueError(f"out of range ({lo:g}-{hi:g})")
        return x

    return parse


def pattern(regex: str, what: str, *, upper: bool = True) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def parse(text: str) -> str:
        t = text.upper() if upper else text
        if not compiled.fullmatch(t):
            raise ValueError(f"not {what}")
        return t

    return parse


def choice(options: dict[str, str], what: str) -> Callable[[str], str]:
    """One of ``options`` (keys in lower case, Danish and English) → its canonical value."""

    def parse(text: str) -> str:
        value = options.get(text.strip().lower())
        if value is None:
            known = ", ".join(sorted(set(options.values())))
            raise ValueError(f"{what} must be one of {known}")
        return value

    return parse
