"""The budget frame (økonomiramme) and the service overview (ydelsesoverblik).

Budget frame, seed 001 and seed 002 §9.1 (danish-facts §1.3: "the frame is now adjusted
continuously to the number of gruppe 1-sikrede"): each month's frame is the group-1
insured listed on its first day × the yearly frame per insured / 12. Expenditure inside
the frame is capitation + accepted fee-for-service (daytime and out of hours); local
agreements are outside it (seed 004 §5.1), and mileage is paid yearly, in December.

Service overview, seed 004 §5.3 (Ydelsesoverblik): per service the clinic's lines per
1,000 listed patient-years against the regional rate standardised to the clinic's age and
sex mix, and the service's contribution to the § 96 ratio:
(actual DKK − expected DKK) / the clinic's expected expenditure.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import polars as pl

from almen.reference import DATA_DIR
from almen.settlement.ceiling import person_years
from almen.settlement.statement import MILEAGE_MONTH

__all__ = ["frame_rate", "frame_report", "load_frame_rates", "service_overview"]


@cache
def load_frame_rates(path: Path | None = None) -> pl.DataFrame:
    """Yearly frame per group-1 insured (budget_frame.csv: estimates, see its source)."""
    return pl.read_csv(path or DATA_DIR / "budget_frame.csv")


def frame_rate(year: int, rates: pl.DataFrame | None = None) -> float:
    r = (rates if rates is not None else load_frame_rates()).filter(pl.col("year") == year)
    if r.is_empty():
        raise LookupError(f"no budget frame for {year} in budget_frame.csv")
    return float(r["frame_dkk_per_insured_year"][0])


def frame_report(
    exposure: pl.DataFrame,
    claims_by_month: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    year: int,
    capitation_per_year: float,
    frame_per_insured_year: float,
) -> pl.DataFrame:
    """Frame against expenditure by month, per region and for the whole country.

    Columns: area (a region or 'Danmark'), month, insured, frame_dkk, capitation_dkk,
    ffs_dkk, mileage_dkk, expenditure_dkk, difference_dkk (expenditure − frame) and their
    year-to-date sums.
    """
    rows = []
    expo = exposure.join(clinic_region, on="provider_number", how="inner")
    for m in range(1, 13):
        ins = (
            expo.filter((pl.col("first_month") <= m) & (pl.col("last_month") >= m))
            .group_by("region")
            .agg(insured=pl.col("patients").sum())
            .with_columns(month=pl.lit(dt.date(year, m, 1)))
        )
        rows.append(ins)
    insured = pl.concat(rows)
    acc = (
        claims_by_month.filter(~pl.col("returned") & (pl.col("category") != "local"))
        .join(clinic_region, on="provider_number", how="inner")
        .with_columns(
            month=pl.when(pl.col("category") == "mileage")
            .then(pl.lit(dt.date(year, MILEAGE_MONTH, 1)))
            .otherwise(pl.col("settlement_month"))
        )
        .filter(pl.col("month").dt.year() == year)
        .group_by(["region", "month"])
        .agg(
            ffs_dkk=pl.col("dkk").filter(pl.col("category") != "mileage").sum(),
            mileage_dkk=pl.col("dkk").filter(pl.col("category") == "mileage").sum(),
        )
    )
    r = (
        insured.join(acc, on=["region", "month"], how="left")
        .with_columns(pl.col("ffs_dkk").fill_null(0.0), pl.col("mileage_dkk").fill_null(0.0))
        .rename({"region": "area"})
    )
    national = (
        r.group_by("month")
        .agg(pl.col("insured").sum(), pl.col("ffs_dkk").sum(), pl.col("mileage_dkk").sum())
        .with_columns(area=pl.lit("Danmark"))
    )
    out = pl.concat([r.select(national.columns), national]).with_columns(
        frame_dkk=pl.col("insured") * frame_per_insured_year / 12.0,
        capitation_dkk=pl.col("insured") * capitation_per_year / 12.0,
    )
    out = out.with_columns(
        expenditure_dkk=pl.col("capitation_dkk") + pl.col("ffs_dkk") + pl.col("mileage_dkk")
    ).with_columns(difference_dkk=pl.col("expenditure_dkk") - pl.col("frame_dkk"))
    out = out.sort(["area", "month"]).with_columns(
        frame_ytd_dkk=pl.col("frame_dkk").cum_sum().over("area"),
        expenditure_ytd_dkk=pl.col("expenditure_dkk").cum_sum().over("area"),
    )
    return out.with_columns(
        ytd_ratio=pl.col("expenditure_ytd_dkk") / pl.col("frame_ytd_dkk"),
    )


def service_overview(
    provider_number: str,
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    expected_total_dkk: float,
    months: int = 12,
) -> pl.DataFrame:
    """Per service: the clinic's rate per 1,000 against the standardised regional rate.

    ``accepted`` is ``statement.accepted_by_group`` for the same months; the regional rate
    of a service in an age-sex group is its lines / listed patient-years of the region's
    clinics; expected = Σ_g the clinic's patient-years in g × that rate. Sorted by
    deviation (rate / expected − 1), largest first.
    """
    region_of = dict(clinic_region.iter_rows())
    if provider_number not in region_of:
        raise LookupError(f"clinic {provider_number} has no region")
    region = region_of[provider_number]
    in_region = clinic_region.filter(pl.col("region") == region)["provider_number"]
    py = person_years(exposure, months).filter(pl.col("provider_number").is_in(in_region))
    acc = accepted.filter(pl.col("provider_number").is_in(in_region))
    reg_py = py.group_by(["age_band", "sex"]).agg(reg_py=pl.col("py").sum())
    reg = (
        acc.group_by(["service_code", "age_band", "sex"])
        .agg(reg_lines=pl.col("lines").sum(), reg_dkk=pl.col("dkk").sum())
        .join(reg_py, on=["age_band", "sex"], how="inner")
        .with_columns(
            line_rate=pl.col("reg_lines") / pl.col("reg_py"),
            dkk_rate=pl.col("reg_dkk") / pl.col("reg_py"),
        )
    )
    mine_py = py.filter(pl.col("provider_number") == provider_number)
    n = float(mine_py["py"].sum())
    expected = (
        reg.join(mine_py.select("age_band", "sex", "py"), on=["age_band", "sex"], how="inner")
        .group_by("service_code")
        .agg(
            expected_lines=(pl.col("line_rate") * pl.col("py")).sum(),
            expected_dkk=(pl.col("dkk_rate") * pl.col("py")).sum(),
        )
    )
    actual = (
        acc.filter(pl.col("provider_number") == provider_number)
        .group_by("service_code")
        .agg(lines=pl.col("lines").sum(), dkk=pl.col("dkk").sum())
    )
    out = expected.join(actual, on="service_code", how="full", coalesce=True).with_columns(
        pl.col("lines").fill_null(0).cast(pl.Float64),
        pl.col("dkk").fill_null(0.0),
        pl.col("expected_lines").fill_null(0.0),
        pl.col("expected_dkk").fill_null(0.0),
    )
    per_1000 = 1000.0 / n if n > 0 else float("nan")
    out = out.with_columns(
        rate_per_1000=pl.col("lines") * per_1000,
        expected_per_1000=pl.col("expected_lines") * per_1000,
        deviation=pl.when(pl.col("expected_lines") > 0)
        .then(pl.col("lines") / pl.col("expected_lines") - 1.0)
        .otherwise(None),
        contribution=(pl.col("dkk") - pl.col("expected_dkk")) / expected_total_dkk,
    )
    return out.sort("deviation", descending=True, nulls_last=True)
