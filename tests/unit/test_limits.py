"""Closing limits (danish-facts §2.4, §2.7; seed 002 §4.4)."""

from __future__ import annotations

import polars as pl
import pytest

from almen.capacity.limits import closing_limits


def test_closing_limits_by_hand() -> None:
    """National vulnerable share: (0.05 × 1,000 + 0.15 × 1,000) / 2,000 = 0.10.
    A: 1 FTE, need 1.25, share 0.05 → 1,600 / 1.25 = 1,280.
    B: 1 FTE, need 0.8, share 0.15 (excess 0.05) → 1,600 / 0.8 × 0.95 = 1,900; a new GP
       (1 year) in an underserved area → × 0.9 = 1,710.
    The old rule: 1,600 for both; A with 1,000 listed may close under neither."""
    clinics = pl.DataFrame(
        {
            "provider_number": ["A", "B"],
            "fte": [1.0, 1.0],
            "listed": [1000, 1000],
            "need_index": [1.25, 0.8],
            "vulnerable_share": [0.05, 0.15],
            "underserved": [False, True],
            "years_established": [None, 1],
        }
    )
    out = {r["provider_number"]: r for r in closing_limits(clinics).to_dicts()}
    assert out["A"]["new_limit"] == pytest.approx(1280.0)
    assert out["B"]["new_limit"] == pytest.approx(1710.0)
    assert out["A"]["old_limit"] == 1600.0
    assert out["A"]["may_close_new"] is False and out["A"]["may_close_old"] is False


def test_limits_command(call_cli, tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "capacity", "limits")
    assert result.exit_code == 0, result.output
    assert "under the need-based limit" in result.stdout
    assert call_cli("--data", str(tiny_denmark), "capacity", "limits", "--norm", "0").exit_code == 2


def test_the_new_gp_relief_comes_from_the_doctor_register(tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    """Issue 21 item 6: years_established is the years since the clinic's most recently
    established owner set up (doctor.year_established), so the relief for new GPs in
    underserved municipalities applies: those clinics' need-based limit is 10 % below
    the same clinic's without the relief."""
    from almen.capacity import LimitParams, closing_limits
    from almen.capacity.inputs import limit_inputs, need_from_warehouse
    from almen.warehouse import Warehouse

    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        persons, _ = need_from_warehouse(wh, 2025)
        clinics = limit_inputs(wh, persons, 2025)
        doctors = wh.read_table("doctor").to_polars()
    owners = doctors.filter(pl.col("role") == "owner")
    assert owners["year_established"].null_count() == 0
    assert doctors.filter(pl.col("role") != "owner")["year_established"].null_count() == (
        doctors.filter(pl.col("role") != "owner").height
    )
    newest = owners.group_by("provider_number").agg(pl.col("year_established").max())
    got = clinics.join(newest, on="provider_number").select(
        (pl.col("years_established") == 2025 - pl.col("year_established")).all()
    )
    assert got.item()
    with_relief = closing_limits(clinics, LimitParams())
    without = closing_limits(clinics.with_columns(years_established=pl.lit(None, pl.Int32)))
    both = with_relief.join(without.select("provider_number", base=pl.col("new_limit")),
                            on="provider_number")  # fmt: skip
    new_gp = both.filter(pl.col("underserved") & (pl.col("years_established") < 3))
    assert new_gp.height > 0
    ratio = new_gp["new_limit"] / new_gp["base"]
    assert ((ratio - 0.9).abs() < 1e-9).all()
    rest = both.filter(~(pl.col("underserved") & (pl.col("years_established") < 3)))
    assert (rest["new_limit"] == rest["base"]).all()
