"""Issue 18 item 5: claims as a region receives them include the prophylaxis agreement's
child examinations (F101), childhood vaccinations (F301) and pregnancy examinations
(F201), scheduled by age (synth/claims.py ``_preventive``, params ``CHILD_*``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from almen.synth import params as P
from almen.synth.claims import in_year_share
from almen.warehouse import Warehouse


def test_in_year_share_worked_example() -> None:
    a = np.array([0.0, 0.0, 1.0, 3.0, 4.0])
    got = [in_year_share(a[:1], 5 / 12)[0], in_year_share(a[1:2], 1.25)[0],
           in_year_share(a[2:3], 2.0)[0], in_year_share(a[3:4], 4.0)[0],
           in_year_share(a[4:5], 4.0)[0]]  # fmt: skip
    assert got == pytest.approx([5 / 12, 0.75, 1.0, 1.0, 0.0])


@pytest.fixture(scope="module")
def lines(tiny_denmark: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        claim = wh.read_table("claim").to_polars()
        pat = wh.read_table("patient").to_polars()
    # age on 1 January of 2025 from the birth year (born in 2024 → 0)
    picked = (
        claim.filter(pl.col("service_code").is_in(["F101", "F201", "F301"]))
        .join(pat.select("patient_id", "sex", "birth_year"), on="patient_id")
        .with_columns(age=2024 - pl.col("birth_year").cast(pl.Int32))
    )
    return picked, pat.with_columns(age=2024 - pl.col("birth_year").cast(pl.Int32))


def test_child_examinations_follow_the_programme_by_age(lines) -> None:  # type: ignore[no-untyped-def]
    """Lines per child by age on 1 January: about 1.4 at age 0 (5 weeks, 5 months and 1
    year in part), about 0.9 at ages 1-4, none from 6; and from 6 there are none at all."""
    claims, pat = lines
    exams = claims.filter(pl.col("service_code") == "F101")
    per_age = exams.group_by("age").len()
    kids = pat.filter(pl.col("age") <= 6).group_by("age").len().rename({"len": "kids"})
    rate = dict(
        per_age.join(kids, on="age").select("age", pl.col("len") / pl.col("kids")).iter_rows()
    )
    take = P.CHILD_EXAMINATION_TAKE_UP
    assert rate[0] == pytest.approx((5 / 52 + 5 / 12 + 1) * take, rel=0.2)
    for a in (1, 2, 3, 4):
        assert rate[a] == pytest.approx(take, rel=0.2)
    assert exams.filter(pl.col("age") > 5).is_empty()


def test_vaccinations_at_the_programme_ages(lines) -> None:  # type: ignore[no-untyped-def]
    claims, _pat = lines
    vac = claims.filter(pl.col("service_code") == "F301")
    ages = set(vac["age"].unique().to_list())
    assert ages <= {0, 1, 3, 4, 11, 12} and {0, 3, 4, 11} <= ages
    assert vac.filter(pl.col("age") == 0).height > vac.filter(pl.col("age") == 4).height


def test_pregnancy_examinations_for_women_about_three_per_birth(lines) -> None:  # type: ignore[no-untyped-def]
    claims, pat = lines
    preg = claims.filter(pl.col("service_code") == "F201")
    assert set(preg["sex"].unique().to_list()) == {"F"}
    assert preg["age"].min() >= 18 and preg["age"].max() <= 45
    births = pat.filter(pl.col("age") == 0).height
    expected = births * P.PREGNANCY_EXAMINATIONS * P.PREGNANCY_EXAMINATION_TAKE_UP
    # births are counted over all persons, the lines over the listed patients' clinics
    assert preg.height == pytest.approx(expected, rel=0.15)
