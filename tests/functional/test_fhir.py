"""FHIR that a Danish system can read, and a care plan with a life (issue 20).

Seed 002 §8.2: a patient overview "hvor lægen og patienten i samarbejde kan udarbejde en
samlet og tilpasset behandlingsplan for patienten, som kan deles med andre
sundhedsprofessionelle"; seed 003: data that follows the patient across sectors.

The exported Bundles are checked by an independent validator: the official FHIR R4 JSON
schema through ajv (tools/fhir-validator, Node), not fhir.resources.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from almen import fhir, population, records, reference
from almen.errors import InputError, NotFoundError, ParameterError
from almen.population.patient import PatientOverview, patient_overview
from almen.records import Activity, Goal, Member
from almen.warehouse import Warehouse
from tests.functional.test_case_finding import AS_OF, FRAIL, _world

VALIDATOR = Path(__file__).parents[2] / "tools" / "fhir-validator"


def _validate(tmp_path: Path, *docs: dict[str, Any]) -> list[dict[str, Any]]:
    """The independent validator's verdict per document (``make fhir-validator``)."""
    node = shutil.which("node")
    assert node and (VALIDATOR / "node_modules").is_dir(), "run `make fhir-validator` first"
    files = []
    for i, d in enumerate(docs):
        f = tmp_path / f"doc{i}.json"
        f.write_text(json.dumps(d), "utf-8")
        files.append(str(f))
    done = subprocess.run([node, str(VALIDATOR / "validate.js"), *files], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _overview(path: Path, pid: int) -> PatientOverview:
    with Warehouse.connect(path) as wh:
        if not wh.has_table("doctor"):  # the world's clinic: an owner and a trainee
            pn = wh.read_table("clinic").to_polars()["provider_number"][0]
            wh.write_table("doctor", pa.table({
                "doctor_id": [1, 2], "provider_number": [pn, pn], "birth_year": [1970, 1990],
                "sex": ["F", "M"], "role": ["owner", "trainee"], "fte": [1.0, 1.0]}))  # fmt: skip
        return patient_overview(
            pid, wh.read_table("patient"), wh.read_table("condition"),
            wh.read_table("medication"), wh.read_table("claim"),
            reference.load_condition_codes(), population.load_definitions(), as_of=AS_OF,
            clinic=wh.read_table("clinic"), doctor=wh.read_table("doctor"),
        )  # fmt: skip


def _full_plan(engine: Any, pid: int) -> records.CarePlan:
    return records.add_care_plan(
        engine, pid, "Fælles plan for hjerte og lunger", "Aftalt med patienten",
        status="active", by="klinik", provider_number="100001", author="Læge Hansen",
        care_team=(Member("Anne Holm", "hjemmesygeplejerske"), Member("Dr. Berg", "kardiolog")),
        goals=(Goal("Gå 20 minutter dagligt", "active", dt.date(2026, 3, 1)),
               Goal("Ingen indlæggelser for KOL", "proposed")),
        activities=(Activity("Inhalationsteknik gennemgås", "scheduled", "Anne Holm"),
                    Activity("Årskontrol hos egen læge", "not-started")),
        addresses=("R95", "K77"), period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 12, 31),
    )  # fmt: skip


def test_the_overview_bundle_passes_the_official_r4_schema_and_every_reference_resolves(
    tmp_path: Path,
) -> None:
    """Item 1: DK Core's code systems (ICPC-2 urn:oid:1.2.208.176.2.31, not SKS), the
    clinic as an Organization with its provider number, its doctors as Practitioners,
    urn:uuid fullUrls with references that resolve inside the Bundle; valid by the
    official R4 JSON schema."""
    path = _world(tmp_path / "w")
    engine = records.connect(tmp_path)
    _full_plan(engine, 9)
    o = _overview(path, 9)
    o.care_plans = records.care_plans(engine, 9)
    bundle = fhir.patient_bundle(o)
    [verdict] = _validate(tmp_path, bundle)
    assert verdict["errors"] == [], verdict["errors"][:3]
    assert fhir.bundle_problems(bundle) == []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    assert bundle["type"] == "collection"
    systems = {c["system"] for r in by_type["Condition"] for c in r["code"]["coding"]}
    assert systems == {"urn:oid:1.2.208.176.2.31"} and fhir.SKS not in json.dumps(bundle)
    assert sorted(c["code"]["coding"][0]["code"] for c in by_type["Condition"]) == sorted(FRAIL)
    [org] = by_type["Organization"]
    assert {"system": "urn:oid:1.2.208.176.1.4", "value": o.provider_number} in org["identifier"]
    assert len(by_type["Practitioner"]) == len(o.doctors) >= 1
    patient = by_type["Patient"][0]
    org_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is org)
    assert patient["managingOrganization"]["reference"] == org_url
    [plan] = by_type["CarePlan"]
    assert len(plan["addresses"]) == 2 and len(plan["goal"]) == 2 and "CareTeam" in by_type
    # a plan that addresses a code the patient's card does not hold still exports
    records.add_care_plan(engine, 9, "Plan for astma", by="klinik", addresses=("R96",))
    o.care_plans = records.care_plans(engine, 9)
    again = fhir.patient_bundle(o)
    assert fhir.bundle_problems(again) == [] and _validate(tmp_path, again)[0]["errors"] == []
    codes = [e["resource"]["code"]["coding"][0]["code"] for e in again["entry"]
             if e["resource"]["resourceType"] == "Condition"]  # fmt: skip
    assert "R96" in codes


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The validator and the reference check are live: an undeclared element, a
    relative reference, a coding with an unknown system are each reported."""
    path = _world(tmp_path / "w")
    bundle = fhir.patient_bundle(_overview(path, 9))
    bad = json.loads(json.dumps(bundle))
    bad["entry"][0]["resource"]["favouriteColour"] = "blue"
    [ok, wrong] = _validate(tmp_path, bundle, bad)
    assert ok["errors"] == [] and wrong["errors"]
    broken = json.loads(json.dumps(bundle))
    cond = next(e for e in broken["entry"] if e["resource"]["resourceType"] == "Condition")
    cond["resource"]["subject"] = {"reference": "Patient/p9"}
    cond["resource"]["code"]["coding"][0]["system"] = fhir.SKS
    problems = fhir.bundle_problems(broken)
    assert any("resolves to no entry" in p for p in problems)
    assert any("is not known" in p for p in problems)


def test_a_care_plan_keeps_every_version_and_closes_when_completed(tmp_path: Path) -> None:
    """Item 2: draft → active → on-hold → completed, each change a version with who
    and what changed; a completed plan is closed; wrong values are refused by field."""
    engine = records.connect(tmp_path)
    plan = records.add_care_plan(engine, 7, "Plan", status="draft", by="klinik")
    records.update_care_plan(engine, plan.id, by="klinik", status="active",
                             goals=(Goal("Blodtryk under 140/90", "active"),))  # fmt: skip
    records.update_care_plan(engine, plan.id, by="laege2", status="on-hold")
    last = records.update_care_plan(
        engine, plan.id, by="klinik", status="completed",
        activities=(Activity("Måling hjemme", "completed"),),
    )  # fmt: skip
    assert last.version == 4 and records.care_plan(engine, plan.id).status == "completed"
    hist = records.care_plan_history(engine, plan.id)
    assert [h["version"] for h in hist] == [1, 2, 3, 4]
    assert [h["username"] for h in hist] == ["klinik", "klinik", "laege2", "klinik"]
    assert hist[1]["changed"] == ["goals", "status"] and hist[2]["changed"] == ["status"]
    assert hist[0]["plan"]["status"] == "draft" and hist[3]["plan"]["activities"][0]["status"]
    with pytest.raises(ParameterError, match="closed"):
        records.update_care_plan(engine, plan.id, by="klinik", title="Ny")
    other = records.add_care_plan(engine, 7, "Plan 2", by="klinik")
    with pytest.raises(ParameterError, match="goal 1: status"):
        records.update_care_plan(engine, other.id, by="klinik", goals=(Goal("x", "done"),))
    with pytest.raises(ParameterError, match="ICPC-2"):
        records.update_care_plan(engine, other.id, by="klinik", addresses=("diabetes",))
    with pytest.raises(NotFoundError):
        records.update_care_plan(engine, 999, by="klinik", status="active")
    assert records.care_plan(engine, other.id).version == 1  # a refused change saves nothing


def test_a_care_plan_goes_out_as_fhir_and_comes_back_the_same(tmp_path: Path) -> None:
    """Item 4: the plan as a CarePlan with its Goals, CareTeam and the Conditions it
    addresses, read back into another clinic's records store: status, goals,
    activities, addresses, author, care team and period are the same."""
    path = _world(tmp_path / "w")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    engine = records.connect(tmp_path / "a")
    plan = _full_plan(engine, 9)
    out = fhir.care_plan_bundle(plan, _overview(path, 9))
    [verdict] = _validate(tmp_path, out)
    assert verdict["errors"] == [] and fhir.bundle_problems(out) == []
    text = json.dumps(out, ensure_ascii=False)  # as it travels
    fields = fhir.care_plan_from_bundle(json.loads(text))
    other = records.connect(tmp_path / "b")
    again = records.add_care_plan(other, 9, fields.pop("title"), fields.pop("description"),
                                  fields.pop("status"), by="import", **fields)  # fmt: skip
    for name in ("title", "description", "status", "author", "care_team", "goals",
                 "activities", "addresses", "period_start", "period_end"):  # fmt: skip
        assert getattr(again, name) == getattr(plan, name), name


def test_an_unreadable_care_plan_bundle_names_the_entry(tmp_path: Path) -> None:
    path = _world(tmp_path / "w")
    engine = records.connect(tmp_path)
    out = fhir.care_plan_bundle(_full_plan(engine, 9), _overview(path, 9))
    cp = next(e for e in out["entry"] if e["resource"]["resourceType"] == "CarePlan")
    cp["resource"]["goal"][0]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    with pytest.raises(InputError, match=r"CarePlan.goal\[0\].*not a Goal of the Bundle"):
        fhir.care_plan_from_bundle(out)
    with pytest.raises(InputError, match="one is needed"):
        fhir.care_plan_from_bundle({"resourceType": "Bundle", "entry": []})
