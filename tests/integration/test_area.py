"""Issue 18 item 2: areas differ for more than age.

The municipal age × sex structure is Statistics Denmark's count (FOLK1A 1 January 2020)
fitted to the year's margins, not a density tilt; an area deprivation score from the
municipalities' disposable income (INDKP101 2023) shifts morbidity, contacts and
out-of-hours use, with the national age × sex rates kept by raking (synth/area.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from almen import reference
from almen.synth import area
from almen.synth.claims import contact_rates
from almen.synth.morbidity import generate_conditions
from almen.warehouse import Warehouse

HORSHOLM, KOBENHAVN, LAESO, GENTOFTE, LOLLAND = "0223", "0101", "0825", "0157", "0360"


def _old_share(df: pl.DataFrame, code_col: str) -> dict[str, float]:
    return dict(
        df.group_by(code_col)
        .agg(pl.col("persons").filter(pl.col("age") >= 65).sum() / pl.col("persons").sum())
        .iter_rows()
    )


def test_municipal_age_structure_is_the_counted_one() -> None:
    """Derived 2020 has each municipality's share aged 65+ within half a point of FOLK1A
    2020 (the seed), and the old density tilt's errors are gone: Hørsholm is older than
    the country (it came out younger), Læsø near its real 40 %, København near 10 %."""
    counted = _old_share(reference.load_municipality_age_sex_2020(), "code")
    derived = reference.derive_population(2020)
    got = _old_share(derived, "municipality")
    assert set(got) == set(counted) and len(got) == 98
    assert max(abs(got[c] - counted[c]) for c in got) < 0.005
    national = float(
        derived.filter(pl.col("age") >= 65)["persons"].sum() / derived["persons"].sum()
    )
    assert got[HORSHOLM] > national + 0.05
    assert 0.37 < got[LAESO] < 0.43 and 0.09 < got[KOBENHAVN] < 0.12


def test_derived_population_meets_the_years_margins_exactly() -> None:
    """2025: municipality totals exact, national age × sex within rounding (one person per
    municipality at most per cell)."""
    pop = reference.derive_population(2025)
    totals = reference.load_municipality_totals(2025)
    by_muni = pop.group_by("municipality").agg(pl.col("persons").sum())
    j = totals.join(by_muni, left_on="code", right_on="municipality")
    assert (j["persons"] == j["persons_right"]).all()
    nat = reference.load_national_population(2025)
    got = pop.group_by(["age", "sex"]).agg(pl.col("persons").sum())
    k = nat.join(got, on=["age", "sex"])
    assert len(k) == len(nat)
    assert (k["persons"] - k["persons_right"]).abs().max() <= 98


def test_deprivation_ranks_poor_areas_above_rich_ones() -> None:
    income = reference.load_municipality_income()
    pop = reference.load_municipality_totals(2025)
    dep = dict(area.deprivation_by_municipality(income, pop).iter_rows())
    assert len(dep) == 98
    assert dep[LOLLAND] > 1.0 and dep[GENTOFTE] < -1.0
    assert max(dep.values()) <= area.CLIP and min(dep.values()) >= -area.CLIP
    w = pop["persons"].to_numpy()
    d = np.array([dep[c] for c in pop["code"].to_list()])
    assert abs(np.average(d, weights=w)) < 0.1  # centred on the population


def test_raked_factor_keeps_every_age_sex_mean() -> None:
    rng = np.random.default_rng(3)
    age = rng.integers(0, 101, 50_000).astype(np.int16)
    female = rng.random(50_000) < 0.5
    dep = rng.normal(0, 1, 50_000)
    f = area.raked_factor(dep, age, female, 0.3)
    cell = age.astype(int) * 2 + female
    means = np.bincount(cell, weights=f) / np.bincount(cell)
    assert np.allclose(means[np.bincount(cell) > 0], 1.0)
    # within a cell the factor rises with deprivation
    one = cell == cell[0]
    order = np.argsort(dep[one])
    assert np.all(np.diff(f[one][order]) >= 0)


def test_deprivation_shifts_prevalence_between_areas_not_nationally() -> None:
    """Same persons with and without the area factor: the national prevalence of type 2
    diabetes by sex and 10-year band stays within sampling error, while among the same
    ages the most deprived fifth has clearly more than the least deprived fifth."""
    rng = np.random.default_rng(5)
    n = 400_000
    age = rng.integers(30, 90, n).astype(np.int16)
    female = rng.random(n) < 0.5
    dep = rng.normal(0, 1, n)
    factor = area.raked_factor(dep, age, female, area.CONDITION_GRADIENT)
    flat = generate_conditions(age, female, 2025, np.random.default_rng(1)).has["diabetes"]
    shifted = generate_conditions(age, female, 2025, np.random.default_rng(1), area=factor)
    dia = shifted.has["diabetes"]
    band = age // 10
    for b in np.unique(band):
        for sex in (False, True):
            m = (band == b) & (female == sex)
            p = flat[m].mean()
            se = np.sqrt(p * (1 - p) / m.sum())
            assert abs(dia[m].mean() - p) < 4 * se + 1e-3
    lo, hi = np.quantile(dep, [0.2, 0.8])
    assert dia[dep >= hi].mean() > 1.3 * dia[dep <= lo].mean()
    assert abs(flat[dep >= hi].mean() / flat[dep <= lo].mean() - 1) < 0.05


def test_contact_rates_follow_deprivation_at_equal_age_and_morbidity() -> None:
    age = np.full(1000, 50, dtype=np.int16)
    female = np.zeros(1000, dtype=bool)
    dep = np.linspace(-2, 2, 1000)
    factor = area.raked_factor(dep, age, female, area.CONTACT_GRADIENT)
    r = contact_rates(age, female, np.zeros(1000, dtype=np.int8), 5000.0, area=factor)
    assert np.isclose(r.sum(), 5000.0)
    assert np.isclose(r[-1] / r[0], np.exp(4 * area.CONTACT_GRADIENT))


def test_poor_municipalities_have_more_diabetes_at_the_same_age(tiny_denmark: Path) -> None:
    """In a generated Denmark, the age- and sex-standardised prevalence of type 2 diabetes
    (T90) is higher in the most deprived quarter of municipalities than in the least
    deprived quarter (before the layer both were the national rate)."""
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        pat = wh.read_table("patient").to_polars()
        cond = wh.read_table("condition").to_polars()
    dep = area.deprivation_by_municipality(
        reference.load_municipality_income(), reference.load_municipality_totals(2025)
    )
    lo, hi = np.quantile(dep["deprivation"].to_numpy(), [0.25, 0.75])
    t90 = cond.filter(pl.col("code") == "T90").select("patient_id").unique()
    df = (
        pat.select("patient_id", "municipality", "sex", band=(2024 - pl.col("birth_year")) // 10)
        .join(dep, left_on="municipality", right_on="code")
        .with_columns(t90=pl.col("patient_id").is_in(t90["patient_id"].implode()))
    )
    national = df.group_by(["sex", "band"]).agg(rate=pl.col("t90").mean())

    def standardised_ratio(mask: pl.Expr) -> float:
        sub = df.filter(mask).join(national, on=["sex", "band"])
        return float(sub["t90"].sum() / sub["rate"].sum())  # observed / expected

    poor = standardised_ratio(pl.col("deprivation") >= hi)
    rich = standardised_ratio(pl.col("deprivation") <= lo)
    assert poor > 1.1 * rich
