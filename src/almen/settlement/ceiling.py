"""The § 96 ceiling (højestegrænse) and its early warning.

Seed 004 §5.3 and seed 001 "Udmøntningen af Aftale25": each year a clinic's daytime
expenditure per own listed patient (capitation + fee-for-service) is compared with the
regional average. From settlement year 2025 the comparison is standardised by age and sex
and the limit is 20 % (before: crude and 25 %). A clinic at or above the limit gets a
ceiling on its fee-for-service income at the average + the limit, from the start of the
next quarter.

Indirect standardisation: expected_c = Σ_g n_cg × r_Rg, where n_cg is the clinic's listed
patient-years in age-sex group g and r_Rg the region's expenditure per listed patient-year
in g (all clinics of the region together). The standardised ratio is actual / expected.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

__all__ = ["ceiling_report", "ceiling_rule", "next_quarter_start", "person_years"]

EPS = 1e-9  # a ratio within this of the limit counts as at the limit


def ceiling_rule(year: int) -> tuple[bool, float]:
    """(standardised, limit) for a settlement year: (True, 0.20) from 2025, else (False, 0.25)."""
    return (True, 0.20) if year >= 2025 else (False, 0.25)


def next_quarter_start(day: dt.date) -> dt.date:
    """The first day of the quarter after the one ``day`` is in."""
    q = (day.month - 1) // 3 + 1
    return dt.date(day.year + 1, 1, 1) if q == 4 else dt.date(day.year, 3 * q + 1, 1)


def person_years(exposure: pl.DataFrame, months: int) -> pl.DataFrame:
    """Listed patient-years by clinic, age band and sex over the year's first ``months``."""
    return (
        exposure.with_columns(
            py=(
                pl.min_horizontal(pl.col("last_month").cast(pl.Int32), pl.lit(months))
                - pl.col("first_month").cast(pl.Int32)
                + 1
            ).clip(lower_bound=0)
            * pl.col("patients")
            / 12.0
        )
        .group_by(["provider_number", "age_band", "sex"])
        .agg(pl.col("py").sum())
    )


def ceiling_report(
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    capitation_per_year: float,
    year: int,
    months: int = 12,
    decided: dt.date | None = None,
) -> pl.DataFrame:
    """One row per clinic: its § 96 ratio, crude and standardised, and its ceiling.

    ``exposure`` comes from ``statement.exposure``; ``accepted`` from
    ``statement.accepted_by_group`` for the same months; ``clinic_region`` maps
    ``provider_number`` to ``region``. ``months`` < 12 gives the year-to-date ratio used as
    the early warning. ``decided`` (default 31 December of ``year``) sets when a ceiling
    takes effect: the start of the next quarter.
    """
    standardised, limit = ceiling_rule(year)
    decided = decided or dt.date(year, 12, 31)
    py = person_years(exposure, months).with_columns(
        capitation_dkk=pl.col("py") * capitation_per_year
    )
    ffs = accepted.group_by(["provider_number", "age_band", "sex"]).agg(ffs_dkk=pl.col("dkk").sum())
    g = (
        py.join(ffs, on=["provider_number", "age_band", "sex"], how="full", coalesce=True)
        .with_columns(
            pl.col("py").fill_null(0.0),
            pl.col("capitation_dkk").fill_null(0.0),
            pl.col("ffs_dkk").fill_null(0.0),
        )
        .with_columns(expenditure_dkk=pl.col("capitation_dkk") + pl.col("ffs_dkk"))
        .join(clinic_region, on="provider_number", how="inner")
    )
    # a band with spending but no listed patient-years in the region (e.g. group-2
    # patients only) has no rate: it adds nothing to any clinic's expected spending
    rates = g.group_by(["region", "age_band", "sex"]).agg(
        rate=pl.when(pl.col("py").sum() > 0)
        .then(pl.col("expenditure_dkk").sum() / pl.col("py").sum())
        .otherwise(None)
    )
    g = g.join(rates, on=["region", "age_band", "sex"], how="left").with_columns(
        expected_dkk=pl.col("py") * pl.col("rate").fill_nan(0.0).fill_null(0.0)
    )
    c = g.group_by(["provider_number", "region"]).agg(
        patient_years=pl.col("py").sum(),
        capitation_dkk=pl.col("capitation_dkk").sum(),
        ffs_dkk=pl.col("ffs_dkk").sum(),
        expenditure_dkk=pl.col("expenditure_dkk").sum(),
        expected_dkk=pl.col("expected_dkk").sum(),
    )
    region = c.group_by("region").agg(
        region_per_patient_dkk=pl.col("expenditure_dkk").sum() / pl.col("patient_years").sum()
    )
    c = c.join(region, on="region", how="left").with_columns(
        per_patient_dkk=pl.col("expenditure_dkk") / pl.col("patient_years"),
    )
    c = c.with_columns(
        crude_ratio=pl.col("per_patient_dkk") / pl.col("region_per_patient_dkk"),
        standardised_ratio=pl.col("expenditure_dkk") / pl.col("expected_dkk"),
    )
    ratio = "standardised_ratio" if standardised else "crude_ratio"
    average = (
        pl.col("expected_dkk") / pl.col("patient_years")
        if standardised
        else pl.col("region_per_patient_dkk")
    )
    effective = next_quarter_start(decided)
    c = c.with_columns(
        ratio=pl.col(ratio),
        average_per_patient_dkk=average,
    ).with_columns(
        over=(pl.col("ratio") >= 1.0 + limit - EPS) & (pl.col("patient_years") > 0),
        limit=pl.lit(limit),
        method=pl.lit("standardised" if standardised else "crude"),
    )
    c = c.with_columns(
        # the yearly ceiling on fee-for-service: (1 + limit) × average × patients − capitation
        ceiling_ffs_dkk=pl.when(pl.col("over"))
        .then(
            (1.0 + limit) * pl.col("average_per_patient_dkk") * pl.col("patient_years")
            - pl.col("capitation_dkk")
        )
        .otherwise(None),
        effective_from=pl.when(pl.col("over")).then(pl.lit(effective)).otherwise(None),
    )
    c = c.with_columns(
        why=pl.format(
            "{} ratio {} {} {}: {} DKK against {} DKK {}",
            pl.col("method"),
            pl.col("ratio").round(3),
            pl.when(pl.col("over")).then(pl.lit("≥")).otherwise(pl.lit("<")),
            pl.lit(f"{1 + limit:.2f}"),
            pl.col("expenditure_dkk").round(0).cast(pl.Int64),
            pl.when(pl.lit(standardised))
            .then(pl.col("expected_dkk"))
            .otherwise(pl.col("region_per_patient_dkk") * pl.col("patient_years"))
            .round(0)
            .cast(pl.Int64),
            pl.lit("expected" if standardised else "at the regional average"),
        )
    )
    return c.sort(["region", "provider_number"])
