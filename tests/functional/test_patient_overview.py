"""The patient overview (seed 002 §8.2) and its FHIR R4B bundle; care plans stored."""

from __future__ import annotations

import json
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle

from almen import population, records, reference
from almen.population.patient import fhir_bundle, patient_overview
from almen.warehouse import Warehouse
from tests.functional.test_case_finding import AS_OF, _world


def _overview(path: Path, pid: int) -> population.patient.PatientOverview:
    with Warehouse.connect(path) as wh:
        return patient_overview(
            pid,
            wh.read_table("patient"),
            wh.read_table("condition"),
            wh.read_table("medication"),
            wh.read_table("claim"),
            reference.load_condition_codes(),
            population.load_definitions(),
            as_of=AS_OF,
        )


def test_overview_shows_diagnoses_drugs_contacts_and_efforts(tmp_path: Path) -> None:
    path = _world(tmp_path)
    o = _overview(path, 9)  # born 1940, hypertension and COPD, a home visit in June
    assert [d["code"] for d in o.diagnoses] == ["K86", "R95"]
    assert o.contacts == {"home visit": 1}
    assert {e["definition"] for e in o.efforts} == {"rarely_in_contact"}
    p12 = _overview(path, 12)
    assert len(p12.drugs) == 5


def test_fhir_bundle_round_trips_and_carries_the_care_plan(tmp_path: Path) -> None:
    path = _world(tmp_path)
    engine = records.connect(tmp_path)
    records.add_care_plan(engine, 7, "Forebyggende hjemmebesøg", "Tilbyd besøg i januar")
    o = _overview(path, 7)
    o.care_plans = records.care_plans(engine, 7)
    bundle = fhir_bundle(o)
    text = bundle.model_dump_json()
    again = Bundle.model_validate_json(text)
    assert again.model_dump() == bundle.model_dump()
    kinds = [e["resource"]["resourceType"] for e in json.loads(text)["entry"]]
    assert kinds.count("Condition") == 2 and "CarePlan" in kinds and kinds[0] == "Patient"


def test_unknown_patient_exits_2(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "patient", "12345")
    assert result.exit_code == 2
    assert "no such patient" in result.stderr
    plan = call_cli("--data", str(tiny_denmark), "careplan", "12345", "--title", "x")
    assert plan.exit_code == 2
