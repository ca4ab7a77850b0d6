"""Issue 17 item 3: every table on a page leaves as CSV and JSON (the same rows, all of
them, not one page), and a long table says how much it shows ("50 af 190") with a way
to see all of it."""

from __future__ import annotations

import csv
import io
import re

import polars as pl

from tests.web.conftest import Site


def _table_ids(html: str) -> set[str]:
    return set(re.findall(r'href="\?_download=([^&"]+)&amp;format=csv"', html))


def test_every_table_on_the_region_and_clinic_pages_downloads_whole(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    for user, path in (("nat", f"/region/{site.region}"), ("nat", f"/cluster/{site.cluster}"),
                       ("klinik", f"/clinic/{site.clinic}")):  # fmt: skip
        u = as_user(user)
        html = u.http.get(path).text
        ids = _table_ids(html)
        assert ids, path
        assert html.count("<table") >= len(ids)
        for tid in ids:
            j = u.http.get(path, params={"_download": tid, "format": "json"})
            assert j.status_code == 200, (path, tid)
            body = j.json()
            c = u.http.get(path, params={"_download": tid, "format": "csv"})
            assert c.headers["content-type"].startswith("text/csv")
            assert "attachment" in c.headers["content-disposition"]
            lines = list(csv.DictReader(io.StringIO(c.text)))
            assert len(lines) == body["total"] == len(body["rows"]), (path, tid)
    bad = as_user("nat").http.get(f"/region/{site.region}", params={"_download": "nope"})
    assert bad.status_code == 404


def test_the_case_finding_list_pages_and_shows_all(site: Site, as_user) -> None:  # type: ignore[no-untyped-def]
    """Every patient found is reachable: the pager counts them all, the pages together
    hold them all once, and ``all`` shows them on one page."""
    u = as_user("klinik")
    path = f"/clinic/{site.clinic}"
    total = u.http.get(path, params={"_download": "findings", "format": "json"}).json()["total"]
    assert total > 50  # more than one page in the tiny Denmark
    html = u.http.get(path).text
    first = min(total, 50)
    assert f"{first} af {total}" in html

    def patients(page: str) -> list[str]:
        h = u.http.get(path, params={"findings_page": page}).text
        table = h.split('id="findings"')[1].split("</table>")[0]
        return re.findall(r"/patient/(\d+)\"", table)

    pages = -(-total // 50)
    seen = [p for n in range(1, pages + 1) for p in patients(str(n))]
    assert len(seen) == total
    assert sorted(patients("all")) == sorted(seen)
    rows = pl.DataFrame(u.http.get(path, params={"_download": "findings",
                                                 "format": "json"}).json()["rows"])  # fmt: skip
    assert sorted(rows["patient"].to_list()) == sorted(seen)


def test_a_fee_scenario_result_has_an_address_pages_and_downloads(
    site: Site, as_user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Before: the result of POST /fees showed the top 10 winners and losers, and could
    not be downloaded (a POST result). Now the POST redirects to /fees/<id>: every winner,
    every loser and every clinic, paged, each table as CSV and JSON with all its rows; the
    winners all gained and the losers all lost; another user of the role opens the link."""
    from almen.settlement import readers

    runs: list[int] = []
    real = readers.compare_fees

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(readers, "compare_fees", counted)
    nat = as_user("nat")
    scenario = 'name = "Basis +10 %"\n[change_percent]\n"0120" = 10.0\n"0101" = -5.0\n'
    r = nat.http.post("/fees", data={"csrf": nat.csrf, "scenario": scenario},
                      follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and re.fullmatch(r"/fees/\d+#result", r.headers["location"])
    path = r.headers["location"].split("#")[0]
    html = nat.http.get(path).text
    assert "Basis +10 %" in html
    assert _table_ids(html) == {"result.winners", "result.losers", "result.clinics"}
    got = {t: nat.http.get(path, params={"_download": t, "format": "json"}).json()
           for t in ("result.winners", "result.losers", "result.clinics")}  # fmt: skip
    every = got["result.clinics"]["rows"]
    assert len(every) == got["result.clinics"]["total"] > 0
    assert all(w["change_dkk"] > 0 for w in got["result.winners"]["rows"])
    assert all(lo["change_dkk"] < 0 for lo in got["result.losers"]["rows"])
    changed = sum(1 for x in every if x["change_dkk"] != 0)
    assert got["result.winners"]["total"] + got["result.losers"]["total"] == changed
    assert f"af {len(every)}" in html.replace(".", "")  # "50 af 1.234": nothing cut silently
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                nat.http.get(path, params={"_download": "result.clinics", "format": "csv"}).text
            )
        )
    )
    assert len(csv_rows) == len(every)
    reg = as_user("reg").http.get(path)
    assert reg.status_code == 200 and "Basis +10 %" in reg.text
    assert as_user("klinik").http.get(path).status_code == 403
    assert nat.http.get("/fees/999999").status_code == 404
    assert len(runs) == 1  # pages and downloads reuse the compared result
