"""The claim extract read column by column (Polars), for files of tens of millions of lines.

Same rules, same reasons, same order of checks and the same result as the line-by-line
reader in ``almen.ingest.claims`` (a property test holds the two together), at a few
microseconds a line. It takes the files a region or a clinic system writes in bulk: no
quote characters, one record a line, no blank lines. Any other file (quotes, where a
field may hold the delimiter or a line break; blank lines; a lone carriage return; a
non-UTF-8 file larger than ``TRANSCODE_LIMIT``) is left to the line-by-line reader, which
knows CSV quoting.

How it stays fast and small: the file is read in pieces of about ``CHUNK_BYTES`` (never
mapped whole, so its pages do not count as the command's memory); each column is checked on its distinct values (a year of claims has a
few hundred dates, service codes and amounts) and mapped back; the CPR number becomes a
pseudonym once per distinct person (HMAC-SHA-256, as ``pseudonymise``), then the number
is dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import polars as pl
import pyarrow as pa

from almen.errors import InputError
from almen.ingest.claims import COVERS
from almen.ingest.csv_reader import decode_strict, map_header, normalise_header
from almen.ingest.pseudonymise import pseudonymise_many
from almen.ingest.validated import Reject, Validated

__all__ = ["CHUNK_BYTES", "TRANSCODE_LIMIT", "ClaimSink", "read_plain_claims"]

TRANSCODE_LIMIT = 256 * 1024 * 1024  # bytes: larger non-UTF-8 files go line by line
CHUNK_BYTES = 192 * 1024 * 1024
_BANDS = {"day": "day", "dag": "day", "evening": "evening", "aften": "evening", "ooh": "ooh",
          "vagt": "ooh", "": "day"}  # fmt: skip
_COVER = {k: v or "" for k, v in COVERS.items()}  # "" for an empty cell, "?" for a bad one
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d")


def _dates(text: pl.Series) -> pl.Series:
    """``parse_date`` on a column: each format is tried only on the cells the formats
    before it could not read."""
    out = pl.repeat(None, len(text), dtype=pl.Date, eager=True).alias(text.name)
    todo = text.str.len_bytes() > 0
    for fmt in _DATE_FORMATS:
        if not todo.any():
            break
        idx = todo.arg_true()
        out = out.scatter(idx, text.gather(idx).str.to_date(fmt, strict=False))
        todo = todo & out.is_null()
    return out


def _month(u: pl.Series) -> pl.Series:
    """A settlement period: YYYY-MM, MM-YYYY, YYYYMM or a date (its month)."""
    return (
        u.alias("t")
        .to_frame()
        .select(
            pl.when(pl.col("t") == "")
            .then(None)
            .otherwise(
                pl.coalesce(
                    (pl.col("t") + "-01").str.to_date("%Y-%m-%d", strict=False),
                    ("01-" + pl.col("t")).str.to_date("%d-%m-%Y", strict=False),
                    (pl.col("t") + "01").str.to_date("%Y%m%d", strict=False),
                    _dates(u).dt.month_start(),
                )
            )
            .alias("t")
        )["t"]
    )


def _amount(u: pl.Series) -> pl.Series:
    """``parse_amount`` on a column: decimal comma with thousands points, or a point."""
    t = pl.col("t").str.replace_all(" ", "", literal=True)
    comma = t.str.contains(r"^-?(\d{1,3}(\.\d{3})+|\d+),\d+$")
    thousands = t.str.contains(r"^-?\d{1,3}(\.\d{3})+$")
    point = t.str.contains(r"^-?\d+(\.\d+)?$")
    no_points = t.str.replace_all(".", "", literal=True)
    return (
        u.alias("t")
        .to_frame()
        .select(
            pl.when(comma)
            .then(no_points.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False))
            .when(thousands)
            .then(no_points.cast(pl.Float64, strict=False))
            .when(point)
            .then(t.cast(pl.Float64, strict=False))
            .otherwise(None)
            .alias("t")
        )["t"]
    )


def _quantity(u: pl.Series) -> pl.Series:
    """A whole number; empty means 1."""
    t = pl.col("t")
    return (
        u.alias("t")
        .to_frame()
        .select(
            pl.when(t == "").then(pl.lit("1")).otherwise(t).cast(pl.Int64, strict=False).alias("t")
        )["t"]
    )


def _birth_date(cpr10: pl.Expr) -> pl.Expr:
    """The birth date of a normalised CPR number (the century from the 7th digit)."""
    yy = cpr10.str.slice(4, 2).cast(pl.Int32, strict=False)
    d7 = cpr10.str.slice(6, 1).cast(pl.Int32, strict=False)
    century = (
        pl.when(d7 <= 3)
        .then(1900)
        .when(d7.is_in([4, 9]))
        .then(pl.when(yy <= 36).then(2000).otherwise(1900))
        .otherwise(pl.when(yy <= 57).then(2000).otherwise(1800))
    )
    iso = pl.format(
        "{}-{}-{}",
        (century + yy).cast(pl.Utf8).str.zfill(4),
        cpr10.str.slice(2, 2),
        cpr10.str.slice(0, 2),
    )
    return iso.str.to_date("%Y-%m-%d", strict=False)


class _Pseudonyms:
    """Pseudonyms (``pseudonymise``) of the persons met so far, each computed once."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.known = pl.DataFrame(schema={"cpr10": pl.Utf8, "patient_id": pl.Int64})

    def of(self, cprs: pl.Series) -> pl.DataFrame:
        """cpr10 → patient_id for the distinct valid numbers ``cprs`` (and earlier ones)."""
        new = pl.DataFrame({"cpr10": cprs}).join(self.known, on="cpr10", how="anti")["cpr10"]
        if len(new):
            ids = pl.Series("patient_id", pseudonymise_many(new.to_arrow(), self.key))
            self.known = pl.concat([self.known, pl.DataFrame({"cpr10": new, "patient_id": ids})])
        return self.known


class ClaimSink(Protocol):
    """Where accepted claim rows go as they are read (``ClaimWriter``)."""

    def append(self, piece: pa.Table, lines: pa.Array) -> None: ...

    def discard(self) -> None: ...


@dataclass
class _Out:
    sink: ClaimSink | None = None  # None: the pieces are kept
    accepted: int = 0
    pieces: list[pa.Table] = field(default_factory=list)
    lines: list[pa.Array] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    accepted_dkk: float = 0.0
    rejected_dkk: float = 0.0
    unparsed: int = 0


_NOT_PLAIN = r'["\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029]'
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("amount_bad", "amount_dkk", "not an amount (use 1234,50 or 1234.50)"),
    ("cpr_bad", "cpr", "CPR number is not 10 digits (DDMMYY-SSSS)"),
    ("born_bad", "cpr", "CPR number has an impossible birth date"),
    ("provider_bad", "provider_number", "provider number is not 6 digits"),
    ("code_bad", "service_code", "service code is not 4-5 letters or digits"),
    ("day_bad", "service_date", "not a date (use YYYY-MM-DD or DD-MM-YYYY)"),
    ("day_range", "service_date", "date out of range (1900-2099)"),
    ("qty_bad", "quantity", "quantity is not a whole number"),
    ("qty_neg", "quantity", "quantity is negative (send the line again with the right quantity)"),
    ("qty_big", "quantity", "quantity out of range"),
    ("band_bad", "time_band", "time band must be day, evening or ooh (dag, aften, vagt)"),
    ("month_bad", "settlement_month", "settlement period is not a month (use YYYY-MM)"),
    (
        "condition_bad",
        "condition_code",
        "condition is not an ICPC-2 code (a letter and two digits)",
    ),
    ("cover_bad", "cover_reason", "cover must be acute or substitute (akut, vikar) or empty"),
)


def _validate_piece(
    df: pl.DataFrame,
    columns: dict[str, int],
    ids: _Pseudonyms,
    out: _Out,
    *,
    first_line: int,
    first_claim_id: int,
    period: dt.date | None,
) -> int | None:
    """Check one piece of the file (``df``: its fields, all strings); adds to ``out``;
    the number of claims accepted, or None when a field holds a quote, a carriage return
    or another line break (the line-by-line reader must read the file)."""
    names = df.columns
    cpr_col = names[columns["cpr"]]
    # the CPR column (one value a person) is read stripped and keyed as a number; every
    # other column has few distinct values, and is checked on those
    small = [c for c in names if c != cpr_col]
    df = df.with_columns(
        *[pl.col(c).fill_null("") for c in small],
        pl.col(cpr_col).fill_null("").str.strip_chars(),
    )
    df = df.with_columns(cpr_ok=pl.col(cpr_col).str.contains(r"^\d{6}-?\d{4}$"))
    if df.filter(~pl.col("cpr_ok"))[cpr_col].str.contains(_NOT_PLAIN).any():
        return None

    def distinct(frame: pl.DataFrame) -> dict[str, pl.Series]:
        """Every small column's distinct values, in one parallel pass."""
        row = frame.select([pl.col(c).unique().implode() for c in small]).row(0)
        return {c: pl.Series(c, v, dtype=pl.Utf8) for c, v in zip(small, row, strict=True)}

    uniq = distinct(df)
    for u in uniq.values():
        if u.str.contains(_NOT_PLAIN).any():
            return None
    # cells are read stripped, as the line-by-line reader does; strip only where needed
    padded = [c for c, u in uniq.items() if (u != u.str.strip_chars()).any()]
    if padded:
        df = df.with_columns([pl.col(c).str.strip_chars() for c in padded])
        uniq = distinct(df)
    df = df.with_columns(line=pl.int_range(first_line, first_line + len(df), dtype=pl.Int64))
    nonempty = pl.any_horizontal([pl.col(c).str.len_bytes() > 0 for c in names])
    if any((u == "").any() for u in uniq.values()) or (df[cpr_col] == "").any():
        df = df.filter(nonempty)
    out.rows_read += len(df)
    col = {k: names[pos] for k, pos in columns.items()}
    parsers: dict[str, Callable[[pl.Series], pl.Series]] = {
        "provider_ok": lambda u: u.str.contains(r"^\d{6}$"),
        "service_code": lambda u: u.str.to_uppercase(),
        "service_date": _dates,
        "quantity": _quantity,
        "time_band": lambda u: u.str.to_lowercase().replace_strict(_BANDS, default=None),
        "settlement_month": _month,
        "amount_dkk": _amount,
        "condition_code": lambda u: u.str.to_uppercase(),
        "cover_reason": lambda u: u.str.to_lowercase().replace_strict(_COVER, default="?"),
    }
    source_of = {"provider_ok": "provider_number"}
    mapped = []
    for name, parse in parsers.items():
        src = source_of.get(name, name)
        if src in col:
            u = uniq[col[src]]
            new = parse(u)
            mapped.append(pl.col(col[src]).replace_strict(u, new, return_dtype=new.dtype)
                          .alias(name))  # fmt: skip
        elif name == "amount_dkk":
            mapped.append(pl.lit(None, pl.Float64).alias(name))
        else:  # an optional column the file does not have: what an empty cell means
            empty = parse(pl.Series([""], dtype=pl.Utf8))
            mapped.append(pl.lit(empty[0], dtype=empty.dtype).alias(name))
    codes = uniq[col["service_code"]].str.to_uppercase().unique()
    code_ok = dict(zip(codes.to_list(), codes.str.contains(r"^[0-9A-Z]{4,5}$").to_list(),
                       strict=True))  # fmt: skip
    df = df.with_columns(
        cpr_key=pl.when("cpr_ok").then(
            pl.col(cpr_col).str.replace("-", "", literal=True).cast(pl.Int64, strict=False)
        )
    )
    keys = df["cpr_key"].drop_nulls().unique()
    cprs = pl.DataFrame({"cpr_key": keys}).with_columns(
        cpr10=pl.col("cpr_key").cast(pl.Utf8).str.zfill(10)
    )
    cprs = cprs.with_columns(born_ok=_birth_date(pl.col("cpr10")).is_not_null())
    valid = cprs.filter(pl.col("born_ok"))["cpr10"]
    cprs = cprs.join(ids.of(valid), on="cpr10", how="left").drop("cpr10")
    month_text = pl.col(col["settlement_month"]) if "settlement_month" in col else pl.lit("")
    d = (
        df.lazy()
        .select(
            "line",
            "cpr_key",
            "cpr_ok",
            month_text.alias("month_text"),
            pl.col(col["provider_number"]).alias("provider_text"),
            *mapped,
        )
        .join(cprs.lazy(), on="cpr_key", how="left", maintain_order="left")
        .with_columns(
            code_ok=pl.col("service_code").replace_strict(
                code_ok, default=False, return_dtype=pl.Boolean
            )
        )
        .collect()
    )
    del df
    has_amount = "amount_dkk" in col
    flags = {
        "amount_bad": pl.col("amount_dkk").is_null() if has_amount else pl.lit(False),
        "cpr_bad": ~pl.col("cpr_ok"),
        "born_bad": ~pl.col("born_ok").fill_null(False),
        "provider_bad": ~pl.col("provider_ok"),
        "code_bad": ~pl.col("code_ok"),
        "day_bad": pl.col("service_date").is_null(),
        "day_range": ~pl.col("service_date").dt.year().is_between(1900, 2099),
        "qty_bad": pl.col("quantity").is_null(),
        "qty_neg": pl.col("quantity") < 0,
        "qty_big": pl.col("quantity") > 32767,
        "band_bad": pl.col("time_band").is_null(),
        "month_bad": (pl.col("month_text") != "") & pl.col("settlement_month").is_null(),
        "condition_bad": (pl.col("condition_code") != "")
        & ~pl.col("condition_code").str.contains(r"^[A-Z][0-9]{2}$"),
        "cover_bad": pl.col("cover_reason") == "?",
    }
    which = pl.lit(None, pl.Int32)
    for i in reversed(range(len(CHECKS))):
        which = pl.when(flags[CHECKS[i][0]]).then(pl.lit(i, pl.Int32)).otherwise(which)
    d = d.with_columns(failed=which)
    bad = d.filter(pl.col("failed").is_not_null()).select("line", "failed", "amount_dkk")
    out.rejects += [
        Reject(int(line), CHECKS[k][1], CHECKS[k][2])
        for line, k in zip(bad["line"].to_list(), bad["failed"].to_list(), strict=True)
    ]
    ok = d.filter(pl.col("failed").is_null())
    del d
    if has_amount:
        out.accepted_dkk += float(ok["amount_dkk"].sum() or 0.0)
        out.rejected_dkk += float(bad.filter(pl.col("failed") != 0)["amount_dkk"].sum() or 0.0)
        out.unparsed += int((bad["failed"] == 0).sum())
    fallback = pl.lit(period) if period is not None else pl.col("service_date").dt.month_start()
    return _piece(ok, first_claim_id, fallback, out)


def _piece(ok: pl.DataFrame, first_claim_id: int, fallback: pl.Expr, out: _Out) -> int:
    """The accepted lines of a piece as ``claim`` rows (strings dictionary-encoded)."""
    n = len(ok)
    piece = ok.select(
        claim_id=pl.int_range(first_claim_id, first_claim_id + n, dtype=pl.Int64),
        provider_number=pl.col("provider_text").cast(pl.Categorical),
        patient_id="patient_id",
        service_code=pl.col("service_code").cast(pl.Categorical),
        service_date="service_date",
        time_band=pl.col("time_band").cast(pl.Categorical),
        quantity=pl.col("quantity").cast(pl.Int16),
        settlement_month=pl.coalesce(pl.col("settlement_month"), fallback),
        claimed_dkk=pl.col("amount_dkk").cast(pl.Float64),
        condition_code=pl.when(pl.col("condition_code") != "").then(pl.col("condition_code")),
        cover_reason=pl.when(pl.col("cover_reason") != "").then(pl.col("cover_reason")),
    ).to_arrow()
    # dictionary indices as int32, which every backend reads
    piece = piece.cast(
        pa.schema(
            [
                pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
                if pa.types.is_dictionary(f.type)
                else f
                for f in piece.schema
            ]
        )
    )
    if out.sink is not None:
        out.sink.append(piece, ok["line"].to_arrow())
    else:
        out.pieces.append(piece)
        out.lines.append(ok["line"].to_arrow())
    out.accepted += n
    return n


def _locate(chunk: bytes, delim: str, n_fields: int, first_line: int, source: str) -> None:
    """Find the first line of ``chunk`` with another number of fields than the header and
    raise the line-by-line reader's error there; return when that line is blank (the
    line-by-line reader skips it: the caller leaves the file to that reader)."""
    for i, line in enumerate(chunk.split(b"\n")):
        text = line.rstrip(b"\r")
        got = text.count(delim.encode()) + 1
        if got != n_fields and text.strip():
            raise InputError(
                f"malformed line: {got} fields where the header has {n_fields}; "
                "nothing was imported",
                source=source,
                line=first_line + i,
                column=min(got, n_fields) + 1,
            )
        if got != n_fields:
            return


def _pieces(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """The rest of ``stream`` in pieces of about ``size`` bytes, each ending at a line end
    (the last one may not)."""
    rest = b""
    while block := stream.read(size):
        cut = block.rfind(b"\n")
        if cut < 0:
            rest += block
            continue
        yield rest + block[: cut + 1]
        rest = block[cut + 1 :]
    if rest:
        yield rest


def read_plain_claims(
    path: Path,
    key: bytes,
    aliases: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    *,
    first_claim_id: int,
    period: dt.date | None,
    encoding: str,
    sink: ClaimSink | None = None,
    sha256: str | None = None,
) -> tuple[Validated, tuple[float, float, int] | None] | None:
    """Validate a quote-free claim extract column-wise; None when the file needs the
    line-by-line reader. The second value: (accepted DKK, rejected DKK, lines with an
    unreadable amount) when the file has amounts. The file must not be empty.

    With a ``sink``, each piece's accepted rows go to it as they are read and the
    result's ``accepted`` is empty (``streamed``); when the file turns out to need the
    line-by-line reader, the caller discards what the sink took. ``sha256``: the file's
    hash when the caller has it."""
    with path.open("rb") as f:
        source = path.name
        # read in blocks, never mapped whole: the file's pages do not count as the
        # command's memory (a mapped 2.7 GB file did)
        sha = sha256 or hashlib.file_digest(f, "sha256").hexdigest()
        f.seek(0)
        stream: BinaryIO = f
        start = 3 if f.read(3) == b"\xef\xbb\xbf" else 0
        if encoding.lower().replace("-", "").replace("_", "") not in ("utf8", "utf8sig"):
            if path.stat().st_size > TRANSCODE_LIMIT:
                return None
            f.seek(0)
            text = decode_strict(f.read(), encoding, source).lstrip("\ufeff").encode("utf-8")
            stream, start = io.BytesIO(text), 0
        stream.seek(start)
        header_bytes = stream.readline().removesuffix(b"\n")
        header_line = decode_strict(header_bytes, "utf-8", source).rstrip("\r")
        counts = {d: header_line.count(d) for d in (";", "\t", ",")}
        delim = max(counts, key=lambda d: counts[d])
        header = [normalise_header(h) for h in header_line.split(delim)]
        columns = map_header(header, aliases, required, source)
        schema = {f"c{i}": pl.Utf8 for i in range(len(header))}
        ids = _Pseudonyms(key)
        out = _Out(sink)
        line = 2
        claim_id = first_claim_id
        for chunk in _pieces(stream, CHUNK_BYTES):
            n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            n_delims = chunk.count(delim.encode())
            try:
                df = pl.read_csv(
                    io.BytesIO(chunk), has_header=False, separator=delim, quote_char=None,
                    schema=schema, truncate_ragged_lines=False, encoding="utf8",
                )  # fmt: skip
            except pl.exceptions.PolarsError as exc:
                if "utf-8" in str(exc).lower():
                    try:
                        decode_strict(chunk, "utf-8", source)
                    except InputError as bad:  # its line counts from the chunk's first
                        assert bad.line is not None
                        raise InputError(bad.message, source=source, line=bad.line + line - 1,
                                         column=bad.column) from None  # fmt: skip
                _locate(chunk, delim, len(header), line, source)
                return None
            if len(df) != n_lines or n_delims != n_lines * (len(header) - 1):
                _locate(chunk, delim, len(header), line, source)
                return None
            del chunk
            got = _validate_piece(df, columns, ids, out, first_line=line,
                                  first_claim_id=claim_id, period=period)  # fmt: skip
            if got is None:
                return None
            claim_id += got
            del df
            line += n_lines
        if out.pieces:
            accepted = pa.concat_tables(out.pieces)
            lines: pa.ChunkedArray | pa.Array = pa.chunked_array(out.lines, pa.int64())
        else:
            accepted = _empty_claims()
            lines = pa.array([], pa.int64())
        validated = Validated(
            target_table="claim",
            source=source,
            rows_read=out.rows_read,
            rows_accepted=out.accepted,
            accepted=accepted,
            rejects=out.rejects,
            replace_key=None,
            content_sha256=sha,
            source_lines=lines,
            streamed=sink is not None,
        )
        has_amount = "amount_dkk" in columns
        return validated, (out.accepted_dkk, out.rejected_dkk, out.unparsed) if has_amount else None


def _empty_claims() -> pa.Table:
    s = pa.dictionary(pa.int32(), pa.string())
    return pa.table(
        {
            "claim_id": pa.array([], pa.int64()),
            "provider_number": pa.array([], s),
            "patient_id": pa.array([], pa.int64()),
            "service_code": pa.array([], s),
            "service_date": pa.array([], pa.date32()),
            "time_band": pa.array([], s),
            "quantity": pa.array([], pa.int16()),
            "settlement_month": pa.array([], pa.date32()),
            "claimed_dkk": pa.array([], pa.float64()),
            "condition_code": pa.array([], pa.string()),
            "cover_reason": pa.array([], pa.string()),
        }
    )
