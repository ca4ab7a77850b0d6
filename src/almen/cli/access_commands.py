"""Access commands (issue 6). Thin: parameters in, the engine, a table out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from almen.cli import app, guard
from almen.cli.render import FormatOpt, OutputOpt, console, emit

access_app = typer.Typer(
    help="Access: triage of requests, the clinic's day simulated, out-of-hours planning.",
    no_args_is_help=True,
)
app.add_typer(access_app, name="access")

RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="the clinic's own triage rule table (CSV)")
]


@access_app.command("triage")
@guard
def triage_cmd(
    reason: Annotated[str, typer.Option(help="reason for the request, e.g. fever")],
    age: Annotated[int, typer.Option(help="the patient's age")],
    sex: Annotated[str, typer.Option(help="M or F")],
    flag: Annotated[
        list[str] | None, typer.Option(help="chronic, special_effort or housebound (repeat)")
    ] = None,
    text: Annotated[str, typer.Option(help="the patient's own words (matched for keywords)")] = "",
    channel: Annotated[str | None, typer.Option(help="the patient's preferred channel")] = None,
    rules: RulesOpt = None,
) -> None:
    """Triage one request: severity, handler, channel, target time, and the deciding rule."""
    from almen.access import Request, load_rules, triage
    from almen.access.triage import CHANNELS, FLAGS, REASONS
    from almen.errors import ParameterError

    if reason not in REASONS:
        raise ParameterError(f"unknown reason {reason!r}; one of {', '.join(REASONS)}")
    if sex not in ("M", "F") or not 0 <= age <= 130:
        raise ParameterError("--sex must be M or F and --age between 0 and 130")
    flags = frozenset(flag or [])
    if flags - set(FLAGS):
        raise ParameterError(f"--flag must be one of {', '.join(FLAGS)}")
    if channel is not None and channel not in CHANNELS:
        raise ParameterError(f"--channel must be one of {', '.join(CHANNELS)}")
    table = load_rules(rules) if rules else None
    d = triage(Request(reason, age, sex, flags, text, channel), table)
    console.print(
        f"severity [bold]{d.severity}[/] · handler {d.handler} · channel {d.channel} · "
        f"within {d.target_hours:g} h\nrule {d.rule_id}: {d.source}"
    )


@access_app.command("simulate")
@guard
def simulate_cmd(
    ctx: typer.Context,
    clinic: Annotated[str, typer.Option(help="provider number")],
    weeks: Annotated[int, typer.Option(help="weeks to simulate")] = 12,
    year: Annotated[int, typer.Option(help="year of the claims pattern")] = 2025,
    nurses: Annotated[int | None, typer.Option(help="nurses (default 1 per 2 doctors)")] = None,
    secretaries: Annotated[
        int | None, typer.Option(help="secretaries (default 1 per 2 doctors)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
    rules: RulesOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """A clinic's days over weeks (SimPy) under three policies: first come first served,
    severity priority, and routing to staff and digital channels."""
    from almen.access import load_rules
    from almen.access.inputs import clinic_inputs, load_case_mix
    from almen.access.simulate import POLICIES, Hours, SimParams, make_workload, simulate, summarise
    from almen.cli import settings_of, warehouse_target
    from almen.errors import ParameterError
    from almen.warehouse import Warehouse

    if weeks < 1 or weeks > 104:
        raise ParameterError("--weeks must be between 1 and 104")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        per_weekday, fte, people = clinic_inputs(wh, clinic, year)
    doctors = max(1, round(fte))
    params = SimParams(
        weeks=weeks,
        doctors=doctors,
        nurses=max(1, doctors // 2) if nurses is None else nurses,
        secretaries=max(1, doctors // 2) if secretaries is None else secretaries,
    )
    params.check()
    work = make_workload(per_weekday, load_case_mix(), people, weeks=weeks, hours=Hours(),
                         rules=load_rules(rules) if rules else None, seed=seed)  # fmt: skip
    res = summarise({p: simulate(work, params, p) for p in POLICIES})
    if emit(res, fmt, output):
        return
    console.print(
        f"clinic {clinic}: {len(work.arrival):,} requests in {weeks} weeks "
        f"({sum(per_weekday[:5]) / 5:.0f} a weekday from the {year} claims), {params.doctors} "
        f"doctors, {params.nurses} nurses, {params.secretaries} secretaries, open 8-16 weekdays"
    )
    t = Table(title="Waiting (clock hours from request to start), by policy and severity")
    for col in (
        "policy",
        "severity",
        "requests",
        "median h",
        "p90 h",
        "within target",
        "unserved",
        "doctor time on acute+same day",
    ):
        t.add_column(col, justify="left" if col in ("policy", "severity") else "right")
    for r in res.iter_rows(named=True):
        t.add_row(
            r["policy"], r["severity"], f"{r['requests']:,}",
            "—" if r["median_wait_h"] is None else f"{r['median_wait_h']:.1f}",
            "—" if r["p90_wait_h"] is None else f"{r['p90_wait_h']:.1f}",
            f"{r['within_target']:.0%}", f"{r['unserved']:.0%}", f"{r['doctor_share_severe']:.0%}",
        )  # fmt: skip
    console.print(t)
