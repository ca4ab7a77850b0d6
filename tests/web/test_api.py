"""The JSON API (issue 7): every route, roles and scopes, suppression, CSRF, audit."""

from __future__ import annotations

import pytest

from almen import records
from almen.web.auth import audit_log
from tests.web.conftest import Site

ROUTES = [
    "/api/me",
    "/api/clinics",
    "/api/clinics/{clinic}/settlement",
    "/api/clinics/{clinic}/dashboard",
    "/api/clinics/{clinic}/returned",
    "/api/clinics/{clinic}/ceiling?through_month=6",
    "/api/clinics/{clinic}/overview",
    "/api/clinics/{clinic}/findings",
    "/api/clinics/{clinic}/indicators/diabetes_control/missing",
    "/api/frame",
    "/api/findings?by=cluster",
    "/api/indicators?cluster={cluster}",
    "/api/capacity/need",
    "/api/capacity/workforce?intake=350&intake=400",
    "/api/capacity/distribute?new=20",
    "/api/capacity/limits",
    "/api/ooh/plan?region={region}",
]
# which roles may use each route (all others get 403); a cluster sees its clinics'
# indicators and case-finding counts, nothing of their money or claims (issue 13)
MONEY = {"national", "region", "clinic"}
ALLOWED = {
    "/api/clinics/{clinic}/settlement": MONEY,
    "/api/clinics/{clinic}/dashboard": MONEY,
    "/api/clinics/{clinic}/returned": MONEY,
    "/api/clinics/{clinic}/ceiling?through_month=6": MONEY,
    "/api/clinics/{clinic}/overview": MONEY,
    "/api/frame": {"national", "region"},
    # issue 19: the drill-down to patients is the clinic's own
    "/api/clinics/{clinic}/indicators/diabetes_control/missing": {"clinic"},
    "/api/findings?by=cluster": {"national", "region", "cluster"},
    "/api/capacity/need": {"national", "region"},
    "/api/capacity/workforce?intake=350&intake=400": {"national", "region"},
    "/api/capacity/distribute?new=20": {"national", "region"},
    "/api/capacity/limits": {"national", "region"},
    "/api/ooh/plan?region={region}": {"national", "region"},
}
USERS = {"nat": "national", "reg": "region", "klynge": "cluster", "klinik": "clinic"}


def _url(site: Site, route: str) -> str:
    return route.format(clinic=site.clinic, cluster=site.cluster, region=site.region)


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_for_every_role(site: Site, as_user, route: str) -> None:  # type: ignore[no-untyped-def]
    anonymous = as_user(None).http.get(_url(site, route))
    assert anonymous.status_code == 401 and "detail" in anonymous.json()
    for user, role in USERS.items():
        r = as_user(user).http.get(_url(site, route))
        expected = 200 if role in ALLOWED.get(route, set(USERS.values())) else 403
        assert r.status_code == expected, (user, route, r.text[:200])
        assert r.headers["content-type"].startswith("application/json")


def test_a_cluster_reaches_no_money_or_claims_of_its_clinics(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 13 item 4: for every clinic of its cluster, the cluster role gets 403 on the
    settlement, returned claims, § 96, service overview and dashboard (API, downloads and
    the clinic page), and 200 on the clinic's case-finding counts and the indicators."""
    import polars as pl

    from almen import population
    from almen.warehouse import Warehouse

    with Warehouse.connect(site.data, read_only=True) as wh:
        areas = population.clinic_areas(wh)
    members = areas.filter(pl.col("cluster") == site.cluster)["provider_number"].to_list()
    assert len(members) >= 2
    c = as_user("klynge").http
    for p in members:
        for path in ("settlement", "settlement?format=csv", "dashboard", "returned",
                     "returned?format=csv", "ceiling", "overview", "overview?format=json"):  # fmt: skip
            r = c.get(f"/api/clinics/{p}/{path}")
            assert r.status_code == 403, (p, path, r.status_code)
        assert c.get(f"/clinic/{p}").status_code == 403
        assert c.get(f"/api/clinics/{p}/findings").status_code == 200
    assert c.get(f"/api/indicators?cluster={site.cluster}").status_code == 200


def test_a_clinic_user_gets_403_for_other_clinics_and_patients(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    c = as_user("klinik").http
    for path in ("settlement", "returned", "ceiling", "overview", "findings", "inbox"):
        assert c.get(f"/api/clinics/{site.other_clinic}/{path}").status_code == 403, path
    assert c.get(f"/api/patients/{site.patient}").status_code == 200
    assert c.get(f"/api/patients/{site.other_patient}").status_code == 403
    assert c.get(f"/api/patients/{site.other_patient}/careplans").status_code == 403
    assert c.get("/api/patients/1").status_code == 403  # not on the list (not even real)
    # and a region user cannot see another region's clinic
    assert (
        as_user("reg").http.get(f"/api/clinics/{site.other_region_clinic}/settlement").status_code
        == 403
    )
    # only clinic users see patient-level data
    assert as_user("nat").http.get(f"/api/patients/{site.patient}").status_code == 403


def test_the_patient_overview_is_fhir_and_audited(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    r = as_user("klinik").http.get(f"/api/patients/{site.patient}")
    assert r.json()["resourceType"] == "Bundle"
    log = audit_log(records.connect(site.data), site.patient)
    assert ("klinik", "patient overview (FHIR)", site.patient) in log


def test_a_cluster_user_never_sees_a_count_below_5(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    c = as_user("klynge").http
    ind = c.get(f"/api/indicators?cluster={site.cluster}").json()["rows"]
    assert ind
    for r in ind:
        for k in ("n", "x"):
            assert r[k] is None or r[k] >= 5, r
        if r["n"] is not None and r["x"] is not None:
            assert r["n"] - r["x"] >= 5 or r["x"] is None
    counts = c.get("/api/findings?by=cluster").json()["rows"]
    for r in counts:
        for k, v in r.items():
            if isinstance(v, int) and k not in ("level",):
                assert v == 0 or v >= 5, (k, v)
    for path in ("findings",):
        rows = c.get(f"/api/clinics/{site.clinic}/{path}").json()["items"]
        assert all(r["count"] is None or r["count"] == 0 or r["count"] >= 5 for r in rows)


def test_care_plan_needs_csrf_and_is_saved(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    u = as_user("klinik")
    body = {"title": "Opfølgning på KOL", "description": "Spirometri om 3 måneder"}
    no = u.http.post(f"/api/patients/{site.patient}/careplans", json=body)
    assert no.status_code == 403 and "CSRF" in no.json()["detail"]
    ok = u.http.post(f"/api/patients/{site.patient}/careplans", json=body,
                     headers={"X-CSRF-Token": u.csrf})  # fmt: skip
    assert ok.status_code == 201
    plans = u.http.get(f"/api/patients/{site.patient}/careplans").json()["items"]
    assert any(p["title"] == "Opfølgning på KOL" for p in plans)


def test_inbox_through_the_api(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    u = as_user("klinik")
    h = {"X-CSRF-Token": u.csrf}
    req = {"patient_id": site.patient, "reason": "chest_pain", "age": 60, "sex": "M"}
    r = u.http.post(f"/api/clinics/{site.clinic}/inbox", json=req, headers=h)
    assert r.status_code == 201 and r.json()["severity"] == "acute"
    rid = r.json()["id"]
    # ids as strings: a 64-bit pseudonym as a JSON number is rounded by JavaScript
    assert isinstance(rid, str) and r.json()["patient_id"] == str(site.patient)
    listed = u.http.get(f"/api/clinics/{site.clinic}/inbox").json()["items"]
    assert {i["patient_id"] for i in listed} == {str(i["patient_id"]) for i in listed}
    assert any(i["id"] == rid and i["age"] == 60 for i in listed)
    other = dict(req, patient_id=site.other_patient)
    assert (
        u.http.post(f"/api/clinics/{site.clinic}/inbox", json=other, headers=h).status_code == 403
    )
    assert u.http.post(f"/api/inbox/{rid}/assign?to=dr", headers=h).json()["status"] == "assigned"
    assert u.http.post(f"/api/inbox/{rid}/assign?to=dr2", headers=h).status_code == 409
    assert u.http.post(f"/api/inbox/{rid}/complete", headers=h).json()["status"] == "done"
    assert u.http.post(f"/api/inbox/{rid}/complete").status_code == 403  # no CSRF


def test_login_failures_and_security_headers(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    c = as_user(None).http
    bad = c.post("/api/login", json={"username": "nat", "password": "wrong password"})
    assert bad.status_code == 401
    r = as_user("nat").http.get("/api/me")
    for h in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
              "Referrer-Policy"):  # fmt: skip
        assert h in r.headers
    cookie = as_user("nat").http.post(
        "/api/login", json={"username": "nat", "password": "correct horse 1"}
    )
    assert "httponly" in cookie.headers["set-cookie"].lower()
    assert "samesite=lax" in cookie.headers["set-cookie"].lower()


def test_fee_scenario_through_the_api(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    u = as_user("nat")
    r = u.http.post("/api/fees/compare", content='name = "t"\n[change_percent]\n"0120" = 10.0\n',
                    headers={"X-CSRF-Token": u.csrf, "Content-Type": "text/plain"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["winners"] and r.json()["totals"]
    bad = u.http.post("/api/fees/compare", content='[prices]\n"9999" = 1\n',
                      headers={"X-CSRF-Token": u.csrf, "Content-Type": "text/plain"})  # fmt: skip
    assert bad.status_code == 422 and "unknown service code" in bad.json()["detail"]
    assert bad.json()["detail"].startswith("scenario:2:")  # the body's line, no temp path


def test_paging(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    c = as_user("nat").http
    a = c.get("/api/clinics?page=1&size=2").json()
    b = c.get("/api/clinics?page=2&size=2").json()
    assert len(a["items"]) == 2 and a["total"] > 2 and a["items"] != b["items"]
    assert c.get("/api/clinics?size=10000").status_code == 422


def test_pages_answer_by_role(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    pages = {
        "/national": {"national"},
        f"/region/{site.region}": {"national", "region"},
        f"/council/{site.council}": {"national", "region"},
        f"/cluster/{site.cluster}": {"national", "region", "cluster"},
        f"/clinic/{site.clinic}": {"national", "region", "clinic"},  # not the cluster (issue 13)
        f"/clinic/{site.clinic}/patient/{site.patient}": {"clinic"},
        "/fees": {"national", "region"},
    }
    for user, role in USERS.items():
        c = as_user(user).http
        for path, allowed in pages.items():
            r = c.get(path)
            assert r.status_code == (200 if role in allowed else 403), (user, path, r.status_code)
            if r.status_code == 200:
                assert r.headers["content-type"].startswith("text/html")
    assert as_user(None).http.get("/national", follow_redirects=False).status_code == 303


def test_clinic_ceiling_is_the_same_as_almen_ceiling(site, as_user) -> None:  # type: ignore[no-untyped-def]
    """The § 96 figures on the web equal `almen ceiling --year` (claims checked on
    31 December) and, for the early warning, `--as-of` the month's last day; the web
    once checked on the month's first day and left most of that month out."""
    import datetime as dt

    import polars as pl

    from almen.settlement import readers
    from almen.warehouse import Warehouse

    c = as_user("klinik")
    with Warehouse.connect(site.data, read_only=True) as wh:
        year = readers.ceiling_for_year(wh, 2025, dt.date(2025, 12, 31))
        june = readers.ceiling_for_year(wh, 2025, dt.date(2025, 6, 30))
    for query, want in (("", year), ("?through_month=6", june)):
        got = c.http.get(f"/api/clinics/{site.clinic}/ceiling{query}")
        assert got.status_code == 200, got.text
        row = want.filter(pl.col("provider_number") == site.clinic).to_dicts()[0]
        for key in ("expenditure_dkk", "expected_dkk", "standardised_ratio"):
            assert got.json()[key] == pytest.approx(row[key]), (query, key)


def test_warm_up_fills_the_shared_results_in_the_background(site) -> None:  # type: ignore[no-untyped-def]
    """`almen serve` warms the caches at start-up: /api/health (no login) shows the
    progress, every step ends ready, and the dashboard is then served from memory."""
    import os
    import time

    from fastapi.testclient import TestClient

    from almen.config import get_settings
    from almen.web import create_app

    app = create_app(get_settings(os.environ, data=site.data), warm=True)
    with TestClient(app) as http:
        deadline = time.monotonic() + 300
        while True:
            warm = http.get("/api/health").json()["warm"]
            if warm["finished"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        services = app.state.services
        assert warm["started"] and warm["finished"], warm
        assert warm["failed"] == {}
        assert set(warm["ready"]) == {name for name, _ in services.warm_steps()}
        keys = set(services.generation().cache)
        assert ("summary", 2025) in keys and ("ceiling", 2025, 12) in keys
    assert services.warm_state.finished


def test_stopping_the_app_during_the_warm_up_stops_it(site) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C while warming: the warm-up stops between (or inside) steps and the app
    closes its warehouse connection without an error."""
    import os

    from fastapi.testclient import TestClient

    from almen.config import get_settings
    from almen.web import create_app

    app = create_app(get_settings(os.environ, data=site.data), warm=True)
    with TestClient(app) as http:
        assert http.get("/api/health").status_code == 200
    services = app.state.services
    assert services._warmer is not None and not services._warmer.is_alive()
    assert not services._open and services.warm_state.finished


def test_clinic_tables_download_whole_through_the_export_module(site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 12 item 5: the API's files come from almen.export, as the CLI's --format:
    every returned line (not a page), the statements and the overview, as CSV, JSON or
    Parquet; a cluster user gets none of a clinic's money."""
    import io

    import polars as pl

    c = as_user("klinik")
    base = f"/api/clinics/{site.clinic}"
    total = c.http.get(f"{base}/returned?size=1").json()["total"]
    csv = c.http.get(f"{base}/returned?format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "returregninger-" in csv.headers["content-disposition"]
    lines = pl.read_csv(io.BytesIO(csv.content))
    assert len(lines) == total and {"rule", "reason_da", "source_line"} <= set(lines.columns)
    pq = pl.read_parquet(io.BytesIO(c.http.get(f"{base}/settlement?format=parquet").content))
    months = c.http.get(f"{base}/settlement").json()["months"]
    assert len(pq) == len(months) == 12
    assert pq["total_dkk"].sum() == sum(m["total_dkk"] for m in months)
    doc = c.http.get(f"{base}/overview?format=json").json()
    assert doc["meta"]["provider_number"] == site.clinic and doc["parts"]["overview"]
    assert c.http.get(f"{base}/overview?format=xlsx").status_code == 422


def test_the_s96_statement_is_printable_and_downloadable(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 16 item 3: the clinic's § 96 statement as the region's would show it: a
    printable Danish page with the standardisation table, and its CSV and JSON; the
    bands add up to the statement's expenditure. Another clinic's is refused."""
    c = as_user("klinik").http
    j = c.get(f"/api/clinics/{site.clinic}/s96-statement").json()
    st, bands = j["statement"], j["bands"]
    assert st["provider_number"] == site.clinic and bands
    assert sum(b["expenditure_dkk"] for b in bands) == pytest.approx(st["expenditure_dkk"])
    assert st["statement_date"] == "2026-03-31"
    csv = c.get(f"/api/clinics/{site.clinic}/s96-statement?format=csv")
    assert csv.status_code == 200 and "# bands" in csv.text
    page = c.get(f"/clinic/{site.clinic}/s96")
    assert page.status_code == 200
    assert "Standardiseringstabel" in page.text and "31. marts 2026" in page.text
    assert "s96-statement?format=csv" in page.text
    assert c.get(f"/api/clinics/{site.other_clinic}/s96-statement").status_code == 403


def test_the_clinic_drills_down_to_its_own_patients_who_miss_an_indicator(
    site: Site, as_user
) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 4: the patients in the denominator without the numerator, for the
    clinic's own user; the count is the clinic's true n − x."""
    c = as_user("klinik").http
    r = c.get(f"/api/clinics/{site.clinic}/indicators/diabetes_control/missing?size=500")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] >= len(body["items"]) > 0
    assert c.get(f"/api/clinics/{site.clinic}/indicators/nothing/missing").status_code == 404
    assert (
        c.get(f"/api/clinics/{site.other_clinic}/indicators/diabetes_control/missing").status_code
        == 403
    )
    page = as_user("klynge").http.get(f"/cluster/{site.cluster}")
    assert page.status_code == 200 and "fig-funnel-1" in page.text
    assert "Tragtdiagram" in page.text
    # the funnel flags read in Danish, never as the codes high / low / watch
    assert not any(f"<td>{f}</td>" in page.text for f in ("high", "low", "watch"))
    api = as_user("klynge").http.get(f"/api/indicators?cluster={site.cluster}").json()
    flags = {r["flag"] for r in api["rows"]}
    assert "watch" not in flags or "Uden for 95 %-grænsen" in page.text
    assert "high" not in flags or "Over grænsen (99,8 %)" in page.text


def test_the_clinic_page_links_each_indicator_to_its_drill_down_page(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Issue 19 item 4 on the web: the clinic's own page lists its indicators, each with a
    link to a page of the patients who miss it; the page lists exactly the API's
    patients, offers them as CSV, is audited, and is the clinic's own."""
    import polars as pl

    c = as_user("klinik").http
    page = c.get(f"/clinic/{site.clinic}")
    assert page.status_code == 200 and 'id="table-quality"' in page.text
    link = f"/clinic/{site.clinic}/indicators/diabetes_control/missing"
    assert link in page.text and "Kvalitetsindikatorer" in page.text
    api = c.get(f"/api/clinics/{site.clinic}/indicators/diabetes_control/missing?size=500").json()
    csv = c.get(link + "?_download=missing&format=csv")
    assert csv.status_code == 200
    listed = pl.read_csv(csv.content)
    assert sorted(map(str, listed["patient_id"])) == sorted(
        str(i["patient_id"]) for i in api["items"]
    )
    html = c.get(link + "?missing_page=all").text
    first = api["items"][0]["patient_id"]
    assert f'/clinic/{site.clinic}/patient/{first}"' in html
    audit = pl.read_csv(c.get(f"/api/clinics/{site.clinic}/audit?format=csv").content)
    seen = audit.filter(pl.col("what") == "missing:diabetes_control")
    assert set(map(str, listed["patient_id"])) <= set(map(str, seen["patient_id"]))
    for user in ("nat", "reg", "klynge"):
        assert as_user(user).http.get(link).status_code == 403, user
    assert c.get(f"/clinic/{site.clinic}/indicators/nothing/missing").status_code == 404
