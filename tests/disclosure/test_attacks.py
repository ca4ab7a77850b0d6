"""Attacks on what almen publishes (issue 13): each must recover no count.

A tiny synthetic Denmark (scale 0.01: clinics with a handful of patients in a group, and
areas with fewer; small cells planted where the data lack them) is published the way a user gets it — the CLI's JSON and CSV files,
the API as a region and as a cluster user — and ``attacker.Attack`` chains what is
published: levels against each other (health council − its municipalities, cluster − its
clinics, region − its councils, country − regions), share × denominator, pooled share ×
Σ n − the published counts, two as-of dates a week apart, per-clinic answers against the
cluster total, and the CSV export against the API. A count is recovered when the attack
pins it to one value that is 0-4, or pins a count that was not published (a difference
1-7 between dates).
The true counts come from the warehouse, to judge the attack, never to help it.

Two small cells are planted (conftest.py): a clinic with 2 patients in a group and a
clinic whose frail elderly had no preventive visit. On the code before the change
(commit f37fd8b) every attack recovered counts: levels 1 (a clinic's 7), two dates 30
weekly changes of one patient, share × denominator 1 (the planted "0 of n"), pooled
share 3 (a 3, a 7 and the planted 0), per-clinic answers against the cluster total 1
(the planted 2, as the cluster user and as the national user), CSV against the API 1
(the planted 2). See docs/disclosure.md.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from almen import population
from almen.population.indicators import indicator_counts
from almen.warehouse import Warehouse
from tests.disclosure.attacker import Attack
from tests.web.conftest import Client, Site

DAY = dt.date(2025, 12, 31)
WEEK_BEFORE = DAY - dt.timedelta(days=7)
AREA_LEVELS = ("cluster", "municipality", "health_council", "region")
Recovered = list[tuple[str, ...]]
Cell = tuple[str, str, str, dict[Hashable, float], bool]  # level, area, group, terms, hidden


# -- the truth (to judge the attacks) ------------------------------------------------
def _true_counts(data: Path, day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    defs = population.load_definitions()
    with Warehouse.connect(data, read_only=True) as wh:
        feats = population.warehouse_features(wh, as_of=day, definitions=defs)
        area = population.clinic_areas(wh)
        found = population.apply_definitions(feats, defs)
        ind = indicator_counts(feats, defs)
    counts = population.clinic_counts(found, feats)
    ind = ind.group_by("provider_number", "indicator").agg(pl.col("n").sum(), pl.col("x").sum())
    return counts.join(area, on="provider_number"), ind


@pytest.fixture(scope="module")
def truth(planted: Site) -> dict[str, Any]:
    now, ind = _true_counts(planted.data, DAY)
    before, _ = _true_counts(planted.data, WEEK_BEFORE)
    return {"now": now, "before": before, "indicators": ind}


# -- what is published -----------------------------------------------------------------
def _cli_json(call_cli: Callable[..., Any], data: Path, *args: str) -> dict[str, Any]:
    r = call_cli("--data", str(data), *args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["parts"]  # type: ignore[no-any-return]


def _published_areas(call_cli: Callable[..., Any], data: Path, level: str, day: dt.date,
                     fmt: str = "json") -> list[dict[str, Any]]:  # fmt: skip
    """Rows (level, area, definition, patients) of `almen findings --by level`, or of
    `almen findings` for the country."""
    by = [] if level == "national" else ["--by", level]
    args = ["--data", str(data), "findings", *by, "--as-of", day.isoformat()]
    if fmt == "csv":
        r = call_cli(*args, "--format", "csv")
        assert r.exit_code == 0, r.output
        table = pl.read_csv(io.StringIO(r.stdout), infer_schema=False)  # codes stay text
        rows = [{**row, "patients": None if row["patients"] in (None, "") else int(row["patients"])}
                for row in table.to_dicts()]  # fmt: skip
    else:
        r = call_cli(*args, "--format", "json")
        assert r.exit_code == 0, r.output
        parts = json.loads(r.stdout)["parts"]
        rows = parts.get("areas") or parts.get("totals")
    out = []
    for row in rows:
        value = row.get("patients", row.get("total"))
        out.append({"level": level, "area": str(row.get("area", "DK")),
                    "definition": row["definition"], "patients": value})  # fmt: skip
    return out


def _members(now: pl.DataFrame, level: str, area: str) -> list[str]:
    if level == "national":
        return now["provider_number"].to_list()
    if level == "clinic":
        return [area]
    return now.filter(pl.col(level).cast(pl.Utf8) == area)["provider_number"].to_list()


def _case_finding_attack(rows: list[dict[str, Any]], now: pl.DataFrame, tag: str = ""
                         ) -> tuple[Attack, list[Cell]]:  # fmt: skip
    """The observations of published case-finding rows: each area's count is the sum of
    its clinics' true counts (cells (tag, clinic, definition))."""
    attack = Attack()
    cells = []
    for r in rows:
        terms: dict[Hashable, float] = {
            (tag, p, r["definition"]): 1.0 for p in _members(now, r["level"], r["area"])
        }
        secondary = r["patients"] is None and _true(now, terms) > 7  # hidden by the audit
        attack.add(terms, r["patients"], secondary=secondary)
        cells.append((r["level"], r["area"], r["definition"], terms, r["patients"] is None))
    return attack, cells


def _true(now: pl.DataFrame, terms: dict[Hashable, float]) -> int:
    total = 0
    for (_, p, d), coef in terms.items():  # type: ignore[misc]
        total += int(coef) * int(now.filter(pl.col("provider_number") == p)[d][0])
    return total


def _recovered(lo: int, hi: int, value: int, hidden: bool) -> bool:
    return lo == hi and (value <= 4 or (hidden and value <= 7))


def _judge(attack: Attack, cells: list[Cell], now: pl.DataFrame) -> Recovered:
    """The cells the attack recovers (``_recovered``); the attack must be sound."""
    ranges = attack.ranges([c[3] for c in cells])
    recovered = []
    for (level, area, d, terms, hidden), (lo, hi) in zip(cells, ranges, strict=True):
        value = _true(now, terms)
        assert lo <= value <= hi, f"unsound attack on {level} {area} {d}"
        if _recovered(lo, hi, value, hidden):
            recovered.append((level, area, d, str(value)))
    return recovered


def _clinic_cells(now: pl.DataFrame) -> list[Cell]:
    """Each clinic's count, not published by the area tables."""
    return [("clinic", p, d, {("", p, d): 1.0}, True)
            for p in now["provider_number"].to_list() for d in population.DEFINITIONS]  # fmt: skip


# -- the attacks -----------------------------------------------------------------------
def test_differencing_between_levels(planted: Site, call_cli, truth) -> None:  # type: ignore[no-untyped-def]
    """Council − its municipalities, cluster − its clinics, region − its councils,
    country − its regions, all at once."""
    rows = [r for level in (*AREA_LEVELS, "national")
            for r in _published_areas(call_cli, planted.data, level, DAY)]  # fmt: skip
    attack, cells = _case_finding_attack(rows, truth["now"])
    recovered = _judge(attack, cells + _clinic_cells(truth["now"]), truth["now"])
    assert recovered == [], f"{len(recovered)} counts recovered, e.g. {recovered[:5]}"


def test_two_as_of_dates(planted: Site, call_cli, truth) -> None:  # type: ignore[no-untyped-def]
    """The same areas published a week apart: how many joined or left a group."""
    now_rows = [r for lv in AREA_LEVELS for r in _published_areas(call_cli, planted.data, lv, DAY)]
    old_rows = [r for lv in AREA_LEVELS
                for r in _published_areas(call_cli, planted.data, lv, WEEK_BEFORE)]  # fmt: skip
    a_now, cells_now = _case_finding_attack(now_rows, truth["now"], "now")
    a_old, _ = _case_finding_attack(old_rows, truth["before"], "before")
    attack = Attack(a_now.observations + a_old.observations)
    targets = []
    for level, area, d, terms, _ in cells_now:
        diff: dict[Hashable, float] = dict(terms)
        diff.update({("before", p, dd): -1.0 for (_, p, dd) in terms})  # type: ignore[misc]
        targets.append((level, area, d, diff))
    ranges = attack.ranges([t[3] for t in targets])
    recovered = []
    for (level, area, d, terms), (lo, hi) in zip(targets, ranges, strict=True):
        now = {k: v for k, v in terms.items() if v > 0}
        before = {("", p, dd): 1.0 for (tag, p, dd), v in terms.items() if v < 0}  # type: ignore[misc]
        change = _true(truth["now"], now) - _true(truth["before"], before)
        assert lo <= change <= hi, f"unsound attack on {level} {area} {d}"
        if lo == hi and 1 <= abs(change) <= 7:
            recovered.append((level, area, d, str(change)))
    assert recovered == [], f"{len(recovered)} changes recovered, e.g. {recovered[:5]}"


def _indicator_rows(call_cli: Callable[..., Any], planted: Site, truth: dict[str, Any]
                    ) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for region in sorted(set(truth["now"]["region"].to_list())):
        rows += _cli_json(call_cli, planted.data, "indicators", "--region", str(region),
                          "--as-of", DAY.isoformat())["indicators"]  # fmt: skip
    return rows


def _indicator_attack(rows: list[dict[str, Any]], pooled: bool,
                      truth: pl.DataFrame | None = None) -> Attack:  # fmt: skip
    """Per clinic and indicator: n = met + not met, x = met (hidden: met or not met is
    small), x = p × n; pooled: the cluster's, region's and country's x and n, from
    their published counts or, before issue 13, as pooled share × Σ n. ``truth`` tells
    the attacker which pooled totals the audit hid (the worst case)."""
    attack = Attack()
    for r in rows:
        met = {("met", r["provider_number"], r["indicator"]): 1.0}
        unmet = {("unmet", r["provider_number"], r["indicator"]): 1.0}
        attack.add({**met, **unmet}, r["n"])
        x = r["x"] if r["x"] is not None else (
            round(r["p"] * r["n"]) if r.get("p") is not None and r["n"] is not None else None)  # fmt: skip
        attack.add(met, x, complement=unmet)
    if not pooled:
        return attack
    for level, share in (("cluster", "cluster_p"), ("region", "region_p"), ("country", "p0")):
        for key in sorted({(r["indicator"], r.get(level)) for r in rows}, key=str):
            part = [r for r in rows if (r["indicator"], r.get(level)) == key]
            met = {("met", r["provider_number"], r["indicator"]): 1.0 for r in part}
            unmet = {("unmet", r["provider_number"], r["indicator"]): 1.0 for r in part}
            both = {**met, **unmet}
            first = part[0]
            if f"{level}_n" in first:  # published pooled counts
                true_n = true_x = 0
                if truth is not None:
                    t = truth.filter(pl.col("indicator") == key[0]).filter(
                        pl.col("provider_number").is_in([r["provider_number"] for r in part])
                    )
                    true_n, true_x = int(t["n"].sum()), int(t["x"].sum())
                attack.add(
                    both, first[f"{level}_n"], secondary=first[f"{level}_n"] is None and true_n > 7
                )
                attack.add(met, first[f"{level}_x"], complement=unmet,
                           secondary=first[f"{level}_x"] is None and true_x > 7
                           and true_n - true_x > 7)  # fmt: skip
            elif all(r["n"] is not None for r in part) and first[share] is not None:
                total_n = sum(r["n"] for r in part)
                attack.add(both, total_n)
                attack.add(met, round(first[share] * total_n))
    return attack


def _judge_indicators(attack: Attack, rows: list[dict[str, Any]], truth: dict[str, Any]
                      ) -> Recovered:  # fmt: skip
    ind = truth["indicators"]
    targets, values, hidden = [], [], []
    for r in rows:
        t = ind.filter((pl.col("provider_number") == r["provider_number"])
                       & (pl.col("indicator") == r["indicator"])).row(0, named=True)  # fmt: skip
        for kind, value in (("met", t["x"]), ("unmet", t["n"] - t["x"])):
            targets.append((kind, r["provider_number"], r["indicator"]))
            values.append(int(value))
            hidden.append(r["x"] is None)
    ranges = attack.ranges([{t: 1.0} for t in targets])
    recovered = []
    for t, value, h, (lo, hi) in zip(targets, values, hidden, ranges, strict=True):
        assert lo <= value <= hi, f"unsound attack on {t}"
        if _recovered(lo, hi, value, h):
            recovered.append((*t, str(value)))
    return recovered


def test_share_times_denominator(planted: Site, call_cli, truth) -> None:  # type: ignore[no-untyped-def]
    """p × n gives back x; n − x the complement ("0 of 56 had a visit")."""
    rows = _indicator_rows(call_cli, planted, truth)
    recovered = _judge_indicators(_indicator_attack(rows, pooled=False), rows, truth)
    assert recovered == [], f"{len(recovered)} counts recovered, e.g. {recovered[:5]}"


def test_pooled_share_times_sum_n_minus_published(planted: Site, call_cli, truth) -> None:  # type: ignore[no-untyped-def]
    """The cluster's and region's pooled share × Σ n − the published x of the others."""
    rows = _indicator_rows(call_cli, planted, truth)
    recovered = _judge_indicators(
        _indicator_attack(rows, pooled=True, truth=truth["indicators"]), rows, truth
    )
    assert recovered == [], f"{len(recovered)} counts recovered, e.g. {recovered[:5]}"


def _api_clinic_rows(client: Client, clinics: list[str]) -> list[dict[str, Any]]:
    rows = []
    for p in clinics:
        r = client.http.get(f"/api/clinics/{p}/findings", params={"size": 500})
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            if item["definition"] == "list_size":
                continue
            rows.append({"level": "clinic", "area": p, "definition": item["definition"],
                         "patients": item["count"]})  # fmt: skip
    return rows


@pytest.mark.parametrize("user", ["klynge", "nat"])
def test_per_clinic_answers_against_the_cluster_total(planted: Site, truth, user: str) -> None:  # type: ignore[no-untyped-def]
    """A cluster user asks the API for each of its clinics and for its cluster; a
    national user for every clinic and every cluster."""
    client = Client(planted, user)
    now = truth["now"]
    if user == "klynge":
        now = now.filter(pl.col("cluster").cast(pl.Utf8) == str(planted.cluster))
    rows = _api_clinic_rows(client, now["provider_number"].to_list())
    r = client.http.get("/api/findings", params={"by": "cluster"})
    assert r.status_code == 200, r.text
    rows += [{"level": "cluster", "area": str(x["area"]), "definition": x["definition"],
              "patients": x["patients"]} for x in r.json()["rows"]]  # fmt: skip
    attack, cells = _case_finding_attack(rows, truth["now"])
    recovered = _judge(attack, cells, truth["now"])
    assert recovered == [], f"{len(recovered)} counts recovered, e.g. {recovered[:5]}"


def test_csv_export_against_the_api(planted: Site, call_cli, truth) -> None:  # type: ignore[no-untyped-def]
    """The CLI's CSV file and the API (as the pages show it) for the same areas: if one
    of them were less protected, the two together would pin the hidden cells."""
    client = Client(planted, "nat")
    rows = _published_areas(call_cli, planted.data, "municipality", DAY, fmt="csv")
    r = client.http.get("/api/findings", params={"by": "municipality"})
    assert r.status_code == 200, r.text
    api = [{"level": "municipality", "area": str(x["area"]), "definition": x["definition"],
            "patients": x["patients"]} for x in r.json()["rows"]]  # fmt: skip
    rows += api
    rows += _api_clinic_rows(client, truth["now"]["provider_number"].to_list())
    attack, cells = _case_finding_attack(rows, truth["now"])
    recovered = _judge(attack, cells, truth["now"])
    assert recovered == [], f"{len(recovered)} counts recovered, e.g. {recovered[:5]}"


def test_the_cluster_page_shows_what_the_api_publishes(planted: Site) -> None:
    """The page's indicator tables carry the same n and x as the API (and the CSV of
    the CLI, above): no path publishes a count the others hide."""
    import re

    client = Client(planted, "nat")
    api = client.http.get("/api/indicators", params={"cluster": str(planted.cluster)}).json()
    page = client.http.get(f"/cluster/{planted.cluster}").text
    shown = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        if len(cells) == 10:  # the indicator tables: clinic, n, x, shares, limits, flag
            shown.setdefault(cells[0], []).append((cells[1], cells[2]))

    def text(v: int | None) -> str:
        return "·" if v is None else f"{v:,}"

    expected: dict[str, list[tuple[str, str]]] = {}
    for r in sorted(api["rows"], key=lambda r: (r["indicator"], r["provider_number"])):
        expected.setdefault(r["provider_number"], []).append((text(r["n"]), text(r["x"])))
    assert shown and {k: sorted(v) for k, v in shown.items()} == {
        k: sorted(v) for k, v in expected.items()
    }
    assert "·" in {x for v in shown.values() for _, x in v}  # the planted cells are hidden
