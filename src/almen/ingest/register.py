"""The clinic register: clinics (ydere) and their doctors, as a region keeps them.

Clinics: provider number (ydernummer), name, municipality, clinic form, quality cluster,
and closed to new patients (lukket for tilgang) with its dates. Doctors: the clinic,
birth year, sex, role, share of a full-time capacity (decimal comma allowed) and the
year established. A clinic already in the warehouse is replaced by its newer row; the
doctors of every clinic in a doctor file replace that clinic's doctors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from almen.ingest.csv_reader import open_extract
from almen.ingest.rows import (
    Field,
    choice,
    parse_day,
    parse_decimal,
    parse_rows,
    parse_year,
    pattern,
    validated,
)
from almen.ingest.validated import Validated
from almen.reference import load_municipalities

__all__ = ["CLINIC_ALIASES", "DOCTOR_ALIASES", "validate_clinics", "validate_doctors"]

CLINIC_ALIASES: dict[str, tuple[str, ...]] = {
    "provider_number": ("ydernummer", "ydernr", "yder_nr", "provider"),
    "name": ("navn", "klinik", "kliniknavn", "praksisnavn"),
    "municipality": ("kommune", "kommunekode", "kommunenr"),
    "form": ("klinikform", "praksisform", "type"),
    "cluster": ("klynge", "kvalitetsklynge"),
    "closed_to_new_from": ("lukket_fra", "lukket_for_tilgang_fra", "closed_from"),
    "closed_to_new_to": ("lukket_til", "lukket_for_tilgang_til", "closed_to"),
    "lat": ("breddegrad", "latitude"),
    "lon": ("længdegrad", "laengdegrad", "longitude"),
    "sor_id": ("sor", "sor_kode", "sor_id", "sor_nummer"),
}
DOCTOR_ALIASES: dict[str, tuple[str, ...]] = {
    "provider_number": ("ydernummer", "ydernr", "yder_nr", "provider"),
    "birth_year": ("fødselsår", "foedselsaar", "fodselsar", "født", "born"),
    "sex": ("køn", "kon", "koen", "gender"),
    "role": ("rolle", "funktion"),
    "fte": ("kapacitet", "lægekapacitet", "laegekapacitet", "årsværk", "aarsvaerk"),
    "year_established": ("etableret", "nedsat", "etableringsår", "established"),
}
FORMS = {
    "solo": "solo", "solopraksis": "solo",
    "partnership": "partnership", "kompagniskab": "partnership",
    "kompagniskabspraksis": "partnership",
    "collaboration": "collaboration", "samarbejdspraksis": "collaboration",
    "shared": "shared", "delepraksis": "shared",
    "region": "region", "regionsklinik": "region", "regionsdrevet": "region",
    "tender": "tender", "udbud": "tender", "udbudsklinik": "tender",
}  # fmt: skip
SEXES = {"m": "M", "mand": "M", "male": "M", "k": "F", "kvinde": "F", "f": "F", "female": "F"}
ROLES = {
    "owner": "owner", "ejer": "owner", "praktiserende læge": "owner", "plo": "owner",
    "employed": "employed", "ansat": "employed", "ansat læge": "employed",
    "trainee": "trainee", "uddannelseslæge": "trainee", "kbu": "trainee", "hu": "trainee",
}  # fmt: skip


def _municipality() -> Field:
    codes = {c.lstrip("0"): c for c in load_municipalities()["code"].to_list()}

    def parse(text: str) -> str:
        code = codes.get(text.strip().lstrip("0"))
        if code is None:
            raise ValueError("not one of the 98 municipality codes")
        return code

    return Field("municipality", parse)


PROVIDER = Field("provider_number", pattern(r"\d{6}", "a 6-digit provider number"))


def validate_clinics(path: Path, *, encoding: str | None = None) -> Validated:
    """Validate a clinic register; accepted rows become ``clinic`` rows."""
    ex = open_extract(
        path, CLINIC_ALIASES, ("provider_number", "municipality", "form"), encoding=encoding,
        strict_fields=True,
    )  # fmt: skip
    fields = [
        PROVIDER,
        Field("name", str, required=False),
        _municipality(),
        Field("form", choice(FORMS, "clinic form")),
        Field("cluster", str, required=False, default=""),
        Field("closed_to_new_from", parse_day, required=False),
        Field("closed_to_new_to", parse_day, required=False),
        Field("lat", parse_decimal(54.5, 57.8), required=False),
        Field("lon", parse_decimal(8.0, 15.2), required=False),
        Field(
            "sor_id", pattern(r"\d{11,18}", "a SOR identifier (11 to 18 digits)"), required=False
        ),
    ]

    def check(row: dict[str, object]) -> tuple[str | None, str] | None:
        start, end = row["closed_to_new_from"], row["closed_to_new_to"]
        if end is not None and start is None:
            return "closed_to_new_to", "a closing end date needs a start date"
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            return "closed_to_new_to", "the closing ends before it starts"
        return None

    out, _lines, rejects = parse_rows(ex, fields, key=("provider_number",), check=check)
    today = dt.date.today()
    centre = {r["code"]: (r["lat"], r["lon"]) for r in load_municipalities().iter_rows(named=True)}
    for i, code in enumerate(out["municipality"]):
        if out["lat"][i] is None or out["lon"][i] is None:
            out["lat"][i], out["lon"][i] = centre[str(code)]
    closed = [
        isinstance(s, dt.date) and s <= today and (not isinstance(e, dt.date) or e >= today)
        for s, e in zip(out["closed_to_new_from"], out["closed_to_new_to"], strict=True)
    ]
    columns: dict[str, Sequence[object]] = {
        c: out[c] for c in ("provider_number", "name", "municipality", "form", "cluster")
    }
    columns["closed_to_new"] = closed
    for c in ("closed_to_new_from", "closed_to_new_to", "lat", "lon", "sor_id"):
        columns[c] = out[c]
    return validated(ex, "clinic", columns, rejects, replace_key=("provider_number",))


def validate_doctors(
    path: Path, *, first_doctor_id: int = 1, encoding: str | None = None
) -> Validated:
    """Validate a doctor list; each clinic's doctors replace the ones it had."""
    ex = open_extract(
        path, DOCTOR_ALIASES, ("provider_number", "birth_year", "sex", "role", "fte"),
        encoding=encoding, strict_fields=True,
    )  # fmt: skip
    fields = [
        PROVIDER,
        Field("birth_year", parse_year),
        Field("sex", choice(SEXES, "sex")),
        Field("role", choice(ROLES, "role")),
        Field("fte", parse_decimal(0.01, 3.0)),
        Field("year_established", parse_year, required=False),
    ]

    def check(row: dict[str, object]) -> tuple[str | None, str] | None:
        born, est = row["birth_year"], row["year_established"]
        if isinstance(est, int) and isinstance(born, int) and est < born + 24:
            return "year_established", "established before the age of 24"
        return None

    out, _lines, rejects = parse_rows(ex, fields, check=check)
    n = len(out["provider_number"])
    columns: dict[str, Sequence[object]] = {
        "doctor_id": range(first_doctor_id, first_doctor_id + n)
    }
    for c in ("provider_number", "birth_year", "sex", "role", "fte", "year_established"):
        columns[c] = out[c]
    return validated(ex, "doctor", columns, rejects, replace_key=("provider_number",))
