"""Patient lists: CSV with CPR number, provider number and listing date, and optionally
the end of the listing, the municipality and the insurance group.

A file may hold several periods of one patient (a listing history). Each period goes to
the ``listing`` table; a patient listed elsewhere from a date closes the earlier period
the day before (``validated.merge_listing``), and the patient table keeps the period in
force today. The CPR number is turned into a pseudonym, a birth year and a sex at the door and then
dropped; it is never stored, logged or put in a message.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa

from almen.ingest.csv_reader import Extract, open_extract, parse_date
from almen.ingest.pseudonymise import CprError, parse_cpr, pseudonymise
from almen.ingest.rows import validated
from almen.ingest.validated import Reject, Validated
from almen.reference import load_municipalities

__all__ = ["PATIENT_ALIASES", "validate_patient_extract", "validate_patient_list"]

PATIENT_ALIASES: dict[str, tuple[str, ...]] = {
    "cpr": ("cpr_nummer", "cprnr", "cpr_nr", "personnummer"),
    "provider_number": ("ydernummer", "ydernr", "yder_nr", "provider"),
    "listed_from": ("tilmeldt", "tilmeldingsdato", "tilmeldt_fra", "listing_date", "fra"),
    "listed_to": ("afmeldt", "afmeldingsdato", "tilmeldt_til", "til"),
    "municipality": ("kommune", "kommunekode", "kommune_kode"),
    "insurance_group": ("sikringsgruppe", "gruppe", "group"),
}
_PROVIDER = re.compile(r"^\d{6}$")
_MUNICIPALITY = re.compile(r"^\d{3,4}$")


def validate_patient_list(
    path: Path, key: bytes, *, today: dt.date | None = None, encoding: str | None = None
) -> Validated:
    """Validate a patient list row by row; accepted rows become ``patient`` rows."""
    ex = open_extract(path, PATIENT_ALIASES, ("cpr", "provider_number", "listed_from"),
                      encoding=encoding)  # fmt: skip
    return validate_patient_extract(ex, key, today=today)


def validate_patient_extract(ex: Extract, key: bytes, *, today: dt.date | None = None) -> Validated:
    """``validate_patient_list`` on an opened extract (a CSV file, or the Patients of a
    FHIR Bundle: ``almen.ingest.fhir_bundle``)."""
    today = today or dt.date.today()
    col = ex.columns
    known = set(load_municipalities()["code"].to_list())
    rejects: list[Reject] = []
    seen: dict[tuple[int, dt.date], int] = {}
    out: dict[str, list[object]] = {k: [] for k in (
        "patient_id", "birth_year", "sex", "municipality", "provider_number",
        "insurance_group", "listed_from", "listed_to", "lat", "lon")}  # fmt: skip

    def cell(values: list[str], name: str) -> str:
        pos = col.get(name)
        return values[pos].strip() if pos is not None and pos < len(values) else ""

    for line, values in ex.rows:
        try:
            cpr10, born, sex = parse_cpr(cell(values, "cpr"))
        except CprError as exc:
            rejects.append(Reject(line, "cpr", str(exc)))
            continue
        pid = pseudonymise(cpr10, key)
        provider = cell(values, "provider_number")
        if not _PROVIDER.match(provider):
            rejects.append(Reject(line, "provider_number", "provider number is not 6 digits"))
            continue
        try:
            listed = parse_date(cell(values, "listed_from"))
        except ValueError as exc:
            rejects.append(Reject(line, "listed_from", str(exc)))
            continue
        if listed.year < 1900:
            rejects.append(Reject(line, "listed_from", "date out of range (1900-2099)"))
            continue
        if listed > today:
            rejects.append(Reject(line, "listed_from", "listing date is in the future"))
            continue
        if listed < born:
            rejects.append(Reject(line, "listed_from", "listing date is before the birth date"))
            continue
        listed_to = None
        if cell(values, "listed_to"):
            try:
                listed_to = parse_date(cell(values, "listed_to"))
            except ValueError as exc:
                rejects.append(Reject(line, "listed_to", str(exc)))
                continue
            if listed_to < listed:
                rejects.append(Reject(line, "listed_to", "the listing ends before it starts"))
                continue
        municipality = cell(values, "municipality")
        if municipality and not _MUNICIPALITY.match(municipality):
            rejects.append(Reject(line, "municipality", "municipality code is not 3-4 digits"))
            continue
        if municipality and municipality.zfill(4) not in known:
            rejects.append(Reject(line, "municipality", "not one of the 98 municipality codes"))
            continue
        group_text = cell(values, "insurance_group") or "1"
        if group_text not in ("1", "2"):
            rejects.append(Reject(line, "insurance_group", "insurance group must be 1 or 2"))
            continue
        if (pid, listed) in seen:
            rejects.append(
                Reject(line, "cpr", f"same person and listing date as on line {seen[pid, listed]}")
            )
            continue
        seen[pid, listed] = line
        out["patient_id"].append(pid)
        out["birth_year"].append(born.year)
        out["sex"].append(sex)
        out["municipality"].append(municipality.zfill(4) if municipality else None)
        out["provider_number"].append(provider)
        out["insurance_group"].append(int(group_text))
        out["listed_from"].append(listed)
        out["listed_to"].append(listed_to)
        out["lat"].append(None)
        out["lon"].append(None)

    return validated(ex, "patient", out, rejects, replace_key=("patient_id",),
                     extra_types={"listed_to": pa.date32()})  # fmt: skip
