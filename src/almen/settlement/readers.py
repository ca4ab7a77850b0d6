"""Settlement results read from the warehouse: the orchestration the CLI and the web app
share (check the year's claims, then the engines). Each function opens nothing itself:
it takes an open ``Warehouse``."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import ibis
import polars as pl

from almen import claim_index
from almen.errors import NotFoundError
from almen.reference import fee_schedule_for_year
from almen.settlement import (
    accepted_by_group,
    capitation_price,
    ceiling_bands,
    ceiling_report,
    check_year,
    claim_summary,
    clinic_regions,
    exposure,
    frame_rate,
    frame_report,
    load_service_rules,
    local_agreement_lines,
    monthly_claims,
    service_overview,
)
from almen.tomlfile import TomlFile
from almen.warehouse import Warehouse

__all__ = [
    "FeeComparison",
    "OverviewInputs",
    "S96Inputs",
    "SettlementRun",
    "ceiling_for_year",
    "checked_year",
    "clinic_overview",
    "compare_fees",
    "current_statements",
    "expo",
    "fees_for_year",
    "frame_for_year",
    "local_lines",
    "overview_for_clinic",
    "overview_inputs",
    "s96_inputs",
    "s96_statement",
    "service_pattern",
    "settle_year",
    "settlement_runs",
    "write_settlement",
    "year_summary",
]


def fees_for_year(wh: Warehouse, year: int) -> pl.DataFrame:
    """The fee schedule rows in force in ``year``."""
    fees_all = pl.from_arrow(wh.read_table("fee_schedule").to_pyarrow())
    assert isinstance(fees_all, pl.DataFrame)
    return fee_schedule_for_year(year, fees_all)


def listing(wh: Warehouse) -> ibis.Table | None:
    """The listing history, if the warehouse keeps one (ingested lists do)."""
    return wh.read_table("listing") if wh.has_table("listing") else None


def expo(wh: Warehouse, year: int) -> pl.DataFrame:
    """Listed group-1 patients by clinic, age band, sex and months listed in ``year``,
    from the listing history when there is one (``settlement.exposure``)."""
    return exposure(wh.read_table("patient"), year, listing(wh))


def require_claims(wh: Warehouse, year: int) -> None:
    """NotFoundError when the warehouse holds no claim sent for ``year``: a year is not
    settled as capitation only by mistake."""
    c = wh.read_table("claim")
    n = _claims_of(wh, year).count().to_pyarrow().as_py()
    if not n:
        months = c.aggregate(
            lo=c.settlement_month.min().cast("date"), hi=c.settlement_month.max().cast("date")
        )
        lo, hi = months.to_pyarrow().to_pylist()[0].values()
        have = f"claims from {lo:%Y-%m} to {hi:%Y-%m}" if lo else "no claims at all"
        raise NotFoundError(
            f"no claims sent for {year} in the warehouse ({have}); ingest the year's claims "
            "first (almen ingest claims)"
        )


def checked_year(
    wh: Warehouse, year: int, through: dt.date, *, as_of: dt.date | None = None
) -> ibis.Table:
    """The year's claims sent for January to ``through``'s month, checked on ``as_of``
    (default ``through``), with the same-day index when it matches the claim table and
    the listing history when there is one."""
    require_claims(wh, year)
    return check_year(
        wh.read_table("claim"),
        wh.read_table("fee_schedule"),
        wh.read_table("patient"),
        load_service_rules(),
        year=year,
        through_month=through.month,
        as_of=as_of or through,
        same_day=claim_index.read(wh),
        listing=listing(wh),
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
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Monthly statements of ``months``, their returned lines (with reasons) and their
    flagged lines (an amount that is not the price), checked on ``as_of``: what
    `almen settle` writes."""
    from almen.settlement import (
        flagged_lines,
        load_return_rules,
        monthly_statement,
        returned_lines,
    )

    fees = fees_for_year(wh, year)
    checked = checked_year(wh, year, dt.date(year, max(months), 1), as_of=as_of)
    by_month = monthly_claims(claim_summary(checked))
    stmt = monthly_statement(expo(wh, year), by_month, fees, year=year, months=months)
    returned = returned_lines(checked, load_return_rules())
    starts = [dt.date(year, m, 1) for m in months]
    returned = returned.filter(pl.col("settlement_month").is_in(starts))
    # where each returned line came from: its file (from the ingest log) and line
    sources = pl.DataFrame(schema={"ingest_id": pl.Utf8, "source": pl.Utf8})
    if wh.has_table("ingest_log"):
        log = wh.read_table("ingest_log")
        sources = log.filter(log.target_table == "claim").select("ingest_id", "source").to_polars()
    returned = returned.join(sources.unique("ingest_id"), on="ingest_id", how="left")
    flagged = flagged_lines(checked).filter(pl.col("settlement_month").is_in(starts))
    flagged = flagged.join(sources.unique("ingest_id"), on="ingest_id", how="left")
    return stmt, returned, flagged


@dataclass(frozen=True)
class SettlementRun:
    """A run of `almen settle` as written, and its correction against the run before."""

    run_id: str
    previous_run_id: str | None
    written: bool  # False: the inputs and run date equal the previous run's, nothing new
    correction: pl.DataFrame  # per clinic and month: before, after and the change


def _months_text(months: list[int]) -> str:
    ms = sorted(months)
    if ms == list(range(ms[0], ms[-1] + 1)) and len(ms) > 1:
        return f"{ms[0]}-{ms[-1]}"
    return ",".join(str(m) for m in ms)


def _months_of(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def settlement_runs(wh: Warehouse) -> pl.DataFrame:
    """Every settlement run, oldest first (empty when none)."""
    from almen.schema import get_table

    if not wh.has_table("settlement_run"):
        return pl.from_arrow(get_table("settlement_run").arrow_schema().empty_table())  # type: ignore[return-value]
    return wh.read_table("settlement_run").to_polars().sort("created_at")


def current_statements(wh: Warehouse, year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The statements and returned lines of ``year`` from the latest run of each month
    (earlier runs stay in the tables, readable by their run_id)."""
    s = wh.read_table("settlement")
    got = s.filter(s.month.year() == year).to_polars()
    runs = settlement_runs(wh).select("run_id", "created_at")
    latest = (
        got.select("month", "run_id")
        .unique()
        .join(runs, on="run_id", how="left")
        .sort("created_at")
        .unique("month", keep="last")
        .select("month", "run_id")
    )
    stmt = got.join(latest, on=["month", "run_id"], how="semi").sort("provider_number", "month")
    r = wh.read_table("returned_claim")
    ret = r.filter(r.settlement_month.year() == year).to_polars()
    ret = ret.join(
        latest.rename({"month": "settlement_month"}), on=["settlement_month", "run_id"], how="semi"
    )
    return stmt, ret.sort("claim_id")


def local_lines(
    wh: Warehouse, year: int, clinic: str | None = None, *, summary: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The local-agreement lines of ``year``'s statements (``local_agreement_lines``) of
    one clinic or all, from ``summary`` (a ``year_summary``) or the year's claims checked
    through December (only the clinic's, when one is given)."""
    if summary is None:
        checked = checked_year(wh, year, dt.date(year, 12, 31))
        if clinic is not None:
            checked = checked.filter(checked.provider_number == clinic)
        summary = claim_summary(checked, by_service=True)
    out = local_agreement_lines(summary, fees_for_year(wh, year))
    return out if clinic is None else out.filter(pl.col("provider_number") == clinic)


def _claims_of(wh: Warehouse, year: int) -> ibis.Table:
    """The claims sent for ``year`` (settlement month in the year)."""
    c = wh.read_table("claim")
    start = dt.date(year, 1, 1)
    return c.filter((c.settlement_month >= start) & (c.settlement_month < dt.date(year + 1, 1, 1)))


def _inputs(wh: Warehouse, year: int) -> dict[str, str]:
    """Hashes of what a settlement of ``year`` reads (order-independent fingerprints of
    the tables; of the claims, those sent for the year, so a run does not read every
    year's claims to fingerprint them)."""
    from almen.settlement.rules import DATA_DIR

    def files(*names: str) -> str:
        h = hashlib.sha256()
        for n in names:
            h.update((DATA_DIR / n).read_bytes())
        return h.hexdigest()

    people = wh.content_hash("patient") + (
        wh.content_hash("listing") if wh.has_table("listing") else ""
    )
    return {
        "claim_sha256": wh.content_hash("claim", _claims_of(wh, year)),
        "patient_sha256": hashlib.sha256(people.encode()).hexdigest(),
        "fee_schedule_sha256": wh.content_hash("fee_schedule"),
        "rules_sha256": files("claim_return_rule.csv", "claim_rules.csv"),
    }


def _correction(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Per clinic and month: the previous statement, this one and the change."""
    cols = ["listed", "capitation_dkk", "ffs_daytime_dkk", "ffs_ooh_dkk", "local_dkk",
            "returned_lines", "total_dkk"]  # fmt: skip
    keys = ["provider_number", "month"]
    b = before.select(*keys, *[pl.col(c).alias(f"{c}_before") for c in cols])
    a = after.select(*keys, *[pl.col(c).alias(f"{c}_after") for c in cols])
    j = b.join(a, on=keys, how="full", coalesce=True)
    j = j.with_columns(
        *[pl.col(f"{c}_before").fill_null(0) for c in cols],
        *[pl.col(f"{c}_after").fill_null(0) for c in cols],
    ).with_columns(
        change_dkk=pl.col("total_dkk_after") - pl.col("total_dkk_before"),
        listed_change=pl.col("listed_after") - pl.col("listed_before"),
        returned_lines_change=pl.col("returned_lines_after") - pl.col("returned_lines_before"),
    )
    changed = (
        (pl.col("change_dkk").abs() > 0.005)
        | (pl.col("listed_change") != 0)
        | (pl.col("returned_lines_change") != 0)
    )
    return j.filter(changed).sort(keys)


def write_settlement(
    wh: Warehouse,
    year: int,
    months: list[int],
    stmt: pl.DataFrame,
    returned: pl.DataFrame,
    flagged: pl.DataFrame | None = None,
    *,
    as_of: dt.date,
) -> SettlementRun:
    """Record a settlement run of ``months``: its statements and returned lines are added
    to the ``settlement`` and ``returned_claim`` tables under a new run id, with the
    hashes of its inputs in ``settlement_run``; nothing earlier is overwritten.

    The run is compared with the latest earlier run of these months (the correction).
    When that run covered the same months on the same run date with the same inputs,
    nothing is written: the statements would be the same.
    """
    from almen import __version__

    inputs = _inputs(wh, year)
    fees = fees_for_year(wh, year)
    runs = settlement_runs(wh).filter(pl.col("year") == year)
    wanted = set(months)
    earlier = [r for r in runs.iter_rows(named=True) if _months_of(r["months"]) & wanted]
    prev = earlier[-1] if earlier else None
    starts = [dt.date(year, m, 1) for m in months]
    before = pl.DataFrame()
    if prev is not None:
        current, _ = current_statements(wh, year)
        before = current.filter(pl.col("month").is_in(starts))
    correction = _correction(before, stmt) if prev is not None else stmt.head(0)
    if (
        prev is not None
        and _months_of(prev["months"]) == wanted
        and prev["as_of"] == as_of
        and all(prev[k] == v for k, v in inputs.items())
    ):
        return SettlementRun(prev["run_id"], prev["run_id"], False, correction)
    run_id = uuid.uuid4().hex[:12]
    run = {
        "run_id": run_id,
        "year": year,
        "months": _months_text(months),
        "as_of": as_of,
        "created_at": dt.datetime.now(),
        "previous_run_id": prev["run_id"] if prev is not None else None,
        **inputs,
        "fee_schedules": ", ".join(sorted(set(fees["agreement"].to_list()))),
        "almen_version": __version__,
    }
    with wh.transaction():
        wh.append_table("settlement", stmt.with_columns(run_id=pl.lit(run_id)).to_arrow())
        wh.append_table("returned_claim", returned.with_columns(run_id=pl.lit(run_id)).to_arrow())
        if flagged is not None:
            wh.append_table("claim_flag", flagged.with_columns(run_id=pl.lit(run_id)).to_arrow())
        wh.append_table("settlement_run", pl.DataFrame([run]).to_arrow())
    return SettlementRun(run_id, run["previous_run_id"], True, correction)  # type: ignore[arg-type]


@dataclass(frozen=True)
class S96Inputs:
    """What § 96 of a year reads: listed patients, accepted own-patient services by
    clinic, age band and sex, each clinic's region and the capitation."""

    exposure: pl.DataFrame
    accepted: pl.DataFrame
    regions: pl.DataFrame
    capitation_per_year: float
    months: int

    def report(self, year: int, statement_day: dt.date | None = None) -> pl.DataFrame:
        """``ceiling_report`` on these inputs."""
        return ceiling_report(
            self.exposure,
            self.accepted,
            self.regions,
            capitation_per_year=self.capitation_per_year,
            year=year,
            months=self.months,
            statement_day=statement_day,
        )


def s96_inputs(
    wh: Warehouse, year: int, through: dt.date, *, summary: pl.DataFrame | None = None
) -> S96Inputs:
    """§ 96's inputs on January to ``through``, the claims checked on ``through``
    (``summary``: a ``year_summary`` checked on the same day)."""
    fees = fees_for_year(wh, year)
    checked = summary if summary is not None else checked_year(wh, year, through)
    return S96Inputs(
        expo(wh, year),
        accepted_by_group(checked, start=dt.date(year, 1, 1), end=through),
        clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year),
        capitation_price(fees, dt.date(year, 1, 1)),
        through.month,
    )


def ceiling_for_year(
    wh: Warehouse,
    year: int,
    through: dt.date,
    *,
    summary: pl.DataFrame | None = None,
    statement_day: dt.date | None = None,
) -> pl.DataFrame:
    """§ 96 for every clinic on the months January to ``through``, the claims checked on
    ``through``. ``summary`` is a ``year_summary`` checked on the same day;
    ``statement_day`` the day the region draws up the statement (default 31 March of
    the next year)."""
    return s96_inputs(wh, year, through, summary=summary).report(year, statement_day)


def s96_statement(
    wh: Warehouse,
    year: int,
    provider_number: str,
    *,
    through: dt.date | None = None,
    statement_day: dt.date | None = None,
    summary: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One clinic's § 96 statement as the region draws it up (seed 004 §5.3): the
    clinic's row of the report (ratio, region average, ceiling and its date) and the
    standardisation table by age band and sex (``ceiling_bands``). NotFoundError when
    the clinic has no § 96 figures."""
    through = through or dt.date(year, 12, 31)
    i = s96_inputs(wh, year, through, summary=summary)
    report = i.report(year, statement_day).filter(pl.col("provider_number") == provider_number)
    if report.is_empty():
        raise NotFoundError(f"no clinic {provider_number} in the § 96 report of {year}")
    bands = ceiling_bands(
        i.exposure,
        i.accepted,
        i.regions,
        provider_number,
        capitation_per_year=i.capitation_per_year,
        months=i.months,
    )
    return report, bands


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
        expo(wh, year),
        monthly_claims(checked),
        clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year),
        year=year,
        capitation_per_year=capitation_price(fees, dt.date(year, 1, 1)),
        frame_per_insured_year=rate,
    )
    return report, rate


@dataclass(frozen=True)
class OverviewInputs:
    """What every clinic's service overview of a year reads: the fee schedule, the
    accepted lines by clinic, service and age-sex group, the listed patients, each
    clinic's region and the § 96 report (made once, then one clinic at a time)."""

    fees: pl.DataFrame
    accepted: pl.DataFrame
    listed: pl.DataFrame
    regions: pl.DataFrame
    report: pl.DataFrame


def overview_inputs(
    wh: Warehouse, year: int, *, summary: pl.DataFrame | None = None
) -> OverviewInputs:
    """The shared inputs of ``year``'s service overviews (``summary``: the year's
    ``year_summary``, if already made)."""
    fees = fees_for_year(wh, year)
    accepted = accepted_by_group(
        summary if summary is not None else year_summary(wh, year),
        start=dt.date(year, 1, 1),
        end=dt.date(year, 12, 31),
    )
    listed = expo(wh, year)
    regions = clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year)
    report = ceiling_report(
        listed,
        accepted,
        regions,
        capitation_per_year=capitation_price(fees, dt.date(year, 1, 1)),
        year=year,
    )
    return OverviewInputs(fees, accepted, listed, regions, report)


def clinic_overview(
    inputs: OverviewInputs, clinic: str
) -> tuple[pl.DataFrame, dict[str, object], pl.DataFrame]:
    """The service overview of ``clinic`` from the shared inputs: per service its rate
    against the region's, the clinic's § 96 row, and the fee schedule (for names)."""
    if clinic not in set(inputs.regions["provider_number"].to_list()):
        raise NotFoundError(f"no clinic {clinic} in the warehouse")
    me = inputs.report.filter(pl.col("provider_number") == clinic).to_dicts()[0]
    ov = service_overview(clinic, inputs.listed, inputs.accepted, inputs.regions,
                          expected_total_dkk=me["expected_dkk"])  # fmt: skip
    return ov, me, inputs.fees


def overview_for_clinic(
    wh: Warehouse, clinic: str, year: int, *, summary: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, dict[str, object], pl.DataFrame]:
    """The service overview of ``clinic``: per service its rate against the region's,
    the clinic's § 96 row, and the fee schedule (for names). ``summary``: the year's
    ``year_summary``, if already made."""
    return clinic_overview(overview_inputs(wh, year, summary=summary), clinic)


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
    base_rows = in_force.filter(
        (pl.col("agreement").str.to_lowercase() == base.lower())
        & (pl.col("insurance_group").fill_null(1) == 1)
    )
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
    listed = expo(wh, year)
    need = _need_units(wh)
    clinic = wh.read_table("clinic")
    info = clinic.select("provider_number", "form", "municipality").to_polars()
    regions = clinic_regions(clinic, wh.read_table("municipality"), year)
    info = info.join(regions, on="provider_number", how="left")
    underserved = set(load_underserved()["code"].to_list())
    clinics = sc.clinic_attributes(listed, need, info, underserved)
    per_clinic, totals = sc.compare(
        scen,
        activity=activity,
        clinics=clinics,
        base_prices=base_prices,
        base_capitation=base_cap,
        budget_neutral=budget_neutral,
    )
    return FeeComparison(scen, per_clinic, totals)


def service_pattern(
    wh: Warehouse, year: int, clinic: str, through: dt.date | None = None
) -> dict[str, pl.DataFrame]:
    """The service overview as PLO's Ydelsesoverblik shows it, for January to
    ``through``'s month (default the whole year): ``services`` (each service's rate
    against the region, municipality, cluster and similar clinics, standardised by age
    and sex), ``age_groups`` (the clinic against its region by age group) and ``months``
    (the year-to-date § 96 ratio month by month, and over the limit or not)."""
    from almen.settlement import overview as yo

    through = through or dt.date(year, 12, 31)
    summary = year_summary(wh, year, through)
    i = s96_inputs(wh, year, through, summary=summary)
    if clinic not in set(i.regions["provider_number"].to_list()):
        raise NotFoundError(f"no clinic {clinic} in the warehouse")
    info = wh.read_table("clinic").select("provider_number", "municipality", "cluster")
    info_df = info.to_polars()
    groups = {
        "region": i.regions.rename({"region": "group"}),
        "municipality": info_df.select("provider_number", group="municipality"),
        "cluster": info_df.select("provider_number", group="cluster"),
        "similar": yo.similar_clinics(i.exposure, i.months).rename({"similar": "group"}),
    }
    services = yo.comparator_rates(clinic, i.exposure, i.accepted, groups, months=i.months)
    ages = yo.by_age_group(clinic, i.exposure, i.accepted, i.regions, months=i.months)
    rows = []
    for m in range(1, through.month + 1):
        end = dt.date(year + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)
        rep = ceiling_report(
            i.exposure,
            accepted_by_group(summary, start=dt.date(year, 1, 1), end=end),
            i.regions,
            capitation_per_year=i.capitation_per_year,
            year=year,
            months=m,
        ).filter(pl.col("provider_number") == clinic)
        if not rep.is_empty():
            r = rep.row(0, named=True)
            rows.append({"month": m, "ratio": r["ratio"], "limit": 1.0 + r["limit"],
                         "over": r["over"], "ceiling_ffs_dkk": r["ceiling_ffs_dkk"]})  # fmt: skip
    months = pl.DataFrame(
        rows,
        schema={
            "month": pl.Int8,
            "ratio": pl.Float64,
            "limit": pl.Float64,
            "over": pl.Boolean,
            "ceiling_ffs_dkk": pl.Float64,
        },
    )
    return {"services": services, "age_groups": ages, "months": months}
