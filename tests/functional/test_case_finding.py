"""Case finding: for each definition, patients built to fall just inside and just outside.

Definitions: reference/data/case_definitions.toml (seed 002 §2; seed 003).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from almen import population, reference
from almen.warehouse import Warehouse
from tests.settlement_world import D, World

AS_OF = D(2025, 12, 31)
C = "100001"


def _world(tmp_path: Path) -> Path:
    w = World(clinics=[(C, "0101")])
    births = {7: 1949, 8: 1951, 9: 1940}
    for pid in range(1, 21):
        w.patient(pid, C, birth_year=births.get(pid, 1970))
    w.claim(C, 5, "0101", D(2024, 12, 30), month=D(2024, 12, 1))  # before the look-back
    w.claim(C, 6, "0201", D(2025, 1, 5))  # inside the look-back
    w.claim(C, 9, "0121", D(2025, 6, 1))  # a preventive home visit this year
    path = w.write(tmp_path / "w")
    conds = [
        (1, "P76", "psychiatry"),  # psychiatric, secondary care: inside
        (2, "P76", "gp"),  # psychiatric, diagnosed by the GP: outside
        (3, "P85", "gp"),  # intellectual disability: inside
        (5, "T90", "gp"),  # diabetes, no contact in 12 months: rarely in contact
        (6, "T90", "gp"),  # diabetes, a contact in January: outside
        (7, "K86", "gp"), (7, "R95", "hospital"),  # 75, two conditions: frail
        (8, "K86", "gp"), (8, "R95", "hospital"),  # 73: outside by age
        (9, "K86", "gp"), (9, "R95", "hospital"),  # 84 but visited this year: outside
    ]  # fmt: skip
    meds = (
        [(11, f"A0{i}XX01") for i in range(6)]  # 6 drugs: score 6
        + [(12, a) for a in ("N05AA01", "N06AB01", "C07AB02", "C08CA01", "B01AC06")]  # 5 + 2
        + [(13, f"A0{i}XX01") for i in range(4)]  # 4 drugs: score 4, just outside the cut
    )
    with Warehouse.connect(path) as wh:
        wh.write_table(
            "condition",
            pa.table(
                {
                    "patient_id": pa.array([c[0] for c in conds], pa.int64()),
                    "code": [c[1] for c in conds],
                    "onset_date": pa.array([D(2020, 1, 1)] * len(conds), pa.date32()),
                    "diagnosed_by": [c[2] for c in conds],
                }
            ),
        )
        wh.write_table(
            "medication",
            pa.table(
                {
                    "patient_id": pa.array([m[0] for m in meds], pa.int64()),
                    "atc": [m[1] for m in meds],
                    "start_date": pa.array([D(2024, 1, 1)] * len(meds), pa.date32()),
                    "end_date": pa.array([None] * len(meds), pa.date32()),
                }
            ),
        )
    return path


@pytest.fixture
def found(tmp_path: Path) -> dict[str, set[int]]:
    defs = population.load_definitions()
    with Warehouse.connect(_world(tmp_path)) as wh:
        feats = population.patient_features(
            wh.read_table("patient"),
            wh.read_table("condition"),
            wh.read_table("medication"),
            wh.read_table("claim"),
            reference.load_condition_codes(),
            as_of=AS_OF,
            definitions=defs,
        )
    out = population.apply_definitions(feats, defs, target_share=0.1)  # 20 listed → top 2
    return {
        d: set(out.filter(out["definition"] == d)["patient_id"].to_list())
        for d in population.DEFINITIONS
    }


def test_psychiatric_illness_diagnosed_in_secondary_care(found: dict[str, set[int]]) -> None:
    assert 1 in found["psychiatric_secondary"]
    assert 2 not in found["psychiatric_secondary"]


def test_intellectual_disability(found: dict[str, set[int]]) -> None:
    assert found["intellectual_disability"] == {3}


def test_polypharmacy_is_the_top_of_the_list_by_score(found: dict[str, set[int]]) -> None:
    """Scores: 12 → 5 drugs + 2 for N05 with N06 = 7; 11 → 6; 13 → 4 (cut after two)."""
    assert found["polypharmacy"] == {11, 12}


def test_chronically_ill_rarely_in_contact(found: dict[str, set[int]]) -> None:
    assert 5 in found["rarely_in_contact"]  # last contact 30 Dec 2024, 12 months + 1 day
    assert 6 not in found["rarely_in_contact"]


def test_frail_elderly_for_a_preventive_home_visit(found: dict[str, set[int]]) -> None:
    assert 7 in found["frail_elderly"]  # born 1949: 75 on 31 Dec 2025 by the birth-year rule
    assert 8 not in found["frail_elderly"]  # 73
    assert 9 not in found["frail_elderly"]  # visited in June


def test_findings_for_an_unknown_clinic_exit_2(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "findings", "--clinic", "000000")
    assert result.exit_code == 2
    assert "no clinic 000000" in result.stderr


def test_findings_for_the_country_suppress_small_counts(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "findings", "--as-of", "2025-12-31")
    assert result.exit_code == 0, result.output
    assert "0-7 hidden" in result.stdout and "rounded to 5" in result.stdout


def test_aggregates_by_area_show_no_count_from_0_to_7(tiny_denmark: Path) -> None:
    """Issue 13: every level's published counts, list sizes too, are hidden (0-7) or
    rounded to 5, and within 2 of the truth (tests/disclosure plays the attacker)."""
    defs = population.load_definitions()
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        feats = population.warehouse_features(wh, as_of=AS_OF, definitions=defs)
        area = population.clinic_areas(wh)
    counts = population.clinic_counts(population.apply_definitions(feats, defs), feats)
    pub = population.published(counts, area)
    assert set(pub["level"].to_list()) == set(population.LEVELS)
    for level in population.LEVELS:
        true = population.aggregate(counts, area, level).with_columns(pl.col("area").cast(pl.Utf8))
        mine = pub.filter(pl.col("level") == level)
        for col in ("list_size", "patients"):
            visible = mine[col].drop_nulls().to_list()
            assert all(v >= 10 and v % 5 == 0 for v in visible), (level, col)
        for r in mine.iter_rows(named=True):
            t = true.filter(pl.col("area") == r["area"]).row(0, named=True)[r["definition"]]
            # hidden: 0-7, or a total hidden by the audit; else within 2 of the truth
            assert r["patients"] is None or abs(r["patients"] - t) <= 2
    hidden = pub.filter(pl.col("patients").is_null())
    assert len(hidden) > 0  # the tiny Denmark has small cells to protect


def test_funnel_limits_by_hand() -> None:
    """Spiegelhalter funnel, two clinics of 100 with 50 and 70 met: p0 = 120 / 200 = 0.6;
    z = (0.5 − 0.6) / √(0.24 / 100) = −2.04 and +2.04; winsorising two values changes
    nothing, so φ = 4.17; the 95 % limits are 0.6 ± 1.96 √(4.17 × 0.24 / 100)."""
    import polars as pl

    from almen.population.indicators import funnel

    counts = pl.DataFrame(
        {"provider_number": ["A", "B"], "indicator": ["i", "i"], "n": [100, 100], "x": [50, 70]}
    )
    area = pl.DataFrame(
        {"provider_number": ["A", "B"], "cluster": ["c", "c"], "region": ["r", "r"]}
    )
    out = {r["provider_number"]: r for r in funnel(counts, area).to_dicts()}
    z = 0.1 / (0.24 / 100) ** 0.5
    assert out["A"]["phi"] == pytest.approx(z * z, rel=1e-6)
    half = 1.959964 * (z * z * 0.24 / 100) ** 0.5
    assert out["A"]["lower95"] == pytest.approx(0.6 - half, rel=1e-6)
    assert out["A"]["cluster_p"] == pytest.approx(0.6)
    assert out["A"]["flag"] == ""  # overdispersion absorbs a spread both clinics share


def test_indicators_for_a_cluster_and_an_unknown_one(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    bad = call_cli("--data", str(tiny_denmark), "indicators", "--cluster", "Nowhere")
    assert bad.exit_code == 2 and "no cluster 'Nowhere'" in bad.stderr
    ok = call_cli(
        "--data", str(tiny_denmark), "indicators", "--region", "Region Sjælland",
        "--as-of", "2025-12-31",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "diabetes_control" in ok.stdout


def test_indicator_standardised_by_age_and_sex_by_hand() -> None:
    """Indirect standardisation: national shares old 80/100 = 0.8, young 80/200 = 0.4,
    overall p0 = 160/300. A (50 old, 40 met; 50 young, 20 met): crude 0.6, expected
    40 + 20 = 60 = observed, so standardised = p0. B (50 old, 40; 150 young, 60): crude
    0.5, expected 40 + 60 = 100 = observed: also p0. The crude difference is all age.
    (Counts are multiples of 5, so publishing them rounds nothing.)"""
    import polars as pl

    from almen.population.indicators import funnel

    counts = pl.DataFrame(
        {
            "provider_number": ["A", "A", "B", "B"],
            "indicator": ["i"] * 4,
            "age_band": [80, 20, 80, 20],
            "sex": ["F"] * 4,
            "n": [50, 50, 50, 150],
            "x": [40, 20, 40, 60],
        }
    )
    area = pl.DataFrame(
        {"provider_number": ["A", "B"], "cluster": ["c", "c"], "region": ["r", "r"]}
    )
    out = {r["provider_number"]: r for r in funnel(counts, area).to_dicts()}
    assert out["A"]["p"] == pytest.approx(0.6) and out["B"]["p"] == pytest.approx(0.5)
    assert out["A"]["p_std"] == pytest.approx(32 / 60)
    assert out["B"]["p_std"] == pytest.approx(32 / 60)
