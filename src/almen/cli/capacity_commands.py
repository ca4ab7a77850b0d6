"""Capacity commands (issue 5). Thin: parameters in, the engine, a table out."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from almen.capacity import WorkforceParams, minimum_intake, yearly_table
from almen.capacity.inputs import (
    clinic_capacity,
    councils,
    country_from_warehouse,
    distribution_areas,
    limit_inputs,
    need_from_warehouse,
    site_inputs,
)
from almen.capacity.workforce import settable
from almen.cli import app, guard
from almen.cli.render import FORMATS, FormatOpt, OutputOpt, console, emit
from almen.errors import ParameterError
from almen.export import Result
from almen.warehouse import Warehouse

capacity_app = typer.Typer(
    help="GP capacity: need, coverage, free choice, limits, distribution, workforce.",
    no_args_is_help=True,
)
app.add_typer(capacity_app, name="capacity")


@capacity_app.command("workforce")
@guard
def workforce(
    intake: Annotated[
        list[int] | None, typer.Option(help="training posts a year (repeat for several)")
    ] = None,
    runs: Annotated[int, typer.Option(help="Monte Carlo runs")] = 10_000,
    target: Annotated[int, typer.Option(help="GPs wanted in the target year")] = 5000,
    target_year: Annotated[int, typer.Option(help="the target year")] = 2035,
    probability: Annotated[
        float, typer.Option(help="probability for the smallest sufficient intake")
    ] = 0.8,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="a parameter as NAME=VALUE, e.g. entry_rate=0.9 or "
            "intake_from=2026 (repeat; names in docs/capacity.md)",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="a TOML file whose [workforce] table sets parameters")
    ] = None,
    plo: Annotated[
        bool, typer.Option(help="PLO's reading: every filled post becomes a practising GP")
    ] = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """GPs year by year to the target year under each intake, and the chance of the target.

    Seed 001: at least 5,000 GPs by 2035; 350 posts a year now, PLO asks 400. Each run
    draws its own fill, completion and entry rates, leaving rates and starting stock
    (the sd parameters), so the interval holds parameter uncertainty as well as chance;
    the sensitivity table says which parameter moves the target year most, and the
    back-cast runs the model from 2009 against the public count of 2023.
    """
    from almen.capacity.workforce import backcast, plo_reading, sensitivity, with_settings
    from almen.tomlfile import read_toml

    base = WorkforceParams(target=target, target_year=target_year)
    if config is not None:
        toml = read_toml(config)
        section = toml.data.get("workforce", {})
        if not isinstance(section, dict):
            raise toml.fail("[workforce] must be a table", "workforce")
        base = with_settings(base, section, f"{config.name} [workforce]")
    pairs: dict[str, object] = {}
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ParameterError(f"--set {item!r}: give NAME=VALUE")
        pairs[name.strip()] = value.strip()
    base = with_settings(base, pairs, "--set")
    if plo:
        base = plo_reading(base)
    intakes = intake or [350, 400]
    table = yearly_table(base, intakes, runs, seed)
    need = minimum_intake(base, probability, runs=min(runs, 2000), seed=seed)
    sens = sensitivity(replace(base, intake=intakes[-1]), runs=min(runs, 1000), seed=seed)
    back = backcast(base, runs=min(runs, 2000), seed=seed)
    meta = {"target": target, "target_year": target_year, "runs": runs, "seed": seed,
            "probability": probability, "minimum_intake": need,
            "minimum_intake_note": None if need is not None
            else "no intake up to 2,000 posts a year reaches the target",
            "plo_reading": plo, "backcast": back,
            "parameters": {k: getattr(base, k) for k in settable()}}  # fmt: skip
    result = Result({"workforce": table, "sensitivity": sens}, meta)
    if emit(result, fmt, output):
        return
    for n in intakes:
        part = table.filter(pl.col("intake") == n)
        reach = float(part["p_reach"][-1])
        t = Table(
            title=f"{n} training posts a year: P(≥ {target:,} GPs in {target_year}) = {reach:.1%}"
        )
        for col in ("year", "GPs (median)", "90 % interval", "FTE (median)", "women",
                    "employed", "returned"):  # fmt: skip
            t.add_column(col, justify="right")
        for r in part.iter_rows(named=True):
            t.add_row(str(r["year"]), f"{r['median']:,.0f}", f"{r['p05']:,.0f}-{r['p95']:,.0f}",
                      f"{r['fte_median']:,.0f}", f"{r['women']:,.0f}", f"{r['employed']:,.0f}",
                      f"{r['returned']:,.0f}")  # fmt: skip
        console.print(t)
    st = Table(title=f"What moves {target_year} most ({intakes[-1]} posts; each at its 5th and "
                     "95th percentile, the rest fixed)")  # fmt: skip
    for col in ("parameter", "sd", "at 5th pct.", "at 95th pct.", "swing"):
        st.add_column(col, justify="right")
    for r in sens.iter_rows(named=True):
        st.add_row(r["parameter"], f"{r['sd']:g}", f"{r['at_p05']:,.0f}", f"{r['at_p95']:,.0f}",
                   f"{r['swing']:,.0f}")  # fmt: skip
    console.print(st)
    console.print(
        f"back-cast from 2009 (3,457 GPs, historic intake): {back['median']:,.0f} GPs in 2023 "
        f"(90 % {back['p05']:,.0f}-{back['p95']:,.0f}) against the public 3,499"
    )
    if need is None:
        console.print(f"no intake up to 2,000 posts a year reaches {target:,} by {target_year}")
    else:
        console.print(
            f"smallest intake reaching {target:,} GPs by {target_year} with probability "
            f"{probability:.0%}: {need:,} posts a year (from {base.start_year})"
        )


@capacity_app.command("need")
@guard
def need(
    ctx: typer.Context,
    year: Annotated[int, typer.Option(help="year of the claims the weights come from")] = 2025,
    by: Annotated[
        str, typer.Option(help="municipality, health_council or clinic")
    ] = "municipality",
    show: Annotated[int, typer.Option(help="areas to list at each end")] = 5,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """The need index, estimated from the year's claims (country = 1.0), by area."""
    from almen.capacity import need_by_area
    from almen.cli import settings_of, warehouse_target
    from almen.errors import ParameterError
    from almen.warehouse import Warehouse

    if by not in ("municipality", "health_council", "clinic"):
        raise ParameterError("--by must be municipality, health_council or clinic")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        persons, weights = need_from_warehouse(wh, year)
        munis = wh.read_table("municipality").select("code", "name", "health_council").to_polars()
    if by == "health_council":
        persons = persons.join(
            munis.select(pl.col("code").alias("municipality"), "health_council"),
            on="municipality",
            how="left",
        )
    key = "provider_number" if by == "clinic" else by
    table = need_by_area(persons, key).sort("need_index")
    if emit(table, fmt, output):
        return
    m = weights["morbidity"]
    v = weights["vulnerable"].filter(pl.col("vulnerable"))
    console.print(
        "morbidity factors (0-4+ chronic condition groups): "
        + ", ".join(f"{r['k']}: {r['m']:.2f}" for r in m.iter_rows(named=True))
        + (f"; vulnerable groups: {v['v'][0]:.2f}" if len(v) else "")
    )
    t = Table(title=f"Need index by {by}, {year} (Denmark = 1.00), lowest and highest")
    for col in (by, "persons", "need-weighted", "index"):
        t.add_column(col, justify="left" if col == by else "right")
    for r in pl.concat([table.head(show), table.tail(show)]).iter_rows(named=True):
        t.add_row(
            str(r[key]), f"{r['persons']:,}", f"{r['need_weighted']:,.0f}", f"{r['need_index']:.3f}"
        )
    console.print(t)


@capacity_app.command("choice")
@guard
def choice(
    ctx: typer.Context,
    radius_km: Annotated[float, typer.Option(help="distance to an open clinic")] = 15.0,
    min_open: Annotated[int, typer.Option(help="open clinics needed within it")] = 2,
    by: Annotated[str, typer.Option(help="municipality or health_council")] = "health_council",
    show: Annotated[int, typer.Option(help="areas to list, most without free choice first")] = 10,
    count_public: Annotated[
        bool, typer.Option(help="whether open region and tender clinics count as a choice")
    ] = True,
    sensitivity: Annotated[
        bool,
        typer.Option(
            help="Denmark under nearby definitions (5-25 km, 1-3 clinics, "
            "region and tender clinics counted or not)"
        ),
    ] = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Citizens without free choice of doctor (fewer than 2 open clinics within 15 km)."""
    from almen.capacity import free_choice, free_choice_sensitivity
    from almen.cli import settings_of, warehouse_target
    from almen.errors import ParameterError
    from almen.warehouse import Warehouse

    if by not in ("municipality", "health_council"):
        raise ParameterError("--by must be municipality or health_council")
    if radius_km <= 0 or min_open < 1:
        raise ParameterError("--radius-km must be above 0 and --min-open at least 1")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        persons = (
            wh.read_table("patient")
            .select("patient_id", "municipality", "provider_number", "lat", "lon")
            .to_polars()
        )
        clinics = (
            wh.read_table("clinic")
            .select("provider_number", "form", "closed_to_new", "lat", "lon")
            .to_polars()
        )
        m = wh.read_table("municipality")
        areas = councils(wh)
        names = dict(zip(areas["municipality"], m.name.to_polars(), strict=False))
    if sensitivity:
        grid = free_choice_sensitivity(persons, clinics)
        if emit(grid, fmt, output):
            return
        t = Table(title="Without free choice under nearby definitions (Denmark)")
        for col in ("km", "open clinics", "region/tender count", "without free choice",
                    "either (or listed region/tender)"):  # fmt: skip
            t.add_column(col, justify="right")
        for r in grid.iter_rows(named=True):
            t.add_row(f"{r['radius_km']:g}", str(r["min_open"]),
                      "yes" if r["public_clinics_count"] else "no",
                      f"{r['without_free_choice']:,}", f"{r['either']:,}")  # fmt: skip
        console.print(t)
        return
    res = free_choice(persons, clinics, areas, radius_km=radius_km, min_open=min_open,
                      count_public=count_public)  # fmt: skip
    if emit(res, fmt, output):
        return
    nat = res.filter(pl.col("level") == "national").row(0, named=True)
    console.print(
        f"Denmark: {nat['without_free_choice']:,} of {nat['located']:,} citizens "
        f"({nat['share_without']:.1%}) have fewer than {min_open} open clinics within "
        f"{radius_km:g} km; {nat['listed_region_or_tender']:,} are listed with region or "
        "tender clinics"
    )
    part = res.filter(pl.col("level") == by).sort("without_free_choice", descending=True)
    t = Table(title=f"By {by}, most without free choice first")
    for col in (by, "citizens", "without free choice", "share", "region/tender"):
        t.add_column(col, justify="left" if col == by else "right")
    for r in part.head(show).iter_rows(named=True):
        label = names.get(r["area"], r["area"]) if by == "municipality" else r["area"]
        t.add_row(
            str(label),
            f"{r['citizens']:,}",
            f"{r['without_free_choice']:,}",
            f"{r['share_without']:.1%}",
            f"{r['listed_region_or_tender']:,}",
        )
    console.print(t)


@capacity_app.command("coverage")
@guard
def coverage_cmd(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="municipality or health_council")] = "municipality",
    year: Annotated[int, typer.Option(help="year of the need weights")] = 2025,
    radius_km: Annotated[float, typer.Option(help="reach of the floating catchment")] = 15.0,
    show: Annotated[int, typer.Option(help="areas to list, least capacity first")] = 15,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """GP capacity against need-weighted population, and access within reach (2SFCA)."""
    from almen.capacity import coverage, floating_catchment
    from almen.cli import settings_of, warehouse_target
    from almen.errors import ParameterError
    from almen.warehouse import Warehouse

    if by not in ("municipality", "health_council"):
        raise ParameterError("--by must be municipality or health_council")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        persons, _ = need_from_warehouse(wh, year)
        loc = wh.read_table("patient").select("patient_id", "lat", "lon").to_polars()
        clinics = clinic_capacity(wh, persons)
        m = wh.read_table("municipality")
        areas = councils(wh)
        names = dict(zip(areas["municipality"], m.name.to_polars(), strict=False))
    res = coverage(persons.select("municipality", "need"), clinics, areas, by)
    located = persons.join(loc, on="patient_id").filter(pl.col("lat").is_not_null())
    access = floating_catchment(located, clinics, radius_km)
    located = located.with_columns(access=pl.Series(access)).join(areas, on="municipality")
    national = float(access.mean()) if len(access) else 0.0
    acc = located.group_by(by).agg(access=pl.col("access").mean() / national)
    res = res.join(acc.rename({by: "area"}), on="area", how="left")
    if emit(res, fmt, output):
        return
    t = Table(title=f"Coverage by {by}: capacity for need, relative to Denmark (1.00)")
    for col in (by, "need-weighted", "FTE", "relative", "within reach", "listed/FTE", "closed"):
        t.add_column(col, justify="left" if col == by else "right")
    for r in res.head(show).iter_rows(named=True):
        label = names.get(r["area"], r["area"]) if by == "municipality" else r["area"]
        t.add_row(
            str(label),
            f"{r['need_weighted']:,.0f}",
            f"{r['fte']:,.1f}",
            f"{r['relative_capacity']:.2f}",
            "" if r["access"] is None else f"{r['access']:.2f}",
            f"{r['listed_per_fte']:,.0f}",
            f"{r['share_closed']:.0%}",
        )
    console.print(t)


@capacity_app.command("limits")
@guard
def limits_cmd(
    ctx: typer.Context,
    year: Annotated[int, typer.Option(help="year of the need weights")] = 2025,
    norm: Annotated[float, typer.Option(help="norm list per full-time doctor")] = 1600.0,
    show: Annotated[int, typer.Option(help="clinics to list at each end")] = 5,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Closing limits per clinic: the old 1,600 per doctor beside the need-based one."""
    from almen.capacity import LimitParams, closing_limits
    from almen.cli import settings_of, warehouse_target
    from almen.errors import ParameterError
    from almen.warehouse import Warehouse

    if norm <= 0:
        raise ParameterError("--norm must be above 0")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        persons, _ = need_from_warehouse(wh, year)
        clinics = limit_inputs(wh, persons)
    res = closing_limits(clinics, LimitParams(norm_per_fte=norm)).with_columns(
        change=pl.col("new_limit") / pl.col("old_limit") - 1
    )
    if emit(res, fmt, output):
        return
    console.print(
        f"{len(res):,} clinics may close to new patients: {int(res['may_close_old'].sum()):,} "
        f"under the old rule ({norm:,.0f} per doctor), {int(res['may_close_new'].sum()):,} "
        "under the need-based limit"
    )
    t = Table(title="Clinics whose limit changes most (need-based against old)")
    for col in ("clinic", "FTE", "listed", "need", "vulnerable", "old", "new", "change"):
        t.add_column(col, justify="left" if col == "clinic" else "right")
    ranked = res.sort("change")
    for r in pl.concat([ranked.head(show), ranked.tail(show)]).iter_rows(named=True):
        t.add_row(
            r["provider_number"],
            f"{r['fte']:.1f}",
            f"{r['listed']:,}",
            f"{r['need_index']:.2f}",
            f"{r['vulnerable_share']:.1%}",
            f"{r['old_limit']:,.0f}",
            f"{r['new_limit']:,.0f}",
            f"{r['change']:+.0%}",
        )
    console.print(t)


@capacity_app.command("distribute")
@guard
def distribute_cmd(
    ctx: typer.Context,
    new: Annotated[int, typer.Option("--new", help="new capacities (provider numbers) to place")],
    year: Annotated[int, typer.Option(help="year of the need weights")] = 2025,
    limit: Annotated[float, typer.Option(help="closing limit: patients per capacity")] = 1600.0,
    raise_share: Annotated[
        float, typer.Option(help="forced policy: how much regions raise the limit")
    ] = 0.10,
    show: Annotated[int, typer.Option(help="municipalities to list")] = 10,
    sites: Annotated[
        bool,
        typer.Option(
            help="also choose where in each municipality its new clinics open (voluntary "
            "policy): most citizens gaining free choice, HiGHS"
        ),
    ] = False,
    grid_km: Annotated[float, typer.Option(help="--sites: candidate grid in km")] = 2.0,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Place new capacities where need-weighted demand is least covered (HiGHS).

    Both policies side by side: voluntary (no list above the closing limit) and forced
    (regions may raise the limit). With --sites, each municipality's new clinics are
    placed inside it where most of its citizens gain free choice (2 open clinics within
    15 km); the tables ``sites`` and ``free_choice`` say where and how many gain.
    """
    import time

    from almen.capacity import distribute, side_by_side
    from almen.cli import settings_of, warehouse_target
    from almen.warehouse import Warehouse

    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        persons, _ = need_from_warehouse(wh, year)
        areas = distribution_areas(wh, persons)
        if sites:
            located, open_clinics = site_inputs(wh)
    results = {}
    lines = []
    for policy in ("voluntary", "forced"):
        t0 = time.perf_counter()
        results[policy] = distribute(
            areas, new, limit=limit, policy=policy, raise_share=raise_share
        )
        lines.append(
            f"{policy}: unmet need-weighted demand {results[policy].unmet_before:,.0f} → "
            f"{results[policy].unmet_after:,.0f} (solved in {time.perf_counter() - t0:.2f} s)"
        )
    names = dict(zip(areas["area"], areas["name"], strict=True))
    both = side_by_side(results).sort("voluntary", "forced", descending=True)
    both = both.join(areas.select("area", "name"), on="area", how="left")
    meta = {"new": new, "year": year, "limit": limit, "raise_share": raise_share,
            **{f"unmet_before_{p}": r.unmet_before for p, r in results.items()},
            **{f"unmet_after_{p}": r.unmet_after for p, r in results.items()}}  # fmt: skip
    tables = {"distribution": both}
    if sites:
        from almen.capacity.sites import choose_sites

        t0 = time.perf_counter()
        alloc = results["voluntary"].allocation.select("area", "new")
        chosen = choose_sites(located, open_clinics, alloc, grid_km=grid_km)
        tables |= {"sites": chosen.sites, "free_choice": chosen.areas}
        national = chosen.areas.filter(pl.col("level") == "national").row(0, named=True)
        meta |= {"without_free_choice_before": national["without_before"],
                 "without_free_choice_after": national["without_after"]}  # fmt: skip
        lines.append(
            f"sites (voluntary): {chosen.sites.height:,} new clinics placed; citizens without "
            f"free choice {national['without_before']:,} → {national['without_after']:,} "
            f"(solved in {time.perf_counter() - t0:.1f} s)"
        )
    if emit(Result(tables, meta), fmt, output):
        return
    for line in lines:
        console.print(line)
    t = Table(title=f"{new:,} new capacities: where they go")
    for col in (
        "municipality",
        "need-weighted",
        "capacity",
        "voluntary",
        "forced",
        "list/cap. v",
        "list/cap. f",
    ):
        t.add_column(col, justify="left" if col == "municipality" else "right")
    for r in both.head(show).iter_rows(named=True):
        t.add_row(
            names.get(r["area"], r["area"]),
            f"{r['need']:,.0f}",
            f"{r['capacity']:,.1f}",
            f"{r['voluntary']:,}",
            f"{r['forced']:,}",
            f"{r['list_voluntary']:,.0f}",
            f"{r['list_forced']:,.0f}",
        )
    console.print(t)
    if sites:
        gained = (chosen.areas.filter(pl.col("level") == "municipality", pl.col("new") > 0)
                  .sort("gained", "area", descending=[True, False]))  # fmt: skip
        st = Table(title="Where the new clinics open (voluntary): citizens without free choice")
        for col in ("municipality", "new clinics", "before", "after", "gained"):
            st.add_column(col, justify="left" if col == "municipality" else "right")
        for r in gained.head(show).iter_rows(named=True):
            st.add_row(names.get(r["area"], r["area"]), f"{r['new']:,}",
                       f"{r['without_before']:,}", f"{r['without_after']:,}",
                       f"{r['gained']:,}")  # fmt: skip
        console.print(st)
        console.print("the sites (lon, lat) are in --format csv/json, table sites")


@capacity_app.command("scenario")
@guard
def scenario_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="scenario TOML (docs/capacity.md)")],
    policy: Annotated[
        str | None,
        typer.Option(help="voluntary, forced or both (default: the file's policy)"),
    ] = None,
    year: Annotated[int, typer.Option(help="year of the need weights")] = 2025,
    by: Annotated[
        str, typer.Option(help="national, health_council or municipality (for the output)")
    ] = "national",
    replications: Annotated[
        str | None,
        typer.Option(
            help="runs with seeds seed, seed+1, …: a number, or auto (with --policy "
            "both, the default: until the policies' difference exceeds its "
            "90 % interval, at most 40)"
        ),
    ] = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Year by year to the last year: GPs, new capacity placed, closing limits,
    re-listing, list sizes, underserved areas and citizens without free choice."""
    from almen.capacity import load_capacity_scenario, replicate, run_scenario, summarise
    from almen.cli import settings_of, warehouse_target
    from almen.cli.render import status, step_progress
    from almen.errors import InputError, ParameterError

    if by not in ("national", "health_council", "municipality"):
        raise ParameterError("--by must be national, health_council or municipality")
    if policy not in (None, "voluntary", "forced", "both"):
        raise ParameterError(f"--policy must be voluntary, forced or both, not {policy!r}")
    if fmt not in FORMATS:
        raise ParameterError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        m = wh.read_table("municipality")
        munis = m.select("code", "name", "health_council").to_polars()
        params = load_capacity_scenario(file, munis)
        status.print(f"reading the warehouse and the need index ({year}) …")
        country = country_from_warehouse(wh, year)
    policies = (
        [params.policy]
        if policy is None
        else ["voluntary", "forced"]
        if policy == "both"
        else [policy]
    )
    reps = replications if replications is not None else ("auto" if policy == "both" else "1")
    if reps != "auto" and not (reps.isdigit() and int(reps) >= 1):
        raise ParameterError(f"--replications must be a whole number of runs or auto, not {reps!r}")
    if reps != "1":
        if by != "national":
            raise ParameterError("--by applies to a single run; replications are national")
        t0 = time.perf_counter()
        with status.status(f"scenario {params.name}: replications …"):
            try:
                rep = replicate(country, params, tuple(policies),
                                None if reps == "auto" else int(reps))  # fmt: skip
            except ParameterError as exc:
                raise InputError(f"the scenario cannot be run: {exc.message}",
                                 source=str(file)) from None  # fmt: skip
        took = time.perf_counter() - t0
        parts = {"summary": rep.summary, "runs": rep.runs}
        if rep.difference is not None:
            parts["difference"] = rep.difference
        meta = {"scenario": params.name, "replications": rep.n, "note": rep.note,
                "seconds": round(took, 1), "first_seed": params.seed}  # fmt: skip
        if emit(Result(parts, meta), fmt, output):
            return
        console.print(f"{rep.note} ({took:.0f} s)")
        for pol in policies:
            t = Table(title=f"{params.name}: {pol} policy, mean (90 % interval) of {rep.n} runs")
            for col in ("year", "GPs", "no choice", "list/FTE", "underserved"):
                t.add_column(col, justify="right")
            part = rep.summary.filter(pl.col("policy") == pol)
            for y in sorted(set(part["year"].to_list())):
                cell = {
                    r["measure"]: r for r in part.filter(pl.col("year") == y).iter_rows(named=True)
                }

                def band(m: str, div: float = 1.0, unit: str = "", cell=cell) -> str:  # type: ignore[no-untyped-def]
                    r = cell[m]
                    return (f"{r['mean'] / div:,.0f}{unit} ({r['p05'] / div:,.0f}-"
                            f"{r['p95'] / div:,.0f}{unit})")  # fmt: skip

                t.add_row(str(y), band("gps"), band("without_free_choice", 1000, "k"),
                          band("listed_per_fte"), band("underserved_municipalities"))  # fmt: skip
            console.print(t)
        if rep.difference is not None:
            last = rep.difference.filter(pl.col("year") == params.last_year)
            for d in last.iter_rows(named=True):
                console.print(f"forced − voluntary {params.last_year}, {d['measure']}: "
                              f"{d['mean']:,.1f} (90 % {d['p05']:,.1f} to {d['p95']:,.1f})")  # fmt: skip
        return
    runs = [replace(params, policy=p) for p in policies]
    years = params.last_year - params.first_year + 1
    results = []
    with step_progress(years * len(runs), f"scenario {params.name}", status) as advance:
        for run in runs:
            try:
                results.append(run_scenario(country, run, progress=advance))
            except ParameterError as exc:
                raise InputError(
                    f"the scenario cannot be run: {exc.message}", source=str(file)
                ) from None
    table = pl.concat(
        [summarise(r, by).with_columns(policy=pl.lit(r.years["policy"][0])) for r in results],
        how="diagonal_relaxed",
    )
    if emit(table, fmt, output):
        return
    if by != "national":
        console.print("per-area results: use --format csv|json|parquet (and --output)")
    console.print(
        "GPs: doctors in the clinics; list/FTE: listed patients per full-time doctor "
        "(mean, 90th percentile); no choice: citizens with fewer than "
        f"{params.min_open} open clinics within {params.radius_km:g} km; underserved: "
        f"municipalities with more than {params.underserved_share:.0%} of need unmet"
    )
    for r in results:
        y = r.years
        t = Table(title=f"{params.name}: {y['policy'][0]} policy, {params.limit_rule} limits")
        heads = ("year", "GPs", "new", "left", "list/FTE", "p90", "closed", "no choice",
                 "region/tender", "underserved", "re-listed")  # fmt: skip
        for col in heads:
            t.add_column(col, justify="right")
        for row in y.iter_rows(named=True):
            t.add_row(
                str(row["year"]),
                f"{row['gps']:,}",
                f"{row['new_gps']:,}",
                f"{row['leavers']:,}",
                f"{row['listed_per_fte']:,.0f}",
                f"{row['listed_per_fte_p90']:,.0f}",
                f"{row['share_closed']:.0%}",
                f"{row['without_free_choice'] / 1000:,.0f}k",
                f"{row['listed_region_or_tender'] / 1000:,.0f}k",
                str(row["underserved_municipalities"]),
                f"{row['relisted'] / 1000:,.1f}k",
            )
        console.print(t)
