"""Patient data from another system as FHIR (issue 20 item 5): a Bundle of Patient,
Condition and MedicationStatement resources enters through the same validation,
pseudonymisation and rejects as the CSV importers; a reject names the entry and column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from typer.testing import Result

from almen.warehouse import Warehouse

Cli = Callable[..., Result]
KEY = {"ALMEN_PSEUDONYM_KEY": "test-key"}
CLINICS = Path(__file__).parents[2] / "docs" / "examples" / "real-data" / "klinikker.csv"
CPR = "010150" + "1235"  # made up (born 1 January 1950, a man); built so no literal is CPR-shaped
BAD_CPR = "320150" + "1235"  # day 32
ICPC2, SKS, ATC = "urn:oid:1.2.208.176.2.31", "urn:oid:1.2.208.176.2.4", "http://www.whocc.no/atc"


def _bundle() -> dict[str, Any]:
    pat = {"reference": "urn:uuid:0f0f0f0f-0000-4000-8000-000000000001"}
    entries = [
        {"fullUrl": "urn:uuid:0f0f0f0f-0000-4000-8000-0000000000aa", "resource": {
            "resourceType": "Organization",
            "identifier": [{"system": "urn:oid:1.2.208.176.1.4", "value": "100101"}]}},
        {"fullUrl": pat["reference"], "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": CPR}],
            "generalPractitioner": [{"reference": "urn:uuid:0f0f0f0f-0000-4000-8000-0000000000aa"}],
            "address": [{"extension": [{
                "url": "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes",
                "valueCodeableConcept": {"coding": [{"code": "0101"}]}}]}]}},
        {"resource": {"resourceType": "Patient",
                      "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": BAD_CPR}],
                      "generalPractitioner": [{"identifier": {
                          "system": "urn:oid:1.2.208.176.1.4", "value": "100101"}}]}},
        {"resource": {"resourceType": "Condition", "subject": pat, "onsetDateTime": "2015-05-12",
                      "code": {"coding": [{"system": ICPC2, "code": "T90"}]}}},
        {"resource": {"resourceType": "Condition", "subject": pat, "onsetDateTime": "2016-02-01",
                      "code": {"coding": [{"system": SKS, "code": "DE11"}]}}},
        {"resource": {"resourceType": "Condition", "subject": pat, "onsetDateTime": "2019-01-01",
                      "abatementDateTime": "2020-06-30",
                      "code": {"coding": [{"system": ICPC2, "code": "P76"}]}}},
        {"resource": {"resourceType": "MedicationStatement", "subject": pat, "status": "active",
                      "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "A10BA02"}]},
                      "effectivePeriod": {"start": "2015-05-12"}}},
        {"resource": {"resourceType": "MedicationStatement", "subject": pat, "status": "active",
                      "medicationCodeableConcept": {"text": "metformin"},
                      "effectivePeriod": {"start": "2015-05-12"}}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}},
    ]  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _table(data: Path, name: str) -> pl.DataFrame:
    with Warehouse.connect(data, read_only=True) as wh:
        return wh.read_table(name).to_polars()


def test_a_fhir_bundle_enters_like_the_csv_files(
    empty: Path, call_cli: Cli, tmp_path: Path
) -> None:
    res = call_cli("--data", str(empty), "ingest", "clinics", str(CLINICS), env=KEY)
    assert res.exit_code == 0, res.output
    f = tmp_path / "fra-andet-system.json"
    f.write_text(json.dumps(_bundle()), "utf-8")
    res = call_cli("--data", str(empty), "ingest", "fhir", str(f), "--listed-from", "2020-01-01",
                   env=KEY)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "left out (not imported): 1 Observation" in res.output
    patients = _table(empty, "patient")
    assert len(patients) == 1 and patients["provider_number"].to_list() == ["100101"]
    assert patients["birth_year"].to_list() == [1950] and patients["municipality"].to_list() == [
        "0101"
    ]
    pid = patients["patient_id"][0]
    cond = _table(empty, "condition").sort("code")
    assert cond["code"].to_list() == ["P76", "T90"] and set(cond["patient_id"]) == {pid}
    assert cond["end_date"].cast(pl.Utf8).to_list() == ["2020-06-30", None]
    med = _table(empty, "medication")
    assert med["atc"].to_list() == ["A10BA02"] and med["patient_id"].to_list() == [pid]
    rejects = _table(empty, "reject").filter(pl.col("source") == f.name).sort("line")
    got = list(zip(rejects["target_table"], rejects["line"], rejects["column_name"], strict=True))
    assert got == [("patient", 3, "cpr"), ("condition", 5, "code"), ("medication", 8, "atc")]
    assert "SKS" in rejects.filter(pl.col("line") == 5)["reason"][0]
    log = _table(empty, "ingest_log").filter(pl.col("source") == f.name)
    assert sorted(log["target_table"]) == ["condition", "medication", "patient"]
    assert (log["rows_read"] == log["rows_accepted"] + log["rows_rejected"]).all()
    assert sorted(log["rows_read"]) == [2, 2, 3]
    with Warehouse.connect(empty, read_only=True) as wh:
        for name in wh.con.list_tables():
            assert CPR not in wh.read_table(name).to_polars().write_csv(), name
    again = call_cli("--data", str(empty), "ingest", "fhir", str(f), "--listed-from",
                     "2020-01-01", env=KEY)  # fmt: skip
    assert again.exit_code != 0 and "already imported" in again.stderr


def test_a_bundle_that_cannot_be_read_exits_2(empty: Path, call_cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "b.json"
    f.write_text('{"resourceType": "Bundle", "entry": [', "utf-8")
    res = call_cli("--data", str(empty), "ingest", "fhir", str(f), env=KEY)
    assert res.exit_code == 2 and "b.json:1" in res.stderr and "not JSON" in res.stderr
    f.write_text(json.dumps(_bundle()), "utf-8")
    res = call_cli("--data", str(empty), "ingest", "fhir", str(f), env=KEY)
    assert res.exit_code == 2 and "--listed-from" in res.stderr
    f.write_text(json.dumps({"resourceType": "Patient"}), "utf-8")
    res = call_cli("--data", str(empty), "ingest", "fhir", str(f), env=KEY)
    assert res.exit_code == 2 and "not a FHIR Bundle" in res.stderr
