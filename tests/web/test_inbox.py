"""The inbox staff work from (issue 17 item 4): requests from a patient portal (the
channels of seed 001 "PLO-IT" and seed 003 "Tilgængelighed til klinikken"), the patient's
name where the request holds it, replies and closing messages the patient reads."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from almen import records
from almen.config import get_settings
from almen.ingest.pseudonymise import load_key, pseudonymise
from almen.warehouse import Warehouse
from almen.web import create_app, models
from almen.web.auth import add_portal
from tests.web.conftest import PASSWORD, Site


def _cpr() -> str:
    """A made-up CPR number for the test patient (built here, never written out whole)."""
    return "".join(f"{n:02d}" for n in (14, 3, 52)) + str(4000 + 321)


@dataclass
class Portal:
    http: TestClient
    clinic: TestClient
    csrf: str
    site: Site
    data: Path
    pid: int
    cpr: str


@pytest.fixture
def portal(site: Site, tmp_path: Path) -> Portal:
    """A private copy of the site with one more patient on the clinic's list (known to
    the portal by CPR number) and a portal key."""
    data = tmp_path / "data"
    shutil.copytree(site.data, data)
    settings = get_settings(os.environ, data=data)
    cpr = _cpr()
    pid = pseudonymise(cpr, load_key(settings.pseudonym_key, data))
    with Warehouse.connect(data) as wh:
        p = wh.read_table("patient").to_pyarrow()
        mine = p.filter(pa.compute.equal(p["patient_id"], pa.scalar(site.patient, pa.int64())))
        new = mine.set_column(mine.schema.get_field_index("patient_id"), "patient_id",
                              pa.array([pid], pa.int64()))  # fmt: skip
        wh.write_table("patient", pa.concat_tables([p, new.cast(p.schema)]))
    key = add_portal(records.connect(data), "Min Læge (test)")
    app = create_app(settings)
    http = TestClient(app)  # type: ignore[arg-type]
    http.headers["Authorization"] = f"Bearer {key}"
    clinic = TestClient(app)  # type: ignore[arg-type]
    r = clinic.post("/api/login", json={"username": "klinik", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Portal(http, clinic, r.json()["csrf"], site, data, pid, cpr)


def _open(p: Portal) -> dict[str, dict]:  # type: ignore[type-arg]
    got = p.clinic.get(f"/api/clinics/{p.site.clinic}/inbox").json()["items"]
    return {i["id"]: i for i in got if i["patient_id"] == str(p.pid)}


CHANNELS = [
    {"kind": "e_consultation", "reason": "rash", "text": "Udslæt på armen i tre dage"},
    {"kind": "booking_request", "reason": "chronic_control", "wanted_time": "tirsdag formiddag"},
    {"kind": "prescription_renewal", "drug": "Metformin 500 mg"},
    {"kind": "questionnaire", "reason": "pregnancy",
     "answers": {"Første dag i sidste menstruation": "1. oktober", "Ryger du?": "Nej"}},
]  # fmt: skip


def test_each_patient_channel_arrives_in_the_clinics_inbox_triaged(portal: Portal) -> None:
    """Seed 001 "PLO-IT" (Min Læge: e-consultation, prescription renewal, questionnaires)
    and seed 003 (online booking): each arrives through the patient-facing API in the
    inbox of the clinic the patient is listed with, triaged with the patient's age and
    sex from the records, with the name the portal sent and what the patient wrote."""
    ids = {}
    for body in CHANNELS:
        r = portal.http.post("/api/patient/requests",
                             json={"cpr": portal.cpr, "name": "Karen Jensen", **body})  # fmt: skip
        assert r.status_code == 201, r.text
        got = r.json()
        models.PatientRequest.model_validate(got)  # as the spec declares
        assert got["kind"] == body["kind"] and got["clinic"] == portal.site.clinic
        assert isinstance(got["id"], str) and portal.cpr not in r.text
        ids[body["kind"]] = got["id"]
    inbox = _open(portal)
    assert {inbox[i]["source"] for i in ids.values()} == {b["kind"] for b in CHANNELS}
    renewal = inbox[ids["prescription_renewal"]]
    assert renewal["reason"] == "medication" and "Metformin" in renewal["details"]
    assert all(inbox[i]["patient_name"] == "Karen Jensen" for i in ids.values())
    assert all(inbox[i]["age"] is not None and inbox[i]["severity"] for i in ids.values())
    page = portal.clinic.get(f"/clinic/{portal.site.clinic}").text
    for label in ("E-konsultation (patientportal)", "Anmodning om tid (patientportal)",
                  "Receptfornyelse (patientportal)", "Spørgeskema (patientportal)",
                  "Karen Jensen", "Metformin 500 mg", "tirsdag formiddag", "Ryger du?",
                  "Udslæt på armen"):  # fmt: skip
        assert label in page, label


def test_the_portal_needs_its_key_a_valid_cpr_and_a_listed_patient(portal: Portal) -> None:
    body = {"cpr": portal.cpr, **CHANNELS[0]}
    anon = TestClient(portal.http.app)
    assert anon.post("/api/patient/requests", json=body).status_code == 401
    wrong = anon.post("/api/patient/requests", json=body,
                      headers={"Authorization": "Bearer almen-portal-nope"})  # fmt: skip
    assert wrong.status_code == 401
    bad = portal.http.post("/api/patient/requests", json={**body, "cpr": "3" * 10})
    assert bad.status_code == 422 and "3" * 10 not in bad.text
    unlisted = _cpr()[:6] + "9999"
    r = portal.http.post("/api/patient/requests", json={**body, "cpr": unlisted})
    assert r.status_code == 404 and unlisted not in r.text
    no_drug = {"cpr": portal.cpr, "kind": "prescription_renewal"}
    assert portal.http.post("/api/patient/requests", json=no_drug).status_code == 422
    # a clinic user's session does not open the patient API, nor a portal key the clinic's
    assert portal.clinic.post("/api/patient/requests", json=body).status_code == 401
    assert portal.http.get(f"/api/clinics/{portal.site.clinic}/inbox").status_code == 401


def test_staff_reply_and_close_with_a_message_the_patient_reads(portal: Portal) -> None:
    """Reply from the clinic page, the patient writes back through the portal, the clinic
    closes with a message through the API; after closing the patient cannot write on it."""
    rid = portal.http.post("/api/patient/requests",
                           json={"cpr": portal.cpr, **CHANNELS[0]}).json()["id"]  # fmt: skip
    pn = portal.site.clinic
    r = portal.clinic.post(f"/clinic/{pn}/inbox/{rid}/reply", follow_redirects=False,
                           data={"csrf": portal.csrf, "message": "Send gerne et billede."})  # fmt: skip
    assert r.status_code == 303
    assert "Send gerne et billede." in portal.clinic.get(f"/clinic/{pn}").text
    w = portal.http.post(f"/api/patient/requests/{rid}/messages",
                         json={"cpr": portal.cpr, "text": "Billedet er sendt."})  # fmt: skip
    assert w.status_code == 201, w.text
    models.PatientMessage.model_validate(w.json())
    h = {"X-CSRF-Token": portal.csrf}
    done = portal.clinic.post(f"/api/inbox/{rid}/complete", headers=h,
                              json={"message": "Det er eksem; køb en fed creme."})  # fmt: skip
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert [m["to_patient"] for m in done.json()["messages"]] == [True, False, True]
    mine = portal.http.post("/api/patient/requests/mine", json={"cpr": portal.cpr}).json()
    models.PatientRequests.model_validate(mine)
    it = next(i for i in mine["items"] if i["id"] == rid)
    assert it["status"] == "done"
    assert [(m["from"], m["text"]) for m in it["messages"]] == [
        ("clinic", "Send gerne et billede."), ("patient", "Billedet er sendt."),
        ("clinic", "Det er eksem; køb en fed creme.")]  # fmt: skip
    late = portal.http.post(f"/api/patient/requests/{rid}/messages",
                            json={"cpr": portal.cpr, "text": "Tak"})  # fmt: skip
    assert late.status_code == 409
    empty = portal.clinic.post(f"/api/inbox/{rid}/reply", headers=h, json={})
    assert empty.status_code in (409, 422)


def test_a_patient_reads_and_writes_only_their_own_requests(portal: Portal) -> None:
    """A request of another patient is not found for this one (the clinic's own
    requests for the site patient are not the portal patient's)."""
    from almen.access import Request
    from almen.access.inbox import submit

    other = submit(records.connect(portal.data), portal.site.clinic, portal.site.patient,
                   Request("rash", 40, "F"), actor="klinik")  # fmt: skip
    r = portal.http.post(f"/api/patient/requests/{other.id}/messages",
                         json={"cpr": portal.cpr, "text": "hej"})  # fmt: skip
    assert r.status_code == 404
    mine = portal.http.post("/api/patient/requests/mine", json={"cpr": portal.cpr}).json()
    assert str(other.id) not in {i["id"] for i in mine["items"]}


def test_an_old_records_store_gets_the_new_inbox_columns(tmp_path: Path) -> None:
    """A store made before the patient channels (no source, patient_name, details) is
    brought up to date on connect, and its old requests read as taken by the clinic."""
    from sqlalchemy import inspect, text

    eng = records.connect(tmp_path)
    with eng.begin() as con:
        for col in ("source", "patient_name", "details"):
            con.execute(text(f"ALTER TABLE triage_request DROP COLUMN {col}"))
    assert "source" not in {c["name"] for c in inspect(eng).get_columns("triage_request")}
    eng.dispose()
    again = records.connect(tmp_path)
    cols = {c["name"] for c in inspect(again).get_columns("triage_request")}
    assert {"source", "patient_name", "details"} <= cols


def test_portal_keys_from_the_cli(portal: Portal) -> None:
    """`almen portal add` prints a key that works (shown once: `list` never shows it);
    `remove` stops it; a second portal of the same name is refused with exit code 2."""
    from typer.testing import CliRunner

    from almen.cli import app as cli

    env = {"ALMEN_DATA": str(portal.data)}
    run = lambda *a: CliRunner().invoke(cli, list(a), env=env)  # noqa: E731
    added = run("portal", "add", "Klinikkens hjemmeside")
    assert added.exit_code == 0, added.output
    key = added.output.strip().splitlines()[-1]
    assert key.startswith("almen-portal-")
    assert run("portal", "add", "Klinikkens hjemmeside").exit_code == 2
    listed = run("portal", "list", "--format", "csv")
    assert "Klinikkens hjemmeside" in listed.output and key not in listed.output
    body = {"cpr": portal.cpr, **CHANNELS[0]}
    anon = TestClient(portal.http.app)
    ok = anon.post("/api/patient/requests", json=body, headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 201
    assert run("portal", "remove", "Klinikkens hjemmeside").exit_code == 0
    gone = anon.post("/api/patient/requests", json=body, headers={"Authorization": f"Bearer {key}"})
    assert gone.status_code == 401
