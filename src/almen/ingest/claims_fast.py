"""The claim extract read column by column (Polars), for files of tens of millions of lines.

Same rules, same reasons, same order of checks and the same result as the line-by-line
reader in ``almen.ingest.claims`` (a test holds the two together), at a few microseconds
a line. It takes the files a region or a clinic system writes in bulk: no quote
characters, one record a line. A file with quotes (a field may then hold the delimiter
or a line break) is left to the line-by-line reader, which knows CSV quoting; so is a
file whose encoding is not UTF-8 once it is larger than ``TRANSCODE_LIMIT``.

The CPR number becomes a pseudonym once per distinct person (HMAC-SHA-256, as
``pseudonymise``), then the number is dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
from pathlib import Path

import polars as pl
import pyarrow as pa

from almen.errors import InputError
from almen.ingest.csv_reader import decode_strict, map_header, normalise_header
from almen.ingest.validated import Reject, Validated

__all__ = ["TRANSCODE_LIMIT", "read_plain_claims"]

TRANSCODE_LIMIT = 256 * 1024 * 1024  # bytes: larger non-UTF-8 files go line by line
_BANDS = {"day": "day", "dag": "day", "evening": "evening", "aften": "evening", "ooh": "ooh",
          "vagt": "ooh", "": "day"}  # fmt: skip
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d")


def _text(raw: bytes, encoding: str, source: str) -> bytes | None:
    """UTF-8 bytes of the file without a BOM; None when it is not for this reader."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig"):
        return raw
    if len(raw) > TRANSCODE_LIMIT:
        return None
    return decode_strict(raw, encoding, source).lstrip("\ufeff").encode("utf-8")


def _date(col: pl.Expr) -> pl.Expr:
    return pl.coalesce([col.str.to_date(f, strict=False) for f in _DATE_FORMATS])


def _dates(text: pl.Series) -> pl.Series:
    """``parse_date`` on a column: each format is tried only on the cells the formats
    before it could not read (an extract mostly uses one format)."""
    out = pl.repeat(None, len(text), dtype=pl.Date, eager=True).alias(text.name)
    todo = text.str.len_bytes() > 0
    for fmt in _DATE_FORMATS:
        if not todo.any():
            break
        idx = todo.arg_true()
        parsed = text.gather(idx).str.to_date(fmt, strict=False)
        out = out.scatter(idx, parsed)
        todo = todo & out.is_null()
    return out


def _month(col: pl.Expr) -> pl.Expr:
    """A settlement period: YYYY-MM, MM-YYYY, YYYYMM or a date (its month)."""
    return pl.coalesce(
        [
            (col + "-01").str.to_date("%Y-%m-%d", strict=False),
            ("01-" + col).str.to_date("%d-%m-%Y", strict=False),
            (col + "01").str.to_date("%Y%m%d", strict=False),
            _date(col).dt.month_start(),
        ]
    )


def _amount(col: pl.Expr) -> pl.Expr:
    """``parse_amount`` column-wise: decimal comma with thousands points, or a point."""
    t = col.str.replace_all(" ", "", literal=True)
    comma = t.str.contains(r"^-?(\d{1,3}(\.\d{3})+|\d+),\d+$")
    thousands = t.str.contains(r"^-?\d{1,3}(\.\d{3})+$")
    point = t.str.contains(r"^-?\d+(\.\d+)?$")
    no_points = t.str.replace_all(".", "", literal=True)
    return (
        pl.when(comma)
        .then(no_points.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False))
        .when(thousands)
        .then(no_points.cast(pl.Float64, strict=False))
        .when(point)
        .then(t.cast(pl.Float64, strict=False))
        .otherwise(None)
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


def _pseudonyms(cprs: pl.Series, key: bytes) -> pl.Series:
    """HMAC-SHA-256 pseudonyms (``pseudonymise``) of distinct normalised CPR numbers
    (OpenSSL's one-shot HMAC; a CPR number is ASCII digits once validated)."""
    digest = hmac.digest
    mask = 2**63 - 1
    out = [
        int.from_bytes(digest(key, c.encode(), "sha256")[:8], "big") & mask for c in cprs.to_list()
    ]
    return pl.Series(out, dtype=pl.Int64)


def read_plain_claims(
    path: Path,
    raw: bytes,
    key: bytes,
    aliases: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    *,
    first_claim_id: int,
    period: dt.date | None,
    encoding: str,
) -> tuple[Validated, tuple[float, float, int] | None] | None:
    """Validate a quote-free claim extract column-wise; None when the file needs the
    line-by-line reader. The second value: (accepted DKK, rejected DKK, lines with an
    unreadable amount) when the file has amounts."""
    source = path.name
    if b'"' in raw or b"\x1f" in raw:
        return None
    body = _text(raw, encoding, source)
    if body is None:
        return None
    header_end = body.find(b"\n")
    header_line = decode_strict(body if header_end < 0 else body[:header_end], "utf-8", source)
    header_line = header_line.rstrip("\r")
    counts = {d: header_line.count(d) for d in (";", "\t", ",")}
    delim = max(counts, key=lambda d: counts[d])
    header = [normalise_header(h) for h in header_line.split(delim)]
    columns = map_header(header, aliases, required, source)
    try:
        lines = pl.read_csv(
            io.BytesIO(body), has_header=False, separator="\x1f", quote_char=None,
            new_columns=["text"], schema={"text": pl.Utf8}, skip_rows=1, encoding="utf8",
        )["text"]  # fmt: skip
    except pl.exceptions.ComputeError:
        decode_strict(body, "utf-8", source)  # raises at the line and column
        raise
    frame = pl.DataFrame({"text": lines}).with_row_index("row")
    frame = frame.with_columns(line=(pl.col("row") + 2).cast(pl.Int64)).drop("row")
    frame = frame.filter(pl.col("text").str.strip_chars().str.len_bytes() > 0)
    n_sep = len(header) - 1
    seps = frame["text"].str.count_matches(delim, literal=True)
    wrong = frame.filter(seps != n_sep)
    if len(wrong):
        first = wrong.row(0, named=True)
        got = int(first["text"].count(delim)) + 1
        raise InputError(
            f"malformed line: {got} fields where the header has {len(header)}; "
            "nothing was imported",
            source=source,
            line=int(first["line"]),
            column=min(got, len(header)) + 1,
        )
    fields = frame.select("line", pl.col("text").str.split_exact(delim, n_sep).alias("f")).unnest(
        "f"
    )
    names = fields.columns[1:]
    fields = fields.with_columns([pl.col(c).str.strip_chars() for c in names])
    fields = fields.filter(pl.any_horizontal([pl.col(c).str.len_bytes() > 0 for c in names]))

    def cell(name: str) -> pl.Expr:
        pos = columns.get(name)
        return pl.lit("") if pos is None else pl.col(names[pos]).fill_null("")

    has_amount = "amount_dkk" in columns
    cpr_text = cell("cpr")
    cpr_ok = cpr_text.str.contains(r"^\d{6}-?\d{4}$")
    cpr10 = cpr_text.str.replace("-", "", literal=True)
    q_text = pl.when(cell("quantity") == "").then(pl.lit("1")).otherwise(cell("quantity"))
    month_text = cell("settlement_month")
    d = fields.select(
        "line",
        amount=_amount(cell("amount_dkk")) if has_amount else pl.lit(None, pl.Float64),
        cpr_ok=cpr_ok,
        cpr10=cpr10,
        born=pl.when(cpr_ok).then(_birth_date(cpr10)).otherwise(None),
        provider=cell("provider_number"),
        code=cell("service_code").str.to_uppercase(),
        day=pl.lit(None, pl.Date),
        quantity=q_text.cast(pl.Int64, strict=False),
        band=cell("time_band").str.to_lowercase().replace_strict(_BANDS, default=None),
        month_text=month_text,
        month=pl.when(month_text == "").then(None).otherwise(_month(month_text)),
    )
    d = d.with_columns(day=_dates(fields.select(day=cell("service_date"))["day"]))
    checks: list[tuple[pl.Expr, str, str]] = []
    if has_amount:
        checks.append((pl.col("amount").is_null(), "amount_dkk",
                       "not an amount (use 1234,50 or 1234.50)"))  # fmt: skip
    checks += [
        (~pl.col("cpr_ok"), "cpr", "CPR number is not 10 digits (DDMMYY-SSSS)"),
        (pl.col("born").is_null(), "cpr", "CPR number has an impossible birth date"),
        (~pl.col("provider").str.contains(r"^\d{6}$"), "provider_number",
         "provider number is not 6 digits"),
        (~pl.col("code").str.contains(r"^[0-9A-Z]{4,5}$"), "service_code",
         "service code is not 4-5 letters or digits"),
        (pl.col("day").is_null(), "service_date", "not a date (use YYYY-MM-DD or DD-MM-YYYY)"),
        (~pl.col("day").dt.year().is_between(1900, 2099), "service_date",
         "date out of range (1900-2099)"),
        (pl.col("quantity").is_null(), "quantity", "quantity is not a whole number"),
        (pl.col("quantity") < 0, "quantity",
         "quantity is negative (send the line again with the right quantity)"),
        (pl.col("quantity") > 32767, "quantity", "quantity out of range"),
        (pl.col("band").is_null(), "time_band",
         "time band must be day, evening or ooh (dag, aften, vagt)"),
        ((pl.col("month_text") != "") & pl.col("month").is_null(), "settlement_month",
         "settlement period is not a month (use YYYY-MM)"),
    ]  # fmt: skip
    which = pl.lit(None, pl.Int32)
    for i in reversed(range(len(checks))):
        which = pl.when(checks[i][0]).then(pl.lit(i, pl.Int32)).otherwise(which)
    d = d.with_columns(failed=which)
    bad = d.filter(pl.col("failed").is_not_null()).select("line", "failed", "amount")
    rejects = [
        Reject(int(line), checks[k][1], checks[k][2])
        for line, k in zip(bad["line"].to_list(), bad["failed"].to_list(), strict=True)
    ]
    ok = d.filter(pl.col("failed").is_null())
    del d
    uniq = ok.select(pl.col("cpr10").unique())["cpr10"]
    ids = pl.DataFrame({"cpr10": uniq, "patient_id": _pseudonyms(uniq, key)})
    ok = ok.join(ids, on="cpr10", how="left", maintain_order="left")
    fallback = pl.lit(period) if period is not None else pl.col("day").dt.month_start()
    n = len(ok)
    claims = ok.select(
        claim_id=pl.int_range(first_claim_id, first_claim_id + n, dtype=pl.Int64),
        provider_number=pl.col("provider").cast(pl.Categorical),
        patient_id="patient_id",
        service_code=pl.col("code").cast(pl.Categorical),
        service_date="day",
        time_band=pl.col("band").cast(pl.Categorical),
        quantity=pl.col("quantity").cast(pl.Int16),
        settlement_month=pl.coalesce(pl.col("month"), fallback),
    ).to_arrow()
    # dictionary-encoded strings (Categorical) are kept so by the warehouse: cast the
    # dictionary indices to int32, which every backend reads
    claims = claims.cast(
        pa.schema(
            [
                pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
                if pa.types.is_dictionary(f.type)
                else f
                for f in claims.schema
            ]
        )
    )
    totals = None
    if has_amount:
        acc = float(ok["amount"].sum() or 0.0)
        parsed_bad = bad.filter(pl.col("failed") != 0)
        rej = float(parsed_bad["amount"].sum() or 0.0)
        totals = (acc, rej, int((bad["failed"] == 0).sum()))
    validated = Validated(
        target_table="claim",
        source=source,
        rows_read=len(fields),
        rows_accepted=n,
        accepted=claims,
        rejects=rejects,
        replace_key=None,
        content_sha256=hashlib.sha256(raw).hexdigest(),
        source_lines=ok["line"].to_arrow(),
    )
    return validated, totals
