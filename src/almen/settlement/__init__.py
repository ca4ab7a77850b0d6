"""Settlement: returned claims, monthly statements, the § 96 ceiling and the budget frame.

Plain functions from tables and parameters to tables. The data flow for a year:

    claim ─ priced_claims ─ check_claims ─┬─ monthly_claims ─ monthly_statement
    fee_schedule, patient, claim_rules    ├─ accepted_by_group ─ ceiling_report
                                          └─ returned lines (rule and reason)
    patient ─ exposure ─────────────────────┘
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from almen.settlement.ceiling import (
    ceiling_bands,
    ceiling_report,
    ceiling_rule,
    next_quarter_start,
    statement_date,
)
from almen.settlement.frame import frame_rate, frame_report, load_frame_rates, service_overview
from almen.settlement.rules import (
    check_claims,
    load_return_rules,
    load_service_rules,
    priced_claims,
)
from almen.settlement.statement import (
    accepted_by_group,
    capitation_price,
    claim_summary,
    exposure,
    local_agreement_lines,
    monthly_claims,
    monthly_statement,
    payment_date,
)

__all__ = [
    "accepted_by_group",
    "capitation_price",
    "ceiling_bands",
    "ceiling_report",
    "ceiling_rule",
    "check_claims",
    "check_year",
    "claim_summary",
    "clinic_regions",
    "early_warning",
    "exposure",
    "flagged_lines",
    "frame_rate",
    "frame_report",
    "load_frame_rates",
    "load_return_rules",
    "load_service_rules",
    "local_agreement_lines",
    "monthly_claims",
    "monthly_statement",
    "next_quarter_start",
    "payment_date",
    "priced_claims",
    "returned_lines",
    "service_overview",
    "statement_date",
]


def check_year(
    claim: ibis.Table,
    fee_schedule: ibis.Table,
    patient: ibis.Table,
    service_rules: pl.DataFrame,
    *,
    year: int,
    through_month: int = 12,
    as_of: dt.date,
    same_day: ibis.Table | None = None,
    listing: ibis.Table | None = None,
) -> ibis.Table:
    """The year's claim lines sent for January..``through_month``, checked by the rules
    (``same_day``: the same-day index; ``listing``: the listing history; see
    ``check_claims``)."""
    c = claim.filter(
        (claim.settlement_month >= dt.date(year, 1, 1))
        & (claim.settlement_month <= dt.date(year, through_month, 1))
    )
    return check_claims(
        c, fee_schedule, patient, service_rules, as_of=as_of, same_day=same_day, listing=listing
    )


def returned_lines(checked: ibis.Table, return_rules: pl.DataFrame) -> pl.DataFrame:
    """The returned lines with their rule and reasons (the ``returned_claim`` table)."""
    r = checked.filter(checked.rule.notnull()).select(
        "claim_id",
        "provider_number",
        "service_code",
        "service_date",
        "settlement_month",
        "amount_dkk",
        "rule",
        "ingest_id",
        "source_line",
    )
    out = r.to_polars().join(
        return_rules.select("rule", "reason_da", "reason_en"), on="rule", how="left"
    )
    return out.sort("claim_id")


def flagged_lines(checked: ibis.Table) -> pl.DataFrame:
    """The lines whose own amount is not the schedule's price × quantity (the
    ``claim_flag`` table without its run): paid, or returned, at the schedule's price;
    flagged for the clinic to look at, never repriced (issue: a mismatch is shown)."""
    f = checked.filter(checked.price_mismatch).select(
        "claim_id",
        "provider_number",
        "service_code",
        "service_date",
        "settlement_month",
        "claimed_dkk",
        "ingest_id",
        "source_line",
        price_dkk=checked.amount_dkk,
        flag=ibis.literal("price_mismatch"),
    )
    return f.to_polars().sort("claim_id")


def clinic_regions(clinic: ibis.Table, municipality: ibis.Table, year: int) -> pl.DataFrame:
    """provider_number → region in force in ``year`` (Region Østdanmark from 2027)."""
    region_col = "region_from_2027" if year >= 2027 else "region"
    m = municipality.select(m_code=municipality.code, region=municipality[region_col])
    j = clinic.join(m, clinic.municipality == m.m_code).select("provider_number", "region")
    return j.to_polars()


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def early_warning(
    checked: ibis.Table | pl.DataFrame,
    exposure_table: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    year: int,
    capitation_per_year: float,
) -> pl.DataFrame:
    """How early the year-to-date § 96 flag equals the final one (seed 004 §5.3).

    For each month m the ratio is computed from January to the end of m, for the clinic
    and its region alike, so a season common to the region cancels out. Columns: month,
    share of clinics whose projected flag equals the final flag, clinics flagged then,
    clinics flagged in the final statement.
    """
    summary = claim_summary(checked) if isinstance(checked, ibis.Table) else checked
    reports = {}
    for m in range(1, 13):
        accepted = accepted_by_group(summary, start=dt.date(year, 1, 1), end=_month_end(year, m))
        reports[m] = ceiling_report(
            exposure_table,
            accepted,
            clinic_region,
            capitation_per_year=capitation_per_year,
            year=year,
            months=m,
        ).select("provider_number", "over")
    final = reports[12].rename({"over": "final"})
    rows = []
    for m, rep in reports.items():
        j = rep.join(final, on="provider_number", how="inner")
        rows.append(
            {
                "month": m,
                "agreement": float((j["over"] == j["final"]).to_numpy().mean()) if len(j) else 0.0,
                "flagged": int(j["over"].sum()),
                "flagged_final": int(j["final"].sum()),
                "true_positives": int((j["over"] & j["final"]).sum()),
            }
        )
    return pl.DataFrame(rows)
