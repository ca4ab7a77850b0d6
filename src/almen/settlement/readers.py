"""Settlement results read from the warehouse: the orchestration the CLI and the web app
share (check the year's claims, then the engines). Each function opens nothing itself:
it takes an open ``Warehouse``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import ibis
import polars as pl
import pyarrow as pa

from almen import claim_index
from almen.errors import NotFoundError
from almen.reference import fee_schedule_for_year
from almen.settlement import (
    accepted_by_group,
    capitation_price,
    ceiling_report,
    check_year,
    claim_summary,
    clinic_regions,
    exposure,
    frame_rate,
    frame_report,
    load_service_rules,
    monthly_claims,
    service_overview,
)
from almen.tomlfile import TomlFile
from almen.warehouse import Warehouse

__all__ = [
    "FeeComparison",
    "ceiling_for_year",
    "checked_year",
    "compare_fees",
    "fees_for_year",
    "frame_for_year",
    "overview_for_clinic",
    "settle_year",
    "write_settlement",
    "year_summary",
]


def fees_for_year(wh: Warehouse, year: int) -> pl.DataFrame:
    """The fee schedule rows in force in ``year``."""
    fees_all = pl.from_arrow(wh.read_table("fee_schedule").to_pyarrow())
    assert isinstance(fees_all, pl.DataFrame)
    return fee_schedule_for_year(year, fees_all)


def checked_year(
    wh: Warehouse, year: int, through: dt.date, *, as_of: dt.date | None = None
) -> ibis.Table:
    """The year's claims sent for January to ``through``'s month, checked on ``as_of``
    (default ``through``), with the same-day index when it matches the claim table."""
    return check_year(
        wh.read_table("claim"),
        wh.read_table("fee_schedule"),
        wh.read_table("patient"),
        load_service_rules(),
        year=year,
        through_month=through.month,
        as_of=as_of or through,
        same_day=claim_index.read(wh),
    )


def year_summary(wh: Warehouse, year: int, through: dt.date | None = None) -> pl.DataFrame:
    """The year's checked claims summed by clinic, month, service, age band, sex and
    returned or not (``claim_summary(by_service=True)``), checked through ``through``
    (default 31 December): the one pass over the claim lines that § 96, the budget
    frame, the service overview and fee comparisons can all read. Pass it as
    ``summary=`` to those functions to check the claims once for all of them."""
    through = through or dt.date(year, 12, 31)
    return claim_summary(checked_year(wh, year, through), by_service=True)


def _summary_or_checked(
    wh: Warehouse, year: int, summary: pl.DataFrame | None
) -> ibis.Table | pl.DataFrame:
    """``summary`` (a ``year_summary`` through December) or the year's checked lines."""
    return summary if summary is not None else checked_year(wh, year, dt.date(year, 12, 31))


def settle_year(
    wh: Warehouse, year: int, months: list[int], as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Monthly statements of ``months`` and their returned lines (with reasons), checked
    on ``as_of``: what `almen settle` writes."""
    from almen.settlement import load_return_rules, monthly_statement, returned_lines

    fees = fees_for_year(wh, year)
    checked = checked_year(wh, year, dt.date(year, max(months), 1), as_of=as_of)
    expo = exposure(wh.read_table("patient"), year)
    by_month = monthly_claims(claim_summary(checked))
    stmt = monthly_statement(expo, by_month, fees, year=year, months=months)
    returned = returned_lines(checked, load_return_rules())
    starts = [dt.date(year, m, 1) for m in months]
    return stmt, returned.filter(pl.col("settlement_month").is_in(starts))


def write_settlement(
    wh: Warehouse, year: int, months: list[int], stmt: pl.DataFrame, returned: pl.DataFrame
) -> None:
    """Replace the rows of ``months`` in the ``settlement`` and ``returned_claim`` tables
    with ``stmt`` and ``returned`` (from ``settle_year``), in one transaction."""
    starts = [dt.date(year, m, 1) for m in months]
    with wh.transaction():
        for name, data, column in (
            ("settlement", stmt.to_arrow(), "month"),
            ("returned_claim", returned.to_arrow(), "settlement_month"),
        ):
            if wh.has_table(name):
                old = wh.read_table(name)
                kept = old.filter(~old[column].isin(starts)).to_pyarrow()
                data = pa.concat_tables([kept.cast(data.schema), data])
            wh.write_table(name, data)


def ceiling_for_year(
    wh: Warehouse, year: int, through: dt.date, *, summary: pl.DataFrame | None = None
) -> pl.DataFrame:
    """§ 96 for every clinic on the months January to ``through``, the claims checked on
    ``through``. ``summary`` is a ``year_summary`` checked on the same day."""
    fees = fees_for_year(wh, year)
    checked = summary if summary is not None else checked_year(wh, year, through)
    accepted = accepted_by_group(checked, start=dt.date(year, 1, 1), end=through)
    expo = exposure(wh.read_table("patient"), year)
    regions = clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year)
    return ceiling_report(
        expo,
        accepted,
        regions,
        capitation_per_year=capitation_price(fees, dt.date(year, 1, 1)),
        year=year,
        months=through.month,
    )


def frame_for_year(
    wh: Warehouse, year: int, *, summary: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, float]:
    """The budget frame month by month against expenditure, and the yearly rate
    (``summary``: the year's ``year_summary``, if already made)."""
    fees = fees_for_year(wh, year)
    try:
        rate = frame_rate(year)
    except LookupError as exc:
        raise NotFoundError(str(exc)) from None
    checked = _summary_or_checked(wh, year, summary)
    report = frame_report(
        exposure(wh.read_table("patient"), year),
        monthly_claims(checked),
        clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year),
        year=year,
        capitation_per_year=capitation_price(fees, dt.date(year, 1, 1)),
        frame_per_insured_year=rate,
    )
    return report, rate


def overview_for_clinic(
    wh: Warehouse, clinic: str, year: int, *, summary: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, dict[str, object], pl.DataFrame]:
    """The service overview of ``clinic``: per service its rate against the region's,
    the clinic's § 96 row, and the fee schedule (for names). ``summary``: the year's
    ``year_summary``, if already made."""
    fees = fees_for_year(wh, year)
    accepted = accepted_by_group(
        summary if summary is not None else year_summary(wh, year),
        start=dt.date(year, 1, 1),
        end=dt.date(year, 12, 31),
    )
    expo = exposure(wh.read_table("patient"), year)
    regions = clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year)
    if clinic not in set(regions["provider_number"].to_list()):
        raise NotFoundError(f"no clinic {clinic} in the warehouse")
    report = ceiling_report(
        expo,
        accepted,
        regions,
        capitation_per_year=capitation_price(fees, dt.date(year, 1, 1)),
        year=year,
    )
    me = report.filter(pl.col("provider_number") == clinic).to_dicts()[0]
    ov = service_overview(clinic, expo, accepted, regions, expected_total_dkk=me["expected_dkk"])
    return ov, me, fees


@dataclass(frozen=True)
class FeeComparison:
    scenario: object  # settlement.scenario.Scenario
    per_clinic: pl.DataFrame
    totals: dict[str, float]


def _need_units(wh: Warehouse) -> pl.DataFrame:
    """Σ chronic conditions of each clinic's listed patients (from the condition table)."""
    p = wh.read_table("patient")
    if not wh.has_table("condition"):
        return pl.DataFrame({"provider_number": [], "need_units": []})
    cond = wh.read_table("condition")
    n = cond.group_by("patient_id").aggregate(n=cond.count())
    j = p.filter(p.provider_number.notnull()).join(n, "patient_id")
    return j.group_by("provider_number").aggregate(need_units=j.n.sum()).to_polars()


def compare_fees(
    wh: Warehouse,
    scenario: Path | TomlFile,
    *,
    base: str = "Aftale25",
    year: int = 2025,
    budget_neutral: bool | None = None,
    summary: pl.DataFrame | None = None,
) -> FeeComparison:
    """Re-price ``year``'s activity under ``scenario`` (a TOML file, or one parsed with
    ``tomlfile.parse_toml``)
    (``summary``: the year's ``year_summary``, if already made)."""
    from almen.reference import load_underserved
    from almen.settlement import scenario as sc

    in_force = fees_for_year(wh, year)
    base_rows = in_force.filter(pl.col("agreement").str.to_lowercase() == base.lower())
    if base_rows.is_empty():
        have = sorted(set(in_force["agreement"].to_list()))
        raise NotFoundError(
            f"no fee schedule {base!r} in force in {year} (in force: {', '.join(have)})"
        )
    base_prices = {
        r["service_code"]: r["price_dkk"]
        for r in base_rows.filter(~pl.col("outside_frame")).iter_rows(named=True)
        if r["service_code"] != "BASIS"
    }
    base_cap = capitation_price(base_rows, dt.date(year, 1, 1))
    scen = sc.load_scenario(scenario, set(base_prices) | {"BASIS"})
    if summary is None:
        summary = year_summary(wh, year)
    activity = (
        summary.filter(~pl.col("returned") & (pl.col("category") != "local"))
        .group_by("provider_number", "service_code")
        .agg(pl.col("units").sum())
    )
    expo = exposure(wh.read_table("patient"), year)
    need = _need_units(wh)
    clinic = wh.read_table("clinic")
    info = clinic.select("provider_number", "form", "municipality").to_polars()
    regions = clinic_regions(clinic, wh.read_table("municipality"), year)
    info = info.join(regions, on="provider_number", how="left")
    underserved = set(load_underserved()["code"].to_list())
    clinics = sc.clinic_attributes(expo, need, info, underserved)
    per_clinic, totals = sc.compare(
        scen,
        activity=activity,
        clinics=clinics,
        base_prices=base_prices,
        base_capitation=base_cap,
        budget_neutral=budget_neutral,
    )
    return FeeComparison(scen, per_clinic, totals)
