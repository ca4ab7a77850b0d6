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

__all__ = [
    "ceiling_bands",
    "ceiling_report",
    "ceiling_rule",
    "next_quarter_start",
    "person_years",
    "statement_date",
]

EPS = 1e-9  # a ratio within this of the limit counts as at the limit
STATEMENT_DAY = (3, 31)  # month, day of the next year: see statement_date


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


def statement_date(year: int) -> dt.date:
    """When the region draws up settlement year ``year``'s § 96 statement, by default:
    31 March of the next year (an assumption: seed 004 §5.3 says only that the region
    makes the statement each year for the previous year), so a ceiling takes effect on
    1 April."""
    return dt.date(year + 1, *STATEMENT_DAY)


def _bands(
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    capitation_per_year: float,
    months: int,
) -> pl.DataFrame:
    """The standardisation table: per clinic, age band and sex the listed patient-years,
    capitation, fee-for-service and expenditure, the region's expenditure per
    patient-year in the band (``rate``) and the clinic's expected expenditure."""
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
    # a band with spending but no listed patient-years in the region has no rate: it
    # adds nothing to any clinic's expected spending
    rates = g.group_by(["region", "age_band", "sex"]).agg(
        rate=pl.when(pl.col("py").sum() > 0)
        .then(pl.col("expenditure_dkk").sum() / pl.col("py").sum())
        .otherwise(None)
    )
    return g.join(rates, on=["region", "age_band", "sex"], how="left").with_columns(
        expected_dkk=pl.col("py") * pl.col("rate").fill_nan(0.0).fill_null(0.0)
    )


def ceiling_report(
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    capitation_per_year: float,
    year: int,
    months: int = 12,
    statement_day: dt.date | None = None,
) -> pl.DataFrame:
    """One row per clinic: its § 96 ratio, crude and standardised, and its ceiling.

    ``exposure`` comes from ``statement.exposure`` (own listed group-1 patients);
    ``accepted`` from ``statement.accepted_by_group`` for the same months (own group-1
    patients' daytime services: group 2 and patients seen as cover are left out, seed
    004 §5.3 "egne sikrede"); ``clinic_region`` maps ``provider_number`` to ``region``.

    ``months`` < 12 gives the year-to-date ratio used as the early warning; its ceiling
    is annualised (× 12 / months) so that it reads as the year's, and ``ffs_year_dkk``
    projects the fee-for-service to the year at the same rate. ``statement_day``
    (default ``statement_date(year)``, 31 March of the next year) is when the region
    draws up the statement; a ceiling takes effect from the start of the next quarter.
    """
    standardised, limit = ceiling_rule(year)
    day = statement_day or statement_date(year)
    g = _bands(
        exposure, accepted, clinic_region, capitation_per_year=capitation_per_year, months=months
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
    effective = next_quarter_start(day)
    scale = 12.0 / months
    c = c.with_columns(
        ratio=pl.col(ratio),
        average_per_patient_dkk=average,
    ).with_columns(
        over=(pl.col("ratio") >= 1.0 + limit - EPS) & (pl.col("patient_years") > 0),
        limit=pl.lit(limit),
        method=pl.lit("standardised" if standardised else "crude"),
    )
    c = c.with_columns(
        # the yearly ceiling on fee-for-service: (1 + limit) × average × patients − capitation,
        # over ``months`` months scaled to the year
        ceiling_ffs_dkk=pl.when(pl.col("over"))
        .then(
            (
                (1.0 + limit) * pl.col("average_per_patient_dkk") * pl.col("patient_years")
                - pl.col("capitation_dkk")
            )
            * scale
        )
        .otherwise(None),
        ffs_year_dkk=pl.col("ffs_dkk") * scale,
        months=pl.lit(months, pl.Int8),
        statement_date=pl.lit(day),
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


def ceiling_bands(
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    clinic_region: pl.DataFrame,
    provider_number: str,
    *,
    capitation_per_year: float,
    months: int = 12,
) -> pl.DataFrame:
    """One clinic's standardisation table, as the region's § 96 statement shows it: per
    age band and sex its listed patient-years, capitation, fee-for-service and
    expenditure, the region's expenditure per patient-year in the band and what the
    clinic would have spent at the region's rates (expected). The sums of expenditure
    and expected are ``ceiling_report``'s for the clinic."""
    g = _bands(
        exposure, accepted, clinic_region, capitation_per_year=capitation_per_year, months=months
    )
    return (
        g.filter(pl.col("provider_number") == provider_number)
        .select(
            "age_band",
            "sex",
            patient_years="py",
            capitation_dkk="capitation_dkk",
            ffs_dkk="ffs_dkk",
            expenditure_dkk="expenditure_dkk",
            region_rate_dkk=pl.col("rate").fill_nan(None),
            expected_dkk="expected_dkk",
        )
        .sort(["age_band", "sex"])
    )
