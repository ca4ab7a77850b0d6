"""Coverage: capacity against need (seed 002 §4) and the floating catchment (2SFCA)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from almen.capacity import coverage, floating_catchment

AREAS = pl.DataFrame({"municipality": ["m1", "m2"], "health_council": ["h1", "h2"]})


def test_coverage_by_hand() -> None:
    """m1: need 100, 2 FTE → 200 per 10,000; m2: need 300, 2 FTE → 66.7; Denmark
    4 / 400 → 100: m2 has two thirds of the country's capacity for its need (first)."""
    residents = pl.DataFrame({"municipality": ["m1"] * 100 + ["m2"] * 300, "need": [1.0] * 400})
    clinics = pl.DataFrame(
        {
            "provider_number": ["a", "b", "c"],
            "municipality": ["m1", "m1", "m2"],
            "fte": [1.0, 1.0, 2.0],
            "listed": [1500, 1500, 3000],
            "closed_to_new": [True, False, True],
        }
    )
    out = coverage(residents, clinics, AREAS, "municipality")
    assert out["area"].to_list() == ["m2", "m1"]
    assert out["relative_capacity"].to_list() == pytest.approx([2 / 3, 2.0])
    assert out.filter(pl.col("area") == "m1")["share_closed"][0] == pytest.approx(0.5)
    assert out.filter(pl.col("area") == "m2")["listed_per_fte"][0] == pytest.approx(1500.0)


def test_floating_catchment_by_hand() -> None:
    """Far apart (about 56 km): access 1 / 10 and 1 / 30. Close (about 5.6 km): each
    clinic serves all 40, so each resident reaches 1/40 + 1/40 = 0.05."""
    far = pl.DataFrame({"lon": [10.5] * 40, "lat": [56.0] * 10 + [56.5] * 30, "need": [1.0] * 40})
    clinics_far = pl.DataFrame({"lon": [10.5, 10.5], "lat": [56.0, 56.5], "fte": [1.0, 1.0]})
    a = floating_catchment(far, clinics_far)
    assert a[0] == pytest.approx(0.1) and a[-1] == pytest.approx(1 / 30)
    near = far.with_columns(pl.Series("lat", [56.0] * 10 + [56.05] * 30))
    clinics_near = clinics_far.with_columns(pl.Series("lat", [56.0, 56.05]))
    b = floating_catchment(near, clinics_near)
    assert b == pytest.approx([0.05] * 40)


def test_coverage_command(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "capacity", "coverage")
    assert result.exit_code == 0, result.output
    assert "relative" in result.stdout
