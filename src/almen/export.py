"""Results as files: one module that turns a result into CSV, JSON or Parquet.

A result is one or more named tables (``Result.parts``) and a few facts about how it was
made (``Result.meta``: the year, the as-of date, a run id). The CLI's ``--format`` and
``--output`` and the API's downloads both go through here, so a figure leaves almen the
same way whichever door it takes, and no part of a result is dropped:

- JSON holds every part and the meta: ``{"meta": {...}, "parts": {"name": [rows]}}``;
- CSV of one part is a plain CSV; of several parts, each part follows a line ``# name``
  (to a file: one file per part, ``FILE-name.csv``);
- Parquet is one file per part (``FILE-name.parquet`` when there are several).

Numbers are written in full (no thousands separators, no rounding) so that they can be
read back by a program; the Danish rendering is the pages' and the tables' business.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from almen.errors import ParameterError, StorageError

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Result",
    "as_result",
    "to_bytes",
    "to_csv",
    "to_json",
    "write_result",
]

FORMATS = ("csv", "json", "parquet")


@dataclass(slots=True)
class Result:
    """Named tables and the facts that go with them."""

    parts: Mapping[str, pl.DataFrame]
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a result needs at least one table")


def as_result(data: Result | pl.DataFrame, name: str = "result") -> Result:
    return data if isinstance(data, Result) else Result({name: data})


def _plain(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(result: Result) -> str:
    """Every part and the meta as one JSON document."""
    parts = ", ".join(f"{json.dumps(name)}: {df.write_json()}" for name, df in result.parts.items())
    meta = json.dumps(_plain(result.meta), ensure_ascii=False)
    return f'{{"meta": {meta}, "parts": {{{parts}}}}}'


def to_csv(result: Result) -> str:
    """One part as CSV; several parts, each after a line ``# name``."""
    if len(result.parts) == 1:
        return next(iter(result.parts.values())).write_csv()
    return "".join(f"# {name}\n{df.write_csv()}" for name, df in result.parts.items())


MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


def to_bytes(result: Result, fmt: str) -> bytes:
    """``result`` as one file's bytes (the API's downloads); Parquet holds one table."""
    if fmt == "csv":
        return to_csv(result).encode("utf-8")
    if fmt == "json":
        return to_json(result).encode("utf-8")
    if fmt == "parquet":
        if len(result.parts) != 1:
            raise ParameterError("parquet holds one table; ask for csv or json")
        buf = io.BytesIO()
        next(iter(result.parts.values())).write_parquet(buf)
        return buf.getvalue()
    raise ParameterError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


def _part_path(output: Path, name: str, many: bool) -> Path:
    return output.with_name(f"{output.stem}-{name}{output.suffix}") if many else output


def write_result(result: Result, fmt: str, output: Path) -> list[Path]:
    """Write ``result`` to ``output`` as ``fmt``; the files written."""
    if fmt not in FORMATS:
        raise ParameterError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    written: list[Path] = []
    try:
        if fmt == "json":
            output.write_text(to_json(result), encoding="utf-8")
            return [output]
        many = len(result.parts) > 1
        for name, df in result.parts.items():
            path = _part_path(output, name, many)
            if fmt == "csv":
                df.write_csv(path)
            else:
                df.write_parquet(path)
            written.append(path)
    except OSError as exc:
        raise StorageError(f"cannot write {output}: {exc.strerror}") from None
    return written
