"""Population commands: case finding. Thin: read tables, call the engine, show."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from almen import population, reference
from almen.cli import app, guard, settings_of, warehouse_target
from almen.cli.render import FormatOpt, OutputOpt, console, emit, status
from almen.errors import NotFoundError, ParameterError
from almen.export import Result
from almen.warehouse import Warehouse

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="date (default: the warehouse's last data date)"),
]


DefinitionsOpt = Annotated[
    Path | None,
    typer.Option(
        "--definitions",
        help="case definitions file (TOML, docs/case-finding.md); default: the shipped one",
    ),
]


def _as_of(wh: Warehouse, text: str | None) -> dt.date:
    """``--as-of`` (an impossible date exits 2), or the warehouse's last data date
    (printed on stderr). A warehouse without claims or diagnoses has no such date: then
    ``--as-of`` is required rather than today's date being assumed."""
    if text:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ParameterError(f"--as-of must be a real date YYYY-MM-DD, not {text!r}") from None
    day = wh.last_data_date()
    if day is None:
        raise ParameterError("the warehouse holds no claims or diagnoses to date the "
                             "analysis by; give --as-of YYYY-MM-DD")  # fmt: skip
    status.print(f"as of {day} (the warehouse's last data date; --as-of to change)")
    return day


def _definitions(path: Path | None) -> population.Definitions:
    return population.load_definitions(path.resolve() if path else None)


@app.command()
@guard
def findings(
    ctx: typer.Context,
    clinic: Annotated[
        str | None, typer.Option("--clinic", help="one clinic's patients; default all clinics")
    ] = None,
    as_of: AsOfOpt = None,
    definitions: DefinitionsOpt = None,
    show: Annotated[int, typer.Option(help="patients to list per definition")] = 10,
    by: Annotated[
        str | None,
        typer.Option(
            help="counts by clinic, cluster, municipality, health_council, region or "
            "national, as published (docs/disclosure.md)"
        ),
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Case finding for the special efforts (seed 002 §2, seed 003).

    With --clinic: the clinic's patients (pseudonyms) in each group, with the reason.
    Without: the country's counts; --by: counts by area. Counts that leave a clinic are
    published: 0-7 hidden, the rest rounded to the nearest 5 (docs/disclosure.md).
    """
    if by is not None and by not in population.LEVELS:
        raise ParameterError(f"--by must be one of {', '.join(population.LEVELS)}")
    defs = _definitions(definitions)
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        day = _as_of(wh, as_of)
        if clinic is not None:
            c = wh.read_table("clinic")
            if c.filter(c.provider_number == clinic).count().to_pyarrow().as_py() == 0:
                raise NotFoundError(f"no clinic {clinic} in the warehouse")
        feats = population.warehouse_features(
            wh, as_of=day, definitions=defs, provider_number=clinic
        )
        area = population.clinic_areas(wh) if clinic is None else None
    found = population.apply_definitions(feats, defs)
    counts = population.clinic_counts(found, feats, defs.group_names)
    meta = {"as_of": day, "clinic": clinic, "by": by, "definitions": str(defs.path),
            "definitions_version": defs.version}  # fmt: skip
    # the seed's expected shares are checked, not imposed: a warning, on stderr
    for line in population.share_warnings(population.group_shares(counts, defs)):
        status.print(f"[yellow]warning[/]: {line}")
    if clinic is not None:
        # a clinic's own patients stay in the clinic: the file is the clinic's
        parts = {"counts": counts, "patients": found}
        if not emit(Result(parts, meta), fmt, output):
            _render_clinic(clinic, found, counts, defs, show)
    else:
        assert area is not None
        level = by or "national"
        long = population.publishable(counts, area, level)
        if not emit(Result({"areas": long}, meta), fmt, output):
            _render_areas(long, level, defs.group_names)


def _render_areas(long: pl.DataFrame, by: str, groups: tuple[str, ...]) -> None:
    wide = long.pivot(on="definition", index=["area", "list_size"], values="patients")
    t = Table(title=f"Special-effort groups by {by} (0-7 hidden: ·; others rounded to 5)")
    t.add_column(by)
    t.add_column("listed", justify="right")
    for d in groups:
        t.add_column(d.replace("_", " "), justify="right")
    for r in wide.sort("area").iter_rows(named=True):
        t.add_row(
            str(r["area"]),
            "·" if r["list_size"] is None else f"{r['list_size']:,}",
            *["·" if r.get(d) is None else f"{r[d]:,}" for d in groups],
        )
    console.print(t)


def _render_clinic(
    clinic: str,
    found: pl.DataFrame,
    counts: pl.DataFrame,
    defs: population.Definitions,
    show: int,
) -> None:
    row = counts.to_dicts()[0] if len(counts) else {"list_size": 0}
    t = Table(title=f"Clinic {clinic}: {row['list_size']:,} listed (counts stay in the clinic)")
    for col in ("group", "patients", "share of list"):
        t.add_column(col, justify="left" if col == "group" else "right")
    for d in defs.group_names:
        n = int(row.get(d, 0))
        share = n / row["list_size"] if row["list_size"] else 0.0
        t.add_row(defs[d].name_en, f"{n:,}", f"{share:.1%}")
    console.print(t)
    for d in defs.group_names:
        part = found.filter(pl.col("definition") == d).head(show)
        if part.is_empty():
            continue
        console.print(f"[bold]{defs[d].name_en}[/] (first {len(part)} of "
                      f"{found.filter(pl.col('definition') == d).height}; --show for more, "
                      f"--format csv for all):")  # fmt: skip
        for r in part.iter_rows(named=True):
            console.print(f"  patient {r['patient_id']}: {r['reason']}")


@app.command()
@guard
def indicators(
    ctx: typer.Context,
    cluster: Annotated[str | None, typer.Option("--cluster", help="a quality cluster")] = None,
    region: Annotated[str | None, typer.Option("--region", help="a region")] = None,
    clinic: Annotated[
        str | None,
        typer.Option("--clinic", help="one clinic: with --missing, its own patients"),
    ] = None,
    missing: Annotated[
        str | None,
        typer.Option("--missing", help="an indicator: the clinic's patients who miss it"),
    ] = None,
    months: Annotated[
        int,
        typer.Option(
            "--months",
            min=1,
            max=60,
            help="a measure over time: the indicator at each of this many month ends, "
            "with the deciles across clinics",
        ),
    ] = 1,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            help="claim look-back of each measure in months: 12 "
            "(rolling year, default) or 1 (monthly)",
        ),
    ] = 12,
    as_of: AsOfOpt = None,
    definitions: DefinitionsOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Quality indicators by clinic beside the cluster and region, with funnel limits
    (additive random effects, DerSimonian-Laird) and, with --months, over time with the
    deciles across clinics.

    Every count is published (0-7 hidden, the rest rounded to 5), and the shares, limits
    and deciles are computed from the published counts (docs/disclosure.md). --missing
    lists a clinic's own patients (pseudonyms) who miss an indicator: for the clinic.
    """
    from almen.population import indicators as ind

    if missing is not None:
        if clinic is None:
            raise ParameterError("--missing needs --clinic: a clinic's own patients")
    elif (cluster is None) == (region is None):
        raise ParameterError("give one of --cluster or --region (or --clinic with --missing)")
    if window not in (1, 12):
        raise ParameterError(f"--window must be 12 (rolling year) or 1 (monthly), not {window}")
    defs = _definitions(definitions)
    if missing is not None and missing not in defs.indicators:
        raise ParameterError(f"--missing: no indicator {missing!r}; one of "
                             f"{', '.join(defs.indicators)}")  # fmt: skip
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        day = _as_of(wh, as_of)
        if missing is not None:
            c = wh.read_table("clinic")
            if c.filter(c.provider_number == clinic).count().to_pyarrow().as_py() == 0:
                raise NotFoundError(f"no clinic {clinic} in the warehouse")
            feats = population.warehouse_features(wh, as_of=day, definitions=defs,
                                                  provider_number=clinic, wanted=[missing])  # fmt: skip
            who = ind.missing_patients(feats, defs, missing)
            meta = {"as_of": day, "clinic": clinic, "indicator": missing}
            if not emit(Result({"patients": who}, meta), fmt, output):
                t = Table(title=f"Clinic {clinic}: {who.height:,} patients miss {missing} "
                                f"({defs.indicators[missing].name_en}); counts stay in the clinic")  # fmt: skip
                for col in ("patient", "age", "sex"):
                    t.add_column(col, justify="right" if col == "age" else "left")
                for r in who.iter_rows(named=True):
                    t.add_row(str(r["patient_id"]), str(r["age"]), r["sex"])
                console.print(t)
            return
        area = population.clinic_areas(wh).select("provider_number", "cluster", "region")
        key, value = ("cluster", cluster) if cluster is not None else ("region", region)
        if value not in set(area[key].to_list()):
            raise NotFoundError(f"no {key} {value!r} in the warehouse")
        wanted = list(defs.indicators)
        days = ind.month_ends(day, months)
        res = ind.indicator_series(
            lambda d: population.warehouse_features(
                wh, as_of=d, definitions=defs, wanted=wanted, claim_months=window),
            defs, days, area,
        )  # fmt: skip
    tenths = ind.deciles(res)
    res = res.filter(pl.col(key) == value)
    info: dict[str, object] = {"as_of": day, key: value, "months": months, "window_months": window,
            "definitions": str(defs.path), "definitions_version": defs.version}  # fmt: skip
    if emit(Result({"indicators": res, "deciles": tenths}, info), fmt, output):
        return
    last = res.filter(pl.col("as_of") == day)
    for name, spec in defs.indicators.items():
        part = last.filter(pl.col("indicator") == name).sort("provider_number")
        if part.is_empty():
            continue
        first = part.row(0, named=True)
        t = Table(
            title=f"{name}: {spec.name_en}. {key} {_pct(first[f'{key}_p'])}, region "
            f"{_pct(first['region_p'])}, Denmark {_pct(first['p0'])}; τ² "
            f"{first['tau2']:.4f} (0-7 hidden: ·)"
        )
        for col in ("clinic", "n", "share", "std.", "95 % limits", "99.8 % limits", "flag"):
            t.add_column(col, justify="left" if col in ("clinic", "flag") else "right")
        for r in part.iter_rows(named=True):
            t.add_row(
                r["provider_number"],
                "·" if r["n"] is None else f"{r['n']:,}",
                _pct(r["p"]),
                _pct(r["p_std"]),
                f"{_pct(r['lower95'])}-{_pct(r['upper95'])}",
                f"{_pct(r['lower998'])}-{_pct(r['upper998'])}",
                r["flag"] or "",
            )
        console.print(t)
    if months > 1:
        t = Table(title="Deciles of the clinics' shares across Denmark, by month")
        for col in ("as of", "indicator", "clinics", "10 %", "50 %", "90 %", "Denmark"):
            t.add_column(col, justify="left" if col in ("as of", "indicator") else "right")
        for r in tenths.iter_rows(named=True):
            t.add_row(str(r["as_of"]), r["indicator"], f"{r['clinics']:,}", _pct(r["p10"]),
                      _pct(r["p50"]), _pct(r["p90"]), _pct(r["p0"]))  # fmt: skip
        console.print(t)


def _pct(value: float | None) -> str:
    return "·" if value is None else f"{value:.1%}"


@app.command("patient")
@guard
def patient_cmd(
    ctx: typer.Context,
    patient_id: Annotated[int, typer.Argument(help="patient pseudonym (patient_id)")],
    fhir: Annotated[bool, typer.Option("--fhir", help="print a FHIR R4 (R4B) Bundle")] = False,
    as_of: AsOfOpt = None,
    definitions: DefinitionsOpt = None,
) -> None:
    """The patient overview (seed 002 §8.2) as known on the as-of date: diagnoses, drugs,
    contacts, efforts, care plan."""
    from almen import records
    from almen.fhir import patient_bundle
    from almen.population.patient import patient_overview

    settings = settings_of(ctx)
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        day = _as_of(wh, as_of)
        o = patient_overview(
            patient_id,
            wh.read_table("patient"),
            wh.read_table("condition"),
            wh.read_table("medication"),
            wh.read_table("claim"),
            reference.load_condition_codes(),
            _definitions(definitions),
            as_of=day,
            clinic=wh.read_table("clinic"),
            doctor=wh.read_table("doctor") if wh.has_table("doctor") else None,
        )
    o.care_plans = records.care_plans(
        records.connect(settings.data, settings.records_url), patient_id
    )
    if fhir:
        typer.echo(json.dumps(patient_bundle(o), indent=2, ensure_ascii=False))
        return
    console.print(
        f"[bold]Patient {o.patient_id}[/]: born {o.birth_year}, {o.sex}, "
        f"listed with {o.provider_number or '(not listed)'}"
    )
    console.print(
        "Diagnoses: " + (", ".join(f"{d['code']} {d['name']}" for d in o.diagnoses) or "none")
    )
    console.print(f"Drugs in use ({len(o.drugs)}): " + ", ".join(d["atc"] for d in o.drugs))
    contacts = ", ".join(f"{k} {v}" for k, v in sorted(o.contacts.items())) or "none"
    console.print(f"Contacts in 12 months: {contacts}")
    console.print(f"Last yearly control (0120): {o.last_yearly_control or 'none'}")
    for e in o.efforts:
        console.print(f"Special effort: {e['name']}: {e['reason']}")
    for p in o.care_plans:
        console.print(
            f"Care plan ({p.status}, {p.created_at:%Y-%m-%d}): {p.title}. {p.description}"
        )


@app.command("careplan")
@guard
def careplan_cmd(
    ctx: typer.Context,
    patient_id: Annotated[int, typer.Argument(help="patient pseudonym (patient_id)")],
    title: Annotated[str, typer.Option("--title", help="the plan's title")],
    description: Annotated[str, typer.Option(help="goals and activities")] = "",
    status: Annotated[
        str, typer.Option(help="draft, active, on-hold, completed or revoked")
    ] = "active",
) -> None:
    """Add a shared care plan for a patient to the records store."""
    from almen import records

    settings = settings_of(ctx)
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        p = wh.read_table("patient")
        if p.filter(p.patient_id == patient_id).count().to_pyarrow().as_py() == 0:
            raise NotFoundError("no such patient in the warehouse (check the pseudonym)")
    plan = records.add_care_plan(
        records.connect(settings.data, settings.records_url), patient_id, title, description, status
    )
    console.print(f"care plan {plan.id} saved for patient {patient_id}")
