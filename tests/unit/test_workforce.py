"""Workforce projection (seed 001 "5.000 praktiserende læger")."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from almen.capacity.workforce import (
    AGES,
    WorkforceParams,
    minimum_intake,
    project,
    reach_probability,
)
from almen.errors import ParameterError


def _certain(**kw: object) -> WorkforceParams:
    stock = np.zeros(len(AGES), dtype=np.int64)
    stock[AGES == 40] = 100
    base = WorkforceParams(
        fill_rate=1.0, completion=1.0, entry_rate=1.0, training_years=1, in_training=0,
        stock=stock, leave_under_55=0.0, leave_55_59=0.0, leave_60_64=0.0,
        leave_65_69=0.0, leave_70_plus=0.0, intake=100, fill_rate_sd=0.0, completion_sd=0.0,
        entry_rate_sd=0.0, leave_sd=0.0, stock_sd=0.0, returners_pool=0, return_rate=0.0, return_rate_sd=0.0,
        employed_to_owner=0.0,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_projection_without_chance_by_hand() -> None:
    """100 GPs aged 40, nobody leaves, 100 posts a year all filled and completed after a
    year: 100 at the end of 2025, then +100 a year: 1,100 at the end of 2035."""
    out = project(_certain(), runs=3)
    assert out[0].tolist() == [100 + 100 * y for y in range(11)]


def test_everybody_leaving_at_once_leaves_only_the_new() -> None:
    out = project(_certain(leave_under_55=1.0), runs=2)
    assert out[0, 0] == 0 and out[0, 1] == 100  # the entrants of 2026 are 38 and stay


def test_more_posts_reach_the_target_more_often() -> None:
    p = WorkforceParams(target=4500)
    assert reach_probability(replace(p, intake=500), 500) >= reach_probability(p, 500)


def test_minimum_intake_is_the_smallest_that_reaches_the_probability() -> None:
    p = WorkforceParams(target=4500)
    n = minimum_intake(p, 0.8, runs=400)
    assert n is not None
    assert reach_probability(replace(p, intake=n), 400) >= 0.8
    assert reach_probability(replace(p, intake=n - 1), 400) < 0.8


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ParameterError, match="intake must not be negative"):
        project(WorkforceParams(intake=-1))
    with pytest.raises(ParameterError, match="fill_rate"):
        project(WorkforceParams(fill_rate=1.5))


def test_workforce_command_prints_both_intakes_and_the_minimum(call_cli) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("capacity", "workforce", "--runs", "300")
    assert result.exit_code == 0, result.output
    assert "350 training posts a year" in result.stdout
    assert "400 training posts a year" in result.stdout
    assert "smallest intake reaching 5,000" in result.stdout


def test_parameter_uncertainty_widens_the_interval_beyond_chance() -> None:
    """Issue 21 item 3: each run draws its own rates, leaving and stock; the 90 %
    interval of 2035 under 400 posts is then several times the binomial one."""
    from almen.capacity.workforce import UNCERTAIN

    p = WorkforceParams(intake=400)
    chance = replace(p, **{sd: 0.0 for _n, sd, _r in UNCERTAIN})  # type: ignore[arg-type]
    wide = np.percentile(project(p, 2000)[:, -1], [5, 95])
    narrow = np.percentile(project(chance, 2000)[:, -1], [5, 95])
    assert wide[1] - wide[0] > 4 * (narrow[1] - narrow[0])


def test_sensitivity_moves_each_parameter_the_right_way() -> None:
    """More filled, completed and entering trainees give more GPs in 2035, more leaving
    fewer; the table is sorted by the swing."""
    from almen.capacity.workforce import sensitivity

    t = sensitivity(WorkforceParams(intake=400), runs=200)
    by = {r["parameter"]: r for r in t.iter_rows(named=True)}
    for up in ("fill_rate", "completion", "entry_rate", "stock", "return_rate"):
        assert by[up]["at_p95"] > by[up]["at_p05"], up
    assert by["leave"]["at_p95"] < by["leave"]["at_p05"]
    assert t["swing"].to_list() == sorted(t["swing"].to_list(), reverse=True)


def test_the_extra_posts_start_in_their_year() -> None:
    """intake_from: before it the current 350, from it the new intake."""
    p = WorkforceParams(intake=400, intake_from=2027)
    assert [p.intake_in(y) for y in (2025, 2026, 2027, 2030)] == [350, 350, 400, 400]
    early = _certain(intake=200, intake_from=2030, current_intake=0)
    out = project(early, runs=2)[0]
    assert out[5] == 100 and out[6] == 300  # 2030 (index 5) adds none; its posts enter in 2031


def test_backcast_and_plo_reading_are_computed_from_the_model() -> None:
    """The back-cast runs 2009-2023 on the historic intake (docs/capacity.md has its
    figure against the public 3,499); PLO's reading holds when every filled post becomes
    a practising GP: 350 posts fall short of 5,000 by 2035 more often than not, 400
    reach it more often than not."""
    from almen.capacity.workforce import backcast, plo_reading

    b = backcast(WorkforceParams(), runs=500)
    assert b["p05"] < b["median"] < b["p95"] and b["year"] == 2023
    none = backcast(replace(WorkforceParams(), leave_under_55=0.5, leave_55_59=0.5), runs=200)
    assert none["median"] < b["median"]
    plo = plo_reading(WorkforceParams())
    assert reach_probability(replace(plo, intake=350), 1000) < 0.5
    assert reach_probability(replace(plo, intake=400), 1000) > 0.5
    assert reach_probability(WorkforceParams(intake=400), 1000) < 0.5  # the defaults: short
    # the reading turns on returners: PLO's world with the pool coming back at 2 % a year
    back = replace(plo, returners_pool=770, return_rate=0.02)
    assert reach_probability(replace(back, intake=350), 1000) > 0.5


def test_parameters_are_set_by_name_with_clear_errors(call_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from almen.capacity.workforce import with_settings

    p = with_settings(WorkforceParams(), {"entry_rate": "0.9", "intake_from": "2026"}, "--set")
    assert p.entry_rate == 0.9 and p.intake_from == 2026
    with pytest.raises(ParameterError, match="unknown parameter 'entry'"):
        with_settings(WorkforceParams(), {"entry": "1"}, "--set")
    with pytest.raises(ParameterError, match="must be a whole number"):
        with_settings(WorkforceParams(), {"intake": "350.5"}, "--set")
    cfg = tmp_path / "wf.toml"
    cfg.write_text("[workforce]\nentry_rate = 0.8\nleave_sd = 0\n", "utf-8")
    import json

    r = call_cli("capacity", "workforce", "--runs", "100", "--config", str(cfg), "--set",
                 "fill_rate=0.9", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)["meta"]
    assert meta["parameters"]["entry_rate"] == 0.8 and meta["parameters"]["fill_rate"] == 0.9
    assert meta["parameters"]["leave_sd"] == 0.0 and "backcast" in meta
    bad = call_cli("capacity", "workforce", "--set", "nonsense=1")
    assert bad.exit_code == 2 and "unknown parameter" in bad.stderr


def test_sex_role_and_fte_by_hand() -> None:
    """Issue 21 item 3: 100 GPs aged 40, all women (share 1, no slope), all employed at
    the start, every employed GP buys in within the year: 100 owners and 0 employed at
    the end of 2025; the 100 new GPs of 2026 are men who all start employed, then buy in.
    FTE: women 0.72, men 0.81, at 60 and over times 0.85 (the 40-year-olds reach 60 in
    2045, after the horizon)."""
    from almen.capacity.workforce import project_parts

    p = _certain(female_share=1.0, female_share_slope=0.0, employed_share=1.0,
                 employed_to_owner=1.0, entrant_female_share=0.0, entrant_employed_share=1.0)  # fmt: skip
    parts = project_parts(p, runs=2)
    assert parts["women"][0].tolist() == [100] * 11
    # 2025: the 100 employed women buy in; 2026: 100 men enter employed, buy in in 2027
    assert parts["owners"][0, :3].tolist() == [100, 100, 200]
    assert parts["employed"][0, :3].tolist() == [0, 100, 100]
    assert parts["fte"][0, 1] == pytest.approx(100 * 0.72 + 100 * 0.81)
    old = _certain(stock=np.where(AGES == 59, 100, 0).astype(np.int64), intake=0,
                   female_share=0.0, female_share_slope=0.0)  # fmt: skip
    fte = project_parts(old, runs=1)["fte"][0]
    assert fte[0] == pytest.approx(100 * 0.81 * 0.85)  # 60 at the end of 2025


def test_young_leavers_join_the_pool_and_return() -> None:
    """Leavers under return_max_age join the pool outside practice; with return_rate 1
    the whole pool comes back the next year as employed GPs; older leavers do not."""
    from almen.capacity.workforce import project_parts

    p = _certain(leave_under_55=1.0, intake=0, return_rate=0.0, employed_share=0.0)
    parts = project_parts(p, runs=1)
    assert parts["gps"][0, 0] == 0 and parts["pool"][0, 0] == 100
    back = project_parts(replace(p, return_rate=1.0), runs=1)
    # year 0: they leave and come back in the same year, employed; then leave again
    assert back["returned"][0, 0] == 100 and back["employed"][0, 0] == 100
    old = _certain(stock=np.where(AGES == 62, 100, 0).astype(np.int64), intake=0,
                   leave_60_64=1.0, return_rate=1.0)  # fmt: skip
    assert project_parts(old, runs=1)["pool"][0].tolist() == [0] * 11
    pooled = project_parts(_certain(returners_pool=770, return_rate=1.0, intake=0), runs=1)
    assert pooled["returned"][0, 0] == 770 and pooled["gps"][0, 0] == 870
