"""Site choice inside municipalities (maximal covering location with HiGHS; seed 001
"National fordeling af kapaciteter", seed 003 free choice in 2030; docs/capacity.md)."""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.capacity.sites import choose_sites, cover_sites
from almen.geo import to_km, to_lonlat


def _brute(weight: np.ndarray, gap: np.ndarray, reach: list[np.ndarray], k: int, m: int) -> float:
    best = 0.0
    for pick in combinations_with_replacement(range(m), k):
        got = sum(w for w, g, r in zip(weight, gap, reach, strict=True)
                  if g > 0 and sum(j in set(r.tolist()) for j in pick) >= g)  # fmt: skip
        best = max(best, float(got))
    return best


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3))
def test_highs_finds_the_best_cover_found_by_enumeration(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 9)), int(rng.integers(1, 7))
    weight = rng.integers(1, 100, n)
    gap = rng.integers(0, 3, n)
    reach = [np.flatnonzero(rng.random(m) < 0.4) for _ in range(n)]
    chosen, covered = cover_sites(weight, gap, reach, k, m)
    assert len(chosen) == k
    assert covered == _brute(weight, gap, reach, k, m)


def _town(x: float, y: float, n: int, municipality: str) -> pl.DataFrame:
    ll = to_lonlat(np.tile([[x, y]], (n, 1)))
    return pl.DataFrame({"municipality": [municipality] * n, "lon": ll[:, 0], "lat": ll[:, 1]})


def test_sites_go_where_most_citizens_gain_free_choice() -> None:
    """Town A (1,000 citizens) has one open clinic within 15 km and lacks one; town B,
    50 km away, has none and lacks two. One new clinic goes to A (1,000 gain); with two,
    A still wins over a B of 300, but a B of 1,500 takes both."""
    clinic = pl.DataFrame(to_lonlat(np.array([[3.0, 0.0]])), schema=["lon", "lat"], orient="row")
    for b, k, gain in ((300, 1, 1000), (300, 2, 1000), (1500, 2, 1500)):
        people = pl.concat([_town(0, 0, 1000, "A"), _town(50, 0, b, "A")])
        res = choose_sites(people, clinic, pl.DataFrame({"area": ["A"], "new": [k]}))
        national = res.areas.filter(pl.col("level") == "national").row(0, named=True)
        assert national["without_before"] == 1000 + b
        assert national["gained"] == gain, (b, k)
        assert res.sites.height == k


def test_neighbours_gain_but_the_objective_serves_the_municipality() -> None:
    """A's new clinics serve A's citizens; B's citizens next door gain in the after count
    and are not sacrificed by A's choice (they were never A's to serve)."""
    people = pl.concat([_town(0, 0, 100, "A"), _town(5, 0, 400, "B")])
    none = pl.DataFrame(schema={"lon": pl.Float64, "lat": pl.Float64})
    res = choose_sites(people, none, pl.DataFrame({"area": ["A", "B"], "new": [2, 0]}))
    by = {r["area"]: r for r in res.areas.iter_rows(named=True)}
    assert by["A"]["gained"] == 100 and by["B"]["gained"] == 400
    assert by["A"]["covered_in_solve"] == 100 and by["B"]["sites"] == 0
    assert by["Danmark"]["gained"] == 500


def test_lon_lat_round_trip() -> None:
    ll = np.array([[8.1, 54.9], [12.6, 57.7], [15.1, 55.1]])
    back = to_lonlat(to_km(ll[:, 0], ll[:, 1]))
    assert np.allclose(back, ll)


def test_distribute_with_sites_on_the_warehouse(call_cli, tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    """`capacity distribute --sites`: every new clinic of the voluntary allocation gets a
    site inside its municipality, and nobody loses free choice."""
    import json

    r = call_cli("--data", str(tiny_denmark), "capacity", "distribute", "--new", "5", "--sites",
                 "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    sites, choice = doc["parts"]["sites"], doc["parts"]["free_choice"]
    voluntary = {x["area"]: x["voluntary"] for x in doc["parts"]["distribution"]}
    placed: dict[str, int] = {}
    for s in sites:
        placed[s["area"]] = placed.get(s["area"], 0) + 1
    assert placed == {a: n for a, n in voluntary.items() if n}
    assert all(x["without_after"] <= x["without_before"] for x in choice)
    national = next(x for x in choice if x["level"] == "national")
    assert doc["meta"]["without_free_choice_after"] == national["without_after"]
    table = call_cli("--data", str(tiny_denmark), "capacity", "distribute", "--new", "5", "--sites")
    assert table.exit_code == 0 and "without free choice" in table.stdout
