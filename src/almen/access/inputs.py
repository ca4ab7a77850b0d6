"""The access engines' inputs, read from the warehouse (the only module of the domain
that knows the warehouse)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from almen import reference
from almen.errors import NotFoundError
from almen.reference import CONTACT_CODES
from almen.warehouse import Warehouse

__all__ = ["SPECIAL_EFFORT_GROUPS", "clinic_inputs", "load_case_mix"]

# seed 002 §2: special efforts for psychiatric illness and intellectual disability
SPECIAL_EFFORT_GROUPS = ("schizophrenia", "bipolar_disorder", "intellectual_disability")


def load_case_mix() -> pl.DataFrame:
    """reason, share: the mix of requests (reference/data/request_mix.csv, assumptions)."""
    return pl.read_csv(reference.DATA_DIR / "request_mix.csv")


def clinic_inputs(
    wh: Warehouse, provider_number: str, year: int
) -> tuple[list[float], float, pl.DataFrame]:
    """For one clinic: daytime contacts a day by weekday (Monday..Sunday, from the
    year's claims), the doctors' FTE, and its listed people (age, sex, chronic,
    special_effort)."""
    clinic = wh.read_table("clinic")
    if clinic.filter(clinic.provider_number == provider_number).count().execute() == 0:
        raise NotFoundError(f"no clinic with provider number {provider_number!r}")
    c = wh.read_table("claim")
    c = c.filter(
        (c.provider_number == provider_number)
        & (c.service_date >= dt.date(year, 1, 1))
        & (c.service_date <= dt.date(year, 12, 31))
        & c.service_code.isin(list(CONTACT_CODES))
        & (c.time_band != "ooh")
    )
    by_day = c.group_by(wd=c.service_date.day_of_week.index()).aggregate(n=c.count()).to_polars()
    days = [0] * 7
    d = dt.date(year, 1, 1)
    while d.year == year:
        days[d.weekday()] += 1
        d += dt.timedelta(days=1)
    counts = dict(zip(by_day["wd"].to_list(), by_day["n"].to_list(), strict=True))
    per_weekday = [counts.get(i, 0) / days[i] for i in range(7)]
    doc = wh.read_table("doctor")
    fte = doc.filter(doc.provider_number == provider_number).fte.sum().execute()
    p = wh.read_table("patient")
    p = p.filter(p.provider_number == provider_number)
    codes = reference.load_condition_codes()
    special = codes.filter(pl.col("condition_group").is_in(SPECIAL_EFFORT_GROUPS))["icpc2_code"]
    cond = wh.read_table("condition")
    cond = cond.filter(cond.onset_date <= dt.date(year, 12, 31))
    flags = cond.group_by("patient_id").aggregate(
        special_effort=cond.code.isin(special.to_list()).any()
    )
    j = p.left_join(flags, p.patient_id == flags.patient_id)
    people = j.select(
        age=(year - j.birth_year - 1).clip(lower=0),
        sex=j.sex,
        chronic=j.special_effort.notnull(),
        special_effort=j.special_effort.fill_null(False),
    ).to_polars()
    # a fixed order, so that a seed draws the same people (rows that tie are identical)
    people = people.sort("age", "sex", "chronic", "special_effort")
    return per_weekday, float(fte or 0.0), people
