"""Commands that bring real data in: init, ingest …, check claims.

Every importer prints ``read = accepted + rejected``, puts each refused row in the
``reject`` table with its reason, pseudonymises CPR numbers at the door, writes all or
nothing, and refuses a file it has imported before unless ``--replace`` is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from almen.cli import app, guard, ingest_app, settings_of, warehouse_target
from almen.cli.render import (
    FormatOpt,
    OutputOpt,
    console,
    emit,
    render_counts,
    render_reconciliation,
)
from almen.errors import InputError, ParameterError
from almen.export import Result
from almen.ingest.validated import Validated
from almen.warehouse import WAREHOUSE_FILE, Warehouse

ReplaceOpt = Annotated[
    bool, typer.Option(help="import a file again in place of its earlier import")
]
StrictOpt = Annotated[bool, typer.Option(help="refuse the file if any row is rejected")]
EncodingOpt = Annotated[
    str | None,
    typer.Option(help="file encoding, e.g. utf-8 or latin-1 (default: UTF-8, else Latin-1)"),
]


@app.command()
@guard
def init(
    ctx: typer.Context,
    year: Annotated[
        list[int] | None,
        typer.Option(help="population years to derive (repeat; default: the fee-schedule years)"),
    ] = None,
) -> None:
    """Create a warehouse with the shipped reference data and no people: municipalities,
    regions, health councils, population, fee schedules; then `almen ingest …` your own."""
    from almen.ingest.initial import initialise

    settings = settings_of(ctx)
    with Warehouse.connect(warehouse_target(settings)) as wh:
        counts = initialise(wh, year)
        where = wh.location
    render_counts(counts, title=f"Warehouse {where} (reference data, no people)")
    console.print(
        "next: almen ingest clinics, doctors, patients, claims (and conditions, medications, "
        "ooh, fees, population); see docs/examples/real-data/"
    )


def _strict(validated: Validated, strict: bool) -> None:
    if strict and validated.rejects:
        r = validated.rejects[0]
        raise InputError(
            f"{len(validated.rejects)} {'row' if len(validated.rejects) == 1 else 'rows'} "
            f"rejected (--strict), the first: {r.reason}; "
            "nothing was imported",
            source=validated.source,
            line=r.line,
            column=r.column,
        )


def _unknown_providers(
    wh: Warehouse, validated: Validated, named: pl.DataFrame | None = None
) -> None:
    """A note (not a reject) when rows name clinics the register does not hold.
    ``named``: provider_number and len (rows) when the rows are no longer in
    ``validated`` (streamed claims)."""
    if validated.target_table == "clinic" or not wh.has_table("clinic"):
        return
    if named is None:
        if "provider_number" not in validated.accepted.column_names:
            return
        rows = pl.from_arrow(validated.accepted.select(["provider_number"]))
        assert isinstance(rows, pl.DataFrame)
        named = rows.group_by("provider_number").len()
    known = pl.Series(wh.read_table("clinic").provider_number.to_pyarrow().to_pylist())
    counts = named.filter(
        pl.col("provider_number").is_not_null()
        & ~pl.col("provider_number").cast(pl.Utf8).is_in(known.implode())
    )
    if len(counts):
        validated.notes.append(
            f"{int(counts['len'].sum()):,} rows name {len(counts):,} provider numbers not in "
            "the clinic register (almen ingest clinics)"
        )


def _ingest(
    ctx: typer.Context,
    make: Callable[[Warehouse], Validated],
    *,
    replace: bool,
    strict: bool,
) -> None:
    """Validate with ``make`` (it may read the warehouse), then write all or nothing."""
    from almen.ingest.initial import initialise, is_initialised
    from almen.ingest.validated import check_not_ingested, write_validated

    settings = settings_of(ctx)
    new = settings.warehouse_url is None and not (settings.data / WAREHOUSE_FILE).exists()
    with Warehouse.connect(warehouse_target(settings)) as wh:
        validated = make(wh)
        _strict(validated, strict)
        check_not_ingested(wh, validated, replace=replace)
        if not is_initialised(wh):
            initialise(wh)
            validated.notes.append(
                "the warehouse was "
                + ("new" if new else "without reference data")
                + ": municipalities, population and fee schedules written first (almen init)"
            )
        _unknown_providers(wh, validated)
        ingest_id = write_validated(wh, validated, replace=replace)
    render_reconciliation(validated, ingest_id)


def _given(validated: Validated) -> Callable[[Warehouse], Validated]:
    return lambda _wh: validated


def _key(ctx: typer.Context) -> bytes:
    from almen.ingest.pseudonymise import load_key

    settings = settings_of(ctx)
    return load_key(settings.pseudonym_key, settings.data)


def _next_id(wh: Warehouse, table: str, column: str) -> int:
    if not wh.has_table(table):
        return 1
    top = wh.read_table(table)[column].max().fill_null(0).to_pyarrow().as_py()
    return int(top or 0) + 1


@ingest_app.command("clinics")
@guard
def ingest_clinics(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="clinic register: ydernummer, kommune, klinikform")],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest the clinic register: provider number, name, municipality, form, cluster,
    closed to new patients with dates. A clinic's newer row replaces the older."""
    from almen.ingest.register import validate_clinics

    _ingest(ctx, lambda _wh: validate_clinics(file, encoding=encoding), replace=replace,
            strict=strict)  # fmt: skip


@ingest_app.command("doctors")
@guard
def ingest_doctors(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="doctors: ydernummer, fødselsår, køn, rolle, fte")],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest the clinics' doctors (birth year, sex, role, FTE, year established); each
    clinic in the file gets exactly the doctors the file lists."""
    from almen.ingest.register import validate_doctors

    def make(wh: Warehouse) -> Validated:
        first = _next_id(wh, "doctor", "doctor_id")
        return validate_doctors(file, first_doctor_id=first, encoding=encoding)

    _ingest(ctx, make, replace=replace, strict=strict)


@ingest_app.command("patients")
@guard
def ingest_patients(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV with CPR number, provider number, listing date")
    ],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest a patient list or listing history: CPR pseudonymised at the door, bad rows to
    the rejects table. A patient listed elsewhere from a date closes the earlier period."""
    from almen.ingest import validate_patient_list

    key = _key(ctx)
    _ingest(ctx, lambda _wh: validate_patient_list(file, key, encoding=encoding),
            replace=replace, strict=strict)  # fmt: skip


@ingest_app.command("conditions")
@guard
def ingest_conditions(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="diagnoses: CPR, ICPC-2 code, date")],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest diagnoses (ICPC-2) from a practice-system export."""
    from almen.ingest.clinical import validate_conditions

    key = _key(ctx)
    _ingest(ctx, lambda _wh: validate_conditions(file, key, encoding=encoding),
            replace=replace, strict=strict)  # fmt: skip


@ingest_app.command("medications")
@guard
def ingest_medications(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="drugs in use: CPR, ATC code, start, end")],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest drugs in use (ATC) from a practice-system export."""
    from almen.ingest.clinical import validate_medications

    key = _key(ctx)
    _ingest(ctx, lambda _wh: validate_medications(file, key, encoding=encoding),
            replace=replace, strict=strict)  # fmt: skip


@ingest_app.command("labs")
@guard
def ingest_labs(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="lab results: CPR, NPU code, sample date, value, unit")
    ],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest lab results (NPU codes, e.g. HbA1c NPU27300) from a practice-system export."""
    from almen.ingest.clinical import validate_lab_results

    key = _key(ctx)
    _ingest(ctx, lambda _wh: validate_lab_results(file, key, encoding=encoding),
            replace=replace, strict=strict)  # fmt: skip


@ingest_app.command("fhir")
@guard
def ingest_fhir(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="a FHIR R4 Bundle (JSON) of Patient, Condition and MedicationStatement resources"
        ),
    ],
    listed_from: Annotated[
        str | None,
        typer.Option(
            help="first day of the listing of the Bundle's patients (YYYY-MM-DD); "
            "FHIR holds no listing date"
        ),
    ] = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest patient data from another system as a FHIR Bundle (DK Core codings), through
    the same checks, pseudonymisation and rejects as the CSV files; a reject's line is
    the resource's entry number in the Bundle."""
    from almen.ingest.fhir_bundle import validate_fhir_bundle

    day = None
    if listed_from is not None:
        try:
            day = dt.date.fromisoformat(listed_from)
        except ValueError:
            raise ParameterError(
                f"--listed-from: not a date (YYYY-MM-DD): {listed_from!r}"
            ) from None
    key = _key(ctx)
    got = validate_fhir_bundle(file, key, listed_from=day)
    if not got.parts:
        raise InputError("the Bundle holds no Patient, Condition or MedicationStatement",
                         source=file.name)  # fmt: skip
    for part in got.parts:
        if got.skipped:
            part.notes.append("left out (not imported): " + ", ".join(
                f"{n} {k}" for k, n in sorted(got.skipped.items())))  # fmt: skip
        _ingest(ctx, _given(part), replace=replace, strict=strict)


@ingest_app.command("ooh")
@guard
def ingest_ooh(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="out-of-hours contacts: region, site, start, kind, minutes")
    ],
    encoding: EncodingOpt = None,
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest out-of-hours (lægevagt) contacts."""
    from almen.ingest.clinical import validate_ooh_contacts

    key = _key(ctx)

    def make(wh: Warehouse) -> Validated:
        first = _next_id(wh, "ooh_contact", "contact_id")
        return validate_ooh_contacts(file, key, first_contact_id=first, encoding=encoding)

    _ingest(ctx, make, replace=replace, strict=strict)


@ingest_app.command("fees")
@guard
def ingest_fees(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="fee schedule: aftale, ydelse, pris, gyldig fra/til")
    ],
    encoding: EncodingOpt = None,
    replace: Annotated[
        bool, typer.Option(help="replace the rows of the agreements the file names")
    ] = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest a fee schedule. A price that overlaps another for the same service and days
    is refused with its line, unless --replace replaces that agreement."""
    from almen.ingest.fees import validate_fee_schedule

    def make(wh: Warehouse) -> Validated:
        existing = None
        if wh.has_table("fee_schedule"):
            existing = wh.read_table("fee_schedule").to_polars()
        return validate_fee_schedule(file, existing, replace=replace, encoding=encoding)

    _ingest(ctx, make, replace=replace, strict=strict)


def _period(period: str | None) -> dt.date | None:
    if period is None:
        return None
    try:
        return dt.datetime.strptime(period, "%Y-%m").date()
    except ValueError:
        raise ParameterError(f"--period must be YYYY-MM, not {period!r}") from None


PeriodOpt = Annotated[
    str | None,
    typer.Option(help="settlement period YYYY-MM of lines that name none (default: their month)"),
]
ColumnsOpt = Annotated[
    Path | None, typer.Option(help="TOML file with more header names ([columns])")
]


@ingest_app.command("claims")
@guard
def ingest_claims(
    ctx: typer.Context,
    files: Annotated[
        list[Path], typer.Argument(help="claim extracts: CPR, provider number, service, date")
    ],
    period: PeriodOpt = None,
    columns: ColumnsOpt = None,
    encoding: Annotated[str, typer.Option(help="file encoding, e.g. utf-8 or cp1252")] = "utf-8",
    strict: StrictOpt = False,
    replace: ReplaceOpt = False,
) -> None:
    """Ingest claim extracts: CPR pseudonymised at the door, bad lines to the rejects table.

    Nothing is committed until every file is read and checked; a file that cannot be read
    as a whole (encoding, missing column, malformed line) stops the import with exit 2
    and leaves the warehouse as it was. The rows are written as they are read, so a file
    of tens of millions of lines is never held in memory whole. Each line keeps its file,
    line and ingest id, so a returned claim can be traced.
    """
    from almen import claim_index
    from almen.ingest import validate_claims
    from almen.ingest.claims import CLAIM_ALIASES, load_column_map
    from almen.ingest.csv_reader import file_sha256
    from almen.ingest.initial import initialise, is_initialised
    from almen.ingest.validated import ClaimWriter

    month = _period(period)
    aliases = load_column_map(columns) if columns else CLAIM_ALIASES
    settings = settings_of(ctx)
    key = _key(ctx)
    results = []
    with Warehouse.connect(warehouse_target(settings)) as wh:
        next_id = _next_id(wh, "claim", "claim_id")
        before = claim_index.indexed_rows(wh)
        replaced = False
        with wh.transaction():
            if not is_initialised(wh):
                initialise(wh)
            for f in files:
                sha = file_sha256(f)
                with ClaimWriter(wh, sha256=sha, source=f.name, replace=replace) as writer:
                    validated, _totals = validate_claims(
                        f, key, first_claim_id=next_id, period=month, aliases=aliases,
                        encoding=encoding, sink=writer, sha256=sha,
                    )  # fmt: skip
                    _strict(validated, strict)
                    ingest_id = writer.finish(validated)
                replaced = replaced or bool(writer.earlier)
                _unknown_providers(wh, validated, _claim_providers(wh, ingest_id))
                next_id += validated.rows_accepted
                results.append((validated, ingest_id))
        claim_index.update(wh, [i for _v, i in results], rows_before=None if replaced else before)
    for validated, ingest_id in results:
        render_reconciliation(validated, ingest_id)


def _claim_providers(wh: Warehouse, ingest_id: str) -> pl.DataFrame:
    """The provider numbers of one import's claims, with their row counts."""
    c = wh.read_table("claim")
    mine = c.filter(c.ingest_id == ingest_id)
    return mine.group_by("provider_number").agg(len=mine.count()).to_polars()


@ingest_app.command("population")
@guard
def ingest_population(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Statistics Denmark FOLK1A extract (StatBank CSV)")],
    replace: ReplaceOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Ingest a FOLK1A population extract; it replaces the derived table for its years."""
    from almen.ingest import validate_population

    _ingest(ctx, lambda _wh: validate_population(file), replace=replace, strict=strict)


check_app = typer.Typer(help="Check files before they are sent.", no_args_is_help=True)
app.add_typer(check_app, name="check")


@check_app.command("claims")
@guard
def check_claims_cmd(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="claim files to check")],
    period: PeriodOpt = None,
    columns: ColumnsOpt = None,
    encoding: Annotated[str, typer.Option(help="file encoding, e.g. utf-8 or cp1252")] = "utf-8",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="the day they would be sent (default today)")
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Run every return rule on claim files before they are sent, against the warehouse's
    fee schedule, patients and claims already sent; import nothing. Lists each line that
    would come back and why (seed 002 §5: eliminate returned claims digitally)."""
    from rich.table import Table

    from almen.ingest import validate_claims
    from almen.ingest.claims import CLAIM_ALIASES, load_column_map
    from almen.settlement.precheck import COLUMNS, precheck

    month = _period(period)
    day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    aliases = load_column_map(columns) if columns else CLAIM_ALIASES
    key = _key(ctx)
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        next_id = _next_id(wh, "claim", "claim_id")
        found = []
        read = 0
        for f in files:
            validated, _ = validate_claims(
                f, key, first_claim_id=next_id, period=month, aliases=aliases, encoding=encoding
            )
            read += validated.rows_read
            next_id += validated.rows_accepted
            found.append(
                precheck(wh, validated.accepted, source=validated.source,
                         source_lines=validated.source_lines or [], as_of=day)
            )  # fmt: skip
            refused = [
                {"source": validated.source, "line": r.line, "column": r.column,
                 "rule": "unreadable", "reason_da": f"Kan ikke læses: {r.reason}",
                 "reason_en": f"Cannot be read: {r.reason}", "service_code": None,
                 "service_date": None}
                for r in validated.rejects
            ]  # fmt: skip
            found.append(pl.DataFrame(refused, schema=COLUMNS))
    report = pl.concat(found, how="vertical_relaxed").sort("source", "line")
    meta = {"files": [f.name for f in files], "lines_read": read, "as_of": day,
            "would_return": len(report)}  # fmt: skip
    if emit(Result({"would_return": report}, meta), fmt, output):
        return
    console.print(f"{read:,} lines read; {len(report):,} would come back (nothing was imported)")
    if len(report):
        t = Table(title="Lines that would be returned or refused")
        for col in ("file", "line", "column", "rule", "årsag", "reason"):
            t.add_column(col, justify="right" if col == "line" else "left")
        for r in report.iter_rows(named=True):
            t.add_row(r["source"], f"{r['line']}", r["column"] or "", r["rule"],
                      r["reason_da"], r["reason_en"])  # fmt: skip
        console.print(t)
