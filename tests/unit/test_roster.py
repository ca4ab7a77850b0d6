"""Shift rosters for out-of-hours (seed 002 §3; HiGHS; docs/access.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.access.roster import HOURS_PER_WEEK, roster
from almen.errors import ParameterError


def _covered(r, n: int = HOURS_PER_WEEK) -> np.ndarray:  # type: ignore[no-untyped-def]
    cover = np.zeros(n)
    for s, length, c in r.iter_rows():
        for k in range(length):
            cover[(s + k) % n] += c
    return cover


def test_a_weekday_evening_by_hand() -> None:
    """Monday 16:00-24:00 needs 2 doctors and 00:00-08:00 Tuesday 1: two 8-hour shifts
    from 16:00 and one from 00:00, 24 shift hours for 24 needed, no surplus."""
    need = np.zeros(HOURS_PER_WEEK)
    need[16:24], need[24:32] = 2, 1
    r = roster(need)
    assert r.rows() == [(16, 8, 2), (24, 8, 1)]
    assert (_covered(r) >= need).all() and int((r["length"] * r["count"]).sum()) == 24


def test_the_week_wraps_from_sunday_night_into_monday() -> None:
    need = np.zeros(HOURS_PER_WEEK)
    need[-4:], need[:4] = 1, 1  # Sunday 20:00 to Monday 04:00
    r = roster(need)
    assert r.rows() == [(164, 8, 1)]


def _fewest_hours(need: tuple[int, ...], lengths: tuple[int, ...]) -> int:
    """Exact by search: the first hour still short must be covered by a shift, and one
    starting there is as good as any earlier (the hours before are covered already)."""
    short = next((h for h, n in enumerate(need) if n > 0), None)
    if short is None:
        return 0
    best = None
    for n in lengths:
        rest = tuple(max(v - 1, 0) if short <= h < short + n else v for h, v in enumerate(need))
        cost = n + _fewest_hours(rest, lengths)
        best = cost if best is None else min(best, cost)
    assert best is not None
    return best


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=8, max_size=8))
def test_highs_finds_the_fewest_shift_hours_found_by_search(hours: list[int]) -> None:
    """Need in 8 hours of a Monday, shifts of 2 and 3 hours: HiGHS needs exactly as few
    shift hours as an exhaustive search."""
    need = np.zeros(HOURS_PER_WEEK)
    need[10:18] = hours
    r = roster(need, lengths=(2, 3))
    assert (_covered(r) >= need).all()
    assert int((r["length"] * r["count"]).sum()) == _fewest_hours(tuple(hours), (2, 3))


def test_bad_rosters_say_what_is_wrong() -> None:
    with pytest.raises(ParameterError, match="168"):
        roster(np.zeros(25))
    with pytest.raises(ParameterError, match="between 1 and 24"):
        roster(np.ones(HOURS_PER_WEEK), lengths=(0,))
    assert roster(np.zeros(HOURS_PER_WEEK)).height == 0


def test_the_plan_command_writes_rosters_that_cover_it(call_cli, tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    import json

    import polars as pl

    r = call_cli("--data", str(tiny_denmark), "ooh", "plan", "--region", "Region Nordjylland",
                 "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    parts = json.loads(r.stdout)["parts"]
    plan, shifts = pl.DataFrame(parts["plan"]), pl.DataFrame(parts["shifts"])
    for site in plan["site"].unique().to_list():
        mine = shifts.filter(pl.col("who") == site, pl.col("day") < 7)
        cover = _covered(mine.select(pl.col("day") * 24 + pl.col("hour"), "length", "count"))
        week = plan.filter(pl.col("site") == site, pl.col("weekday") < 7).sort("weekday", "hour")
        assert (cover >= week["doctors"].to_numpy()).all()
        # a holiday (day type 7) on its own 24 hours
        hol = shifts.filter(pl.col("who") == site, pl.col("day") == 7)
        day = _covered(hol.select("hour", "length", "count"), 24)
        need = np.zeros(24)
        h = plan.filter(pl.col("site") == site, pl.col("weekday") == 7)
        need[h["hour"].to_numpy()] = h["doctors"].to_numpy()
        assert (day >= need).all()
    rosters = {(x["who"], x["day_type"]): x for x in parts["rosters"]}
    assert ("phone line", "week") in rosters and ("coordinator", "holiday") in rosters
    assert all(x["surplus_hours"] >= 0 for x in rosters.values())
