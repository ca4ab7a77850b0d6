"""Rules of the synthetic generator that are documented with a worked example."""

from __future__ import annotations

import numpy as np
import pytest

from almen.synth.clinics import close_probability


def test_close_probability_matches_worked_example_in_docs() -> None:
    # docs/synthetic-denmark.md: load 1.15 -> 0.82; load 0.90 -> capped at 0.20
    p = close_probability(np.array([1.15, 0.90]))
    assert p[0] == pytest.approx(0.822, abs=0.001)
    assert p[1] == pytest.approx(0.20)


def test_close_probability_rises_with_load_and_caps_below_limit() -> None:
    load = np.linspace(0.5, 2.0, 151)
    p = close_probability(load)
    above = load >= 1.0
    assert np.all(np.diff(p[above]) > 0)
    assert p[~above].max() <= 0.20
    assert p[-1] > 0.99


def test_density_dependent_measures_are_marked_below_scale_1() -> None:
    """Citizens without free choice depend on how close clinics are: a smaller run has
    the same area with fewer clinics, so the row says to compare at scale 1."""
    from almen.synth.calibration import DENSITY_NOTE, calibration_table

    gen = {"without_free_choice": 1000.0, "gps": 10.0}
    small = {r["measure"]: r["source"] for r in calibration_table(gen, 0.05).iter_rows(named=True)}
    full = {r["measure"]: r["source"] for r in calibration_table(gen, 1.0).iter_rows(named=True)}
    assert small["without_free_choice"].endswith(DENSITY_NOTE)
    assert not full["without_free_choice"].endswith(DENSITY_NOTE)
    assert small["gps"] == full["gps"]
