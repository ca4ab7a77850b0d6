"""Patient data from another system as a FHIR R4 Bundle (issue 20 item 5; seed 003: data
that follows the patient): Patient, Condition and MedicationStatement resources enter the
warehouse through the same validation, pseudonymisation and rejects as the CSV importers.

Each resource becomes a row of an extract in the CSV importers' canonical columns, and
that extract goes through ``validate_patient_extract``, ``validate_condition_extract``
and ``validate_medication_extract``: the CPR number is hashed at the door, a malformed
one is a reject, and so on. A reject's ``line`` is the resource's entry number in the
Bundle (1 = the first entry), its column the canonical column (``cpr``, ``code`` …).

The mapping follows the Danish core profiles (hl7dk/dk-core):

- Patient: the CPR number is the identifier with system ``urn:oid:1.2.208.176.1.2``;
  the clinic is the ``generalPractitioner`` Organization's provider number (identifier
  ``urn:oid:1.2.208.176.1.4``, in the Bundle or on the reference itself); the
  municipality is the address extension ``dk-core-municipalityCodes``. FHIR holds no
  listing date, so the listing's first day is given (``listed_from``).
- Condition: the subject Patient, the ICPC-2 coding (``urn:oid:1.2.208.176.2.31``; a
  code in SKS ``urn:oid:1.2.208.176.2.4`` is not ICPC-2 and is rejected), onset and
  abatement dates; diagnosed by gp.
- MedicationStatement: the subject Patient, the ATC coding (``http://www.whocc.no/atc``),
  effectivePeriod start and end (or effectiveDateTime).

Other resource types are counted and left out (``skipped``), never silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from almen.errors import InputError
from almen.ingest.clinical import validate_condition_extract, validate_medication_extract
from almen.ingest.csv_reader import Extract
from almen.ingest.patient_list import validate_patient_extract
from almen.ingest.validated import Reject, Validated

__all__ = ["FhirImport", "validate_fhir_bundle"]

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
YDERNUMMER = "urn:oid:1.2.208.176.1.4"
ICPC2 = "urn:oid:1.2.208.176.2.31"
SKS = "urn:oid:1.2.208.176.2.4"
ATC = "http://www.whocc.no/atc"
MUNICIPALITY_EXT = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes"


@dataclass
class FhirImport:
    """What a Bundle gives: one Validated per target table (patient, condition,
    medication; only those the Bundle has), and the resource types left out."""

    parts: list[Validated]
    skipped: Counter[str] = field(default_factory=Counter)


def _day(value: Any) -> str:
    return str(value)[:10] if value else ""


def _codes(concept: Any, system: str) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [c.get("code", "") for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("system") == system and c.get("code")]  # fmt: skip


def _identifier(items: Any, system: str) -> str:
    for i in items or []:
        if isinstance(i, dict) and i.get("system") == system and i.get("value"):
            return str(i["value"])
    return ""


def validate_fhir_bundle(
    path: Path, key: bytes, *, listed_from: dt.date | None = None, today: dt.date | None = None
) -> FhirImport:
    """Read a Bundle (JSON) and validate its Patients, Conditions and
    MedicationStatements as the CSV importers do. InputError (exit 2) if the file is not
    a FHIR Bundle, or holds Patients with a clinic but no ``listed_from`` is given."""
    source = path.name
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not JSON: {getattr(exc, 'msg', exc)}", source=source,
                         line=line, column=getattr(exc, "colno", None)) from None  # fmt: skip
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise InputError("not a FHIR Bundle (resourceType must be Bundle)", source=source)
    sha = hashlib.sha256(raw).hexdigest()
    entries = [e for e in doc.get("entry") or [] if isinstance(e, dict)]
    by_url: dict[str, dict[str, Any]] = {}
    for e in entries:
        r = e.get("resource")
        if isinstance(r, dict):
            if e.get("fullUrl"):
                by_url[str(e["fullUrl"])] = r
            if r.get("id"):
                by_url[f"{r.get('resourceType')}/{r['id']}"] = r

    def cpr_of(ref: Any) -> str:
        target = by_url.get(ref.get("reference", "")) if isinstance(ref, dict) else None
        if isinstance(ref, dict) and ref.get("identifier"):
            got = _identifier([ref["identifier"]], CPR_SYSTEM)
            if got:
                return got
        return _identifier(target.get("identifier"), CPR_SYSTEM) if target else ""

    def provider_of(refs: Any) -> str:
        for ref in refs or []:
            if not isinstance(ref, dict):
                continue
            if ref.get("identifier") and _identifier([ref["identifier"]], YDERNUMMER):
                return _identifier([ref["identifier"]], YDERNUMMER)
            target = by_url.get(ref.get("reference", ""))
            if target and target.get("resourceType") == "Organization":
                got = _identifier(target.get("identifier"), YDERNUMMER)
                if got:
                    return got
        return ""

    rows: dict[str, list[tuple[int, list[str]]]] = {"patient": [], "condition": [], "med": []}
    pre: dict[str, list[Reject]] = {"patient": [], "condition": [], "med": []}
    skipped: Counter[str] = Counter()
    for n, e in enumerate(entries, 1):
        got = e.get("resource")
        res: dict[str, Any] = got if isinstance(got, dict) else {}
        kind = res.get("resourceType")
        if kind == "Patient":
            muni = ""
            for a in res.get("address") or []:
                for x in a.get("extension") or [] if isinstance(a, dict) else []:
                    if isinstance(x, dict) and x.get("url") == MUNICIPALITY_EXT:
                        codes = (x.get("valueCodeableConcept") or {}).get("coding") or [{}]
                        muni = str(codes[0].get("code", ""))
            provider = provider_of(res.get("generalPractitioner"))
            if provider and listed_from is None:
                raise InputError("the Bundle lists patients with a clinic: give the listing's "
                                 "first day (--listed-from YYYY-MM-DD)", source=source,
                                 line=n)  # fmt: skip
            rows["patient"].append((n, [_identifier(res.get("identifier"), CPR_SYSTEM), provider,
                                        listed_from.isoformat() if listed_from else "", "",
                                        muni, "1"]))  # fmt: skip
        elif kind == "Condition":
            code = _codes(res.get("code"), ICPC2)
            if not code:
                why = ("coded in SKS (urn:oid:1.2.208.176.2.4), not ICPC-2"
                       if _codes(res.get("code"), SKS) else f"no ICPC-2 coding ({ICPC2})")  # fmt: skip
                pre["condition"].append(Reject(n, "code", why))
                continue
            rows["condition"].append((n, [cpr_of(res.get("subject")), code[0],
                                          _day(res.get("onsetDateTime") or res.get("recordedDate")),
                                          "gp", _day(res.get("abatementDateTime"))]))  # fmt: skip
        elif kind == "MedicationStatement":
            atc = _codes(res.get("medicationCodeableConcept"), ATC)
            if not atc:
                pre["med"].append(Reject(n, "atc", f"no ATC coding ({ATC})"))
                continue
            period = res.get("effectivePeriod") or {}
            start = _day(period.get("start") or res.get("effectiveDateTime"))
            rows["med"].append((n, [cpr_of(res.get("subject")), atc[0], start,
                                    _day(period.get("end"))]))  # fmt: skip
        elif kind != "Organization":  # an Organization is read for the provider number
            skipped[str(kind)] += 1

    def extract(cols: tuple[str, ...], part: str) -> Extract:
        return Extract(source=source, columns={c: i for i, c in enumerate(cols)},
                       rows=rows[part], sha256=sha)  # fmt: skip

    parts: list[Validated] = []
    plan = (
        ("patient", ("cpr", "provider_number", "listed_from", "listed_to", "municipality",
                     "insurance_group"), lambda ex: validate_patient_extract(ex, key, today=today)),
        ("condition", ("cpr", "code", "onset_date", "diagnosed_by", "end_date"),
         lambda ex: validate_condition_extract(ex, key)),
        ("med", ("cpr", "atc", "start_date", "end_date"),
         lambda ex: validate_medication_extract(ex, key)),
    )  # fmt: skip
    for part, cols, check in plan:
        if not rows[part] and not pre[part]:
            continue
        v = check(extract(cols, part))
        v.rejects = sorted([*pre[part], *v.rejects], key=lambda r: r.line)
        v.rows_read += len(pre[part])
        parts.append(v)
    return FhirImport(parts, skipped)
