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
    d = distribute(_areas([float(x) for x in need], [float(c) for c in cap]), new, policy=policy)
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
