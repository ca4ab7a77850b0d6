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


def _three_clinics(n_people: int) -> np.ndarray:
    """Clinics A (0 km), B (10 km east) and C (60 km east), one FTE each, with room for
    100, 50 and 10 of their own choosing; ``n_people`` living at A. The patients per
    clinic after listing."""
    from almen.geo import to_lonlat
    from almen.synth.clinics import Clinics, list_patients

    lonlat = to_lonlat(np.array([[0.0, 0.0], [10.0, 0.0], [60.0, 0.0]]))
    clinics = Clinics(
        provider_number=np.array(["100001", "100002", "100003"], dtype=object),
        muni=np.zeros(3, dtype=np.int16),
        form=np.array(["solo"] * 3, dtype=object),
        cluster=np.array(["x"] * 3, dtype=object),
        lon=lonlat[:, 0],
        lat=lonlat[:, 1],
        fte=np.ones(3),
        list_cap=np.array([100, 50, 10]),
        closed_to_new=np.zeros(3, dtype=bool),
    )
    rng = np.random.default_rng(0)
    people = to_lonlat(rng.normal(0.0, 0.3, (n_people, 2)))
    listing = list_patients(clinics, people, np.full(n_people, 40), np.ones(n_people, bool),
                            2025, rng)  # fmt: skip
    return np.bincount(listing.clinic, minlength=3)


def test_the_region_places_overflow_within_reach_before_any_list_goes_over_the_maximum() -> None:
    """Issue 18 item 3: people no chosen clinic takes go to the nearest clinic within
    reach (25 km) with room under the maximum list (2,400 per FTE), not all to the
    nearest one; only when every clinic within reach is full does one go over it.
    Before, all 2,840 left over went to A (2,940 on one FTE)."""
    from almen.synth import params as P

    a, b, c = _three_clinics(3_000)
    assert a == P.LIST_MAX_PER_FTE  # A filled to the maximum first (nearest)
    assert b == 3_000 - a - c  # the rest to B, 10 km away
    assert c <= 10  # C (60 km) takes only those who chose it
    a, b, c = _three_clinics(6_000)
    assert b == P.LIST_MAX_PER_FTE  # B full before anyone goes over the maximum
    assert a == 6_000 - b - c > P.LIST_MAX_PER_FTE  # then the nearest, over it
    assert c <= 10
