"""Monthly statements: capitation, fee-for-service, local agreements and returned claims.

Seed 004 §5.2: capitation (basishonorar, § 86) is paid monthly without invoice from the
number of group-1 listed patients; fee-for-service (§§ 87-90) is claimed weekly, settled
monthly and paid by the 15th of the next month; mileage (§ 92) is settled yearly.
Seed 004 §5.1: local agreements are paid outside the budget frame and § 96.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

__all__ = [
    "AGE_BANDS",
    "MILEAGE_MONTH",
    "accepted_by_group",
    "capitation_price",
    "claim_summary",
    "exposure",
    "listed_in",
    "monthly_claims",
    "monthly_statement",
    "months_listed",
    "payment_date",
]

# seed 004 §5.2: § 92 mileage is settled once a year; paid with December's statement
# (the month is an assumption)
MILEAGE_MONTH = 12
AGE_BANDS = tuple(range(0, 90, 5))  # 0-4, 5-9, ..., 85+: the standardisation groups


def _band(age: ibis.IntegerValue) -> ibis.IntegerValue:
    return (age.clip(lower=0, upper=85) // 5 * 5).cast("int16")


def exposure(patients: ibis.Table, year: int, listing: ibis.Table | None = None) -> pl.DataFrame:
    """Group-1 listed patients by clinic, age band, sex and the months of ``year`` they
    are listed.

    A patient counts for a month when listed on its first day: ``first_month`` is 1 for
    a period that began on 1 January or before, 13 for one that began after 1 December;
    ``last_month`` is 12 for a period still running at the year's end, the month its last
    day falls in otherwise (0 when it ended before the year). A patient counts in month m
    when first_month ≤ m ≤ last_month. Age is on 1 January (year − birth year − 1).

    ``listing`` is the listing history (seed 005: one GP at a time): each of a patient's
    periods counts at its clinic, so a patient who moved on 1 June counts at the first
    clinic January to May and at the second from June. Without it the patient table's
    current listing is the only period.
    """
    p = patients.filter(patients.insurance_group == 1)
    if listing is not None:
        periods = listing.join(p.select("patient_id", "birth_year", "sex"), "patient_id").select(
            "provider_number", "birth_year", "sex", "listed_from", "listed_to"
        )
    else:
        p = p.filter(p.provider_number.notnull() & p.listed_from.notnull())
        periods = p.select(
            "provider_number", "birth_year", "sex", "listed_from", listed_to=ibis.null("date")
        )
    lf, lt = periods.listed_from, periods.listed_to
    start, end = ibis.date(year, 1, 1), ibis.date(year, 12, 31)
    first = ibis.cases(
        (lf <= start, 1),
        (lf.year() > year, 13),
        else_=lf.month() + ibis.ifelse(lf.day() > 1, 1, 0),
    )
    last = ibis.cases(
        (lt.isnull() | (lt > end), 12),
        (lt < start, 0),
        else_=lt.month(),
    )
    q = periods.mutate(
        age_band=_band(year - periods.birth_year - 1),
        first_month=first.cast("int8"),
        last_month=last.cast("int8"),
    )
    q = q.filter(q.first_month <= q.last_month)
    out = q.group_by(["provider_number", "age_band", "sex", "first_month", "last_month"]).aggregate(
        patients=q.count()
    )
    return out.to_polars()


def listed_in(month: int) -> pl.Expr:
    """Rows of an ``exposure`` table listed on the first day of ``month``."""
    return (pl.col("first_month") <= month) & (pl.col("last_month") >= month)


def months_listed(through: int = 12) -> pl.Expr:
    """Months of January..``through`` each ``exposure`` row is listed."""
    return (
        pl.min_horizontal(pl.col("last_month").cast(pl.Int32), pl.lit(through))
        - pl.col("first_month").cast(pl.Int32)
        + 1
    ).clip(lower_bound=0)


def capitation_price(fees: pl.DataFrame, day: dt.date) -> float:
    """The yearly capitation per group-1 patient (code BASIS) in force on ``day``.

    Looked up for the day: no row, or two rows that disagree (overlapping schedules),
    is an error, never "the first row"."""
    if "insurance_group" in fees.columns:
        fees = fees.filter(pl.col("insurance_group").fill_null(1) == 1)
    row = fees.filter(
        (pl.col("service_code") == "BASIS")
        & (pl.col("valid_from") <= day)
        & (pl.col("valid_to") >= day)
    )
    if row.is_empty():
        raise LookupError(f"no capitation (BASIS) in the fee schedule on {day}")
    prices = set(row["price_dkk"].to_list())
    if len(prices) > 1:
        names = ", ".join(sorted(set(row["agreement"].to_list())))
        raise LookupError(
            f"two capitation (BASIS) prices on {day} ({names}): overlapping schedules"
        )
    return float(row["price_dkk"][0])


def claim_summary(checked: ibis.Table, *, by_service: bool = False) -> pl.DataFrame:
    """One pass over the checked lines: sums by clinic, month, category, age band, sex.

    Columns: provider_number, settlement_month, category, group2 (a group-2 patient's
    line), covered (a patient listed elsewhere, seen in acute illness or for an absent
    GP), in_s96 (would count in § 96: daytime, inside the frame, a service, to an own
    listed group-1 patient), age_band, sex, returned, lines, units, dkk (what the region
    pays), flagged (lines whose own amount is not the price); with
    ``by_service`` also service_code (more groups: slower, for the service overview).
    ``monthly_claims`` and ``accepted_by_group`` read it.
    """
    c = checked.mutate(
        km=checked.unit == "km",
        service=checked.unit == "service",
        age_band=_band(checked.age.fill_null(0)),
        returned=checked.rule.notnull(),
        group2=(checked.insurance_group == 2).fill_null(False),
    )
    keys = [
        "provider_number",
        "settlement_month",
        *(["service_code"] if by_service else []),
        "daytime",
        "outside_frame",
        "km",
        "service",
        "group2",
        "covered",
        "age_band",
        "sex",
        "returned",
    ]
    out = c.group_by(keys).aggregate(
        lines=c.count(),
        units=c.quantity.sum().cast("float64"),
        dkk=c.amount_dkk.sum(),
        flagged=c.price_mismatch.ifelse(1, 0).sum(),
    )
    # booleans group faster than strings; the category is named afterwards
    return (
        out.to_polars()
        .with_columns(
            category=pl.when(pl.col("km"))
            .then(pl.lit("mileage"))
            .when(pl.col("outside_frame"))
            .then(pl.lit("local"))
            .when(pl.col("daytime"))
            .then(pl.lit("daytime"))
            .otherwise(pl.lit("ooh")),
            in_s96=pl.col("daytime")
            & ~pl.col("outside_frame")
            & pl.col("service")
            & ~pl.col("group2")
            & ~pl.col("covered"),
            flagged=pl.col("flagged").fill_null(0),
        )
        .drop("daytime", "outside_frame", "km", "service")
    )


def _summary(data: ibis.Table | pl.DataFrame) -> pl.DataFrame:
    return claim_summary(data) if isinstance(data, ibis.Table) else data


def monthly_claims(summary: ibis.Table | pl.DataFrame) -> pl.DataFrame:
    """Claim lines by clinic, settlement month, statement category and returned or not.

    ``summary`` is a ``claim_summary`` (or the checked lines, summarised here).
    """
    return (
        _summary(summary)
        .group_by(
            ["provider_number", "settlement_month", "category", "group2", "covered", "returned"]
        )
        .agg(
            pl.col("lines").sum(),
            pl.col("units").sum(),
            pl.col("dkk").sum(),
            pl.col("flagged").sum(),
        )
    )


def local_agreement_lines(summary: pl.DataFrame, fees: pl.DataFrame) -> pl.DataFrame:
    """The local-agreement lines of the statements (seed 004 §5.1: paid outside the frame
    and § 96): accepted lines of category "local" by clinic, settlement month and service
    code, with the service's Danish and English name. Per clinic and month the dkk add up
    to the statement's ``local_dkk``.

    ``summary`` is a ``claim_summary(by_service=True)``; ``fees`` the schedule in force.
    Columns: provider_number, month, service_code, name_da, name_en, lines, units, dkk.
    """
    if "service_code" not in summary.columns:
        raise ValueError("local_agreement_lines needs a summary by service")
    names = fees.select("service_code", "name_da", "name_en").unique("service_code")
    return (
        summary.filter((pl.col("category") == "local") & ~pl.col("returned"))
        .group_by("provider_number", "settlement_month", "service_code")
        .agg(pl.col("lines").sum(), pl.col("units").sum(), pl.col("dkk").sum())
        .rename({"settlement_month": "month"})
        .join(names, on="service_code", how="left")
        .select(
            "provider_number",
            "month",
            "service_code",
            "name_da",
            "name_en",
            "lines",
            "units",
            "dkk",
        )
        .sort("provider_number", "month", "service_code")
    )


def accepted_by_group(
    summary: ibis.Table | pl.DataFrame, *, start: dt.date, end: dt.date
) -> pl.DataFrame:
    """Accepted daytime fee-for-service inside the frame by clinic, age band and sex.

    By service too when the summary has ``service_code`` (``claim_summary(by_service=True)``).

    Only lines sent for the settlement months from ``start`` to ``end`` (the activity of
    the settlement year, seed 001); these are the lines that count in § 96.
    """
    first = start.replace(day=1)
    data = _summary(summary)
    return (
        data.filter(
            pl.col("in_s96")
            & ~pl.col("returned")
            & (pl.col("settlement_month") >= first)
            & (pl.col("settlement_month") <= end)
        )
        .group_by(
            [
                "provider_number",
                *(["service_code"] if "service_code" in data.columns else []),
                "age_band",
                "sex",
            ]
        )
        .agg(pl.col("lines").sum(), pl.col("dkk").sum())
    )


def payment_date(month: dt.date) -> dt.date:
    """Fee-for-service for a month is paid by the 15th of the next month (seed 004 §5.2)."""
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 15)


def monthly_statement(
    exposure_table: pl.DataFrame,
    claims_by_month: pl.DataFrame,
    fees: pl.DataFrame,
    *,
    year: int,
    months: list[int],
) -> pl.DataFrame:
    """One row per clinic and month (the ``settlement`` table).

    - capitation = listed on the first of the month × the yearly BASIS fee / 12 (§ 86);
    - ffs_daytime / ffs_ooh = accepted fee-for-service lines of the month for group-1
      patients (§§ 87-90), with ``cover_dkk`` the part for patients listed elsewhere;
    - ffs_group2 = accepted lines for group-2 patients, priced from the group-2 fees
      and kept out of § 96 (seed 004 §5.3: § 96 is on own group-1 patients);
    - local = accepted local-agreement lines, outside the frame and § 96 (004 §5.1);
    - mileage (§ 92) is settled once a year (seed 004 §5.2): mileage_km accrues
      monthly, and the statement of ``MILEAGE_MONTH`` (December) pays the year's
      accepted km × the rate as mileage_dkk (``claims_by_month`` must then hold the
      whole year, as ``check_year`` through December gives);
    - returned = lines refused by the rules, with what they would have paid;
      flagged_lines = lines whose own amount is not the schedule's (claim_flag);
    - total = capitation + ffs_daytime + ffs_ooh + ffs_group2 + local + mileage_dkk,
      paid on the 15th of the next month.
    """
    frames = []
    for m in months:
        first = dt.date(year, m, 1)
        listed = (
            exposure_table.filter(listed_in(m))
            .group_by("provider_number")
            .agg(pl.col("patients").sum().alias("listed"))
        )
        basis = capitation_price(fees, first)
        frames.append(
            listed.with_columns(
                month=pl.lit(first),
                capitation_dkk=pl.col("listed").cast(pl.Float64) * basis / 12.0,
            )
        )
    cap = pl.concat(frames) if frames else pl.DataFrame()
    month_starts = [dt.date(year, m, 1) for m in months]
    year_lines = claims_by_month.filter(pl.col("settlement_month").dt.year() == year)
    cl = year_lines.filter(pl.col("settlement_month").is_in(month_starts))
    acc = cl.filter(~pl.col("returned"))
    g1 = ~pl.col("group2")
    wide = acc.group_by(["provider_number", "settlement_month"]).agg(
        ffs_daytime_dkk=pl.col("dkk").filter((pl.col("category") == "daytime") & g1).sum(),
        ffs_ooh_dkk=pl.col("dkk").filter((pl.col("category") == "ooh") & g1).sum(),
        ffs_group2_dkk=pl.col("dkk")
        .filter(pl.col("category").is_in(["daytime", "ooh"]) & pl.col("group2"))
        .sum(),
        cover_dkk=pl.col("dkk").filter(pl.col("covered") & g1).sum(),
        local_dkk=pl.col("dkk").filter(pl.col("category") == "local").sum(),
        mileage_km=pl.col("units").filter(pl.col("category") == "mileage").sum(),
    )
    ret = (
        cl.filter(pl.col("returned"))
        .group_by(["provider_number", "settlement_month"])
        .agg(returned_lines=pl.col("lines").sum(), returned_dkk=pl.col("dkk").sum())
    )
    flagged = cl.group_by(["provider_number", "settlement_month"]).agg(
        flagged_lines=pl.col("flagged").sum()
    )
    paid_month = dt.date(year, MILEAGE_MONTH, 1)
    mileage = (
        year_lines.filter(~pl.col("returned") & (pl.col("category") == "mileage"))
        .group_by("provider_number")
        .agg(mileage_dkk=pl.col("dkk").sum())
        .with_columns(settlement_month=pl.lit(paid_month))
        .filter(pl.lit(MILEAGE_MONTH in months))
    )
    keys = pl.concat(
        [
            cap.select("provider_number", "month"),
            cl.select("provider_number", pl.col("settlement_month").alias("month")),
            mileage.select("provider_number", pl.col("settlement_month").alias("month")),
        ]
    ).unique()
    by_month = ["provider_number", "month"]
    out = keys.join(cap, on=by_month, how="left")
    for part in (wide, ret, flagged, mileage):
        out = out.join(part.rename({"settlement_month": "month"}), on=by_month, how="left")
    money = (
        "capitation_dkk",
        "ffs_daytime_dkk",
        "ffs_ooh_dkk",
        "ffs_group2_dkk",
        "cover_dkk",
        "local_dkk",
        "mileage_km",
        "mileage_dkk",
        "returned_dkk",
    )
    out = out.with_columns(
        pl.col("listed").fill_null(0).cast(pl.Int64),
        pl.col("returned_lines").fill_null(0).cast(pl.Int64),
        pl.col("flagged_lines").fill_null(0).cast(pl.Int64),
        *[pl.col(c).fill_null(0.0).cast(pl.Float64) for c in money],
    ).with_columns(
        total_dkk=pl.col("capitation_dkk")
        + pl.col("ffs_daytime_dkk")
        + pl.col("ffs_ooh_dkk")
        + pl.col("ffs_group2_dkk")
        + pl.col("local_dkk")
        + pl.col("mileage_dkk"),
        payment_date=pl.col("month").map_elements(payment_date, return_dtype=pl.Date),
    )
    cols = [
        "provider_number",
        "month",
        "listed",
        "capitation_dkk",
        "ffs_daytime_dkk",
        "ffs_ooh_dkk",
        "local_dkk",
        "mileage_km",
        "returned_lines",
        "returned_dkk",
        "total_dkk",
        "payment_date",
        "ffs_group2_dkk",
        "cover_dkk",
        "mileage_dkk",
        "flagged_lines",
    ]
    return out.select(cols).sort(["provider_number", "month"])
