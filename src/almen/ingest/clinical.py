"""Practice-system exports: diagnoses (ICPC-2), drugs in use (ATC) and out-of-hours
contacts. The CPR number becomes a pseudonym at the door.

- Diagnoses: CPR, ICPC-2 code (a chapter letter and two digits, e.g. ``T90``; a
  Danish extension ``T90.01`` is kept to its rubric ``T90``), date, and who made it
  (gp, hospital or psychiatry; default gp), and an optional end date (resolved). A newer
  row for the same patient and code replaces the older.
- Drugs: CPR, ATC code (level 1 to 5, e.g. ``A10BA02``), start date and optional end
  date. A newer row for the same patient and code replaces the older.
- Lab results: CPR, NPU code (``NPU27300`` HbA1c; Danish local codes ``DNK05…``), the
  sample date, the value (decimal comma allowed) and an optional unit. A newer row for the
  same patient, code and date replaces the older.
- Out-of-hours contacts: region, site, start time, kind (phone, video, consultation,
  home visit), doctor minutes and optional CPR. Contacts are added.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from almen.ingest.csv_reader import Extract, open_extract
from almen.ingest.pseudonymise import CprError, parse_cpr, pseudonymise
from almen.ingest.rows import Field, choice, parse_day, parse_int, parse_rows, validated
from almen.ingest.validated import Validated
from almen.reference import load_municipalities

__all__ = [
    "validate_condition_extract",
    "validate_conditions",
    "validate_lab_results",
    "validate_medication_extract",
    "validate_medications",
    "validate_ooh_contacts",
]

CPR_ALIASES = ("cpr_nummer", "cprnr", "cpr_nr", "personnummer")
CONDITION_ALIASES: dict[str, tuple[str, ...]] = {
    "cpr": CPR_ALIASES,
    "code": ("icpc", "icpc2", "icpc_2", "diagnose", "diagnosekode", "kode"),
    "onset_date": ("dato", "diagnosedato", "startdato", "date"),
    "diagnosed_by": ("stillet_af", "kilde", "source"),
    "end_date": ("slutdato", "afsluttet", "ophørt", "end"),
}
LAB_ALIASES: dict[str, tuple[str, ...]] = {
    "cpr": CPR_ALIASES,
    "code": ("npu", "npu_kode", "analysekode", "analyse", "kode"),
    "sample_date": ("prøvedato", "dato", "prøvetagningsdato", "date"),
    "value": ("resultat", "værdi", "svar", "result"),
    "unit": ("enhed", "units"),
}
MEDICATION_ALIASES: dict[str, tuple[str, ...]] = {
    "cpr": CPR_ALIASES,
    "atc": ("atc_kode", "atckode", "lægemiddel"),
    "start_date": ("startdato", "start", "fra", "ordinationsdato"),
    "end_date": ("slutdato", "slut", "til", "seponeret"),
}
OOH_ALIASES: dict[str, tuple[str, ...]] = {
    "region": ("region",),
    "site": ("sted", "matrikel", "vagtsted", "lokation"),
    "start_time": ("starttid", "tidspunkt", "kontakttid", "start"),
    "kind": ("kontakttype", "type", "art"),
    "minutes": ("minutter", "varighed", "duration"),
    "cpr": CPR_ALIASES,
}
# ICPC-2 chapters (A general … Z social); components 01-99
_ICPC = re.compile(r"([ABDFHKLNPRSTUWXYZ]\d{2})(\.\d{1,2})?")
_NPU = re.compile(r"(NPU|DNK)\d{5}")
_ATC = re.compile(r"[ABCDGHJLMNPRSV](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?")
BY = {"gp": "gp", "almen praksis": "gp", "egen læge": "gp", "hospital": "hospital",
      "sygehus": "hospital", "psychiatry": "psychiatry", "psykiatri": "psychiatry"}  # fmt: skip
KINDS = {"phone": "phone", "telefon": "phone", "video": "video", "consultation": "consultation",
         "konsultation": "consultation", "home_visit": "home_visit", "home visit": "home_visit",
         "sygebesøg": "home_visit", "besøg": "home_visit"}  # fmt: skip


def _cpr(key: bytes) -> Field:
    def parse(text: str) -> tuple[int, dt.date]:
        try:
            cpr10, born, _sex = parse_cpr(text)
        except CprError as exc:
            raise ValueError(str(exc)) from None
        return pseudonymise(cpr10, key), born

    return Field("cpr", parse)


def _icpc(text: str) -> str:
    m = _ICPC.fullmatch(text.strip().upper())
    if not m:
        raise ValueError("not an ICPC-2 code (a chapter letter and two digits, e.g. T90)")
    return m[1]


def _atc(text: str) -> str:
    t = text.strip().upper().replace(" ", "")
    if not _ATC.fullmatch(t):
        raise ValueError("not an ATC code (e.g. A10BA02)")
    return t


def _npu(text: str) -> str:
    t = text.strip().upper()
    if not _NPU.fullmatch(t):
        raise ValueError("not an NPU code (NPU and five digits, e.g. NPU27300; or DNK05…)")
    return t


def _lab_value(text: str) -> float:
    t = text.strip().replace(" ", "")
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")
    try:
        value = float(t)
    except ValueError:
        raise ValueError(
            "not a number (e.g. 48 or 48,5; a result like '<5' is not a value)"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


RowCheck = Callable[[dict[str, object]], tuple[str | None, str] | None]


def _not_before_birth(column: str) -> RowCheck:
    def check(row: dict[str, object]) -> tuple[str | None, str] | None:
        pid_born = row["cpr"]
        day = row[column]
        assert isinstance(pid_born, tuple)
        if isinstance(day, dt.date) and day < pid_born[1]:
            return column, "date is before the birth date"
        if isinstance(day, dt.date) and day > dt.date.today():
            return column, "date is in the future"
        return None

    return check


def validate_conditions(path: Path, key: bytes, *, encoding: str | None = None) -> Validated:
    """Validate a diagnosis export; accepted rows become ``condition`` rows."""
    ex = open_extract(path, CONDITION_ALIASES, ("cpr", "code", "onset_date"), encoding=encoding,
                      strict_fields=True)  # fmt: skip
    return validate_condition_extract(ex, key)


def validate_condition_extract(ex: Extract, key: bytes) -> Validated:
    """``validate_conditions`` on an opened extract (a CSV file or a FHIR Bundle's)."""
    fields = [
        _cpr(key),
        Field("code", _icpc),
        Field("onset_date", parse_day),
        Field("diagnosed_by", choice(BY, "diagnosed by"), required=False, default="gp"),
        Field("end_date", parse_day, required=False),
    ]
    born_check = _not_before_birth("onset_date")

    def check(row: dict[str, object]) -> tuple[str | None, str] | None:
        onset, end = row["onset_date"], row["end_date"]
        if isinstance(onset, dt.date) and isinstance(end, dt.date) and end < onset:
            return "end_date", "the condition ends before its onset"
        return born_check(row)

    out, _lines, rejects = parse_rows(ex, fields, key=("cpr", "code"), check=check)
    columns = {"patient_id": [p[0] for p in out["cpr"]],  # type: ignore[index]
               "code": out["code"], "onset_date": out["onset_date"],
               "diagnosed_by": out["diagnosed_by"], "end_date": out["end_date"]}  # fmt: skip
    return validated(ex, "condition", columns, rejects, replace_key=("patient_id", "code"))


def validate_medications(path: Path, key: bytes, *, encoding: str | None = None) -> Validated:
    """Validate a drug export; accepted rows become ``medication`` rows."""
    ex = open_extract(path, MEDICATION_ALIASES, ("cpr", "atc", "start_date"), encoding=encoding,
                      strict_fields=True)  # fmt: skip
    return validate_medication_extract(ex, key)


def validate_medication_extract(ex: Extract, key: bytes) -> Validated:
    """``validate_medications`` on an opened extract (a CSV file or a FHIR Bundle's)."""
    fields = [
        _cpr(key),
        Field("atc", _atc),
        Field("start_date", parse_day),
        Field("end_date", parse_day, required=False),
    ]
    born_check = _not_before_birth("start_date")

    def check(row: dict[str, object]) -> tuple[str | None, str] | None:
        start, end = row["start_date"], row["end_date"]
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            return "end_date", "the treatment ends before it starts"
        return born_check(row)

    out, _lines, rejects = parse_rows(ex, fields, key=("cpr", "atc"), check=check)
    columns = {"patient_id": [p[0] for p in out["cpr"]],  # type: ignore[index]
               "atc": out["atc"], "start_date": out["start_date"], "end_date": out["end_date"]}  # fmt: skip
    return validated(ex, "medication", columns, rejects, replace_key=("patient_id", "atc"))


def validate_lab_results(path: Path, key: bytes, *, encoding: str | None = None) -> Validated:
    """Validate a lab export; accepted rows become ``lab_result`` rows."""
    ex = open_extract(path, LAB_ALIASES, ("cpr", "code", "sample_date", "value"),
                      encoding=encoding, strict_fields=True)  # fmt: skip
    fields = [
        _cpr(key),
        Field("code", _npu),
        Field("sample_date", parse_day),
        Field("value", _lab_value),
        Field("unit", str, required=False),
    ]
    out, _lines, rejects = parse_rows(
        ex, fields, key=("cpr", "code", "sample_date"), check=_not_before_birth("sample_date")
    )
    columns = {"patient_id": [p[0] for p in out["cpr"]],  # type: ignore[index]
               "code": out["code"], "sample_date": out["sample_date"], "value": out["value"],
               "unit": out["unit"]}  # fmt: skip
    return validated(ex, "lab_result", columns, rejects,
                     replace_key=("patient_id", "code", "sample_date"))  # fmt: skip


def _start_time(text: str) -> dt.datetime:
    t = text.strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M", "%d.%m.%Y %H:%M",
                "%d-%m-%Y %H.%M", "%d.%m.%Y %H.%M"):  # fmt: skip
        try:
            when = dt.datetime.strptime(t, fmt)
        except ValueError:
            continue
        if not 1900 <= when.year <= 2099:
            raise ValueError("date out of range (1900-2099)")
        return when
    raise ValueError("not a date and time (use YYYY-MM-DD HH:MM or DD-MM-YYYY HH:MM)")


def validate_ooh_contacts(
    path: Path, key: bytes, *, first_contact_id: int = 1, encoding: str | None = None
) -> Validated:
    """Validate an out-of-hours contact extract; accepted rows become ``ooh_contact`` rows."""
    ex = open_extract(path, OOH_ALIASES, ("region", "site", "start_time", "kind", "minutes"),
                      encoding=encoding, strict_fields=True)  # fmt: skip
    regions = {r.lower(): r for r in load_municipalities()["region"].unique().to_list()}
    regions |= {r.removeprefix("Region ").lower(): r for r in list(regions.values())}

    def region(text: str) -> str:
        r = regions.get(text.strip().lower())
        if r is None:
            raise ValueError("not one of the five regions")
        return r

    def cpr(text: str) -> int:
        try:
            return pseudonymise(parse_cpr(text)[0], key)
        except CprError as exc:
            raise ValueError(str(exc)) from None

    fields = [
        Field("region", region),
        Field("site", str),
        Field("start_time", _start_time),
        Field("kind", choice(KINDS, "kind")),
        Field("minutes", parse_int(0, 600)),
        Field("cpr", cpr, required=False),
    ]
    out, _lines, rejects = parse_rows(ex, fields)
    n = len(out["region"])
    columns: dict[str, Sequence[object]] = {
        "contact_id": range(first_contact_id, first_contact_id + n)
    }
    for c in ("region", "site", "start_time", "kind", "minutes"):
        columns[c] = out[c]
    columns["patient_id"] = out["cpr"]
    return validated(ex, "ooh_contact", columns, rejects)
