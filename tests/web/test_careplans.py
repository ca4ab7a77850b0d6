"""Care plans on the web (issue 20 items 2-4): edited on the patient's plan page and
through the API, every change kept, shared with a named professional who reads that plan
and nothing else, every read in the clinic's access log, and out and in as FHIR.

Seed 002 §8.2: "en samlet og tilpasset behandlingsplan for patienten, som kan deles med
andre sundhedsprofessionelle".
"""

from __future__ import annotations

from typing import Any

import polars as pl
from fastapi.testclient import TestClient

from almen import fhir
from tests.web.conftest import Site
from tests.web.test_api import ROUTES, _url

PLAN = {
    "title": "Fælles plan for KOL",
    "description": "Aftalt med patienten",
    "status": "draft",
    "author": "Læge Hansen",
    "care_team": [{"name": "Anne Holm", "role": "hjemmesygeplejerske"}],
    "goals": [{"description": "Ingen indlæggelser", "status": "proposed", "due": "2026-12-31"}],
    "activities": [
        {"description": "Inhalationsteknik", "status": "scheduled", "performer": "Anne Holm"}
    ],
    "addresses": ["R95"],
    "period_start": "2026-01-01",
}


def _login(site: Site, username: str, password: str) -> tuple[TestClient, str]:
    http = TestClient(site.app)  # type: ignore[arg-type]
    r = http.post("/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return http, r.json()["csrf"]


def _new_plan(as_user: Any, site: Site) -> tuple[Any, dict[str, Any]]:
    u = as_user("klinik")
    r = u.http.post(f"/api/patients/{site.patient}/careplans", json=PLAN,
                    headers={"X-CSRF-Token": u.csrf})  # fmt: skip
    assert r.status_code == 201, r.text
    return u, r.json()


def test_the_api_changes_a_plan_and_keeps_every_version(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    u, plan = _new_plan(as_user, site)
    h = {"X-CSRF-Token": u.csrf}
    pid = plan["id"]
    r = u.http.patch(f"/api/careplans/{pid}", json={"status": "active"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = u.http.patch(f"/api/careplans/{pid}", headers=h, json={
        "goals": [{"description": "Ingen indlæggelser", "status": "active"}]})  # fmt: skip
    assert r.json()["goals"][0]["status"] == "active" and r.json()["author"] == "Læge Hansen"
    hist = u.http.get(f"/api/careplans/{pid}/history").json()["items"]
    assert [x["changed"] for x in hist] == [[], ["status"], ["goals"]]
    assert (
        u.http.patch(f"/api/careplans/{pid}", json={"status": "done"}, headers=h).status_code == 422
    )
    bad = u.http.patch(f"/api/careplans/{pid}", headers=h,
                       json={"activities": [{"description": "x", "status": "soon"}]})  # fmt: skip
    assert bad.status_code == 422 and "activity 1: status" in bad.json()["detail"]
    assert u.http.patch(f"/api/careplans/{pid}", json={"status": "completed"}, headers=h).is_success
    closed = u.http.patch(f"/api/careplans/{pid}", json={"title": "Ny"}, headers=h)
    assert closed.status_code == 422 and "closed" in closed.json()["detail"]
    assert u.http.patch(f"/api/careplans/{pid}", json={"status": "active"}).status_code == 403
    assert as_user("nat").http.get(f"/api/careplans/{pid}").status_code == 403


def test_the_plan_page_edits_the_plan_from_its_form(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    u, plan = _new_plan(as_user, site)
    page = u.http.get(f"/careplan/{plan['id']}")
    assert page.status_code == 200 and 'id="plan-form"' in page.text and "Kladde" in page.text
    form = {"csrf": u.csrf, "title": "Fælles plan for KOL", "status": "on-hold",
            "goals": "Gå dagligt | active | 2026-06-01\nIngen indlæggelser | proposed |",
            "activities": "Spirometri | completed | Anne Holm",
            "care_team": "Anne Holm | hjemmesygeplejerske\nDr. Berg | lungelæge",
            "addresses": "r95, k77", "period_start": "2026-01-01", "period_end": ""}  # fmt: skip
    r = u.http.post(f"/careplan/{plan['id']}", data=form, follow_redirects=False)
    assert r.status_code == 303
    got = u.http.get(f"/api/careplans/{plan['id']}").json()
    assert got["status"] == "on-hold" and got["addresses"] == ["R95", "K77"]
    assert [g["due"] for g in got["goals"]] == ["2026-06-01", None]
    assert got["care_team"][1] == {"name": "Dr. Berg", "role": "lungelæge"}
    assert "Sat i bero" in u.http.get(f"/careplan/{plan['id']}").text
    form["goals"] = "Gå | someday |"
    u.http.post(f"/careplan/{plan['id']}", data=form)
    assert u.http.get(f"/api/careplans/{plan['id']}").json()["version"] == got["version"]
    listing = u.http.get(f"/clinic/{site.clinic}/patient/{site.patient}").text
    assert f'href="/careplan/{plan["id"]}"' in listing


def test_a_shared_professional_reads_that_plan_only_and_every_read_is_logged(
    site: Site, as_user
) -> None:  # type: ignore[no-untyped-def]
    """Item 3: the clinic shares one plan with a municipal nurse; she reads it (JSON,
    FHIR, page), gets 403 everywhere else, the clinic sees her reads in its access log,
    and when the clinic ends the share she can no longer read it."""
    u, plan = _new_plan(as_user, site)
    _u2, other = _new_plan(as_user, site)
    h = {"X-CSRF-Token": u.csrf}
    r = u.http.post(f"/api/careplans/{plan['id']}/shares", headers=h,
                    json={"username": "sygeplejerske.aarhus", "name": "Anne Holm"})  # fmt: skip
    assert r.status_code == 201, r.text
    nurse, _csrf = _login(site, "sygeplejerske.aarhus", r.json()["password"])
    assert nurse.get(f"/api/careplans/{plan['id']}").json()["title"] == PLAN["title"]
    bundle = nurse.get(f"/api/careplans/{plan['id']}/fhir").json()
    assert fhir.bundle_problems(bundle) == []
    assert nurse.get(f"/careplan/{plan['id']}").status_code == 200
    assert 'id="plan-form"' not in nurse.get(f"/careplan/{plan['id']}").text
    assert nurse.get("/", follow_redirects=False).headers["location"] == f"/careplan/{plan['id']}"
    assert nurse.get(f"/api/careplans/{other['id']}").status_code == 403
    assert nurse.patch(f"/api/careplans/{plan['id']}", json={"status": "active"}).status_code == 403
    assert nurse.get(f"/api/careplans/{plan['id']}/shares").status_code == 403
    for route in ROUTES:
        assert nurse.get(_url(site, route)).status_code == 403, route
    assert nurse.get(f"/api/patients/{site.patient}").status_code == 403
    audit = pl.read_csv(u.http.get(f"/api/clinics/{site.clinic}/audit?format=csv").content)
    reads = audit.filter(pl.col("username") == "sygeplejerske.aarhus")
    assert {"care plan read", "care plan read (FHIR)"} <= set(reads["what"])
    assert set(map(str, reads["patient_id"])) == {str(site.patient)}
    shares = u.http.get(f"/api/careplans/{plan['id']}/shares").json()["items"]
    assert [s["username"] for s in shares] == ["sygeplejerske.aarhus"]
    end = u.http.delete(f"/api/careplans/{plan['id']}/shares/sygeplejerske.aarhus", headers=h)
    assert end.status_code == 200
    assert nurse.get(f"/api/careplans/{plan['id']}").status_code == 401
    taken = u.http.post(f"/api/careplans/{plan['id']}/shares", headers=h,
                        json={"username": "klinik"})  # fmt: skip
    assert taken.status_code == 422


def test_a_plan_goes_out_as_fhir_and_comes_back_through_the_api(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Item 4 over HTTP: export, import for the same patient, the meaningful fields equal."""
    u, plan = _new_plan(as_user, site)
    bundle = u.http.get(f"/api/careplans/{plan['id']}/fhir").json()
    r = u.http.post(f"/api/patients/{site.patient}/careplans/fhir", json=bundle,
                    headers={"X-CSRF-Token": u.csrf})  # fmt: skip
    assert r.status_code == 201, r.text
    again = r.json()
    for k in ("title", "status", "author", "care_team", "goals", "activities", "addresses",
              "period_start", "period_end"):  # fmt: skip
        assert again[k] == plan[k], k
    assert again["id"] != plan["id"]
    bad = u.http.post(f"/api/patients/{site.patient}/careplans/fhir", headers={"X-CSRF-Token": u.csrf},
                      json={"resourceType": "Bundle", "type": "collection", "entry": []})  # fmt: skip
    assert bad.status_code == 422 and "one is needed" in bad.json()["detail"]
