"""Case finding: for each definition, patients built to fall just inside and just outside.

Definitions: reference/data/case_definitions.toml (seed 002 §2; seed 003).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from almen import population
from almen.warehouse import Warehouse
from tests.settlement_world import D, World

AS_OF = D(2025, 12, 31)
C = "100001"
# hypertension, COPD, knee arthrosis, heart failure, atrial fibrillation: five of the 36
# deficits of efi_deficits.csv, an index of 5 / 36 = 0.14, "mild" (above 0.12)
FRAIL = ("K86", "R95", "L90", "K77", "K78")


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
        *[(p, c, "gp") for p in (7, 8, 9) for c in FRAIL],  # five eFI deficits: mild
        (10, "K86", "gp"), (10, "R95", "gp"), (10, "L90", "gp"), (10, "K77", "gp"),  # four: fit
        (11, "K86", "gp"), (11, "T90", "gp"),  # two conditions (drugs below)
        (12, "K86", "gp"),  # one condition
        (13, "K86", "gp"), (13, "T90", "gp"),
        (14, "K86", "gp"), (14, "T90", "gp"),
    ]  # fmt: skip
    meds = (
        [(11, f"A0{i}XX01") for i in range(6)]  # 6 drugs, 2 conditions: inside
        + [(12, a) for a in ("N05AA01", "N06AB01", "C07AB02", "C08CA01", "B01AC06")]  # 1 cond.
        + [(13, f"A0{i}XX01") for i in range(4)]  # 4 drugs: just outside
        + [(14, f"A0{i}XX01") for i in range(5)]  # 5 drugs, 2 conditions: just inside
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
            as_of=AS_OF,
            definitions=defs,
        )
    out = population.apply_definitions(feats, defs)
    return {
        d: set(out.filter(out["definition"] == d)["patient_id"].to_list())
        for d in population.DEFINITIONS
    }


def test_psychiatric_illness_diagnosed_in_secondary_care(found: dict[str, set[int]]) -> None:
    assert 1 in found["psychiatric_secondary"]
    assert 2 not in found["psychiatric_secondary"]


def test_intellectual_disability(found: dict[str, set[int]]) -> None:
    assert found["intellectual_disability"] == {3}


def test_polypharmacy_by_the_objective_rule(found: dict[str, set[int]]) -> None:
    """Seed 002 §2.3: ≥ 5 drugs and ≥ 2 chronic conditions. 11 (6 drugs, 2) and 14 (5, 2)
    are inside; 12 (5 drugs, risky pairs, but 1 condition) and 13 (4 drugs) outside."""
    assert found["polypharmacy"] == {11, 14}


def test_chronically_ill_rarely_in_contact(found: dict[str, set[int]]) -> None:
    assert 5 in found["rarely_in_contact"]  # last contact 30 Dec 2024, 12 months + 1 day
    assert 6 not in found["rarely_in_contact"]


def test_frail_elderly_for_a_preventive_home_visit(found: dict[str, set[int]]) -> None:
    """Seed 002 §2, §8.2: 75+ with a frailty index above fit and no preventive visit."""
    assert 7 in found["frail_elderly"]  # born 1949: 75 on 31 Dec 2025 by the birth-year rule
    assert 8 not in found["frail_elderly"]  # 73
    assert 9 not in found["frail_elderly"]  # visited in June
    assert 10 not in found["frail_elderly"]  # born 1970 and four deficits


def test_frailty_index_counts_deficits_and_bands_them(tmp_path: Path) -> None:
    """eFI manner (Clegg 2016): deficits present / 36, fit ≤ 0.12 < mild ≤ 0.24."""
    defs = population.load_definitions()
    assert defs.frailty is not None and len(defs.frailty.deficits) == 36
    with Warehouse.connect(_world(tmp_path)) as wh:
        f = population.warehouse_features(wh, as_of=AS_OF, definitions=defs)
    by = {r["patient_id"]: r for r in f.iter_rows(named=True)}
    assert by[7]["efi_deficits"] == 5 and by[7]["efi"] == pytest.approx(5 / 36)
    assert by[7]["frailty"] == "mild"
    assert by[10]["efi_deficits"] == 4 and by[10]["frailty"] == "fit"
    # 12 has five drugs: the polypharmacy deficit, beside hypertension
    assert by[12]["efi_deficits"] == 2


def test_findings_for_an_unknown_clinic_exit_2(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "findings", "--clinic", "000000")
    assert result.exit_code == 2
    assert "no clinic 000000" in result.stderr


def test_findings_for_the_country_suppress_small_counts(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "findings", "--as-of", "2025-12-31")
    assert result.exit_code == 0, result.output
    assert "0-7 hidden" in result.stdout and "rounded to 5" in result.stdout


RARE_GROUP = """
[groups.rare_combination]
name_da = "Udviklingshæmning og psykisk sygdom i sekundærsektoren"
name_en = "Intellectual disability and psychiatric illness in secondary care"
seed = "a test's own group: few patients a clinic"
where = "intellectual_disability_dx and psychiatric_dx_secondary"
reason_en = "both"
reason_da = "begge"
"""


def _with_rare_group(tmp_path: Path) -> population.Definitions:
    """The shipped definitions and one group that few patients of a clinic meet, so the
    tiny Denmark has small cells whatever its data (a copy beside its code lists)."""
    import shutil

    from almen.population.definitions import DEFAULT_FILE

    src = DEFAULT_FILE.parent
    shutil.copytree(src / "codelists", tmp_path / "codelists")
    shutil.copy(src / "efi_deficits.csv", tmp_path / "efi_deficits.csv")
    path = tmp_path / "definitions.toml"
    path.write_text(DEFAULT_FILE.read_text(encoding="utf-8") + RARE_GROUP, encoding="utf-8")
    return population.load_definitions(path)


def test_aggregates_by_area_show_no_count_from_0_to_7(tiny_denmark: Path, tmp_path: Path) -> None:
    """Issue 13: every level's published counts, list sizes too, are hidden (0-7) or
    rounded to 5, and within 2 of the truth (tests/disclosure plays the attacker)."""
    defs = _with_rare_group(tmp_path)
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
    """Funnel on the arcsine square-root scale (FunnelPlotR's "PR"), two clinics of 100
    with 50 and 70 met: p0 = 0.6, target asin √0.6, s = 1 / (2 √100) = 0.05; z-scores
    winsorised at the 10th/90th percentile, φ = mean z², and with w = 1 / s² = 400 each
    τ² = (2 φ − 1) / (800 − 400); limits sin²(target ± 1.96 √(s² + τ²))."""
    import math

    import numpy as np
    import polars as pl

    from almen.population.indicators import funnel

    counts = pl.DataFrame(
        {"provider_number": ["A", "B"], "indicator": ["i", "i"], "n": [100, 100], "x": [50, 70]}
    )
    area = pl.DataFrame(
        {"provider_number": ["A", "B"], "cluster": ["c", "c"], "region": ["r", "r"]}
    )
    out = {r["provider_number"]: r for r in funnel(counts, area).to_dicts()}
    t = math.asin(math.sqrt(0.6))
    z = np.array([(math.asin(math.sqrt(0.5)) - t) / 0.05, (math.asin(math.sqrt(0.7)) - t) / 0.05])
    lo, hi = np.quantile(z, [0.1, 0.9])
    phi = float(np.mean(np.clip(z, lo, hi) ** 2))
    tau2 = (2 * phi - 1) / (800 - 400)
    assert out["A"]["phi"] == pytest.approx(phi, rel=1e-9)
    assert out["A"]["tau2"] == pytest.approx(tau2, rel=1e-9)
    assert out["A"]["lower95"] == pytest.approx(
        math.sin(t - 1.959964 * math.sqrt(0.05**2 + tau2)) ** 2, rel=1e-9
    )
    assert out["A"]["cluster_p"] == pytest.approx(0.6)
    assert out["A"]["flag"] == ""  # the spread between clinics absorbs a difference both share


# BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg): tpos, tneg, cpos, cneg
BCG = [(4, 119, 11, 128), (6, 300, 29, 274), (3, 228, 11, 209), (62, 13536, 248, 12619),
       (33, 5036, 47, 5761), (180, 1361, 372, 1079), (8, 2537, 10, 619),
       (505, 87886, 499, 87892), (29, 7470, 45, 7232), (17, 1699, 65, 1600),
       (186, 50448, 141, 27197), (5, 2493, 3, 2338), (27, 16886, 29, 17825)]  # fmt: skip


def test_dersimonian_laird_reproduces_the_published_bcg_example() -> None:
    """The τ² estimator of the funnel is DerSimonian and Laird's: on the 13 BCG trials
    (log risk ratios) metafor's rma(method="DL") and Stata's metan report Q = 152.2330,
    τ² = 0.3088 and a pooled log RR of −0.7141 (metafor's tests against metan)."""
    import numpy as np

    from almen.population.indicators import dl_tau2

    a, b, c, d = (np.array(col, dtype=float) for col in zip(*BCG, strict=True))
    y = np.log((a / (a + b)) / (c / (c + d)))
    v = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    w = 1 / v
    fixed = (w * y).sum() / w.sum()
    z, s = (y - fixed) / np.sqrt(v), np.sqrt(v)
    phi, tau2 = dl_tau2(z, s, winsorise=None)
    assert len(BCG) * phi == pytest.approx(152.2330, abs=5e-4)
    assert tau2 == pytest.approx(0.3088, abs=5e-5)
    ws = 1 / (v + tau2)
    assert (ws * y).sum() / ws.sum() == pytest.approx(-0.7141, abs=5e-5)


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
