"""The guide for new GPs on the clinic's pages (seed 004, issue 23): the "Vejviser" page,
its links to what almen computes for the clinic, and the local-agreement lines."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from almen.guide import CONCEPTS, load_guide
from tests.web.conftest import Site


class _Links(HTMLParser):
    """Every <a href> and every id on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        if d.get("id"):
            self.ids.add(str(d["id"]))
        if tag == "a" and d.get("href"):
            self.hrefs.append(str(d["href"]))


def _parse(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


@pytest.mark.parametrize("user", ["klinik", "nat"])
def test_every_link_of_the_vejviser_resolves_for_the_demo_clinic(
    site: Site, as_user, user: str
) -> None:  # type: ignore[no-untyped-def]
    """Seed 004 §2.5, §5.1-5.3: the page lists the bodies of the clinic's region, each
    concept almen computes links to the clinic's own page for it (§ 96 → its statement,
    Ydelsesoverblik → its service overview, afregning → its statements, lokale aftaler →
    the local lines of its statements, kvalitetsklynge → its cluster's indicators), and
    every link inside almen answers 200 with the anchor it points at on the page."""
    u = as_user(user)
    r = u.http.get(f"/clinic/{site.clinic}/vejviser")
    assert r.status_code == 200, r.text
    page = _parse(r.text)
    concept_links = re.findall(r'<a class="concept" href="([^"]+)"', r.text)
    assert len(set(concept_links)) == len(CONCEPTS)
    inside = {h for h in page.hrefs if h.startswith("/")}
    assert set(concept_links) <= inside
    seen: dict[str, _Links] = {}
    for href in sorted(inside):
        parts = urlsplit(href)
        if parts.path not in seen:
            got = u.http.get(parts.path + (f"?{parts.query}" if parts.query else ""))
            assert got.status_code == 200, (href, got.status_code)
            seen[parts.path] = _parse(got.text)
        if parts.fragment:
            assert parts.fragment in seen[parts.path].ids, href
    outside = [h for h in page.hrefs if not h.startswith(("/", "?", "#"))]
    assert outside and all(h.startswith(("http://", "https://")) for h in outside)
    # a clinic outside Region Hovedstaden: PLO-R in general, its details unknown
    assert site.region != "Region Hovedstaden"
    assert "PLO-Regionalt (PLO-R)" in _row(r.text, "plo_r") and "kendes ikke" in _row(
        r.text, "plo_r"
    )
    assert 'id="body-kap_h"' not in r.text  # Hovedstaden's own consultancy scheme
    if user == "klinik":
        assert f'href="/clinic/{site.clinic}#quality"' in r.text
    else:
        assert f'href="/cluster/{site.cluster}"' in r.text


def _row(html: str, body: str) -> str:
    start = html.index(f'id="body-{body}"')
    return html[start : html.index("</tr>", start)]


def test_a_clinic_in_hovedstaden_reads_the_seeds_details(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Seed 004 §2.2, §3.1, §8: in Region Hovedstaden the guide names PLO-Hovedstaden,
    Center for Sundhed with its telephone, and KAP-H."""
    import polars as pl

    from almen import population
    from almen.warehouse import Warehouse

    with Warehouse.connect(site.data, read_only=True) as wh:
        areas = population.clinic_areas(wh)
    pn = areas.filter(pl.col("region") == "Region Hovedstaden")["provider_number"].sort()[0]
    r = as_user("nat").http.get(f"/clinic/{pn}/vejviser")
    assert r.status_code == 200
    assert "PLO-Hovedstaden" in _row(r.text, "plo_r") and "kendes ikke" not in r.text
    assert "38 66 50 00" in _row(r.text, "region_practice_office")
    assert 'id="body-kap_h"' in r.text


def test_the_vejviser_is_for_who_may_see_the_clinic(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    assert as_user("klinik").http.get(f"/clinic/{site.other_clinic}/vejviser").status_code == 403
    assert as_user("klynge").http.get(f"/clinic/{site.clinic}/vejviser").status_code == 403
    assert as_user(None).http.get(f"/api/clinics/{site.clinic}/guide").status_code == 401


def test_the_guide_download_and_api_hold_every_body_with_its_pages(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """The page's table leaves whole as a file, and the API gives the same rows with the
    pages of their concepts; ``/api/guide`` filters by region and topic."""
    u = as_user("klinik")
    csv = u.http.get(f"/clinic/{site.clinic}/vejviser?_download=guide&format=csv")
    assert csv.status_code == 200 and csv.text.startswith("id,topic,name")
    body = u.http.get(f"/api/clinics/{site.clinic}/guide").json()
    assert body["clinic"]["region"] == site.region
    assert len(csv.text.strip().splitlines()) == len(body["bodies"]) + 1
    s96 = next(b for b in body["bodies"] if b["id"] == "s96")
    assert s96["pages"] == f"/clinic/{site.clinic}/s96" == body["concept_pages"]["s96"]
    g = load_guide()
    elsewhere = u.http.get("/api/guide", params={"region": "Nordjylland"}).json()["bodies"]
    only_h = {b.id for b in g.bodies if b.scope == "hovedstaden"}
    assert elsewhere and not {b["id"] for b in elsewhere} & only_h
    topic = u.http.get("/api/guide", params={"topic": "agreement", "lang": "en"}).json()
    assert {b["topic"] for b in topic["bodies"]} == {"agreement"}
    assert u.http.get("/api/guide", params={"topic": "golf"}).status_code == 422


def test_local_agreement_lines_add_up_to_the_statements(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Seed 004 §5.1: local agreements are paid outside the frame and § 96; the lines the
    clinic page lists (by month and service) sum, month by month, to the statement's
    local column in the settled run (the same checked claims and category: a check that
    the split keeps every accepted line and no returned one)."""
    u = as_user("klinik")
    lines = u.http.get(f"/api/clinics/{site.clinic}/local-agreements").json()["lines"]
    months = u.http.get(f"/api/clinics/{site.clinic}/settlement").json()["months"]
    by_month: dict[str, float] = {}
    for line in lines:
        by_month[line["month"]] = by_month.get(line["month"], 0.0) + line["dkk"]
    assert lines and all(line["service_code"].startswith("L") for line in lines)
    for m in months:
        assert by_month.get(m["month"], 0.0) == pytest.approx(m["local_dkk"]), m["month"]
    page = u.http.get(f"/clinic/{site.clinic}?_download=local&format=csv")
    assert len(page.text.strip().splitlines()) == len(lines) + 1


def test_almen_guide_names_a_command_for_each_concept_and_each_runs(
    site: Site, tmp_path, call_cli
) -> None:  # type: ignore[no-untyped-def]
    """`almen guide --clinic`: the clinic's region from the warehouse, and for each concept
    the command that computes it for the clinic; every one of them runs on the demo data.
    `almen statements --local` lists the local lines that add up to the statements."""
    import json
    import shlex
    import shutil

    data = tmp_path / "data"
    shutil.copytree(site.data, data)
    r = call_cli("--data", str(data), "guide", "--clinic", site.clinic, "--format", "json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    bodies = body["parts"]["guide"]
    assert body["meta"]["region"] == site.region
    commands = {c for b in bodies for c in b["command"].split("; ") if c}
    assert len(commands) == len(CONCEPTS)
    for command in sorted(commands):
        args = shlex.split(command)
        assert args[0] == "almen"
        assert site.clinic in command or f"--cluster {site.cluster}" in command
        got = call_cli("--data", str(data), *args[1:], "--format", "json")
        assert got.exit_code == 0, (command, got.output[-500:])
    got = call_cli("--data", str(data), "statements", "--year", "2025", "--clinic", site.clinic,
                   "--local", "--format", "json")  # fmt: skip
    parts = json.loads(got.output)["parts"]
    local: dict[str, float] = {}
    for line in parts["local"]:
        local[line["month"]] = local.get(line["month"], 0.0) + line["dkk"]
    assert local and all(
        local.get(m["month"], 0.0) == pytest.approx(m["local_dkk"]) for m in parts["statement"]
    )
    # no region of that name; a clinic that is not there: exit 2, one line
    bad = call_cli("--data", str(data), "guide", "--region", "Atlantis")
    assert bad.exit_code == 2 and "the regions are" in bad.output
    bad = call_cli("--data", str(data), "guide", "--clinic", "000000")
    assert bad.exit_code == 2 and "no clinic 000000" in bad.output
