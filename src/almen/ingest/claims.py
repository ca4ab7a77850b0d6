"""Claim extracts: CSV with CPR number, provider number, service code and date.

Delimiter ``;`` ``,`` or tab; decimal comma or point (``1.234,50`` or ``1234.50``); ISO or
Danish dates. Header names are mapped to the canonical columns by ``CLAIM_ALIASES``, and
a user can add names in a TOML file (``load_column_map``; see docs/settlement.md). The
CPR number becomes a pseudonym at the door and is dropped.

A file that cannot be read as a whole (wrong encoding, a missing column, a line with the
wrong number of fields) is refused with its line and column and nothing is imported; a
line with a bad value goes to the ``reject`` table with its reason.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from almen.errors import InputError
from almen.ingest.csv_reader import normalise_header, open_extract, parse_date
from almen.ingest.pseudonymise import CprError, parse_cpr, pseudonymise
from almen.ingest.validated import Reject, Validated

if TYPE_CHECKING:
    from almen.ingest.claims_fast import ClaimSink

__all__ = [
    "CLAIM_ALIASES",
    "COVERS",
    "ClaimTotals",
    "load_column_map",
    "parse_amount",
    "validate_claims",
]

CLAIM_ALIASES: dict[str, tuple[str, ...]] = {
    "cpr": ("cpr_nummer", "cprnr", "cpr_nr", "personnummer"),
    "provider_number": ("ydernummer", "ydernr", "yder_nr", "provider"),
    "service_code": ("ydelse", "ydelseskode", "ydelsesnummer", "ydelsesnr", "code"),
    "service_date": ("dato", "ydelsesdato", "behandlingsdato", "date"),
    "quantity": ("antal", "qty"),
    "time_band": ("tidsrum", "tid"),
    "amount_dkk": ("beløb", "belob", "beloeb", "amount", "honorar"),
    "settlement_month": ("periode", "afregningsperiode", "period"),
    "condition_code": ("diagnose", "diagnosekode", "icpc", "condition"),
    "cover_reason": ("akut_vikar", "daekning", "dækning", "cover"),
}
REQUIRED = ("cpr", "provider_number", "service_code", "service_date")
_PROVIDER = re.compile(r"^\d{6}$")
_CODE = re.compile(r"^[0-9A-Z]{4,5}$")
_BANDS = {"day": "day", "dag": "day", "evening": "evening", "aften": "evening", "ooh": "ooh"}
_BANDS |= {"vagt": "ooh", "": "day"}
# a patient listed elsewhere, seen in acute illness or for an absent GP (laeger.dk FAQ)
COVERS = {"": None, "acute": "acute", "akut": "acute", "substitute": "substitute",
          "vikar": "substitute", "forfald": "substitute"}  # fmt: skip
_CONDITION = re.compile(r"^[A-Z][0-9]{2}$")


def parse_amount(text: str) -> float:
    """An amount with decimal comma (1.234,50) or point (1234.50); ValueError otherwise.

    ``1.234`` with no comma is read the Danish way, as one thousand two hundred and
    thirty-four.
    """
    t = text.strip().replace(" ", "")
    if re.fullmatch(r"-?(\d{1,3}(\.\d{3})+|\d+),\d+", t):
        return float(t.replace(".", "").replace(",", "."))
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+", t):
        return float(t.replace(".", ""))
    if re.fullmatch(r"-?\d+(\.\d+)?", t):
        return float(t)
    raise ValueError("not an amount (use 1234,50 or 1234.50)")


def _parse_month(text: str) -> dt.date:
    t = text.strip()
    for fmt in ("%Y-%m", "%m-%Y", "%Y%m"):
        try:
            d = dt.datetime.strptime(t, fmt).date()
            return d.replace(day=1)
        except ValueError:
            continue
    return parse_date(t).replace(day=1)


def load_column_map(path: Path) -> dict[str, tuple[str, ...]]:
    """Extra header names from a TOML file: ``[columns]`` canonical = "header" or [..]."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the column map: {exc.strerror}", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", source=str(path)) from None
    cols = data.get("columns")
    if not isinstance(cols, dict):
        raise InputError("the column map needs a [columns] table", source=str(path), line=1)
    out = {k: tuple(v) for k, v in CLAIM_ALIASES.items()}
    for canon, names in cols.items():
        if canon not in CLAIM_ALIASES:
            raise InputError(
                f"unknown column {canon!r} in [columns]; known: {', '.join(CLAIM_ALIASES)}",
                source=str(path),
            )
        extra = [names] if isinstance(names, str) else list(names)
        out[canon] = (*out[canon], *(normalise_header(n) for n in extra))
    return out


@dataclass(frozen=True, slots=True)
class ClaimTotals:
    """Amounts in the file (when it has an amount column): read = accepted + rejected."""

    read_dkk: float
    accepted_dkk: float
    rejected_dkk: float
    unparsed_lines: int  # rejected lines whose amount could not be read


def _amount_note(t: ClaimTotals) -> str:
    return (
        f"amounts: read {t.read_dkk:,.2f} DKK = accepted {t.accepted_dkk:,.2f} "
        f"+ rejected {t.rejected_dkk:,.2f}"
        + (
            f" (and {t.unparsed_lines} rejected lines with no readable amount)"
            if t.unparsed_lines
            else ""
        )
    )


def validate_claims(
    path: Path,
    key: bytes,
    *,
    first_claim_id: int,
    period: dt.date | None = None,
    aliases: dict[str, tuple[str, ...]] | None = None,
    encoding: str = "utf-8",
    column_wise: bool = True,
    sink: ClaimSink | None = None,
    sha256: str | None = None,
) -> tuple[Validated, ClaimTotals | None]:
    """Validate a claim extract; accepted lines become ``claim`` rows.

    ``period`` (first day of a month) is the settlement period of lines that do not name
    one; without it a line's period is its service date's month. A file without quote
    characters is read column-wise (``claims_fast``, the same checks at a fraction of
    the time); ``column_wise=False`` or a quoted file reads it line by line.

    With a ``sink`` (``ClaimWriter``), the accepted rows go to it as they are read and
    the result is ``streamed`` (its ``accepted`` empty), so memory does not grow with
    the file; ``sha256``, the file's hash when the caller has computed it.
    """
    if column_wise:
        from almen.ingest.claims_fast import read_plain_claims

        try:
            with path.open("rb") as f:
                head = f.read(65536)
        except OSError as exc:
            raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
        if b"\x00" in head[:4096]:
            raise InputError("not a text file (it contains NUL bytes)", source=path.name, line=1)
        first = head.split(b"\n", 1)[0].lstrip(b"\xef\xbb\xbf").strip()
        fast = None
        if first:  # else: the line-by-line reader says what is wrong
            fast = read_plain_claims(
                path, key, aliases or CLAIM_ALIASES, REQUIRED, first_claim_id=first_claim_id,
                period=period, encoding=encoding, sink=sink, sha256=sha256,
            )  # fmt: skip
        if fast is None and sink is not None:
            sink.discard()  # the line-by-line reader starts again from the first line
        if fast is not None:
            validated, sums = fast
            if sums is not None:
                acc, rej, unparsed_n = sums
                t = ClaimTotals(acc + rej, acc, rej, unparsed_n)
                validated.notes.append(_amount_note(t))
                return validated, t
            return validated, None
    ex = open_extract(
        path, aliases or CLAIM_ALIASES, REQUIRED, encoding=encoding, strict_fields=True
    )
    col = ex.columns
    rejects: list[Reject] = []
    out: dict[str, list[object]] = {
        k: []
        for k in (
            "patient_id",
            "provider_number",
            "service_code",
            "service_date",
            "time_band",
            "quantity",
            "settlement_month",
            "claimed_dkk",
            "condition_code",
            "cover_reason",
        )
    }
    has_amount = "amount_dkk" in col
    acc_dkk = rej_dkk = 0.0
    unparsed = 0
    lines: list[int] = []

    def cell(values: list[str], name: str) -> str:
        pos = col.get(name)
        return values[pos].strip() if pos is not None and pos < len(values) else ""

    for line, values in ex.rows:
        amount: float | None = None
        if has_amount:
            try:
                amount = parse_amount(cell(values, "amount_dkk"))
            except ValueError as exc:
                rejects.append(Reject(line, "amount_dkk", str(exc)))
                unparsed += 1
                continue

        def reject(
            column: str, reason: str, line: int = line, amount: float | None = amount
        ) -> None:
            nonlocal rej_dkk
            rejects.append(Reject(line, column, reason))
            rej_dkk += amount or 0.0

        try:
            cpr10, _born, _sex = parse_cpr(cell(values, "cpr"))
        except CprError as exc:
            reject("cpr", str(exc))
            continue
        provider = cell(values, "provider_number")
        if not _PROVIDER.match(provider):
            reject("provider_number", "provider number is not 6 digits")
            continue
        code = cell(values, "service_code").upper()
        if not _CODE.match(code):
            reject("service_code", "service code is not 4-5 letters or digits")
            continue
        try:
            day = parse_date(cell(values, "service_date"))
        except ValueError as exc:
            reject("service_date", str(exc))
            continue
        if not 1900 <= day.year <= 2099:
            reject("service_date", "date out of range (1900-2099)")
            continue
        q_text = cell(values, "quantity") or "1"
        try:
            quantity = int(q_text)
        except ValueError:
            reject("quantity", "quantity is not a whole number")
            continue
        if quantity < 0:
            reject("quantity", "quantity is negative (send the line again with the right quantity)")
            continue
        if quantity > 32767:
            reject("quantity", "quantity out of range")
            continue
        band = _BANDS.get(cell(values, "time_band").lower())
        if band is None:
            reject("time_band", "time band must be day, evening or ooh (dag, aften, vagt)")
            continue
        month_text = cell(values, "settlement_month")
        try:
            month = _parse_month(month_text) if month_text else (period or day.replace(day=1))
        except ValueError:
            reject("settlement_month", "settlement period is not a month (use YYYY-MM)")
            continue
        condition = cell(values, "condition_code").upper()
        if condition and not _CONDITION.match(condition):
            reject("condition_code", "condition is not an ICPC-2 code (a letter and two digits)")
            continue
        cover_text = cell(values, "cover_reason").lower()
        if cover_text not in COVERS:
            reject("cover_reason", "cover must be acute or substitute (akut, vikar) or empty")
            continue
        out["patient_id"].append(pseudonymise(cpr10, key))
        out["provider_number"].append(provider)
        out["service_code"].append(code)
        out["service_date"].append(day)
        out["time_band"].append(band)
        out["quantity"].append(quantity)
        out["settlement_month"].append(month)
        out["claimed_dkk"].append(amount)
        out["condition_code"].append(condition or None)
        out["cover_reason"].append(COVERS[cover_text])
        lines.append(line)
        acc_dkk += amount or 0.0

    n = len(out["patient_id"])
    accepted = pa.table(
        {
            "claim_id": pa.array(range(first_claim_id, first_claim_id + n), pa.int64()),
            "provider_number": pa.array(out["provider_number"], pa.string()),
            "patient_id": pa.array(out["patient_id"], pa.int64()),
            "service_code": pa.array(out["service_code"], pa.string()),
            "service_date": pa.array(out["service_date"], pa.date32()),
            "time_band": pa.array(out["time_band"], pa.string()),
            "quantity": pa.array(out["quantity"], pa.int16()),
            "settlement_month": pa.array(out["settlement_month"], pa.date32()),
            "claimed_dkk": pa.array(out["claimed_dkk"], pa.float64()),
            "condition_code": pa.array(out["condition_code"], pa.string()),
            "cover_reason": pa.array(out["cover_reason"], pa.string()),
        }
    )
    totals = None
    notes = []
    if has_amount:
        totals = ClaimTotals(acc_dkk + rej_dkk, acc_dkk, rej_dkk, unparsed)
        notes.append(_amount_note(totals))
    validated = Validated(
        target_table="claim",
        source=ex.source,
        rows_read=len(ex.rows),
        rows_accepted=n,
        accepted=accepted,
        rejects=rejects,
        content_sha256=ex.sha256,
        source_lines=lines,
        replace_key=None,
        notes=notes,
    )
    if sink is not None:
        sink.append(accepted, pa.array(lines, pa.int64()))
        validated.accepted = accepted.slice(0, 0)
        validated.source_lines = []
        validated.streamed = True
    return validated, totals
