"""The patient overview (seed 002 §8.2) and its FHIR R4 form.

One patient: the diagnosis card, drugs in use, contacts in the last 12 months by
channel, the last yearly control, the special efforts the patient qualifies for and why,
and the shared care plans (from the records store). ``almen.fhir.patient_bundle`` writes
it as a FHIR R4 Bundle (docs/fhir.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import ibis
import polars as pl

from almen.errors import NotFoundError
from almen.population.case_finding import apply_definitions, patient_features
from almen.population.definitions import Definitions, months_before

__all__ = ["CHANNELS", "PatientOverview", "patient_overview"]

CHANNELS = {
    "0101": "consultation",
    "0102": "consultation",
    "0120": "yearly control",
    "0121": "home visit",
    "0411": "home visit",
    "0201": "phone",
    "0204": "phone",
    "0105": "e-mail",
    "0127": "e-mail",
    "0125": "video",
}


@dataclass
class PatientOverview:
    patient_id: int
    birth_year: int
    sex: str
    provider_number: str | None
    diagnoses: list[dict[str, Any]]
    drugs: list[dict[str, Any]]
    contacts: dict[str, int]
    last_yearly_control: dt.date | None
    efforts: list[dict[str, str]]
    care_plans: list[Any] = field(default_factory=list)
    encounters: list[dict[str, Any]] = field(default_factory=list)
    clinic: dict[str, Any] | None = None  # provider_number, name, sor_id
    doctors: list[dict[str, Any]] = field(default_factory=list)  # doctor_id, sex, role


def patient_overview(
    patient_id: int,
    patient: ibis.Table,
    condition: ibis.Table,
    medication: ibis.Table,
    claim: ibis.Table,
    condition_codes: pl.DataFrame,
    definitions: Definitions,
    *,
    as_of: dt.date,
    lab: ibis.Table | None = None,
    clinic: ibis.Table | None = None,
    doctor: ibis.Table | None = None,
) -> PatientOverview:
    """Everything the overview shows for one patient as it was known on ``as_of``:
    diagnoses made by then (an ended one is not shown), drugs in use on the day, contacts
    in the 12 months up to it, the last yearly control on or before it, and the efforts
    the patient qualified for on it; with ``clinic`` and ``doctor``, the patient's clinic
    (provider number, name, SOR identifier) and its doctors. NotFoundError if unknown."""
    p = patient.filter(patient.patient_id == patient_id).to_polars()
    if p.is_empty():
        raise NotFoundError("no such patient in the warehouse (check the pseudonym)")
    row = p.row(0, named=True)
    names = dict(zip(condition_codes["icpc2_code"], condition_codes["name_en"], strict=False))
    names_da = dict(zip(condition_codes["icpc2_code"], condition_codes["name_da"], strict=False))
    cf = condition.filter((condition.patient_id == patient_id) & (condition.onset_date <= as_of))
    if "end_date" in condition.columns:
        cf = cf.filter(cf.end_date.isnull() | (cf.end_date >= as_of))
    conds = cf.to_polars().sort("onset_date")
    diagnoses = [
        {"code": r["code"], "name": names.get(r["code"], r["code"]),
         "name_da": names_da.get(r["code"], r["code"]), "onset": r["onset_date"],
         "diagnosed_by": r["diagnosed_by"]}
        for r in conds.iter_rows(named=True)
    ]  # fmt: skip
    m = medication.filter(
        (medication.patient_id == patient_id)
        & (medication.start_date <= as_of)
        & (medication.end_date.isnull() | (medication.end_date >= as_of))
    ).to_polars()
    drugs = [
        {"atc": r["atc"], "start": r["start_date"]} for r in m.sort("atc").iter_rows(named=True)
    ]
    since = months_before(as_of, 12)
    cl = claim.filter(
        (claim.patient_id == patient_id)
        & (claim.service_date > since)
        & (claim.service_date <= as_of)
    ).to_polars()
    contacts: dict[str, int] = {}
    encounters = []
    for r in cl.sort("service_date").iter_rows(named=True):
        channel = CHANNELS.get(r["service_code"])
        if r["time_band"] == "ooh":
            channel = "out of hours"
        if channel is None:
            continue
        contacts[channel] = contacts.get(channel, 0) + 1
        encounters.append(
            {"date": r["service_date"], "channel": channel, "code": r["service_code"]}
        )
    ctrl = claim.filter((claim.patient_id == patient_id) & (claim.service_code == "0120")
                        & (claim.service_date <= as_of))  # fmt: skip
    last = ctrl.service_date.max().cast("date").to_pyarrow().as_py()
    efforts: list[dict[str, str]] = []
    if row["provider_number"] is not None and row["insurance_group"] == 1:
        feats = patient_features(
            patient.filter(patient.patient_id == patient_id), condition, medication, claim,
            as_of=as_of, definitions=definitions, provider_number=row["provider_number"],
            lab=lab,
        )  # fmt: skip
        found = apply_definitions(feats, definitions).filter(pl.col("patient_id") == patient_id)
        efforts = [
            {"definition": r["definition"], "name": definitions[r["definition"]].name_en,
             "reason": r["reason"]}
            for r in found.iter_rows(named=True)
        ]  # fmt: skip
    return PatientOverview(
        patient_id=patient_id,
        birth_year=int(row["birth_year"]),
        sex=row["sex"],
        provider_number=row["provider_number"],
        diagnoses=diagnoses,
        drugs=drugs,
        contacts=contacts,
        last_yearly_control=last,
        efforts=efforts,
        encounters=encounters,
        clinic=_clinic_of(clinic, row["provider_number"]),
        doctors=_doctors_of(doctor, row["provider_number"]),
    )


def _clinic_of(clinic: ibis.Table | None, provider_number: str | None) -> dict[str, Any] | None:
    if clinic is None or provider_number is None:
        return None
    cols = [c for c in ("provider_number", "name", "sor_id", "municipality") if c in clinic.columns]
    got = clinic.filter(clinic.provider_number == provider_number).select(*cols).to_polars()
    return got.row(0, named=True) if got.height else None


def _doctors_of(doctor: ibis.Table | None, provider_number: str | None) -> list[dict[str, Any]]:
    if doctor is None or provider_number is None:
        return []
    d = doctor.filter(doctor.provider_number == provider_number)
    return d.select("doctor_id", "sex", "role").to_polars().sort("doctor_id").to_dicts()
