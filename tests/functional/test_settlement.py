"""Settlement by hand-computed examples: monthly statement, returned claims, § 96.

Rules: seed 004 §5.2 (monthly settlement, payment by the 15th, mileage yearly), §5.1
(local agreements outside the frame and § 96), §5.3 and seed 001 "Udmøntningen af
Aftale25" (§ 96 standardised by age and sex, 20 % from 2025).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from almen import settlement
from almen.reference import fee_schedule_for_year
from almen.warehouse import Warehouse
from tests.settlement_world import D, World, accepted_in_year, check_world


def _fees(wh: Warehouse, year: int = 2025) -> pl.DataFrame:
    fees = pl.from_arrow(wh.read_table("fee_schedule").to_pyarrow())
    assert isinstance(fees, pl.DataFrame)
    return fee_schedule_for_year(year, fees)


def _rules(wh: Warehouse) -> dict[int, str]:
    checked = check_world(wh)
    out = settlement.returned_lines(checked, settlement.load_return_rules())  # type: ignore[arg-type]
    return dict(zip(out["claim_id"].to_list(), out["rule"].to_list(), strict=True))


@pytest.fixture
def march_world(tmp_path: Path) -> Path:
    w = World(clinics=[("100001", "0101"), ("100002", "0101")])
    for pid in (1, 2, 3):
        w.patient(pid, "100001", birth_year=1950 + pid)
    w.patient(4, "100001", listed_from=D(2025, 2, 10))  # counts from 1 March
    w.patient(5, "100002")
    w.claim("100001", 1, "0101", D(2025, 3, 3))  # 1: accepted 200
    w.claim("100001", 1, "0101", D(2025, 3, 3))  # 2: duplicate of 1
    w.claim("100001", 2, "0201", D(2025, 3, 4))  # 3: accepted 30
    w.claim("100001", 3, "L002", D(2025, 3, 5))  # 4: local agreement 75 (age 72)
    w.claim("100001", 1, "V101", D(2025, 3, 8))  # 5: out of hours 330
    w.claim("100001", 1, "KM92", D(2025, 3, 8), quantity=12)  # 6: 12 km, paid yearly
    w.claim("100001", 99, "0101", D(2025, 3, 9))  # 7: unknown patient
    w.claim("100001", 2, "9999", D(2025, 3, 9))  # 8: unknown service
    w.claim("100001", 5, "0101", D(2025, 3, 10))  # 9: patient listed elsewhere
    w.claim("100001", 2, "0101", D(2025, 4, 2), month=D(2025, 3, 1))  # 10: after the period
    w.claim("100001", 2, "0101", D(2025, 3, 11), quantity=0)  # 11: invalid quantity
    w.claim("100001", 2, "2102", D(2025, 3, 12))  # 12: cytology, woman born 1952 (73)
    return w.write(tmp_path / "w")


def test_monthly_statement_matches_hand_computation(march_world: Path) -> None:
    """March 2025 for clinic 100001 (seed 004 §5.2, §5.1).

    listed on 1 March: patients 1-3 and 4 (listed 10 Feb) = 4
    capitation = 4 × 1,200 / 12 = 400
    daytime fee-for-service = 0101 (200) + 0201 (30) = 230
    out of hours = V101 330; local agreement = L002 75; mileage 12 km (paid yearly)
    returned: lines 2, 7, 8, 9, 10, 11, 12 = 7 lines worth 200 + 200 + 0 + 200 + 200
              + 0 (quantity 0) + 100 = 900
    total = 400 + 230 + 330 + 75 = 1,035, paid 15 April 2025
    """
    with Warehouse.connect(march_world) as wh:
        checked = check_world(wh, through=3)
        expo = settlement.exposure(wh.read_table("patient"), 2025)
        stmt = settlement.monthly_statement(
            expo, settlement.monthly_claims(checked), _fees(wh), year=2025, months=[2, 3]
        )
    row = stmt.filter((pl.col("provider_number") == "100001") & (pl.col("month") == D(2025, 3, 1)))
    r = row.to_dicts()[0]
    assert r["listed"] == 4
    assert r["capitation_dkk"] == pytest.approx(400.0)
    assert r["ffs_daytime_dkk"] == pytest.approx(230.0)
    assert r["ffs_ooh_dkk"] == pytest.approx(330.0)
    assert r["local_dkk"] == pytest.approx(75.0)
    assert r["mileage_km"] == pytest.approx(12.0)
    assert r["returned_lines"] == 7
    assert r["returned_dkk"] == pytest.approx(900.0)
    assert r["total_dkk"] == pytest.approx(1035.0)
    assert r["payment_date"] == D(2025, 4, 15)
    feb = stmt.filter((pl.col("provider_number") == "100001") & (pl.col("month") == D(2025, 2, 1)))
    assert feb["listed"].item() == 3  # patient 4 was listed after 1 February


def test_each_returned_line_carries_its_rule(march_world: Path) -> None:
    """Rules as data (claim_return_rule.csv, claim_rules.csv); seed 004 §5.2."""
    with Warehouse.connect(march_world) as wh:
        rules = _rules(wh)
    assert rules == {
        2: "duplicate",
        7: "unknown_patient",
        8: "unknown_service",
        9: "not_listed",
        10: "outside_period",
        11: "invalid_quantity",
        12: "age_sex",
    }


def test_returned_lines_have_reasons_in_danish_and_english(march_world: Path) -> None:
    with Warehouse.connect(march_world) as wh:
        out = settlement.returned_lines(check_world(wh), settlement.load_return_rules())  # type: ignore[arg-type]
    assert out["reason_da"].null_count() == 0
    assert out["reason_en"].null_count() == 0
    dup = out.filter(pl.col("rule") == "duplicate").to_dicts()[0]
    assert "Dobbelt" in dup["reason_da"] and "Duplicate" in dup["reason_en"]


def test_frequency_limits_per_day_and_per_year(tmp_path: Path) -> None:
    """0201 allows 3 a day (claim_rules.csv), 0120 once a year at any clinic. Three
    identical phone consultations on one day are all paid (before, the second came back
    as a duplicate, so the limit of three could never be reached); a fourth is over it."""
    w = World(clinics=[("100001", "0101")])
    w.patient(1, "100001")
    for band in ("day", "evening", "ooh", "day"):
        w.claim("100001", 1, "0201", D(2025, 5, 5), band=band)  # 1-4: ooh (3) is the 4th
    w.claim("100001", 1, "0120", D(2025, 2, 1))  # 5: first of the year
    w.claim("100001", 1, "0120", D(2025, 9, 1))  # 6: second in the year
    w.claim("100001", 1, "0201", D(2025, 5, 6))  # 7: another day
    w.claim("100001", 1, "0101", D(2027, 1, 1), month=D(2025, 12, 1))  # 8: outside
    for _ in range(3):
        w.claim("100001", 1, "0201", D(2025, 5, 7))  # 9-11: three identical calls, paid
    w.claim("100001", 1, "0201", D(2025, 5, 7))  # 12: the fourth identical line: over
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        rules = _rules(wh)
    assert rules == {3: "per_day", 6: "per_year", 8: "outside_period", 12: "per_day"}


def test_per_day_limit_counts_distinct_lines(tmp_path: Path) -> None:
    """0101 allows one a day: lines in other time bands are not duplicates but over it."""
    w = World(clinics=[("100001", "0101")])
    w.patient(1, "100001")
    w.claim("100001", 1, "0101", D(2025, 5, 5), band="evening")  # 1: over the day limit
    w.claim("100001", 1, "0101", D(2025, 5, 5), band="day")  # 2: kept (day sorts first)
    w.claim("100001", 1, "0101", D(2025, 5, 5), band="day")  # 3: duplicate of 2
    w.claim("100001", 1, "KM92", D(2025, 5, 5), quantity=10)  # 4: no day limit for km
    w.claim("100001", 1, "KM92", D(2025, 5, 5), quantity=12)  # 5: not a duplicate
    with Warehouse.connect(w.write(tmp_path / "w")) as wh:
        rules = _rules(wh)
    assert rules == {1: "per_day", 3: "duplicate"}


def test_future_service_date_comes_back(tmp_path: Path) -> None:
    w = World(clinics=[("100001", "0101")])
    w.patient(1, "100001")
    w.claim("100001", 1, "0101", D(2025, 12, 20))
    path = w.write(tmp_path / "w")
    with Warehouse.connect(path) as wh:
        checked = settlement.check_year(
            wh.read_table("claim"),
            wh.read_table("fee_schedule"),
            wh.read_table("patient"),
            settlement.load_service_rules(),
            year=2025,
            as_of=D(2025, 12, 15),
        )
        out = settlement.returned_lines(checked, settlement.load_return_rules())
    assert out["rule"].to_list() == ["future_date"]


# --- § 96 -------------------------------------------------------------------------------


def _ceiling(path: Path, year: int = 2025) -> dict[str, dict[str, object]]:
    with Warehouse.connect(path) as wh:
        checked = check_world(wh, year=year)
        accepted = accepted_in_year(checked, year)
        rep = settlement.ceiling_report(
            settlement.exposure(wh.read_table("patient"), year),
            accepted,
            settlement.clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year),
            capitation_per_year=1200.0,
            year=year,
        )
    return {r["provider_number"]: r for r in rep.to_dicts()}


def _consultations(w: World, provider: str, patients: list[int], n: int, year: int) -> None:
    """n consultations (200 DKK each) spread over the patients, one a day each."""
    for i in range(n):
        day = dt.date(year, 1, 1) + dt.timedelta(days=i // len(patients))
        w.claim(provider, patients[i % len(patients)], "0101", day)


@pytest.fixture
def crude_world(tmp_path: Path) -> Path:
    """Four clinics of 10 patients, one age-sex group, one region (Nordjylland)."""
    w = World(clinics=[(p, "0851") for p in ("A", "B", "C", "D")])
    pid = 0
    for clinic, n_claims in (("A", 60), ("B", 0), ("C", 30), ("D", 70)):
        ids = list(range(pid + 1, pid + 11))
        pid += 10
        for i in ids:
            w.patient(i, clinic, birth_year=1980, sex="F")
        _consultations(w, clinic, ids, n_claims, 2025)
    return w.write(tmp_path / "crude")


def test_ceiling_one_over_one_under_one_exactly_at_20_percent(crude_world: Path) -> None:
    """§ 96 by hand (seed 004 §5.3; seed 001: 20 % from 2025).

    Capitation 1,200 per patient-year, 10 patients a clinic, consultations at 200:
      A: 12,000 + 60 × 200 = 24,000 → 2,400 per patient
      B: 12,000 +  0       = 12,000 → 1,200
      C: 12,000 + 30 × 200 = 18,000 → 1,800
      D: 12,000 + 70 × 200 = 26,000 → 2,600
    regional average = 80,000 / 40 = 2,000 per patient; one age-sex group, so the
    standardised ratio equals the crude one: A 1.20 (exactly at the limit: over),
    B 0.60, C 0.90, D 1.30 (over).
    Ceiling on fee-for-service = 1.2 × 2,000 × 10 − 12,000 = 12,000 DKK a year,
    from the start of the quarter after the statement date (seed 004 §5.3: the default
    statement date 31 March 2026 gives 1 April 2026).
    """
    rep = _ceiling(crude_world)
    assert rep["A"]["crude_ratio"] == pytest.approx(1.2)
    assert rep["A"]["standardised_ratio"] == pytest.approx(1.2)
    assert rep["A"]["over"] is True
    assert rep["B"]["ratio"] == pytest.approx(0.6) and rep["B"]["over"] is False
    assert rep["C"]["ratio"] == pytest.approx(0.9) and rep["C"]["over"] is False
    assert rep["D"]["ratio"] == pytest.approx(1.3) and rep["D"]["over"] is True
    assert rep["D"]["expected_dkk"] == pytest.approx(20_000.0)
    assert rep["D"]["expenditure_dkk"] == pytest.approx(26_000.0)
    assert rep["D"]["ceiling_ffs_dkk"] == pytest.approx(12_000.0)
    assert rep["D"]["effective_from"] == D(2026, 4, 1)
    assert rep["B"]["ceiling_ffs_dkk"] is None
    assert "1.3 ≥ 1.20" in str(rep["D"]["why"])


def test_ceiling_before_2025_is_crude_at_25_percent(tmp_path: Path) -> None:
    """Seed 001: the limit went from 25 % to 20 % with settlement year 2025."""
    w = World(clinics=[(p, "0851") for p in ("A", "B", "C", "D")])
    pid = 0
    for clinic, n_claims in (("A", 60), ("B", 0), ("C", 30), ("D", 70)):
        ids = list(range(pid + 1, pid + 11))
        pid += 10
        for i in ids:
            w.patient(i, clinic, birth_year=1980, sex="F")
        _consultations(w, clinic, ids, n_claims, 2024)
    rep = _ceiling(w.write(tmp_path / "w"), year=2024)
    assert rep["A"]["method"] == "crude"
    assert rep["A"]["over"] is False  # 1.20 < 1.25
    assert rep["D"]["over"] is True  # 1.30 ≥ 1.25


def test_standardised_ratio_differs_from_crude_by_hand(tmp_path: Path) -> None:
    """Indirect standardisation by hand, one region, capitation 1,200:

      X: 10 old patients, ffs 6,000 → E = 18,000
      Y: 10 young, ffs 2,000        → E = 14,000
      Z: 5 old (ffs 4,000) + 5 young → E = 16,000 (old 10,000, young 6,000)
    rates: old = (18,000 + 10,000) / 15 = 1,866.67; young = (14,000 + 6,000) / 15 = 1,333.33
    expected: X 18,666.67, Y 13,333.33, Z 16,000
    standardised: X 0.9643, Y 1.05, Z 1.0
    crude (average 48,000 / 30 = 1,600): X 1.125, Y 0.875, Z 1.0
    """
    w = World(clinics=[(p, "0851") for p in ("X", "Y", "Z")])
    old = {"X": list(range(1, 11)), "Z": list(range(21, 26))}
    young = {"Y": list(range(11, 21)), "Z": list(range(26, 31))}
    for clinic, ids in old.items():
        for i in ids:
            w.patient(i, clinic, birth_year=1940, sex="M")
    for clinic, ids in young.items():
        for i in ids:
            w.patient(i, clinic, birth_year=2000, sex="M")
    _consultations(w, "X", old["X"], 30, 2025)
    _consultations(w, "Y", young["Y"], 10, 2025)
    _consultations(w, "Z", old["Z"], 20, 2025)
    rep = _ceiling(w.write(tmp_path / "w"))
    assert rep["X"]["expected_dkk"] == pytest.approx(18_666.667, abs=0.01)
    assert rep["X"]["standardised_ratio"] == pytest.approx(18_000 / 18_666.667, abs=1e-6)
    assert rep["X"]["crude_ratio"] == pytest.approx(1.125)
    assert rep["Y"]["standardised_ratio"] == pytest.approx(1.05)
    assert rep["Y"]["crude_ratio"] == pytest.approx(0.875)
    assert rep["Z"]["standardised_ratio"] == pytest.approx(1.0)
    # the expected amounts of a region sum to its expenditure
    total_e = sum(float(r["expenditure_dkk"]) for r in rep.values())  # type: ignore[arg-type]
    total_x = sum(float(r["expected_dkk"]) for r in rep.values())  # type: ignore[arg-type]
    assert total_x == pytest.approx(total_e)


def test_next_quarter_start() -> None:
    assert settlement.next_quarter_start(D(2025, 12, 31)) == D(2026, 1, 1)
    assert settlement.next_quarter_start(D(2025, 5, 2)) == D(2025, 7, 1)
    assert settlement.next_quarter_start(D(2025, 3, 31)) == D(2025, 4, 1)


def test_service_overview_by_hand(crude_world: Path) -> None:
    """Seed 004 §5.3 (ydelsesoverblik), clinic D of the crude world:

    D: 70 consultations on 10 patient-years = 7,000 per 1,000;
    region: 160 consultations on 40 patient-years = 4 a year → expected 40 = 4,000 per 1,000;
    deviation 70 / 40 − 1 = +75 %; contribution (14,000 − 8,000) / 20,000 = 0.30,
    which is D's whole excess ratio (1.30 − 1) since its capitation is as expected.
    """
    with Warehouse.connect(crude_world) as wh:
        checked = check_world(wh)
        accepted = accepted_in_year(settlement.claim_summary(checked, by_service=True))
        expo = settlement.exposure(wh.read_table("patient"), 2025)
        regions = settlement.clinic_regions(
            wh.read_table("clinic"), wh.read_table("municipality"), 2025
        )
    ov = settlement.service_overview("D", expo, accepted, regions, expected_total_dkk=20_000.0)
    row = ov.filter(pl.col("service_code") == "0101").to_dicts()[0]
    assert row["rate_per_1000"] == pytest.approx(7000.0)
    assert row["expected_per_1000"] == pytest.approx(4000.0)
    assert row["deviation"] == pytest.approx(0.75)
    assert row["contribution"] == pytest.approx(0.30)


def test_budget_frame_by_hand(crude_world: Path) -> None:
    """Seed 001 / danish-facts §1.3: the frame follows the group-1 insured.

    40 insured, frame 2,400 a year → January frame 40 × 200 = 8,000; capitation
    40 × 1,200 / 12 = 4,000; January consultations (all 160 fall in January) 32,000;
    expenditure 36,000; difference +28,000.
    """
    with Warehouse.connect(crude_world) as wh:
        checked = check_world(wh)
        rep = settlement.frame_report(
            settlement.exposure(wh.read_table("patient"), 2025),
            settlement.monthly_claims(checked),  # type: ignore[arg-type]
            settlement.clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), 2025),
            year=2025,
            capitation_per_year=1200.0,
            frame_per_insured_year=2400.0,
        )
    jan = rep.filter((pl.col("area") == "Danmark") & (pl.col("month") == D(2025, 1, 1))).to_dicts()[
        0
    ]
    assert jan["insured"] == 40
    assert jan["frame_dkk"] == pytest.approx(8000.0)
    assert jan["capitation_dkk"] == pytest.approx(4000.0)
    assert jan["ffs_dkk"] == pytest.approx(32_000.0)
    assert jan["difference_dkk"] == pytest.approx(28_000.0)
    region = rep.filter(pl.col("area") == "Region Nordjylland")
    assert region["frame_dkk"].sum() == pytest.approx(
        rep.filter(pl.col("area") == "Danmark")["frame_dkk"].sum()
    )
