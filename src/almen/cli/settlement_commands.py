"""Settlement commands: settle and ceiling. Thin: read tables, call the engine, show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from almen import claim_index, settlement
from almen.cli import app, guard, settings_of, warehouse_target
from almen.cli.render import FormatOpt, OutputOpt, console, emit, status
from almen.config import Settings
from almen.errors import NotFoundError, ParameterError, StorageError
from almen.export import Result
from almen.settlement import readers
from almen.warehouse import Warehouse

YearOpt = Annotated[int, typer.Option("--year", help="settlement year")]
ClinicOpt = Annotated[
    str | None, typer.Option("--clinic", help="one clinic (provider number, ydernummer)")
]


def _check_month(month: int | None) -> None:
    if month is not None and not 1 <= month <= 12:
        raise ParameterError(f"--month must be 1-12, not {month}")


def _dkk(x: float) -> str:
    return f"{x:,.0f}"


@app.command()
@guard
def settle(
    ctx: typer.Context,
    year: YearOpt,
    month: Annotated[int | None, typer.Option(help="one month (1-12); default all")] = None,
    clinic: ClinicOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="run date for the future-date rule")
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Monthly statements: capitation, fee-for-service, local agreements, returned claims.

    Writes the ``settlement`` and ``returned_claim`` tables for the months settled.
    """
    _check_month(month)
    run_date = _parse_day(as_of) if as_of else dt.date.today()
    settings = settings_of(ctx)
    months = [month] if month else list(range(1, 13))
    with Warehouse.connect(warehouse_target(settings)) as wh:
        # cheap errors first: no fee schedule or no claims for the year
        readers.fees_for_year(wh, year)
        readers.require_claims(wh, year)
        if claim_index.read(wh) is None:
            claim_index.build(wh)  # claims written outside synth and ingest: index them
        stmt, returned, flagged = readers.settle_year(wh, year, months, run_date)
        run = readers.write_settlement(wh, year, months, stmt, returned, flagged, as_of=run_date)
    # the statements as issued: under their run id, as `almen runs --run` reads them back
    stmt = stmt.select(pl.lit(run.run_id).alias("run_id"), pl.all())
    returned = returned.with_columns(run_id=pl.lit(run.run_id))
    flagged = flagged.with_columns(run_id=pl.lit(run.run_id))
    correction = run.correction
    if clinic is not None:
        stmt = stmt.filter(pl.col("provider_number") == clinic)
        returned = returned.filter(pl.col("provider_number") == clinic)
        flagged = flagged.filter(pl.col("provider_number") == clinic)
        correction = correction.filter(pl.col("provider_number") == clinic)
        if stmt.is_empty():
            raise NotFoundError(f"no clinic {clinic} in the settlement of {year}")
    meta = {"year": year, "months": months, "as_of": run_date, "clinic": clinic,
            "run_id": run.run_id, "previous_run_id": run.previous_run_id,
            "new_run": run.written}  # fmt: skip
    parts = {"statement": stmt, "returned": returned, "flagged": flagged,
             "correction": correction}  # fmt: skip
    if emit(Result(parts, meta), fmt, output):
        return
    if clinic is not None:
        _render_clinic(stmt, returned, clinic)
    else:
        _render_summary(stmt, returned, year)
    _render_run(run, correction)


def _render_run(run: readers.SettlementRun, correction: pl.DataFrame) -> None:
    if not run.written:
        console.print(
            f"run {run.run_id}: the same months, run date and inputs were settled before; "
            "no new run was written"
        )
        return
    console.print(f"settlement run {run.run_id} written (almen runs shows every run)")
    if run.previous_run_id is None:
        return
    if correction.is_empty():
        console.print(f"no statement changed against run {run.previous_run_id}")
        return
    t = Table(
        title=f"Correction against run {run.previous_run_id}: {len(correction):,} statements "
        f"changed, {correction['change_dkk'].sum():+,.0f} DKK in all"
    )
    for col in ("clinic", "month", "listed", "returned lines", "total before", "after", "change"):
        t.add_column(col, justify="left" if col == "clinic" else "right")
    for r in correction.iter_rows(named=True):
        t.add_row(
            r["provider_number"],
            r["month"].strftime("%Y-%m"),
            f"{r['listed_before']:,} → {r['listed_after']:,}",
            f"{r['returned_lines_before']:,} → {r['returned_lines_after']:,}",
            _dkk(r["total_dkk_before"]),
            _dkk(r["total_dkk_after"]),
            f"{r['change_dkk']:+,.0f}",
        )
    console.print(t)


@app.command()
@guard
def runs(
    ctx: typer.Context,
    run: Annotated[
        str | None, typer.Option("--run", help="one run's statements (as they were issued)")
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Settlement runs: what each used (input hashes, fee schedules, rules); with --run,
    the statements that run issued (earlier runs stay readable)."""
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        table = readers.settlement_runs(wh)
        if run is not None:
            if run not in set(table["run_id"].to_list()):
                raise NotFoundError(f"no settlement run {run!r} (almen runs lists them)")
            s = wh.read_table("settlement")
            stmt = s.filter(s.run_id == run).to_polars().sort("provider_number", "month")
            r = wh.read_table("returned_claim")
            ret = r.filter(r.run_id == run).to_polars().sort("claim_id")
    if run is not None:
        if not emit(Result({"statement": stmt, "returned": ret}, {"run_id": run}), fmt, output):
            _render_clinic_or_summary(stmt, ret)
        return
    if emit(Result({"runs": table}), fmt, output):
        return
    t = Table(title=f"Settlement runs ({len(table):,})")
    for col in ("run", "year", "months", "run date", "made", "previous", "fee schedules",
                "claims (sha-256)"):  # fmt: skip
        t.add_column(col)
    for r in table.iter_rows(named=True):
        t.add_row(r["run_id"], str(r["year"]), r["months"], str(r["as_of"]),
                  f"{r['created_at']:%Y-%m-%d %H:%M:%S}", r["previous_run_id"] or "",
                  r["fee_schedules"], r["claim_sha256"][:12])  # fmt: skip
    console.print(t)


@app.command()
@guard
def statements(
    ctx: typer.Context,
    year: YearOpt,
    clinic: ClinicOpt = None,
    local: Annotated[
        bool, typer.Option("--local", help="also the local-agreement lines (seed 004 §5.1)")
    ] = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """The statements issued for the year, as `settle` wrote them (the latest run of each
    month); read only. With --local, the local-agreement lines behind their local column,
    by month and service code (paid outside the frame and § 96, seed 004 §5.1)."""
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        if not wh.has_table("settlement"):
            raise NotFoundError(f"no statements yet; `almen settle --year {year}` issues them")
        stmt, ret = readers.current_statements(wh, year)
        lines = readers.local_lines(wh, year, clinic) if local else None
    if clinic is not None:
        stmt = stmt.filter(pl.col("provider_number") == clinic)
        ret = ret.filter(pl.col("provider_number") == clinic)
    if stmt.is_empty():
        who = f" of clinic {clinic}" if clinic else ""
        raise NotFoundError(f"no statements{who} for {year}; `almen settle --year {year}` "
                            "issues them")  # fmt: skip
    parts = {"statement": stmt, "returned": ret, **({"local": lines} if lines is not None else {})}
    if emit(Result(parts, {"year": year, "clinic": clinic}), fmt, output):
        return
    _render_clinic_or_summary(stmt, ret)
    if lines is not None:
        t = Table(title=f"Local-agreement lines {year} ({len(lines):,})")
        for col in ("clinic", "month", "service", "name", "lines", "DKK"):
            t.add_column(col, justify="right" if col in ("lines", "DKK") else "left")
        for r in lines.iter_rows(named=True):
            t.add_row(r["provider_number"], r["month"].strftime("%Y-%m"), r["service_code"],
                      r["name_en"] or "", f"{r['lines']:,}", _dkk(r["dkk"]))  # fmt: skip
        console.print(t)


def _render_clinic_or_summary(stmt: pl.DataFrame, returned: pl.DataFrame) -> None:
    if stmt["provider_number"].n_unique() == 1:
        _render_clinic(stmt, returned, str(stmt["provider_number"][0]))
    elif len(stmt):
        _render_summary(stmt, returned, int(stmt["month"][0].year))


def _parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ParameterError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _render_summary(stmt: pl.DataFrame, returned: pl.DataFrame, year: int) -> None:
    by_month = (
        stmt.group_by("month")
        .agg(
            clinics=pl.len(),
            listed=pl.col("listed").sum(),
            capitation=pl.col("capitation_dkk").sum(),
            daytime=pl.col("ffs_daytime_dkk").sum(),
            ooh=pl.col("ffs_ooh_dkk").sum(),
            local=pl.col("local_dkk").sum(),
            returned=pl.col("returned_lines").sum(),
            returned_dkk=pl.col("returned_dkk").sum(),
            total=pl.col("total_dkk").sum(),
            paid=pl.col("payment_date").first(),
        )
        .sort("month")
    )
    n_clinics = int(stmt["provider_number"].n_unique())
    t = Table(title=f"Settlement {year}: {n_clinics:,} clinics, DKK (mileage is paid yearly)")
    for col in ("month", "listed", "capitation", "fee-for-service", "local", "returned"):
        t.add_column(col, justify="right")
    t.add_column("total", justify="right")
    t.add_column("paid", justify="right")
    for r in by_month.iter_rows(named=True):
        t.add_row(
            r["month"].strftime("%Y-%m"),
            f"{r['listed']:,}",
            _dkk(r["capitation"]),
            _dkk(r["daytime"] + r["ooh"]),
            _dkk(r["local"]),
            f"{r['returned']:,} lines, {_dkk(r['returned_dkk'])}",
            _dkk(r["total"]),
            str(r["paid"]),
        )
    console.print(t)
    if not returned.is_empty():
        _render_reasons(returned)


def _render_reasons(returned: pl.DataFrame) -> None:
    reasons = (
        returned.group_by("rule", "reason_da", "reason_en")
        .agg(lines=pl.len(), dkk=pl.col("amount_dkk").sum())
        .sort("lines", descending=True)
    )
    t = Table(title="Returned claims (returregninger) by rule")
    for col in ("rule", "lines", "DKK", "årsag", "reason"):
        t.add_column(col, justify="right" if col in ("lines", "DKK") else "left")
    for r in reasons.iter_rows(named=True):
        t.add_row(r["rule"], f"{r['lines']:,}", _dkk(r["dkk"]), r["reason_da"], r["reason_en"])
    console.print(t)


def _render_clinic(stmt: pl.DataFrame, returned: pl.DataFrame, clinic: str) -> None:
    listed = int(stmt["listed"][-1])
    km = float(stmt["mileage_km"].sum())
    t = Table(title=f"Clinic {clinic}: {listed:,} listed; DKK (mileage {km:,.0f} km, paid yearly)")
    for col in ("month", "capitation", "fee-for-service", "local", "returned", "total", "paid"):
        t.add_column(col, justify="right")
    for r in stmt.iter_rows(named=True):
        t.add_row(
            r["month"].strftime("%Y-%m"),
            _dkk(r["capitation_dkk"]),
            _dkk(r["ffs_daytime_dkk"] + r["ffs_ooh_dkk"]),
            _dkk(r["local_dkk"]),
            _dkk(r["returned_dkk"]),
            _dkk(r["total_dkk"]),
            str(r["payment_date"]),
        )
    console.print(t)
    if not returned.is_empty():
        _render_reasons(returned)


def _s96_statement(
    settings: Settings,
    year: int,
    clinic: str | None,
    through: dt.date,
    day: dt.date | None,
    lang: str,
    fmt: str,
    output: Path | None,
) -> None:
    """`almen ceiling --statement`: one clinic's § 96 statement as a file or a page."""
    from almen.printable import LABELS, s96_html

    if clinic is None:
        raise ParameterError("--statement needs --clinic")
    if lang not in LABELS:
        raise ParameterError(f"--lang must be one of {', '.join(LABELS)}, not {lang!r}")
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        report, bands = readers.s96_statement(wh, year, clinic, through=through, statement_day=day)
    if fmt == "html":
        page = s96_html(report.row(0, named=True), bands, year=year, lang=lang)
        if output is None:
            typer.echo(page)
        else:
            try:
                output.write_text(page, encoding="utf-8")
            except OSError as exc:
                raise StorageError(f"cannot write {output}: {exc.strerror}") from None
            status.print(f"wrote {output}")
        return
    meta = {"year": year, "clinic": clinic, "through": through}
    if emit(Result({"statement": report, "bands": bands}, meta), fmt, output):
        return
    console.print(s96_text(report.row(0, named=True)))
    t = Table(title=f"§ 96 {year} {clinic}: standardisation by age and sex")
    for col in ("age", "sex", "patient-years", "DKK", "region DKK/py", "expected"):
        t.add_column(col, justify="left" if col in ("age", "sex") else "right")
    for b in bands.iter_rows(named=True):
        t.add_row(
            str(b["age_band"]),
            b["sex"],
            f"{b['patient_years']:,.1f}",
            _dkk(b["expenditure_dkk"]),
            "" if b["region_rate_dkk"] is None else _dkk(b["region_rate_dkk"]),
            _dkk(b["expected_dkk"]),
        )
    console.print(t)


def s96_text(r: dict[str, object]) -> str:
    """One line on a clinic's § 96 position."""
    ceiling = r["ceiling_ffs_dkk"]
    tail = (
        f"; ceiling {_dkk(ceiling)} DKK a year from {r['effective_from']}"  # type: ignore[arg-type]
        if ceiling is not None
        else ""
    )
    return f"{r['provider_number']}: {r['why']}{tail} (statement date {r['statement_date']})"


@app.command()
@guard
def ceiling(
    ctx: typer.Context,
    year: YearOpt,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="early warning: project from claims up to this date"),
    ] = None,
    clinic: ClinicOpt = None,
    show: Annotated[int, typer.Option(help="clinics to list, highest ratio first")] = 20,
    backtest: Annotated[
        bool, typer.Option(help="how early the year-to-date flag equals the final one")
    ] = False,
    statement: Annotated[
        bool,
        typer.Option(
            "--statement",
            help="with --clinic: the clinic's § 96 statement with its standardisation "
            "table by age and sex (--format html gives a printable page)",
        ),
    ] = False,
    statement_date: Annotated[
        str | None,
        typer.Option(
            "--statement-date",
            help="the day the region draws up the statement (default 31 March of the next "
            "year); a ceiling takes effect from the next quarter",
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="language of --format html: da or en")] = "da",
    fmt: Annotated[
        str, typer.Option("--format", help="table, csv, json, parquet (html with --statement)")
    ] = "table",
    output: OutputOpt = None,
) -> None:
    """§ 96: daytime expenditure per listed patient against the regional average.

    The table lists the ``--show`` highest ratios; ``--format``/``--output`` give every
    clinic."""
    settings = settings_of(ctx)
    if backtest:
        _backtest(ctx, year, fmt, output)
        return
    through = _parse_day(as_of) if as_of else dt.date(year, 12, 31)
    if through.year != year:
        raise ParameterError(f"--as-of {through} is not in {year}")
    day = _parse_day(statement_date) if statement_date else None
    if statement:
        _s96_statement(settings, year, clinic, through, day, lang, fmt, output)
        return
    if fmt == "html":
        raise ParameterError("--format html is for --statement")
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        report = readers.ceiling_for_year(wh, year, through, statement_day=day)
    if clinic is not None:
        report = report.filter(pl.col("provider_number") == clinic)
        if report.is_empty():
            raise NotFoundError(f"no clinic {clinic} in the § 96 report of {year}")
    meta = {"year": year, "through": through, "projected": as_of is not None}
    if emit(Result({"ceiling": report.sort("ratio", descending=True)}, meta), fmt, output):
        return
    title = f"§ 96 {year}" + (f", projected from claims to {through}" if as_of else "")
    over = int(report["over"].sum())
    t = Table(title=f"{title}: {over:,} of {len(report):,} clinics at or over the limit")
    for col in ("clinic", "region", "patients", "DKK", "expected", "crude", "std.", "ceiling"):
        t.add_column(col, justify="left" if col in ("clinic", "region") else "right")
    top = report.sort("ratio", descending=True).head(show)
    for r in top.iter_rows(named=True):
        t.add_row(
            r["provider_number"],
            r["region"].removeprefix("Region "),
            f"{r['patient_years']:,.0f}",
            _dkk(r["expenditure_dkk"]),
            _dkk(r["expected_dkk"]),
            f"{r['crude_ratio']:.3f}",
            f"{r['standardised_ratio']:.3f}",
            ""
            if r["ceiling_ffs_dkk"] is None
            else f"{_dkk(r['ceiling_ffs_dkk'])} from {r['effective_from']}",
        )
    console.print(t)
    for r in top.head(5 if clinic is None else 1).iter_rows(named=True):
        console.print(f"{r['provider_number']}: {r['why']}")


@app.command()
@guard
def frame(
    ctx: typer.Context, year: YearOpt, fmt: FormatOpt = "table", output: OutputOpt = None
) -> None:
    """The budget frame month by month against expenditure, nationally and per region."""
    settings = settings_of(ctx)
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        report, rate = readers.frame_for_year(wh, year)
    meta = {"year": year, "frame_per_insured_year_dkk": rate, "rate_basis": "estimate"}
    if emit(Result({"frame": report}, meta), fmt, output):
        return
    nat = report.filter(pl.col("area") == "Danmark")
    t = Table(title=f"Budget frame {year}, Denmark: {rate:,.0f} DKK per insured a year (estimate)")
    for col in ("month", "insured", "frame", "expenditure", "difference", "year to date"):
        t.add_column(col, justify="right")
    for r in nat.iter_rows(named=True):
        t.add_row(
            r["month"].strftime("%Y-%m"),
            f"{r['insured']:,}",
            _dkk(r["frame_dkk"]),
            _dkk(r["expenditure_dkk"]),
            _dkk(r["difference_dkk"]),
            f"{r['ytd_ratio']:.1%}",
        )
    console.print(t)
    dec = report.filter(pl.col("month") == dt.date(year, 12, 1)).sort("area")
    t2 = Table(title=f"Year {year} by region")
    for col in ("area", "frame", "expenditure", "share of frame"):
        t2.add_column(col, justify="left" if col == "area" else "right")
    for r in dec.iter_rows(named=True):
        t2.add_row(
            r["area"],
            _dkk(r["frame_ytd_dkk"]),
            _dkk(r["expenditure_ytd_dkk"]),
            f"{r['ytd_ratio']:.1%}",
        )
    console.print(t2)


@app.command()
@guard
def overview(
    ctx: typer.Context,
    clinic: Annotated[str, typer.Option("--clinic", help="provider number (ydernummer)")],
    year: Annotated[int, typer.Option("--year", help="settlement year")] = 2025,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="as PLO's Ydelsesoverblik: against region, municipality, cluster and "
            "similar clinics, by age group, and the § 96 ratio month by month",
        ),
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="with --compare: the months up to this day")
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Service overview (ydelsesoverblik): each service's rate against the region's."""
    settings = settings_of(ctx)
    if compare:
        through = _parse_day(as_of) if as_of else dt.date(year, 12, 31)
        if through.year != year:
            raise ParameterError(f"--as-of {through} is not in {year}")
        with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
            parts = readers.service_pattern(wh, year, clinic, through)
        if emit(Result(parts, {"year": year, "clinic": clinic, "through": through}), fmt, output):
            return
        _render_pattern(parts, clinic, year)
        return
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        ov, me, fees = readers.overview_for_clinic(wh, clinic, year)
    names = dict(zip(fees["service_code"], fees["name_en"], strict=False))
    names_da = dict(zip(fees["service_code"], fees["name_da"], strict=False))
    table = ov.with_columns(
        name_da=pl.col("service_code").replace_strict(names_da, default=None),
        name_en=pl.col("service_code").replace_strict(names, default=None),
    )
    if emit(Result({"overview": table}, {"year": year, **me}), fmt, output):
        return
    t = Table(
        title=f"Clinic {clinic} {year}: § 96 ratio {me['ratio']:.3f} "
        f"({me['patient_years']:,.0f} listed)"
    )
    for col in ("service", "per 1,000", "region (std.)", "deviation", "→ § 96 ratio"):
        t.add_column(col, justify="left" if col == "service" else "right")
    for r in ov.iter_rows(named=True):
        dev = "" if r["deviation"] is None else f"{r['deviation']:+.0%}"
        t.add_row(
            f"{r['service_code']} {names.get(r['service_code'], '')}",
            f"{r['rate_per_1000']:,.0f}",
            f"{r['expected_per_1000']:,.0f}",
            dev,
            f"{r['contribution']:+.3f}",
        )
    console.print(t)


def _render_pattern(parts: dict[str, pl.DataFrame], clinic: str, year: int) -> None:
    wide = parts["services"].pivot(
        on="comparator", index=["service_code", "rate_per_1000"], values="deviation"
    )
    cols = [c for c in ("region", "municipality", "cluster", "similar") if c in wide.columns]
    t = Table(title=f"Clinic {clinic} {year}: deviation from each comparator (age-sex std.)")
    for col in ("service", "per 1,000", *cols):
        t.add_column(col, justify="left" if col == "service" else "right")
    for r in wide.sort("service_code").iter_rows(named=True):
        t.add_row(
            r["service_code"],
            f"{r['rate_per_1000']:,.0f}",
            *["·" if r[c] is None else f"{r[c]:+.0%}" for c in cols],
        )
    console.print(t)
    m = Table(title="§ 96 ratio, year to date")
    for col in ("month", "ratio", "limit", "over"):
        m.add_column(col, justify="right")
    for r in parts["months"].iter_rows(named=True):
        m.add_row(str(r["month"]), f"{r['ratio']:.3f}", f"{r['limit']:.2f}",
                  "yes" if r["over"] else "")  # fmt: skip
    console.print(m)
    console.print("· : fewer than 5 other clinics to compare with (not shown)")


def _backtest(ctx: typer.Context, year: int, fmt: str, output: Path | None) -> None:
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        fees = readers.fees_for_year(wh, year)
        checked = readers.checked_year(wh, year, dt.date(year, 12, 31))
        table = settlement.early_warning(
            checked,
            settlement.exposure(wh.read_table("patient"), year),
            settlement.clinic_regions(wh.read_table("clinic"), wh.read_table("municipality"), year),
            year=year,
            capitation_per_year=settlement.capitation_price(fees, dt.date(year, 1, 1)),
        )
    if emit(Result({"backtest": table}, {"year": year}), fmt, output):
        return
    t = Table(title=f"§ 96 early warning {year}: year-to-date flag against the final flag")
    for col in ("through month", "agreement", "flagged", "of them final", "final"):
        t.add_column(col, justify="right")
    for r in table.iter_rows(named=True):
        t.add_row(
            str(r["month"]),
            f"{r['agreement']:.1%}",
            f"{r['flagged']:,}",
            f"{r['true_positives']:,}",
            f"{r['flagged_final']:,}",
        )
    console.print(t)
    ok = table.filter(pl.col("agreement") >= 0.95)["month"].to_list()
    first = next((m for m in ok if all(x in ok for x in range(m, 13))), None)
    console.print(f"first month from which the flag agrees for ≥ 95 % of clinics: {first}")


fees_app = typer.Typer(help="Fee-structure scenarios.", no_args_is_help=True)
app.add_typer(fees_app, name="fees")


@fees_app.command("compare")
@guard
def fees_compare(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Option("--scenario", help="scenario TOML file")],
    base: Annotated[str, typer.Option("--base", help="agreement of the base prices")] = "Aftale25",
    year: Annotated[int, typer.Option("--year", help="year of the activity")] = 2025,
    budget_neutral: Annotated[
        bool | None,
        typer.Option(
            "--budget-neutral/--not-budget-neutral",
            help="scale the scenario so it costs the same as the base (default: the file's)",
        ),
    ] = None,
    show: Annotated[int, typer.Option(help="clinics to list at each end")] = 5,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Re-price a year's activity under a scenario and show who wins and who loses.

    ``--format``/``--output`` give every clinic, every group and the totals."""
    settings = settings_of(ctx)
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        res = readers.compare_fees(
            wh, scenario, base=base, year=year, budget_neutral=budget_neutral
        )
    scen, per_clinic, totals = res.scenario, res.per_clinic, res.totals
    from almen.settlement import scenario as sc

    assert isinstance(scen, sc.Scenario)
    parts = {"per_clinic": per_clinic, **{f"by_{k}": t for k, t in sc.groups(per_clinic).items()}}
    parts["totals"] = pl.DataFrame([totals])
    meta = {"scenario": scen.name, "description": scen.description, "base": base, "year": year}
    if emit(Result(parts, meta), fmt, output):
        return
    _render_scenario(scen, per_clinic, totals, year, show)


def _render_scenario(
    scen: object, per_clinic: pl.DataFrame, totals: dict[str, float], year: int, show: int
) -> None:
    from almen.settlement import scenario as sc

    assert isinstance(scen, sc.Scenario)
    base, new = totals["base_dkk"], totals["scenario_dkk"]
    py = float(per_clinic["patient_years"].sum())
    try:
        frame_dkk = settlement.frame_rate(year) * py
        frame_txt = f"; frame ≈ {_dkk(frame_dkk)} (scenario {new / frame_dkk:.1%} of it)"
    except LookupError:
        frame_txt = ""
    console.print(f"[bold]{scen.name}[/] {scen.description}")
    console.print(
        f"base {_dkk(base)} DKK → scenario {_dkk(new)} DKK: {new - base:+,.0f} "
        f"({(new - base) / base:+.2%}){frame_txt}"
    )
    if totals["unplaced_dkk"]:
        console.print(
            f"[yellow]note:[/] {_dkk(totals['unplaced_dkk'])} DKK moved to services with no "
            "activity this year could not be placed and left the total (allow_unplaced)"
        )
    if totals["to_capitation_dkk"]:
        console.print(f"moved into capitation: {_dkk(totals['to_capitation_dkk'])} DKK")
    if totals["scaling"] != 1.0:
        console.print(f"budget-neutral: every price and the capitation × {totals['scaling']:.5f}")
    console.print(f"capitation in the scenario: {totals['capitation_dkk']:,.2f} DKK a patient-year")
    names = {
        "need_decile": "need decile (chronic conditions per patient)",
        "form": "clinic form",
        "region": "region",
        "area": "underserved area",
    }
    for key, table in sc.groups(per_clinic).items():
        t = Table(title=f"By {names[key]}")
        for col in (key, "clinics", "change DKK", "change %", "winners", "losers"):
            t.add_column(col, justify="left" if col == key else "right")
        for r in table.iter_rows(named=True):
            t.add_row(
                str(r[key]).removeprefix("Region "),
                f"{r['clinics']:,}",
                f"{r['change_dkk']:+,.0f}",
                f"{r['change_pct']:+.2f}",
                f"{r['winners']:,}",
                f"{r['losers']:,}",
            )
        console.print(t)
    ranked = per_clinic.filter(pl.col("change_pct").is_not_null()).sort("change_pct")
    t = Table(title=f"Clinics with the largest change (of {len(per_clinic):,})")
    for col in ("clinic", "form", "base DKK", "scenario DKK", "change %"):
        t.add_column(col, justify="left" if col in ("clinic", "form") else "right")
    for r in pl.concat([ranked.head(show), ranked.tail(show)]).iter_rows(named=True):
        t.add_row(
            r["provider_number"],
            r["form"],
            _dkk(r["base_dkk"]),
            _dkk(r["scenario_dkk"]),
            f"{r['change_pct']:+.2f}",
        )
    console.print(t)
