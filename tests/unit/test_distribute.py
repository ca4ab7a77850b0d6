"""The national distribution model (seed 001 "National fordeling af kapaciteter")."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.capacity import distribute
from almen.errors import ParameterError


def _areas(need: list[float], cap: list[float], councils: list[str] | None = None) -> pl.DataFrame:
    n = len(need)
    return pl.DataFrame(
        {
            "area": [f"m{i}" for i in range(n)],
            "need": need,
            "capacity": cap,
            "health_council": councils or ["h"] * n,
        }
    )


def _brute(need: list[float], cap: list[float], new: int, per_cap: float) -> float:
    best = float("inf")
    for x in itertools.product(range(new + 1), repeat=len(need)):
        if sum(x) != new:
            continue
        unmet = sum(max(d - per_cap * (c + xi), 0.0) for d, c, xi in zip(need, cap, x, strict=True))
        best = min(best, unmet)
    return best


def test_distribution_by_hand() -> None:
    """Need 4,000 with 1 capacity (2,400 unmet at 1,600 each) and need 1,600 with 1
    (covered): both new capacities go to the first, which is then fully served."""
    d = distribute(_areas([4000, 1600], [1, 1]), 2)
    assert d.allocation["new"].to_list() == [2, 0]
    assert d.unmet_before == pytest.approx(2400.0)
    assert d.unmet_after == pytest.approx(0.0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 8000), min_size=2, max_size=4),
    st.lists(st.integers(0, 4), min_size=4, max_size=4),
    st.integers(0, 5),
    st.sampled_from(["voluntary", "forced"]),
)
def test_highs_answer_equals_brute_force(
    need: list[int], cap: list[int], new: int, policy: str
) -> None:
    cap = cap[: len(need)]
    d = distribute(_areas([float(x) for x in need], [float(c) for c in cap]), new, policy=policy,
                   objective="total")  # fmt: skip
    per_cap = 1600.0 * (1.1 if policy == "forced" else 1.0)
    assert d.unmet_after == pytest.approx(_brute(need, cap, new, per_cap), abs=1e-6)
    assert d.allocation["new"].sum() == new
    if policy == "voluntary":  # no list above its closing limit
        assert (d.allocation["list_per_capacity"] <= 1600.0 + 1e-9).all()


def test_minimum_per_health_council_and_infeasible_requests() -> None:
    areas = _areas([8000, 1000, 1000], [0, 0, 0], ["h1", "h2", "h2"])
    d = distribute(areas, 3, min_per_council={"h2": 2})
    assert d.allocation.filter(pl.col("area") != "m0")["new"].sum() >= 2
    with pytest.raises(ParameterError, match="infeasible: the minimums"):
        distribute(areas, 1, min_per_council={"h2": 2})
    with pytest.raises(ParameterError, match="must not be negative"):
        distribute(areas, -1)
    with pytest.raises(ParameterError, match="unknown health council"):
        distribute(areas, 1, min_per_council={"hx": 1})


def test_distribute_command(call_cli, tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "capacity", "distribute", "--new", "5")
    assert result.exit_code == 0, result.output
    assert "voluntary: unmet" in result.stdout and "forced: unmet" in result.stdout
    bad = call_cli("--data", str(tiny_denmark), "capacity", "distribute", "--new", "-3")
    assert bad.exit_code == 2 and "must not be negative" in bad.stderr


def _rel(need: float, cap: float, x: float, per_cap: float = 1600.0) -> float:
    return max(need - per_cap * (cap + x), 0.0) / need if need > 0 else 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60000), st.integers(0, 30)), min_size=2, max_size=8),
    st.integers(0, 40),
)
def test_fair_distribution_gives_to_the_worst_covered_first(
    areas: list[tuple[int, int]], new: int
) -> None:
    """Issue 21 item 1: no unit could move to a worse-off area. For every area b that got
    capacities and every area a: a's relative shortfall after the allocation is at most
    b's before b's last unit (the worst-off is served first). And among areas of equal
    need, one with a larger shortfall never gets fewer capacities."""
    need = [float(a) for a, _ in areas]
    cap = [float(c) for _, c in areas]
    x = distribute(_areas(need, cap), new).allocation["new"].to_list()
    assert sum(x) == new
    for b in range(len(areas)):
        if x[b] == 0:
            continue
        before_last = _rel(need[b], cap[b], x[b] - 1)
        for a in range(len(areas)):
            assert _rel(need[a], cap[a], x[a]) <= before_last + 1e-12, (a, b, x)
    for a in range(len(areas)):
        for b in range(len(areas)):
            if need[a] == need[b] and _rel(need[a], cap[a], 0) > _rel(need[b], cap[b], 0):
                assert x[a] >= x[b], (a, b, x)


def test_fair_distribution_serves_the_hjorring_case_and_ties_are_deterministic() -> None:
    """The issue's case: an area 39 % short and one 1.7 % short. The total objective may
    give the 39 % area nothing (every area short by at least 1,600 counts the same to
    it); the fair one gives it the first capacities. Row order does not matter."""
    areas = pl.DataFrame({"area": ["hjoerring", "silkeborg", "x"],
                          "need": [100_000.0, 160_000.0, 50_000.0],
                          "capacity": [38.125, 98.3, 31.25]})  # fmt: skip
    fair = distribute(areas, 3).allocation
    assert fair.filter(pl.col("area") == "hjoerring")["new"][0] == 3
    shuffled = distribute(areas.reverse(), 3).allocation.sort("area")
    assert shuffled["new"].to_list() == fair.sort("area")["new"].to_list()
    ties = pl.DataFrame({"area": ["b", "a"], "need": [3200.0, 3200.0], "capacity": [0.0, 0.0]})
    got = distribute(ties, 1).allocation
    assert dict(zip(got["area"], got["new"], strict=True)) == {"a": 1, "b": 0}
    with pytest.raises(ParameterError, match="objective must be"):
        distribute(areas, 1, objective="best")
