"""Fee-structure scenarios: re-price a year's activity under a changed structure.

Seed 001 "Udmøntningen af Aftale25": money moved between services (2151 closed, its
money put on 0101, 0125, 0102 and the chronic-care fees), capitation raised, chronic fees
raised in the underserved areas, and a coming structure "based on treatment need".

The re-pricing is static: the same services to the same patients (no change in
behaviour), each paid at the scenario's price. A scenario is a TOML file (format and
examples in docs/settlement.md and docs/scenarios/):

    name = "..."
    budget_neutral = false          # true: solve one factor on every price; "capitation":
                                    # solve the capitation price; the total equals the base
    allow_unplaced = false          # true: money moved to a service with no activity is
                                    # reported as unplaced instead of refused
    [prices]                        # new price per unit, DKK
    "0101" = 180.0
    [change_percent]                # price change in %
    "0120" = 5.0
    [[move]]                        # close a service and put its money on others
    from = "2151"
    to = { "0101" = 0.5, "0125" = 0.2, "0102" = 0.1, "0120" = 0.2 }   # shares, sum 1
    [[move]]                        # a share of a service's money into capitation
    from = "0120"
    share = 0.25                    # default 1: all of it (the service is closed)
    to = { "BASIS" = 1.0 }
    [capitation]
    price_dkk = 530.0               # yearly fee per group-1 patient (BASIS)
    need_weight_per_condition = 0.1 # weight 1 + 0.1 × chronic conditions, total kept
    [[supplement]]
    area = "underserved"            # PLO's underserved municipalities
    services = ["0120"]             # or ["*"] for every service
    percent = 10.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from almen.errors import ParameterError
from almen.tomlfile import TomlFile, read_toml

__all__ = [
    "Move",
    "Scenario",
    "Supplement",
    "clinic_attributes",
    "compare",
    "groups",
    "load_scenario",
    "neutral_scenario",
]

AREAS = ("underserved", "other", "all")
KNOWN_KEYS = {
    "name",
    "description",
    "budget_neutral",
    "prices",
    "change_percent",
    "move",
    "capitation",
    "supplement",
    "allow_unplaced",
}
NEUTRAL_MODES = ("scale", "capitation")


@dataclass(frozen=True, slots=True)
class Move:
    from_code: str
    to: dict[str, float]  # code (BASIS: capitation) → share of the money moved
    share: float = 1.0  # share of the from-service's money moved (1: the service closes)


@dataclass(frozen=True, slots=True)
class Supplement:
    area: str
    services: tuple[str, ...]
    percent: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str = ""
    prices: dict[str, float] = field(default_factory=dict)
    change_percent: dict[str, float] = field(default_factory=dict)
    moves: tuple[Move, ...] = ()
    capitation_price: float | None = None
    need_weight_per_condition: float = 0.0
    supplements: tuple[Supplement, ...] = ()
    budget_neutral: bool | str = False  # True or "scale", "capitation", or False
    allow_unplaced: bool = False


def neutral_scenario() -> Scenario:
    """A scenario that changes nothing."""
    return Scenario(name="base")


def load_scenario(source: Path | TomlFile, known_codes: set[str]) -> Scenario:
    """Read (a path) and check a scenario TOML; an ``InputError`` names file, line and
    column."""
    toml = source if isinstance(source, TomlFile) else read_toml(source)
    data, fail = toml.data, toml.fail
    toml.check_keys(data, KNOWN_KEYS)

    def code(c: str) -> str:
        if c not in known_codes:
            raise fail(f"unknown service code {c!r} (not in the base fee schedule)", c)
        return c

    def number(v: object, what: str, needle: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise fail(f"{what} must be a number", needle)
        return float(v)

    prices = {}
    for c, v in (data.get("prices") or {}).items():
        prices[code(c)] = number(v, f"price of {c}", c)
        if prices[c] < 0:
            raise fail(f"price of {c} is negative", c)
    change = {
        code(c): number(v, f"change of {c}", c)
        for c, v in (data.get("change_percent") or {}).items()
    }
    for c, v in change.items():
        if v <= -100:
            raise fail(f"change of {c} must be above -100 %", c)
    moves = []
    for mv in data.get("move") or []:
        if not isinstance(mv, dict) or "from" not in mv or "to" not in mv:
            raise fail("each [[move]] needs from = CODE and to = { CODE = share, ... }", "move")
        unknown = [k for k in mv if k not in ("from", "to", "share")]
        if unknown:
            raise fail(f"unknown key {unknown[0]!r} in [[move]] (from, to, share)", unknown[0])
        frm = code(str(mv["from"]))
        if frm == "BASIS":
            raise fail("a move cannot take money from the capitation (BASIS)", frm)
        moved = number(mv.get("share", 1.0), "share of a move", "share")
        if not 0.0 < moved <= 1.0:
            raise fail(f"the share moved from {frm} must be above 0 and at most 1", "share")
        to = {code(c): number(v, f"share of {c}", c) for c, v in mv["to"].items()}
        if abs(sum(to.values()) - 1.0) > 1e-6:
            raise fail(f"the shares of the move from {frm} sum to {sum(to.values()):g}, not 1", frm)
        if any(v < 0 for v in to.values()):
            raise fail(f"a share of the move from {frm} is negative", frm)
        if frm in to:
            raise fail(f"the move from {frm} cannot go to {frm} itself", frm)
        moves.append(Move(frm, to, moved))
    cap = data.get("capitation") or {}
    for k in cap:
        if k not in ("price_dkk", "need_weight_per_condition"):
            raise fail(f"unknown key {k!r} in [capitation]", k)
    cap_price = (
        number(cap["price_dkk"], "capitation price_dkk", "price_dkk")
        if "price_dkk" in cap
        else None
    )
    need_w = (
        number(
            cap["need_weight_per_condition"],
            "need_weight_per_condition",
            "need_weight_per_condition",
        )
        if "need_weight_per_condition" in cap
        else 0.0
    )
    if need_w < 0:
        raise fail("need_weight_per_condition must not be negative", "need_weight_per_condition")
    sups = []
    for sp in data.get("supplement") or []:
        area = str(sp.get("area", ""))
        if area not in AREAS:
            raise fail(f"supplement area must be one of {', '.join(AREAS)}, not {area!r}", "area")
        services = tuple(str(s) for s in sp.get("services", ["*"]))
        for s in services:
            if s != "*":
                code(s)
        sups.append(
            Supplement(area, services, number(sp.get("percent"), "supplement percent", "percent"))
        )
    neutral = data.get("budget_neutral", False)
    if not isinstance(neutral, bool) and neutral not in NEUTRAL_MODES:
        raise fail('budget_neutral must be true, false or "capitation"', "budget_neutral")
    allow = data.get("allow_unplaced", False)
    if not isinstance(allow, bool):
        raise fail("allow_unplaced must be true or false", "allow_unplaced")
    return Scenario(
        name=str(data.get("name", Path(toml.source).stem)),
        description=str(data.get("description", "")),
        prices=prices,
        change_percent=change,
        moves=tuple(moves),
        capitation_price=cap_price,
        need_weight_per_condition=need_w,
        supplements=tuple(sups),
        budget_neutral=neutral,
        allow_unplaced=allow,
    )


def _factors(
    scenario: Scenario,
    base_prices: dict[str, float],
    volume_dkk: dict[str, float],
) -> tuple[dict[str, float], float, float]:
    """Scenario price / base price per service after prices, changes and moves; the
    money moved into capitation; and the money moved to services with no activity.

    A move takes ``share`` of the from-service's money (at its scenario price) and puts
    it on the targets in proportion to their shares: on a service by raising its price
    (money / the service's volume), on BASIS by adding it to the capitation pool. Money
    for a service with no activity cannot raise its price: ``compare`` refuses it unless
    the scenario allows it (``allow_unplaced``).
    """
    f = dict.fromkeys(base_prices, 1.0)
    for c, p in scenario.prices.items():
        f[c] = p / base_prices[c] if base_prices[c] else 1.0
    for c, pct in scenario.change_percent.items():
        f[c] *= 1.0 + pct / 100.0
    to_capitation = unplaced = 0.0
    for mv in scenario.moves:
        money = volume_dkk.get(mv.from_code, 0.0) * f[mv.from_code] * mv.share
        f[mv.from_code] *= 1.0 - mv.share
        for t, share in mv.to.items():
            if t == "BASIS":
                to_capitation += share * money
                continue
            vol = volume_dkk.get(t, 0.0)
            if vol > 0:
                f[t] += share * money / vol
            else:
                unplaced += share * money
    return f, to_capitation, unplaced


def _neutral_mode(scenario: Scenario, override: bool | None) -> str | None:
    mode = scenario.budget_neutral if override is None else override
    if mode is True:
        return "scale"
    return mode or None


def compare(
    scenario: Scenario,
    *,
    activity: pl.DataFrame,
    clinics: pl.DataFrame,
    base_prices: dict[str, float],
    base_capitation: float,
    budget_neutral: bool | None = None,
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Each clinic's income under the base and the scenario, and the totals.

    ``activity``: provider_number, service_code, units (accepted lines inside the frame).
    ``clinics``: provider_number, form, region, underserved, patient_years (listed),
    need_units (Σ over listed patients of chronic conditions, per patient-year).
    Returns the per-clinic table (base_dkk, scenario_dkk, change_dkk, change_pct) and
    totals: base and scenario, the capitation price paid (``capitation_dkk``), the
    money moved into capitation, the unplaced money and the solved ``scaling``.

    Budget-neutral (``budget_neutral`` true or "scale", or "capitation"): the scenario
    is priced, then one unknown is solved so that the total equals the base: a factor
    k on every scenario price and the capitation (k = (base total) / (scenario total)),
    or the capitation price c (c = (base total − scenario fee-for-service) / the
    capitation weight). Each clinic is then paid by the solved prices.
    """
    act = activity.filter(pl.col("service_code").is_in(list(base_prices)))
    act = act.with_columns(
        base_dkk=pl.col("units")
        * pl.col("service_code").replace_strict(base_prices, return_dtype=pl.Float64)
    )
    volume = dict(act.group_by("service_code").agg(pl.col("base_dkk").sum()).iter_rows())
    f, to_capitation, unplaced = _factors(scenario, base_prices, volume)
    if unplaced and not scenario.allow_unplaced:
        targets = sorted(
            t for mv in scenario.moves for t in mv.to if t != "BASIS" and not volume.get(t)
        )
        raise ParameterError(
            f"{unplaced:,.0f} DKK would be moved to services with no activity this year "
            f"({', '.join(targets)}); move it elsewhere, or set allow_unplaced = true"
        )
    act = act.with_columns(
        factor=pl.col("service_code").replace_strict(f, return_dtype=pl.Float64)
    ).join(clinics.select("provider_number", "underserved"), on="provider_number", how="left")
    supp = pl.lit(1.0)
    for sp in scenario.supplements:
        in_area = (
            pl.lit(True)
            if sp.area == "all"
            else (pl.col("underserved").fill_null(False) == (sp.area == "underserved"))
        )
        in_services = (
            pl.lit(True) if "*" in sp.services else pl.col("service_code").is_in(list(sp.services))
        )
        supp = supp * pl.when(in_area & in_services).then(1.0 + sp.percent / 100.0).otherwise(1.0)
    act = act.with_columns(scen_dkk=pl.col("base_dkk") * pl.col("factor") * supp)
    ffs = act.group_by("provider_number").agg(
        base_ffs=pl.col("base_dkk").sum(), scen_ffs=pl.col("scen_dkk").sum()
    )
    c = clinics.join(ffs, on="provider_number", how="left").with_columns(
        pl.col("base_ffs").fill_null(0.0), pl.col("scen_ffs").fill_null(0.0)
    )
    b = scenario.need_weight_per_condition
    total_py = float(c["patient_years"].sum())
    if b > 0:  # the capitation weight: patient-years by need, the same sum
        weight = pl.col("patient_years") + b * pl.col("need_units")
        total_w = float(c.select(weight.sum()).item())
        weight = weight * (total_py / total_w if total_w else 0.0)
    else:
        weight = pl.col("patient_years")
    c = c.with_columns(cap_weight=weight)
    base_total = float((base_capitation * c["patient_years"] + c["base_ffs"]).sum())
    cap_price = (
        scenario.capitation_price if scenario.capitation_price is not None else base_capitation
    )
    # money moved into capitation raises its price by the money per patient-year
    cap_price += to_capitation / total_py if total_py else 0.0
    mode = _neutral_mode(scenario, budget_neutral)
    k = 1.0
    if mode == "scale":
        priced = cap_price * total_py + float(c["scen_ffs"].sum())
        k = base_total / priced if priced else 1.0
        cap_price *= k
    elif mode == "capitation":
        cap_price = (base_total - float(c["scen_ffs"].sum())) / total_py if total_py else 0.0
        if cap_price < 0:
            raise ParameterError(
                "no capitation balances this scenario: its fee-for-service alone exceeds the "
                "base total"
            )
    c = (
        c.with_columns(
            base_cap=base_capitation * pl.col("patient_years"),
            scen_cap=cap_price * pl.col("cap_weight"),
            scen_ffs=pl.col("scen_ffs") * k,
        )
        .with_columns(
            base_dkk=pl.col("base_cap") + pl.col("base_ffs"),
            scenario_dkk=pl.col("scen_cap") + pl.col("scen_ffs"),
        )
        .with_columns(change_dkk=pl.col("scenario_dkk") - pl.col("base_dkk"))
        .with_columns(
            change_pct=pl.when(pl.col("base_dkk") > 0)
            .then(pl.col("change_dkk") / pl.col("base_dkk") * 100.0)
            .otherwise(None)
        )
        .drop("cap_weight")
    )
    totals = {
        "base_dkk": base_total,
        "scenario_dkk": float(c["scenario_dkk"].sum()),
        "scaling": k,
        "capitation_dkk": cap_price,
        "to_capitation_dkk": to_capitation,
        "unplaced_dkk": unplaced,
    }
    return c, totals


def groups(per_clinic: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Winners and losers by need decile, clinic form, region and underserved or not."""
    c = per_clinic.with_columns(
        need_decile=(
            (pl.col("need_units") / pl.col("patient_years")).rank("ordinal") * 10 / pl.len()
        )
        .ceil()
        .cast(pl.Int32)
        .clip(1, 10),
        area=pl.when(pl.col("underserved")).then(pl.lit("underserved")).otherwise(pl.lit("other")),
    )
    out = {}
    for key in ("need_decile", "form", "region", "area"):
        out[key] = (
            c.group_by(key)
            .agg(
                clinics=pl.len(),
                base_dkk=pl.col("base_dkk").sum(),
                change_dkk=pl.col("change_dkk").sum(),
                mean_change_pct=pl.col("change_pct").mean(),
                winners=(pl.col("change_dkk") > 0.5).sum(),
                losers=(pl.col("change_dkk") < -0.5).sum(),
            )
            .with_columns(change_pct=pl.col("change_dkk") / pl.col("base_dkk") * 100.0)
            .sort(key)
        )
    return out


def clinic_attributes(
    exposure_table: pl.DataFrame,
    need: pl.DataFrame,
    clinic_info: pl.DataFrame,
    underserved_codes: set[str],
) -> pl.DataFrame:
    """provider_number, form, region, underserved, patient_years, need_units.

    ``exposure_table`` from ``statement.exposure`` (the year's listed patient-years);
    ``need``: provider_number, need_units (Σ chronic conditions of listed patients);
    ``clinic_info``: provider_number, form, municipality, region.
    """
    py = (
        exposure_table.with_columns(
            py=(
                pl.col("last_month").cast(pl.Int32) - pl.col("first_month").cast(pl.Int32) + 1
            ).clip(lower_bound=0)
            * pl.col("patients")
            / 12.0
        )
        .group_by("provider_number")
        .agg(patient_years=pl.col("py").sum())
    )
    return (
        clinic_info.join(py, on="provider_number", how="left")
        .join(need, on="provider_number", how="left")
        .with_columns(
            pl.col("patient_years").fill_null(0.0),
            pl.col("need_units").fill_null(0.0).cast(pl.Float64),
            underserved=pl.col("municipality").is_in(list(underserved_codes)),
        )
        .select("provider_number", "form", "region", "underserved", "patient_years", "need_units")
    )
