"""Fee-structure scenarios: hand-computed re-pricing, and bad scenario files.

Seed 001 "Udmøntningen af Aftale25": 2151 closed with its money moved to other services;
capitation raised; chronic fees raised in underserved areas; a structure by need.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.errors import InputError, ParameterError
from almen.settlement.scenario import (
    Move,
    Scenario,
    Supplement,
    compare,
    load_scenario,
    neutral_scenario,
)

PRICES = {"2151": 100.0, "0101": 200.0, "0120": 400.0}
CLINICS = pl.DataFrame(
    {
        "provider_number": ["P", "Q"],
        "form": ["solo", "partnership"],
        "region": ["Region Nordjylland", "Region Sjælland"],
        "underserved": [False, True],
        "patient_years": [10.0, 10.0],
        "need_units": [0.0, 10.0],
    }
)
ACTIVITY = pl.DataFrame(
    {
        "provider_number": ["P", "P", "Q"],
        "service_code": ["2151", "0101", "0101"],
        "units": [10.0, 20.0, 30.0],
    }
)


def _run(s: Scenario, **kw: object) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    per, tot = compare(
        s,
        activity=ACTIVITY,
        clinics=CLINICS,
        base_prices=PRICES,
        base_capitation=1000.0,
        **kw,  # type: ignore[arg-type]
    )
    return {r["provider_number"]: r for r in per.to_dicts()}, tot


def test_move_of_2151_by_hand() -> None:
    """2151's money (10 × 100 = 1,000) moves to 0101 (volume 50 × 200 = 10,000): 0101 × 1.1.

    P: 10,000 capitation + 20 × 200 × 1.1 = 14,400 (base 15,000: −4 %)
    Q: 10,000 + 30 × 200 × 1.1 = 16,600 (base 16,000: +3.75 %); the total is unchanged.
    """
    per, tot = _run(Scenario(name="2151", moves=(Move("2151", {"0101": 1.0}),)))
    assert per["P"]["scenario_dkk"] == pytest.approx(14_400.0)
    assert per["P"]["change_pct"] == pytest.approx(-4.0)
    assert per["Q"]["scenario_dkk"] == pytest.approx(16_600.0)
    assert tot["scenario_dkk"] == pytest.approx(tot["base_dkk"])


def test_capitation_weighted_by_need_by_hand() -> None:
    """Weights 1 + 0.1 × conditions: P 10, Q 10 + 1 = 11; the total (20 × 1,000) is kept:
    Q gets 1,000 × 11 × 20 / 21 = 10,476.19 and P 9,523.81."""
    per, tot = _run(Scenario(name="need", need_weight_per_condition=0.1))
    assert per["Q"]["scenario_dkk"] - 6000.0 == pytest.approx(10_476.19, abs=0.01)
    assert per["P"]["scenario_dkk"] - 5000.0 == pytest.approx(9_523.81, abs=0.01)
    assert tot["scenario_dkk"] == pytest.approx(tot["base_dkk"])


def test_supplement_in_underserved_areas_only() -> None:
    per, _ = _run(Scenario(name="s", supplements=(Supplement("underserved", ("0101",), 10.0),)))
    assert per["P"]["change_dkk"] == pytest.approx(0.0)
    assert per["Q"]["change_dkk"] == pytest.approx(600.0)  # 6,000 × 10 %


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.sampled_from(list(PRICES)), st.floats(-50, 200), max_size=3),
    st.floats(0.0, 2.0),
    st.one_of(st.none(), st.floats(100.0, 3000.0)),
)
def test_budget_neutral_scenario_totals_the_base_within_1_dkk(
    change: dict[str, float], need: float, cap: float | None
) -> None:
    s = Scenario(
        name="x",
        change_percent=change,
        need_weight_per_condition=need,
        capitation_price=cap,
        budget_neutral=True,
    )
    _, tot = _run(s)
    assert abs(tot["scenario_dkk"] - tot["base_dkk"]) < 1.0


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 10.0))
def test_scenario_identical_to_the_base_changes_nothing(units: float) -> None:
    act = ACTIVITY.with_columns(pl.col("units") + units)
    per, tot = compare(
        neutral_scenario(),
        activity=act,
        clinics=CLINICS,
        base_prices=PRICES,
        base_capitation=1000.0,
    )
    assert per["change_dkk"].abs().max() == 0.0
    assert tot["scenario_dkk"] == tot["base_dkk"]


def test_unknown_service_code_names_file_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('name = "x"\n\n[prices]\n"0101" = 180.0\n  "9999" = 1.0\n', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_scenario(f, set(PRICES))
    assert str(exc.value).startswith(f"{f}:5:3: input error: unknown service code '9999'")


def test_shares_of_a_move_must_sum_to_one(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[move]]\nfrom = "2151"\nto = { "0101" = 0.5 }\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"sum to 0\.5, not 1"):
        load_scenario(f, set(PRICES))


def test_bad_toml_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('name = "x"\n[prices\n', encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_scenario(f, set(PRICES))
    assert str(exc.value).startswith(f"{f}:2:")


def test_shipped_example_scenarios_load() -> None:
    codes = {"0101", "0102", "0120", "0121", "0125", "2151", "K001", "K002", "BASIS"}
    for path in sorted(Path("docs/scenarios").glob("*.toml")):
        assert load_scenario(path, codes).name


def test_a_share_of_a_service_moves_into_capitation_by_hand() -> None:
    """Issue 16 item 6: a quarter of 0101's money (50 × 200 = 10,000 → 2,500) moves into
    capitation. 0101 is paid 150 a line; capitation rises by 2,500 / 20 patient-years =
    125 to 1,125. P: 11,250 + 10 × 100 (2151) + 20 × 150 = 15,250; Q: 11,250 + 30 × 150
    = 15,750. Nothing is lost: the total is the base's 31,000, and nothing unplaced."""
    per, tot = _run(Scenario(name="cap", moves=(Move("0101", {"BASIS": 1.0}, 0.25),)))
    assert tot["capitation_dkk"] == pytest.approx(1125.0)
    assert tot["to_capitation_dkk"] == pytest.approx(2500.0)
    assert tot["unplaced_dkk"] == 0.0
    assert per["P"]["scenario_dkk"] == pytest.approx(15_250.0)
    assert per["Q"]["scenario_dkk"] == pytest.approx(15_750.0)
    assert tot["scenario_dkk"] == pytest.approx(31_000.0)


def test_money_for_a_service_with_no_activity_is_refused_unless_allowed() -> None:
    """0120 has no activity: moving 2151's money there cannot raise a price that nobody
    is paid; the comparison says so instead of losing 1,000 DKK, unless the scenario
    allows unplaced money, and then reports it."""
    move = (Move("2151", {"0120": 1.0}),)
    with pytest.raises(ParameterError, match=r"1,000 DKK would be moved .*0120"):
        _run(Scenario(name="x", moves=move))
    _, tot = _run(Scenario(name="x", moves=move, allow_unplaced=True))
    assert tot["unplaced_dkk"] == pytest.approx(1000.0)
    assert tot["scenario_dkk"] == pytest.approx(30_000.0)


def test_budget_neutral_solves_against_a_hand_computation() -> None:
    """Raise 0101 by 10 %. Base: capitation 20 × 1,000 + 2151 1,000 + 0101 10,000 =
    31,000; the scenario before solving: 20,000 + 1,000 + 11,000 = 32,000.

    Scale: k = 31,000 / 32,000 = 0.96875: P = (10,000 + 1,000 + 20 × 220) × k =
    14,918.75, Q = (10,000 + 30 × 220) × k = 16,081.25.
    Capitation: c = (31,000 − 12,000) / 20 = 950: P = 9,500 + 1,000 + 4,400 = 14,900,
    Q = 9,500 + 6,600 = 16,100."""
    up = {"0101": 10.0}
    per, tot = _run(Scenario(name="s", change_percent=up, budget_neutral=True))
    assert tot["scaling"] == pytest.approx(0.96875)
    assert per["P"]["scenario_dkk"] == pytest.approx(14_918.75)
    assert per["Q"]["scenario_dkk"] == pytest.approx(16_081.25)
    per, tot = _run(Scenario(name="c", change_percent=up, budget_neutral="capitation"))
    assert tot["capitation_dkk"] == pytest.approx(950.0)
    assert per["P"]["scenario_dkk"] == pytest.approx(14_900.0)
    assert per["Q"]["scenario_dkk"] == pytest.approx(16_100.0)


def test_move_share_and_neutral_mode_are_checked(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[[move]]\nfrom = "0101"\nshare = 1.5\nto = { "BASIS" = 1.0 }\n', encoding="utf-8")
    with pytest.raises(InputError, match="at most 1"):
        load_scenario(f, {*PRICES, "BASIS"})
    f.write_text('budget_neutral = "sometimes"\n', encoding="utf-8")
    with pytest.raises(InputError, match="capitation"):
        load_scenario(f, {*PRICES, "BASIS"})
    f.write_text('[[move]]\nfrom = "0101"\nshare = 0.5\nto = { "BASIS" = 1.0 }\n', encoding="utf-8")
    assert load_scenario(f, {*PRICES, "BASIS"}).moves[0].share == 0.5
