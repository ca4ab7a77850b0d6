"""Pages that guide (issue 17 item 5): Danish error pages, filters for year and region,
chart bars that click through; and the map's layers (item 2)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import ibis
import polars as pl
import pytest
from fastapi.testclient import TestClient

from almen.reference import load_underserved
from almen.warehouse import Warehouse
from almen.web.demo import settle_demo_year
from almen.web.pages import UNDER
from tests.web.conftest import PASSWORD, Site, build_site


def _figure(html: str, fig_id: str) -> dict:  # type: ignore[type-arg]
    m = re.search(rf'<script type="application/json" id="{fig_id}">(.*?)</script>', html, re.S)
    assert m, fig_id
    return json.loads(m.group(1).replace("<\\/", "</"))  # type: ignore[no-any-return]


def test_page_errors_are_danish_pages_and_api_errors_stay_json(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Before: a 403, 404 or stale form on a page was raw JSON. Now a page in the user's
    language that says what happened and the way on; the API answers JSON as before."""
    u = as_user("klinik")
    cases = {
        f"/clinic/{site.other_clinic}": (403, "Ingen adgang"),
        "/no/such/page": (404, "Siden findes ikke"),
        "/region/Region%20Atlantis": (403, "Ingen adgang"),  # a clinic user sees no region
    }
    for path, (status, title) in cases.items():
        r = u.http.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert f"<h1>{title}</h1>" in r.text and "Til forsiden" in r.text, path
        assert '"detail"' not in r.text
    stale = u.http.post(f"/clinic/{site.clinic}/inbox",
                        data={"patient_id": str(site.patient), "reason": "rash",
                              "csrf": "an-old-token"},
                        headers={"referer": f"http://testserver/clinic/{site.clinic}"})  # fmt: skip
    assert stale.status_code == 403 and "Formularen er udløbet" in stale.text
    assert f'href="/clinic/{site.clinic}"' in stale.text  # back to the form's page
    bad = u.http.post(f"/clinic/{site.clinic}/inbox", data={"patient_id": "abc", "csrf": u.csrf})
    assert bad.status_code == 422 and "Oplysningerne kan ikke bruges" in bad.text
    en = u.http.get(f"/clinic/{site.other_clinic}?lang=en")
    assert "No access" in en.text and "outside your scope" in en.text
    u.http.get("/?lang=da")
    api = u.http.get(f"/api/clinics/{site.other_clinic}/settlement")
    assert api.status_code == 403 and api.json() == {"detail": "this clinic is outside your scope"}
    assert u.http.get("/api/no-such-route").json() == {"detail": "Not Found"}


def test_the_national_page_filters_by_region(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    nat = as_user("nat")
    whole = _figure(nat.http.get("/national").text, "fig-map")["data"][0]["locations"]
    r = nat.http.get("/national", params={"region": site.region})
    assert r.status_code == 200 and f"<h1>{site.region}</h1>" in r.text
    mine = _figure(r.text, "fig-map")["data"][0]["locations"]
    with Warehouse.connect(site.data, read_only=True) as wh:
        m = wh.read_table("municipality").select("code", "region").to_polars()
    in_region = set(m.filter(pl.col("region") == site.region)["code"].to_list())
    assert mine and set(mine) <= in_region and len(mine) < len(whole)
    assert f'<option value="{site.region}" selected>' in r.text
    assert nat.http.get("/national", params={"region": "Region Atlantis"}).status_code == 404


def test_bars_carry_the_link_to_the_area_or_clinic_behind_them(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """A municipality's bar opens its health council, a clinic's bar its clinic page
    (``charts.js`` follows ``customdata`` links); a cluster user, who has no clinic
    pages, gets no links."""
    with Warehouse.connect(site.data, read_only=True) as wh:
        m = wh.read_table("municipality").select("name", "health_council").to_polars()
    council = dict(m.iter_rows())
    nat = as_user("nat")
    bars = _figure(nat.http.get("/national").text, "fig-need")["data"][0]
    assert len(bars["x"]) == len(bars["customdata"]) > 0
    assert all(link == f"/council/{council[name]}"
               for name, link in zip(bars["x"], bars["customdata"], strict=True))  # fmt: skip
    reg = _figure(as_user("reg").http.get(f"/region/{site.region}").text, "fig-cov")
    assert all(link.startswith("/council/") for link in reg["data"][0]["customdata"])
    ind = _figure(nat.http.get(f"/cluster/{site.cluster}").text, "fig-ind")["data"]
    assert all(link == f"/clinic/{x}" for t in ind
               for x, link in zip(t["x"], t["customdata"], strict=True))  # fmt: skip
    kl = _figure(as_user("klynge").http.get(f"/cluster/{site.cluster}").text, "fig-ind")
    assert all(link is None for t in kl["data"] for link in t["customdata"])


def test_the_map_has_layers_for_free_choice_and_underserved_municipalities(
    site: Site, as_user
) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 item 2: need against capacity, citizens without free choice and
    underserved municipalities — measured (capacity below 90 % of need), on PLO's 2019
    list, or both — as three layers with a button each."""
    nat = as_user("nat")
    fig = _figure(nat.http.get("/national").text, "fig-map")
    ratio, free, under = fig["data"]
    assert [t.get("visible", True) for t in fig["data"]] == [True, False, False]
    assert len(fig["layout"]["updatemenus"][0]["buttons"]) == 3
    plo = set(load_underserved()["code"].to_list())
    for code, r, kind in zip(ratio["locations"], ratio["z"], under["z"], strict=True):
        assert kind == (r < UNDER) + 2 * (code in plo), code
    assert {0, 1, 2, 3} >= set(under["z"]) and len(set(under["z"])) >= 2
    assert free["locations"] == ratio["locations"] and min(free["z"]) >= 0
    labels = [b["label"] for b in fig["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["Kapacitet mod behov", "Borgere uden frit lægevalg",
                      "Underforsynede kommuner"]  # fmt: skip
    assert "lægedækningstruede" in under["colorbar"]["ticktext"][2]


@pytest.fixture
def two_years(site: Site, tmp_path: Path) -> Site:
    """A copy of the site with 2024 settled as well: January 2025's claims a year earlier
    (new claim ids), settled with the rest of 2024."""
    data = tmp_path / "data"
    shutil.copytree(site.data, data)
    with Warehouse.connect(data) as wh:
        t = wh.read_table("claim")
        jan = t.filter(t.settlement_month == dt.date(2025, 1, 1))
        year = ibis.interval(years=1)
        wh.append_table("claim", jan.mutate(
            claim_id=jan.claim_id + t.claim_id.max().execute(),
            service_date=jan.service_date - year, settlement_month=jan.settlement_month - year,
        ).to_pyarrow())  # fmt: skip
        assert settle_demo_year(wh, 2024)
    return build_site(data)


def test_a_year_can_be_chosen_where_more_than_one_is_settled(site: Site, two_years: Site) -> None:
    """The header offers the settled years (only when there is more than one); the choice
    is kept in the session like the language; a year without statements is a 404."""
    one = TestClient(site.app)  # type: ignore[arg-type]
    one.post("/api/login", json={"username": "klinik", "password": PASSWORD})
    assert 'name="year"' not in one.get(f"/clinic/{site.clinic}").text
    http = TestClient(two_years.app)  # type: ignore[arg-type]
    http.post("/api/login", json={"username": "klinik", "password": PASSWORD})
    page = http.get(f"/clinic/{two_years.clinic}").text
    assert '<option value="2024">' in page and '<option value="2025" selected>' in page
    y24 = http.get(f"/clinic/{two_years.clinic}", params={"year": 2024}).text
    assert '<option value="2024" selected>' in y24
    months = _figure(y24, "fig-months")["data"][0]["x"]
    assert months and all(m.startswith("2024-") for m in months)
    again = http.get(f"/clinic/{two_years.clinic}").text  # kept in the session
    assert all(m.startswith("2024-") for m in _figure(again, "fig-months")["data"][0]["x"])
    assert http.get(f"/clinic/{two_years.clinic}", params={"year": 1999}).status_code == 404
    back = http.get(f"/clinic/{two_years.clinic}", params={"year": 2025}).text
    assert all(m.startswith("2025-") for m in _figure(back, "fig-months")["data"][0]["x"])
