"""Read a capacity scenario from TOML (format in docs/capacity.md, examples in
docs/scenarios/capacity/). Every refused value is an ``InputError`` with the file,
line and column, and says which value and why.

    name = "PLO: 400 posts a year"
    first_year = 2026
    last_year = 2035
    seed = 1
    [workforce]
    intake = 400                        # training posts a year
    intake_by_year = { 2030 = 450 }     # from that year on
    fill_rate = 0.85                    # and completion, entry_rate, training_years, ...
    new_gp_fte = 1.0
    scale = 1.0                         # default: the warehouse's share of Denmark's GPs
    [distribution]
    policy = "voluntary"                # or "forced"
    raise_share = 0.10                  # forced: how much the regions raise the limits
    forced_where = "covered"            # forced: raise only where need is covered, or "all"
    forced_exit_rate = 0.02             # forced: extra yearly leaving of GPs in raised clinics
    forced_exit_sd = 0.01               # its uncertainty (sd of a Beta, per run)
    max_new_per_municipality = 20
    municipality_min = { "Lolland" = 1 }  # per year; code ("0360") or name
    municipality_max = { "0101" = 5 }
    council_min = { "Vendsyssel" = 2 }  # per year, per health council
    [limits]
    rule = "need"                       # or "fixed" (1,600 per doctor)
    norm_per_fte = 1600
    vulnerable_relief = 1.0
    new_gp_relief = 0.10
    new_gp_years = 3
    [choice]
    radius_km = 15
    min_open = 2
    [population]
    need_growth_percent = 0.0
    underserved_share = 0.10
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from almen.capacity.limits import LimitParams
from almen.capacity.scenario import POLICIES, RULES, ScenarioParams
from almen.capacity.workforce import WorkforceParams
from almen.tomlfile import TomlFile, read_toml

__all__ = ["load_capacity_scenario"]

TOP = {"name", "description", "first_year", "last_year", "seed", "workforce",
       "distribution", "limits", "choice", "population"}  # fmt: skip
WORKFORCE = {"intake", "intake_by_year", "fill_rate", "completion", "training_years",
             "entry_rate", "entry_age", "in_training", "new_gp_fte", "scale",
             "fill_rate_sd", "completion_sd", "entry_rate_sd", "leave_sd"}  # fmt: skip
DISTRIBUTION = {"policy", "raise_share", "forced_where", "forced_exit_rate", "forced_exit_sd",
                "max_new_per_municipality", "municipality_min",
                "municipality_max", "council_min"}  # fmt: skip
LIMITS = {"rule", "norm_per_fte", "vulnerable_relief", "new_gp_relief", "new_gp_years"}
CHOICE = {"radius_km", "min_open"}
POPULATION = {"need_growth_percent", "underserved_share"}


def _section(toml: TomlFile, name: str, known: set[str]) -> dict[str, Any]:
    table = toml.data.get(name, {})
    if not isinstance(table, dict):
        raise toml.fail(f"{name} must be a table: [{name}]", name)
    toml.check_keys(table, known, name)
    return table


def load_capacity_scenario(path: Path, municipalities: pl.DataFrame) -> ScenarioParams:
    """Read ``path``; ``municipalities``: code, name, health_council (to check names)."""
    toml = read_toml(path)
    data = toml.data
    toml.check_keys(data, TOP)
    codes = dict(zip(municipalities["code"], municipalities["code"], strict=True))
    codes |= dict(zip(municipalities["name"], municipalities["code"], strict=True))
    councils = set(municipalities["health_council"].to_list())

    def whole(table: dict[str, Any], key: str, default: int, lo: float = 0) -> int:
        if key not in table:
            return default
        return int(toml.number(table[key], key, key, minimum=lo, integer=True))

    def share(table: dict[str, Any], key: str, default: float, hi: float | None = 1.0) -> float:
        if key not in table:
            return default
        return toml.number(table[key], key, key, minimum=0, maximum=hi)

    def counts(table: dict[str, Any], key: str, kind: str) -> dict[str, int]:
        raw = table.get(key, {})
        if not isinstance(raw, dict):
            raise toml.fail(f"{key} must be a table of {kind} = number", key)
        out = {}
        for k, v in raw.items():
            if kind == "municipality":
                if str(k) not in codes:
                    raise toml.fail(
                        f"unknown municipality {k!r} in {key} (a 4-digit code or a name)", k
                    )
                name = codes[str(k)]
            else:
                if str(k) not in councils:
                    raise toml.fail(
                        f"unknown health council {k!r} in {key}; known: "
                        f"{', '.join(sorted(councils))}",
                        k,
                    )
                name = str(k)
            out[name] = int(toml.number(v, f"{key} of {k}", k, minimum=0, integer=True))
        return out

    first = whole(data, "first_year", 2026, 2000)
    last = whole(data, "last_year", 2035, 2000)
    if last < first:
        raise toml.fail(f"last_year {last} is before first_year {first}", "last_year")
    if last - first > 50:
        raise toml.fail("a scenario runs at most 50 years", "last_year")

    wf = _section(toml, "workforce", WORKFORCE)
    base = WorkforceParams()
    by_year_raw = wf.get("intake_by_year", {})
    if not isinstance(by_year_raw, dict):
        raise toml.fail("intake_by_year must be a table of year = posts", "intake_by_year")
    by_year = {}
    for y, v in by_year_raw.items():
        if not str(y).isdigit():
            raise toml.fail(f"intake_by_year: {y!r} is not a year", str(y))
        by_year[int(y)] = int(toml.number(v, f"intake in {y}", str(y), minimum=0, integer=True))
    workforce = replace(
        base,
        start_year=first,
        target_year=max(last, first + 1),
        intake=whole(wf, "intake", base.intake),
        fill_rate=share(wf, "fill_rate", base.fill_rate),
        completion=share(wf, "completion", base.completion),
        entry_rate=share(wf, "entry_rate", base.entry_rate),
        training_years=whole(wf, "training_years", base.training_years, 1),
        entry_age=whole(wf, "entry_age", base.entry_age, 25),
        in_training=whole(wf, "in_training", base.in_training),
        fill_rate_sd=share(wf, "fill_rate_sd", base.fill_rate_sd, None),
        completion_sd=share(wf, "completion_sd", base.completion_sd, None),
        entry_rate_sd=share(wf, "entry_rate_sd", base.entry_rate_sd, None),
        leave_sd=share(wf, "leave_sd", base.leave_sd, None),
    )
    wf_scale = share(wf, "scale", 0.0, None) if "scale" in wf else None
    if wf_scale is not None and wf_scale <= 0:
        raise toml.fail("scale must be above 0", "scale")
    new_gp_fte = share(wf, "new_gp_fte", 1.0, 1.0)
    if new_gp_fte <= 0:
        raise toml.fail("new_gp_fte must be above 0", "new_gp_fte")

    dist = _section(toml, "distribution", DISTRIBUTION)
    policy = str(dist.get("policy", "voluntary"))
    if policy not in POLICIES:
        raise toml.fail(f"policy must be voluntary or forced, not {policy!r}", "policy")
    forced_where = str(dist.get("forced_where", "covered"))
    if forced_where not in ("covered", "all"):
        raise toml.fail(f"forced_where must be covered or all, not {forced_where!r}",
                        "forced_where")  # fmt: skip
    max_new = (
        whole(dist, "max_new_per_municipality", 0) if "max_new_per_municipality" in dist else None
    )
    mins = counts(dist, "municipality_min", "municipality")
    maxes = counts(dist, "municipality_max", "municipality")
    council_min = counts(dist, "council_min", "health council")
    for code, lo in mins.items():
        hi = min(maxes.get(code, lo), lo if max_new is None else max_new)
        if lo > hi:
            raise toml.fail(
                f"infeasible: municipality {code} must take at least {lo} new GPs a year "
                f"but at most {hi}",
                "municipality_min",
            )
    if max_new is not None:
        for council, lo in council_min.items():
            n = int((municipalities["health_council"] == council).sum())
            if lo > n * max_new:
                raise toml.fail(
                    f"infeasible: {council} must take at least {lo} new GPs a year but its "
                    f"{n} municipalities can take at most {n * max_new}",
                    council,
                )

    # a year's new GPs can never be more than the largest cohort in the pipeline
    most = max([workforce.in_training, workforce.intake, *by_year.values()])
    for key, table in (("municipality_min", mins), ("council_min", council_min)):
        if sum(table.values()) > most:
            raise toml.fail(
                f"infeasible: {key} asks for {sum(table.values())} new GPs a year, more than "
                f"can come out of training in any year (at most {most})",
                key,
            )

    lim = _section(toml, "limits", LIMITS)
    rule = str(lim.get("rule", "need"))
    if rule not in RULES:
        raise toml.fail(f"rule must be need or fixed, not {rule!r}", "rule")
    lbase = LimitParams()
    norm = share(lim, "norm_per_fte", lbase.norm_per_fte, None)
    if norm <= 0:
        raise toml.fail("norm_per_fte must be above 0", "norm_per_fte")
    limits = LimitParams(
        norm_per_fte=norm,
        vulnerable_relief=share(lim, "vulnerable_relief", lbase.vulnerable_relief, None),
        new_gp_relief=share(lim, "new_gp_relief", lbase.new_gp_relief),
        new_gp_years=whole(lim, "new_gp_years", lbase.new_gp_years),
    )
    ch = _section(toml, "choice", CHOICE)
    radius = share(ch, "radius_km", 15.0, None)
    if radius <= 0:
        raise toml.fail("radius_km must be above 0", "radius_km")
    pop = _section(toml, "population", POPULATION)
    return ScenarioParams(
        name=str(data.get("name", path.stem)),
        first_year=first,
        last_year=last,
        seed=whole(data, "seed", 1),
        workforce=workforce,
        intake_by_year=by_year,
        new_gp_fte=new_gp_fte,
        policy=policy,
        raise_share=share(dist, "raise_share", 0.10, None),
        forced_where=forced_where,
        forced_exit_rate=share(dist, "forced_exit_rate", 0.02),
        forced_exit_sd=share(dist, "forced_exit_sd", 0.01, None),
        max_new_per_municipality=max_new,
        municipality_min=mins,
        municipality_max=maxes,
        council_min=council_min,
        limit_rule=rule,
        limits=limits,
        radius_km=radius,
        min_open=whole(ch, "min_open", 2, 1),
        need_growth_percent=toml.number(
            pop.get("need_growth_percent", 0.0),
            "need_growth_percent",
            "need_growth_percent",
            minimum=-10,
            maximum=10,
        ),
        underserved_share=share(pop, "underserved_share", 0.10),
        workforce_scale=wf_scale,
    )
