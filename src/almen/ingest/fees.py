"""Fee schedules (honorartabeller) with their agreement and validity.

Columns: agreement (aftale), service code, Danish and English name, price (decimal comma
allowed), unit (service, patient_year, km), daytime (counts in § 96), outside the frame
(local agreements), valid from and to, and the price's basis (published or estimate;
default published), and the insurance group (1, or 2 for the group-2 fees; default 1).
Code BASIS is the yearly capitation per group-1 patient.

A price must be unambiguous on every day: a row whose service and dates overlap another
row of the file, or a row already in the warehouse, refuses the whole file at that line,
unless ``replace`` is given, in which case the file replaces the rows of the agreements
it names (an overlap with another agreement is still refused).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from almen.errors import InputError
from almen.ingest.csv_reader import open_extract
from almen.ingest.rows import (
    Field,
    choice,
    parse_day,
    parse_decimal,
    parse_rows,
    pattern,
    validated,
)
from almen.ingest.validated import Validated

__all__ = ["FEE_ALIASES", "validate_fee_schedule"]

FEE_ALIASES: dict[str, tuple[str, ...]] = {
    "agreement": ("aftale", "overenskomst"),
    "service_code": ("ydelse", "ydelsesnummer", "ydelsesnr", "ydelseskode", "kode"),
    "name_da": ("navn", "tekst", "ydelsestekst", "betegnelse"),
    "name_en": ("name", "english"),
    "price_dkk": ("pris", "honorar", "takst", "beløb", "belob", "price"),
    "unit": ("enhed",),
    "daytime": ("dagtid",),
    "outside_frame": ("uden_for_rammen", "udenfor_rammen", "lokalaftale"),
    "valid_from": ("gyldig_fra", "fra", "ikrafttræden"),
    "valid_to": ("gyldig_til", "til"),
    "price_basis": ("grundlag", "basis"),
    "insurance_group": ("sikringsgruppe", "gruppe", "group"),
}
UNITS = {"service": "service", "ydelse": "service", "patient_year": "patient_year",
         "patientår": "patient_year", "km": "km"}  # fmt: skip
YES_NO = {"true": "1", "ja": "1", "j": "1", "yes": "1", "1": "1", "x": "1",
          "false": "0", "nej": "0", "n": "0", "no": "0", "0": "0"}  # fmt: skip
GROUPS = {"1": "1", "2": "2"}
BASES = {"published": "published", "offentliggjort": "published", "estimate": "estimate",
         "skøn": "estimate", "estimat": "estimate"}  # fmt: skip


def _overlaps(a_from: dt.date, a_to: dt.date, b_from: dt.date, b_to: dt.date) -> bool:
    return a_from <= b_to and b_from <= a_to


def validate_fee_schedule(
    path: Path,
    existing: pl.DataFrame | None = None,
    *,
    replace: bool = False,
    encoding: str | None = None,
) -> Validated:
    """Validate a fee schedule against itself and ``existing`` (the warehouse's)."""
    ex = open_extract(
        path, FEE_ALIASES, ("agreement", "service_code", "name_da", "price_dkk", "unit",
                            "valid_from", "valid_to"), encoding=encoding, strict_fields=True,
    )  # fmt: skip
    yes_no = choice(YES_NO, "yes/no (ja/nej)")
    fields = [
        Field("agreement", str),
        Field("service_code", pattern(r"[0-9A-Z]{4,5}", "a service code of 4-5 letters or digits")),
        Field("name_da", str),
        Field("name_en", str, required=False),
        Field("price_dkk", parse_decimal(0.0, 1_000_000.0)),
        Field("unit", choice(UNITS, "unit")),
        Field("daytime", yes_no, required=False, default="1"),
        Field("outside_frame", yes_no, required=False, default="0"),
        Field("valid_from", parse_day),
        Field("valid_to", parse_day),
        Field("price_basis", choice(BASES, "price basis"), required=False, default="published"),
        Field("insurance_group", choice(GROUPS, "insurance group (1 or 2)"), required=False,
              default="1"),
    ]  # fmt: skip

    def check(row: dict[str, object]) -> tuple[str | None, str] | None:
        start, end = row["valid_from"], row["valid_to"]
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            return "valid_to", "valid to is before valid from"
        return None

    out, lines, rejects = parse_rows(ex, fields, check=check)
    names = set(out["agreement"])
    others = None
    if existing is not None and not existing.is_empty():
        others = existing.filter(~pl.col("agreement").is_in(list(names))) if replace else existing
    seen: dict[tuple[str, str], list[tuple[dt.date, dt.date, int]]] = {}
    for i, line in enumerate(lines):
        code = str(out["service_code"][i])
        group = str(out["insurance_group"][i])
        start, end = out["valid_from"][i], out["valid_to"][i]
        assert isinstance(start, dt.date) and isinstance(end, dt.date)
        for o_from, o_to, o_line in seen.get((code, group), []):
            if _overlaps(start, end, o_from, o_to):
                raise InputError(
                    f"service {code} overlaps line {o_line} ({o_from} to {o_to}); "
                    "nothing was imported",
                    source=ex.source, line=line,
                )  # fmt: skip
        seen.setdefault((code, group), []).append((start, end, line))
        if others is not None:
            clash = others.filter(
                (pl.col("service_code") == code)
                & (pl.col("insurance_group").fill_null(1) == int(group))
                & (pl.col("valid_from") <= end)
                & (pl.col("valid_to") >= start)
            )
            if not clash.is_empty():
                c = clash.row(0, named=True)
                hint = (
                    "; give --replace to replace that agreement" if c["agreement"] in names else ""
                )
                raise InputError(
                    f"service {code} from {start} to {end} overlaps {c['agreement']} "
                    f"({c['valid_from']} to {c['valid_to']}) in the warehouse{hint}; "
                    "nothing was imported",
                    source=ex.source, line=line,
                )  # fmt: skip
    columns: dict[str, Sequence[object]] = {
        "agreement": out["agreement"],
        "service_code": out["service_code"],
        "name_da": out["name_da"],
        "name_en": [en or da for en, da in zip(out["name_en"], out["name_da"], strict=True)],
        "price_dkk": out["price_dkk"],
        "unit": out["unit"],
        "daytime": [v == "1" for v in out["daytime"]],
        "outside_frame": [v == "1" for v in out["outside_frame"]],
        "valid_from": out["valid_from"],
        "valid_to": out["valid_to"],
        "price_basis": out["price_basis"],
        "insurance_group": [int(str(g)) for g in out["insurance_group"]],
    }
    key = (
        ("agreement",)
        if replace
        else ("agreement", "insurance_group", "service_code", "valid_from")
    )
    return validated(ex, "fee_schedule", columns, rejects, replace_key=key)
