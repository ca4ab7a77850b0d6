"""Access commands (issue 6). Thin: parameters in, the engine, a table out."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from almen.cli import app, guard
from almen.cli.render import FormatOpt, OutputOpt, console, emit
from almen.export import Result

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
    received: Annotated[
        str | None,
        typer.Option(
            help="when it came, YYYY-MM-DDTHH:MM: gives the target time in the "
            "clinic's opening hours (8-16 on weekdays) or out-of-hours"
        ),
    ] = None,
    rules: RulesOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
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
    row: dict[str, object] = {"reason": reason, "age": age, "sex": sex,
                              "flags": ",".join(sorted(flags)), "channel_preferred": channel,
                              **asdict(d)}  # fmt: skip
    due = None
    if received is not None:
        import datetime as dt

        from almen.access.triage import target_time

        try:
            at = dt.datetime.fromisoformat(received)
        except ValueError:
            raise ParameterError(f"--received {received!r}: give YYYY-MM-DDTHH:MM") from None
        due = target_time(at, d)
        row |= {"received": at, "target_at": due.at, "route": due.route}
    if emit(pl.DataFrame([row]), fmt, output):
        return
    console.print(
        f"severity [bold]{d.severity}[/] · handler {d.handler} · channel {d.channel} · "
        f"within {d.target_hours:g} h\nrule {d.rule_id}: {d.source}"
    )
    if due is not None:
        where = "the clinic" if due.route == "clinic" else "out-of-hours (lægevagt/1813)"
        console.print(f"target {due.at:%Y-%m-%d %H:%M} by {where}")


def _phone_hour(text: str) -> tuple[int, int] | None:
    """``--phone-hour`` "8-9" (hours, or "8:30-9") as minutes after midnight; "none"."""
    from almen.errors import ParameterError

    if text.strip().lower() == "none":
        return None

    def minute(part: str) -> int:
        h, _, m = part.strip().partition(":")
        if not h.isdigit() or (m and not m.isdigit()):
            raise ParameterError(f"--phone-hour must be like 8-9 or none, not {text!r}")
        return int(h) * 60 + int(m or 0)

    start, sep, end = text.partition("-")
    if not sep:
        raise ParameterError(f"--phone-hour must be like 8-9 or none, not {text!r}")
    return minute(start), minute(end)


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
    replications: Annotated[
        int, typer.Option(help="runs with new requests each (means and 95 % intervals)")
    ] = 1,
    warmup_weeks: Annotated[
        float, typer.Option(help="weeks at the start left out of the figures")
    ] = 1.0,
    staff_share: Annotated[
        float, typer.Option(help="today: share of consultations a nurse does (assumption)")
    ] = 0.25,
    phone_hour: Annotated[
        str, typer.Option(help="today: the doctors' phone hour, e.g. 8-9, or none")
    ] = "8-9",
    doctor_availability: Annotated[
        float, typer.Option(help="share of the opening hours a doctor has for requests")
    ] = 0.65,
    rules: RulesOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """A clinic's days over weeks (SimPy) under four policies: today (the claims' channels,
    first come first served, staff consultations and the morning phone hour), every
    request a consultation first come first served, severity priority, and routing to
    staff and digital channels."""
    from almen.access import load_rules
    from almen.access.inputs import clinic_channel_mix, clinic_inputs, load_case_mix
    from almen.access.simulate import (
        POLICIES,
        Hours,
        SimParams,
        make_workload,
        open_days,
        replicate,
        simulate,
        summarise,
        utilisation,
    )
    from almen.cli import settings_of, warehouse_target
    from almen.errors import ParameterError
    from almen.warehouse import Warehouse

    if weeks < 1 or weeks > 104:
        raise ParameterError("--weeks must be between 1 and 104")
    if replications < 1 or not 0 <= warmup_weeks < weeks:
        raise ParameterError("--replications must be at least 1 and --warmup-weeks below --weeks")
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        per_weekday, fte, people = clinic_inputs(wh, clinic, year)
        mix = clinic_channel_mix(wh, clinic, year)
    doctors = max(1, round(fte))
    params = SimParams(
        weeks=weeks,
        doctors=doctors,
        nurses=max(1, doctors // 2) if nurses is None else nurses,
        secretaries=max(1, doctors // 2) if secretaries is None else secretaries,
        availability={"doctor": doctor_availability, "nurse": 0.8, "secretary": 0.5},
        staff_share=staff_share,
        phone_hour=_phone_hour(phone_hour),
    )
    params.check()
    table = load_rules(rules) if rules else None
    case_mix = load_case_mix()

    def draw(k: int):  # type: ignore[no-untyped-def]
        return make_workload(per_weekday, case_mix, people, weeks=weeks, hours=Hours(),
                             rules=table, seed=k, channel_mix=mix)  # fmt: skip

    work = draw(seed)
    sims = {p: simulate(work, params, p) for p in POLICIES}
    res = summarise(sims, warmup_weeks)
    util = pl.concat([utilisation(r, params, warmup_weeks).with_columns(policy=pl.lit(p))
                      for p, r in sims.items()])  # fmt: skip
    parts = {"waits": res, "utilisation": util, "channel_mix": mix}
    if replications > 1:
        rep_w, rep_u = replicate(draw, params, runs=replications, seed=seed,
                                 warmup_weeks=warmup_weeks)  # fmt: skip
        parts |= {"replicated_waits": rep_w, "replicated_utilisation": rep_u}
    days = open_days(params, warmup_weeks)
    contacts = float(len(work.arrival[work.arrival >= warmup_weeks * 7 * 1440]))
    meta = {"clinic": clinic, "weeks": weeks, "warmup_weeks": warmup_weeks, "seed": seed,
            "replications": replications, "doctors": params.doctors, "fte": fte,
            "staff_share": staff_share, "phone_hour": phone_hour,
            "doctor_availability": doctor_availability,
            "contacts_per_fte_day": contacts / days / fte if fte and days else None}  # fmt: skip
    if emit(Result(parts, meta), fmt, output):
        return
    console.print(
        f"clinic {clinic}: {len(work.arrival):,} requests in {weeks} weeks "
        f"({sum(per_weekday[:5]) / 5:.0f} a weekday from the {year} claims), {params.doctors} "
        f"doctors, {params.nurses} nurses, {params.secretaries} secretaries, open 8-16 weekdays; "
        f"today: {staff_share:.0%} of consultations by staff, phone hour {phone_hour}"
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
    ut = Table(title="Utilisation of each role's time for requests (offered: all requests; "
                     "above 1 the queue grows)")  # fmt: skip
    for col in ("policy", "role", "staff", "offered", "served"):
        ut.add_column(col, justify="left" if col in ("policy", "role") else "right")
    for r in util.iter_rows(named=True):
        if r["staff"]:
            ut.add_row(r["policy"], r["pool"], str(r["staff"]), f"{r['offered']:.2f}",
                       f"{r['served']:.2f}")  # fmt: skip
    console.print(ut)
    if meta["contacts_per_fte_day"] is not None:
        console.print(f"{meta['contacts_per_fte_day']:.1f} contacts per FTE doctor a weekday "
                      "(public: about 49, danish-facts §1.5)")  # fmt: skip
    if replications > 1:
        rw = parts["replicated_waits"].filter(pl.col("measure") == "p90_wait_h")
        console.print(f"{replications} replications, 90th-percentile wait (mean, 95 % interval):")
        for r in rw.iter_rows(named=True):
            console.print(f"  {r['policy']:<9} {r['severity']:<12} {r['mean']:.1f} h "
                          f"({r['ci_low']:.1f}-{r['ci_high']:.1f})")  # fmt: skip


ooh_app = typer.Typer(help="Out-of-hours (lægevagt) planning.", no_args_is_help=True)
app.add_typer(ooh_app, name="ooh")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Holiday")


def _waits(r: dict[str, object] | None) -> str:
    if r is None or r["mean_wait_min"] is None:
        return "—"
    return f"{r['mean_wait_min']:.1f} / {r['p90_wait_min']:.1f}"


@ooh_app.command("plan")
@guard
def ooh_plan_cmd(
    ctx: typer.Context,
    region: Annotated[str, typer.Option(help='region, e.g. "Region Nordjylland"')],
    year: Annotated[int, typer.Option(help="year of the contacts")] = 2025,
    max_load: Annotated[float, typer.Option(help="most contacts per doctor per hour")] = 4.0,
    min_activity: Annotated[
        float, typer.Option(help="mean contacts per hour below which no doctor is on duty")
    ] = 0.5,
    quantile: Annotated[float, typer.Option(help="plan for this share of hours")] = 0.9,
    service_level: Annotated[float, typer.Option(help="share of calls answered in time")] = 0.8,
    answer_minutes: Annotated[float, typer.Option(help="the time to answer a call")] = 3.0,
    max_doctors: Annotated[
        int | None, typer.Option(help="at most this many doctors at a site in an hour")
    ] = None,
    patience_minutes: Annotated[
        float, typer.Option(help="callers' mean patience before hanging up (0: none hang up)")
    ] = 5.0,
    shrinkage: Annotated[
        float, typer.Option(help="share of rostered agent time off the phones")
    ] = 0.25,
    occupancy_cap: Annotated[float, typer.Option(help="at most this share of agents busy")] = 0.85,
    phone_only: Annotated[
        bool, typer.Option(help="only phone and video contacts call the line (not every contact)")
    ] = False,
    coordinator: Annotated[
        bool,
        typer.Option(help="a coordinator doctor on duty, taking the video contacts (seed 002 §3)"),
    ] = True,
    consolidate: Annotated[
        bool, typer.Option(help="also move consultations to sites beside emergency departments")
    ] = False,
    home_visits_to_consultation: Annotated[
        float, typer.Option(help="consolidation: share of home visits that become consultations")
    ] = 0.3,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Staffing per site and hour under a maximum load per doctor, the phone line by
    Erlang C, the low-activity hours and sites, and (--consolidate) the ED-site scenario."""

    from almen.access.inputs import ooh_inputs
    from almen.access.ooh import (
        OohParams,
        coordinator_plan,
        demand,
        phone_plan,
        simulate_sites,
        staffing,
    )
    from almen.access.ooh import (
        consolidate as consolidate_fn,
    )
    from almen.cli import settings_of, warehouse_target
    from almen.warehouse import Warehouse

    params = OohParams(max_load, min_activity, quantile, service_level, answer_minutes, max_doctors,
                       all_contacts_call=not phone_only,
                       patience_minutes=patience_minutes if patience_minutes > 0 else None,
                       shrinkage=shrinkage, occupancy_cap=occupancy_cap,
                       coordinator=coordinator)  # fmt: skip
    params.check()
    with Warehouse.connect(warehouse_target(settings_of(ctx)), read_only=True) as wh:
        contacts, sites, ed_sites = ooh_inputs(wh, region, year)
    d = demand(contacts, year)
    plan, w = staffing(d, sites, params)
    phone = phone_plan(d, params)
    coord = coordinator_plan(d, params)
    minutes = contacts.filter(pl.col("kind") == "consultation")["minutes"].to_numpy()
    sim = simulate_sites(plan, float(minutes.mean()) if len(minutes) else 10.0, weeks=4)
    waits = {r["site"]: r for r in sim.iter_rows(named=True)}
    after_plan = summary = None
    if consolidate:
        after, summary = consolidate_fn(
            contacts, sites, ed_sites, home_visits_to_consultation=home_visits_to_consultation
        )
        after_plan, _ = staffing(demand(after, year), sites, params)
    from almen.access.roster import week_rosters

    shifts, rosters = week_rosters(plan, phone, coordinator=coord if coordinator else None)
    parts = {"plan": plan, "phone": phone, "coordinator": coord, "simulated_waits": sim,
             "shifts": shifts, "rosters": rosters}  # fmt: skip
    if after_plan is not None and summary is not None:
        parts["consolidated_plan"] = after_plan
        parts["consolidation"] = pl.DataFrame([{**summary, "ed_sites": ", ".join(ed_sites)}])
    meta = {"region": region, "year": year, "contacts": len(contacts), "home_visit_weight": w}
    if emit(Result(parts, meta), fmt, output):
        return
    console.print(
        f"{region} {year}: {len(contacts):,} contacts; a home visit counts {w:.1f} "
        f"consultations (its minutes); at most {max_load:g} contacts per doctor per hour, "
        f"planned for {quantile:.0%} of hours"
    )
    t = Table(title="Face-to-face sites: doctor hours a week, hours without a doctor, and "
              "the waits of a 4-week simulation of the plan")  # fmt: skip
    for col in ("site", "doctor hours / week", "busiest hour: doctors", "max load / doctor",
                "hours without doctor / week", "sent to", "wait mean / p90 (min)"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("site", "sent to") else "right")
    ordinary = pl.col("weekday") < 7  # a week of ordinary days; holidays on their own line
    for site, g in plan.filter(ordinary).group_by("site", maintain_order=True):
        closed = g.filter(pl.col("closed") & (pl.col("mean") > 0))
        sent = ", ".join(sorted({str(x) for x in closed["moved_to"].drop_nulls()}))
        doctors = g["doctors"].to_numpy()
        load = g["load_per_doctor"].to_numpy()
        t.add_row(
            str(site[0]), f"{int(doctors.sum()):,}", f"{int(doctors.max())}",
            f"{float(load.max()):.2f}", f"{len(closed)}", sent, _waits(waits.get(str(site[0]))),
        )  # fmt: skip
    console.print(t)
    low = plan.filter(pl.col("closed") & (pl.col("mean") > 0)).sort("mean").head(8)
    if len(low):
        console.print(
            "lowest-activity site-hours (no doctor on duty): "
            + "; ".join(
                f"{r['site']} {DAYS[r['weekday']]} {r['hour']:02d}:00 ({r['mean']:.2f}/h)"
                for r in low.iter_rows(named=True)
            )
        )
    rt = Table(title="Shift rosters of an ordinary week and of a holiday (4, 6 or 8 hours; "
                     "HiGHS): the fewest shift hours covering every hour")  # fmt: skip
    for col in ("roster", "days", "hours needed", "shifts", "shift hours", "surplus"):
        rt.add_column(col, justify="left" if col in ("roster", "days") else "right")
    for r in rosters.iter_rows(named=True):
        rt.add_row(r["who"], r["day_type"], f"{r['hours_needed']:,.0f}", f"{r['shifts']:,}",
                   f"{r['shift_hours']:,}", f"{r['surplus_hours']:,.0f}")  # fmt: skip
    console.print(rt)
    holiday = plan.filter(~ordinary)
    if len(holiday):
        console.print(
            f"a holiday (public holidays, 24 and 31 December): "
            f"{int(holiday['doctors'].to_numpy().sum()):,} doctor hours over the sites, at "
            f"most {int(holiday['doctors'].to_numpy().max())} at a site at once"
        )
    week = phone.filter(ordinary)
    agents = week["agents"].to_numpy()
    calls = week["calls"].to_numpy()
    abandoned = float((week["abandons"].to_numpy() * calls).sum() / max(calls.sum(), 1e-9))
    console.print(
        f"phone line ({'phone and video contacts' if phone_only else 'every contact'}): "
        f"{int(agents.sum()):,} agent hours a week on the phones, "
        f"{int(week['rostered'].to_numpy().sum()):,} rostered ({shrinkage:.0%} shrinkage), at "
        f"most {int(agents.max())} at once; every hour answers at least "
        f"{phone['service_level'].to_numpy().min():.0%} of callers within "
        f"{answer_minutes:g} min (target {service_level:.0%}), occupancy at most "
        f"{occupancy_cap:.0%}; "
        + (
            f"{abandoned:.1%} of callers hang up (mean patience {patience_minutes:g} min)"
            if patience_minutes > 0
            else "nobody hangs up (Erlang C)"
        )
        + f"; busiest hour {calls.max():.1f} calls"
    )
    if coordinator and len(coord):
        cw = coord.filter(ordinary)
        console.print(
            f"coordinator doctor: {int(cw['agents'].sum()):,} hours a week on duty "
            f"({int(cw['rostered'].sum()):,} rostered), at most "
            f"{int(cw['agents'].to_numpy().max())} at "
            f"once; {float(cw['calls'].sum()):,.1f} video contacts a week taken off the line"
        )
    if after_plan is not None and summary is not None:
        console.print(
            f"consolidation to sites beside emergency departments ({', '.join(ed_sites)}): "
            f"consultation sites {summary['sites_before']:.0f} → {summary['sites_after']:.0f}; "
            f"{summary['consultations_moved']:,.0f} consultations move; mean distance from "
            f"home to the consultation {summary['km_to_consultation_before']:.1f} → "
            f"{summary['km_to_consultation_after']:.1f} km; home visits "
            f"{summary['home_visits_before']:,.0f} → {summary['home_visits_after']:,.0f}; "
            f"doctor hours a week {plan['doctors'].sum():,} → {after_plan['doctors'].sum():,}"
        )
