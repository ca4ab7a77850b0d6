"""Browser tests (issue 7): Playwright driving Debian's Chromium, headless, against the
app served on loopback. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.web.conftest import PASSWORD, Site, role_pages

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make browser)"
)


@pytest.fixture(scope="module")
def base_url(site: Site) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(site.app, host="127.0.0.1", port=port, log_level="warning")
    )  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def _login(browser, base_url: str, user: str, width: int = 1280):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _charts_rendered(page) -> int:  # type: ignore[no-untyped-def]
    """Every chart div rendered an SVG with data; returns how many."""
    charts = page.locator("div.chart")
    n = charts.count()
    for i in range(n):
        div = charts.nth(i)
        div.locator("svg.main-svg").first.wait_for(timeout=15_000)
        assert div.get_attribute("data-rendered") == "1"
        assert div.locator("g.trace, g.barlayer .point, path.js-line").count() > 0
    return n


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(
    ("user", "title"),
    [("nat", "Danmark"), ("reg", "Region"), ("klynge", "Klynge"), ("klinik", "Klinik")],
)
def test_each_role_logs_in_and_sees_its_page(
    browser, base_url: str, site: Site, user: str, title: str
) -> None:  # type: ignore[no-untyped-def]
    page = _login(browser, base_url, user)
    assert title in page.locator("h1").inner_text()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    n = _charts_rendered(page)
    assert n >= 1
    _shot(page, f"home-{user}")
    assert not errors
    page.close()


def test_national_pages_and_a_fee_scenario(browser, base_url: str, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _login(browser, base_url, "nat")
    page.goto(f"{base_url}/region/{site.region}")
    assert _charts_rendered(page) >= 2
    _shot(page, "region-by-national")
    page.click(f'a[href="/council/{site.council}"]')
    page.wait_for_load_state("networkidle")
    assert "Sundhedsråd" in page.locator("h1").inner_text()
    assert _charts_rendered(page) == 3  # coverage, free choice and the map
    _shot(page, "health-council")
    page.goto(f"{base_url}/fees")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.locator("#result").wait_for()
    assert _charts_rendered(page) == 1
    assert page.locator("table").count() >= 2
    _shot(page, "fee-scenario")
    scenario = b'name = "Uploaded"\n[change_percent]\n"0120" = 5.0\n'
    page.set_input_files("input[name=upload]", files=[
        {"name": "upload.toml", "mimeType": "text/plain", "buffer": scenario}])  # fmt: skip
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#result").inner_text() == "Uploaded"
    assert _charts_rendered(page) == 1
    page.close()


def test_clinic_edits_a_care_plan(browser, base_url: str, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _login(browser, base_url, "klinik")
    page.goto(f"{base_url}/clinic/{site.clinic}/patient/{site.patient}")
    page.fill("input[name=title]", "Forløbsplan for diabetes")
    page.fill("textarea[name=description]", "Årskontrol hos sygeplejersken i marts")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    # the new plan's own page: a draft, edited in its form (issue 20)
    assert "Forløbsplan for diabetes" in page.locator("#plan h2").inner_text()
    assert page.locator("#plan-status").inner_text() == "Kladde"
    page.select_option("#plan-form select[name=status]", "active")
    page.fill("#plan-form textarea[name=goals]", "HbA1c under 53 | active | 2027-03-01")
    page.click("#plan-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#plan-status").inner_text() == "Aktiv"
    assert "HbA1c under 53" in page.locator("#goals").inner_text()
    assert page.locator("#table-history tbody tr").count() == 2
    _shot(page, "care-plan-edited")
    page.goto(f"{base_url}/clinic/{site.clinic}/patient/{site.patient}")
    assert "Forløbsplan for diabetes" in page.locator("#careplans").inner_text()
    _shot(page, "care-plan-saved")
    page.goto(f"{base_url}/clinic/{site.other_clinic}")
    assert "Ingen adgang" in page.content()  # the Danish error page, not raw JSON
    page.close()


def test_clinic_triages_a_request_and_marks_it_done(browser, base_url: str, site: Site) -> None:  # type: ignore[no-untyped-def]
    page = _login(browser, base_url, "klinik")
    page.goto(f"{base_url}/clinic/{site.clinic}")
    page.fill("#new-request input[name=patient_id]", str(site.patient))
    page.select_option("#new-request select[name=reason]", "chest_pain")
    page.click("#new-request button[type=submit]")
    page.wait_for_load_state("networkidle")
    flash = page.locator("#flash").inner_text()
    assert "Akut" in flash and "Brystsmerter" in flash  # codes in Danish
    rid = flash.split()[1].rstrip(":")
    row = page.locator(f'#inbox-table tr[data-id="{rid}"]')
    assert "Akut" in row.inner_text()
    _shot(page, "inbox-triaged")
    row.locator("button.done").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(f'#inbox-table tr[data-id="{rid}"]').count() == 0
    page.close()


def test_english_is_available(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page = _login(browser, base_url, "nat")
    page.goto(f"{base_url}/national?lang=en")
    assert "Citizens without free choice" in page.content()
    page.close()


def test_charts_speak_danish(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 item 1: axes with whole numbers and Danish separators (no "2k", "40M"),
    Danish month names (no "Jan 2025")."""
    import re

    page = _login(browser, base_url, "nat")
    _charts_rendered(page)
    ticks = page.eval_on_selector_all(
        "g.xtick text, g.ytick text, g.y2tick text", "els => els.map(e => e.textContent || '')"
    )
    assert ticks
    assert [t for t in ticks if re.search(r"\d[kMGB]$", t)] == []
    english = r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
    assert [t for t in ticks if re.match(english, t)] == []
    assert [t for t in ticks if re.search(r"\d,\d{3}\b", t)] == []  # no English thousands
    assert any(re.search(r"\d\.\d{3}", t) for t in ticks)  # Danish thousands are there
    years = page.eval_on_selector_all(
        'div[data-figure="fig-workforce"] g.xtick text', "els => els.map(e => e.textContent || '')"
    )
    assert "2030" in years and "2.030" not in years  # a year is not a thousand
    page.close()


def test_api_docs_work_under_the_csp(browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 item 3: /docs is Swagger UI served by the app itself; it renders the
    spec with no script from elsewhere and nothing refused by the CSP."""
    page = browser.new_page()
    refused: list[str] = []
    outside: list[str] = []
    page.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None)
    page.goto(f"{base_url}/docs")
    page.locator(".swagger-ui .info .title").wait_for(timeout=15_000)
    assert "almen" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 20  # the routes are listed
    _shot(page, "api-docs")
    assert refused == [] and outside == []
    page.goto(f"{base_url}/redoc")
    assert page.url.endswith("/docs")
    page.close()


@pytest.mark.parametrize("user", ["nat", "reg", "klynge", "klinik"])
def test_axe_finds_no_serious_or_critical_violation(browser, base_url: str, site: Site,
                                                    user: str) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """Issue 17 item 6: axe-core (from axe-playwright-python) on every page each role
    sees, and on the login page: no violation of impact serious or critical."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    page = _login(browser, base_url, user)
    found: dict[str, list[str]] = {}
    paths = role_pages(site)[user] + (["/login"] if user == "nat" else [])
    for path in paths:
        page.goto(f"{base_url}{path}")
        page.wait_for_load_state("networkidle")
        res = axe.run(page).response
        bad = [f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']}"
               for v in res["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip
        if bad:
            found[path] = bad
    assert found == {}
    page.close()


def test_axe_catches_a_known_violation(browser) -> None:  # type: ignore[no-untyped-def]
    """The check above is not empty: axe reports an image without alt text and a
    button without a name as critical."""
    from axe_playwright_python.sync_playwright import Axe

    page = browser.new_page()
    page.set_content(
        '<html lang="da"><title>t</title><main><img src="data:,"><button></button></main></html>'
    )
    res = Axe().run(page).response
    critical = {v["id"] for v in res["violations"] if v["impact"] == "critical"}
    assert {"image-alt", "button-name"} <= critical
    page.close()


def test_the_map_draws_every_municipality_and_clicks_through(
    browser, base_url: str, site: Site
) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 item 2: a choropleth of the shipped DAGI boundaries on the national page
    (every municipality with data drawn, nothing fetched from elsewhere), hover values,
    and a click through to the municipality's health council."""
    page = _login(browser, base_url, "nat")
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None)
    page.goto(f"{base_url}/national")
    areas = page.locator('div[data-figure="fig-map"] path.choroplethlocation')
    areas.first.wait_for(timeout=15_000)
    fig = page.eval_on_selector("script#fig-map", "e => JSON.parse(e.textContent)")
    assert areas.count() == len(fig["data"][0]["locations"]) > 0
    assert outside == []
    _shot(page, "map-national")
    # click where Plotly shows a municipality's hover label (the centre of an area's
    # box may be sea between islands): the first such point of a grid over the map
    r = page.locator('div[data-figure="fig-map"]').bounding_box()
    spot = None
    for fy in (0.35, 0.45, 0.55, 0.65, 0.4, 0.5, 0.6):
        for fx in (0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
            x, y = r["x"] + fx * r["width"], r["y"] + fy * r["height"]
            page.mouse.move(x, y)
            page.wait_for_timeout(60)
            if page.locator('div[data-figure="fig-map"] g.hovertext').count():
                spot = (x, y)
                break
        if spot:
            break
    assert spot is not None
    page.mouse.click(spot[0], spot[1])
    page.wait_for_url("**/council/**", timeout=10_000)
    assert "Sundhedsråd" in page.locator("h1").inner_text()
    assert page.locator('div[data-figure="fig-map"]').count() == 1
    page.close()


WIDTHS = (390, 1366)  # a phone (iPhone 12-15) and a common laptop


@pytest.mark.parametrize("user", ["nat", "reg", "klynge", "klinik"])
def test_every_page_of_each_role_fits_a_phone_and_a_laptop(
    browser, base_url: str, site: Site, user: str
) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 item 5: at 390 and 1,366 px no page scrolls sideways, no card is wider
    than the screen, and a table either fits or scrolls inside its own box (reachable by
    keyboard); at 390 px table rows stack as cards. A screenshot of every page of each
    role at both widths."""
    for width in WIDTHS:
        page = _login(browser, base_url, user, width)
        for path in role_pages(site)[user]:
            page.goto(f"{base_url}{path}")
            page.wait_for_load_state("networkidle")
            _charts_rendered(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
            wide = page.evaluate("""() => Array.from(document.querySelectorAll('.card, main > *'))
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .map(e => e.className || e.tagName)""")
            assert wide == [], (path, width, wide)
            clipped = page.evaluate("""() => Array.from(document.querySelectorAll('.table-wrap'))
                .filter(w => w.scrollWidth > w.clientWidth + 1 &&
                        (getComputedStyle(w).overflowX !== 'auto' || w.tabIndex !== 0))
                .length""")
            assert clipped == 0, (path, width)
            app_page = page.locator('link[href="/static/style.css"]').count() == 1
            if width == 390 and app_page and page.locator(".table-wrap td").count():
                shown = page.evaluate(
                    "getComputedStyle(document.querySelector('.table-wrap tr')).display"
                )
                assert shown == "block", path  # rows as cards (the printable § 96 scrolls)
            slug = path.strip("/").replace("/", "-").replace(" ", "_") or "home"
            _shot(page, f"{user}-{width}-{slug}")
        page.close()


def test_a_bar_opens_the_area_behind_it_and_the_map_switches_layers(
    browser, base_url: str, site: Site
) -> None:  # type: ignore[no-untyped-def]
    """Issue 17 items 2 and 5: on the region page a click on a municipality's bar opens
    its health council; the map's buttons show the free-choice and underserved layers."""
    page = _login(browser, base_url, "reg")
    page.goto(f"{base_url}/region/{site.region}")
    page.wait_for_load_state("networkidle")
    _charts_rendered(page)
    tallest = page.locator('div[data-figure="fig-cov"] g.point path').last
    tallest.scroll_into_view_if_needed()
    bar = tallest.bounding_box()
    page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] * 0.7)
    page.wait_for_timeout(100)  # Plotly's drag layer takes the click and reports the bar
    page.mouse.click(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] * 0.7)
    page.wait_for_url("**/council/**", timeout=10_000)
    assert "Sundhedsråd" in page.locator("h1").inner_text()
    page.goto(f"{base_url}/region/{site.region}")
    page.wait_for_load_state("networkidle")
    _charts_rendered(page)
    buttons = page.locator('div[data-figure="fig-map"] g.updatemenu-button')
    assert buttons.count() == 3
    for i in (2, 1):
        buttons.nth(i).click()
        page.wait_for_timeout(300)
        visible = page.evaluate("""() => document.querySelector('div[data-figure="fig-map"]')
            .data.map(t => t.visible !== false)""")
        assert visible == [j == i for j in range(3)], i
        assert page.locator('div[data-figure="fig-map"] path.choroplethlocation').count() > 0
    _shot(page, "map-region-layers")
    page.close()
