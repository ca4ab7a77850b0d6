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
        leave_65_69=0.0, leave_70_plus=0.0, intake=100,
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
