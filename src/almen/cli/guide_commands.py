"""`almen guide`: the guide for new GPs (seed 004). Thin: read the guide, show it."""

from __future__ import annotations

from typing import Annotated

import polars as pl
import typer
from rich.text import Text

from almen import guide as vejviser
from almen import i18n, population
from almen.cli import app, guard, settings_of, warehouse_target
from almen.cli.render import FormatOpt, OutputOpt, console, emit
from almen.errors import NotFoundError, ParameterError
from almen.export import Result
from almen.warehouse import Warehouse

# each concept of the guide → the command that computes it for a clinic
COMMANDS = {
    "s96": "almen ceiling --year {year} --clinic {clinic} --statement",
    "service_overview": "almen overview --year {year} --clinic {clinic} --compare",
    "statements": "almen statements --year {year} --clinic {clinic}",
    "local_agreements": "almen statements --year {year} --clinic {clinic} --local",
    "quality_cluster": "almen indicators --cluster {cluster}",
}


def _clinic_area(ctx: typer.Context, clinic: str) -> dict[str, str]:
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        areas = population.clinic_areas(wh).filter(pl.col("provider_number") == clinic)
    if areas.is_empty():
        raise NotFoundError(f"no clinic {clinic} in the warehouse")
    return {k: str(v) for k, v in areas.row(0, named=True).items()}


@app.command()
@guard
def guide(
    ctx: typer.Context,
    region: Annotated[
        str | None, typer.Option("--region", help="one region's bodies, e.g. Hovedstaden")
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help=f"one topic: {', '.join(vejviser.TOPICS)}")
    ] = None,
    clinic: Annotated[
        str | None,
        typer.Option(
            "--clinic",
            help="a clinic in the warehouse: its region, and the "
            "command that computes each concept for it",
        ),
    ] = None,
    year: Annotated[int, typer.Option("--year", help="with --clinic: the year")] = 2025,
    lang: Annotated[str, typer.Option("--lang", help="da (default) or en")] = "da",
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """The guide for new GPs (seed 004): who the bodies around a clinic are, what they do,
    when to contact them and how, with the seed section of each. Danish first.

    Without --region every body is listed with where it exists; with --region the bodies of
    that region (details from the seed in Region Hovedstaden, marked unknown elsewhere).
    Needs no warehouse, except with --clinic."""
    region = vejviser.region_name(region) if region is not None else None
    area = _clinic_area(ctx, clinic) if clinic is not None else None
    if area is not None:
        if region is not None and region != area["region"]:
            raise ParameterError(f"clinic {clinic} is in {area['region']}, not {region}")
        region = area["region"]
    table = vejviser.guide(vejviser.load_guide(), region=region, topic=topic, lang=lang)
    fill = {"year": year, "clinic": clinic or "<ydernummer>",
            "cluster": area["cluster"] if area else "<klynge>"}  # fmt: skip
    table = table.with_columns(
        command=pl.col("concepts").map_elements(
            lambda ks: "; ".join(COMMANDS[k].format(**fill) for k in ks.split(",") if k),
            return_dtype=pl.Utf8,
        )
    )
    if emit(Result({"guide": table}, {"region": region, "topic": topic, "clinic": clinic}),
            fmt, output):  # fmt: skip
        return
    _render(table, region, lang)


def _render(table: pl.DataFrame, region: str | None, lang: str) -> None:
    """Each body as a short block: name, where it exists and the section, what it does,
    when to contact it, how, and the almen command for its concepts."""
    tr = i18n.catalog(lang)
    console.print(Text(tr["guide.title"], style="bold underline"))
    topic = None
    for r in table.iter_rows(named=True):
        if r["topic"] != topic:
            topic = r["topic"]
            console.print(Text("\n" + i18n.code(lang, "guide_topic", topic), style="bold"))
        where = i18n.code(lang, "guide_scope", r["applies_to"])
        console.print(Text.assemble((r["name"], "bold"), f"  ({where}; {r['seed']})"))
        console.print(f"  {r['what']}")
        console.print(f"  {tr['guide.when']}: {r['when']}")
        contact = " · ".join(r[k] for k in ("phone", "email", "address", "web") if r[k])
        if contact:
            console.print(f"  {tr['guide.contact']}: {contact}")
        if r["note"]:
            console.print(f"  {tr['guide.note']}: {r['note']}")
        if r["regional_details"] == "unknown":
            console.print(Text("  " + tr["guide.unknown"].format(region), style="yellow"))
        if r["command"]:
            console.print(f"  {tr['guide.in_almen']}: {r['command']}")
