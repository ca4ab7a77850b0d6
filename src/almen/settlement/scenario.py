"""Fee-structure scenarios: re-price a year's activity under a changed structure.

Seed 001 "Udmøntningen af Aftale25": money moved between services (2151 closed, its
money put on 0101, 0125, 0102 and the chronic-care fees), capitation raised, chronic fees
raised in the underserved areas, and a coming structure "based on treatment need".

The re-pricing is static: the same services to the same patients (no change in
behaviour), each paid at the scenario's price. A scenario is a TOML file (format and
examples in docs/settlement.md and docs/scenarios/):

    name = "..."
    budget_neutral = false          # true: scale everything so the total equals the base
    [prices]                        # new price per unit, DKK
    "0101" = 180.0
    [change_percent]                # price change in %
    "0120" = 5.0
    [[move]]                        # close a service and put its money on others
    from = "2151"
    to = { "0101" = 0.5, "0125" = 0.2, "0102" = 0.1, "0120" = 0.2 }   # shares, sum 1
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
}


@dataclass(frozen=True, slots=True)
class Move:
    from_code: str
    to: dict[str, float]


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
    budget_neutral: bool = False


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
        frm = code(str(mv["from"]))
        to = {code(c): number(v, f"share of {c}", c) for c, v in mv["to"].items()}
        if abs(sum(to.values()) - 1.0) > 1e-6:
            raise fail(f"the shares of the move from {frm} sum to {sum(to.values()):g}, not 1", frm)
        if any(v < 0 for v in to.values()):
            raise fail(f"a share of the move from {frm} is negative", frm)
        if frm in to:
            raise fail(f"the move from {frm} cannot go to {frm} itself", frm)
        moves.append(Move(frm, to))
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
    if not isinstance(neutral, bool):
        raise fail("budget_neutral must be true or false", "budget_neutral")
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
    )


def _factors(
    scenario: Scenario,
    base_prices: dict[str, float],
    volume_dkk: dict[str, float],
    unplaced: list[float] | None = None,
) -> dict[str, float]:
    """Scenario price / base price per service, after prices, changes and moves.

    Money moved to a service with no activity cannot raise its price; it is added to
    ``unplaced`` (and so leaves the total) for the caller to report.
    """
    f = dict.fromkeys(base_prices, 1.0)
    for c, p in scenario.prices.items():
        f[c] = p / base_prices[c] if base_prices[c] else 1.0
    for c, pct in scenario.change_percent.items():
        f[c] *= 1.0 + pct / 100.0
    for mv in scenario.moves:
        money = volume_dkk.get(mv.from_code, 0.0) * f[mv.from_code]
        f[mv.from_code] = 0.0
        for t, share in mv.to.items():
            vol = volume_dkk.get(t, 0.0)
            if vol > 0:
                f[t] += share * money / vol
            elif unplaced is not None:
                unplaced.append(share * money)
    return f


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
    totals (base, scenario, scaling factor).
    """
    act = activity.filter(pl.col("service_code").is_in(list(base_prices)))
    act = act.with_columns(
        base_dkk=pl.col("units")
        * pl.col("service_code").replace_strict(base_prices, return_dtype=pl.Float64)
    )
    volume = dict(act.group_by("service_code").agg(pl.col("base_dkk").sum()).iter_rows())
    unplaced: list[float] = []
    f = _factors(scenario, base_prices, volume, unplaced)
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
    cap_price = (
        scenario.capitation_price if scenario.capitation_price is not None else base_capitation
    )
    c = clinics.join(ffs, on="provider_number", how="left").with_columns(
        pl.col("base_ffs").fill_null(0.0), pl.col("scen_ffs").fill_null(0.0)
    )
    b = scenario.need_weight_per_condition
    if b > 0:
        weight = pl.col("patient_years") + b * pl.col("need_units")
        total_py = float(c.select(pl.col("patient_years").sum()).item())
        total_w = float(c.select(weight.sum()).item())
        scen_cap = cap_price * weight * (total_py / total_w if total_w else 0.0)
    else:
        scen_cap = cap_price * pl.col("patient_years")
    c = c.with_columns(
        base_cap=base_capitation * pl.col("patient_years"),
        scen_cap=scen_cap,
    ).with_columns(
        base_dkk=pl.col("base_cap") + pl.col("base_ffs"),
        scenario_dkk=pl.col("scen_cap") + pl.col("scen_ffs"),
    )
    base_total = float(c["base_dkk"].sum())
    scen_total = float(c["scenario_dkk"].sum())
    neutral = scenario.budget_neutral if budget_neutral is None else budget_neutral
    k = base_total / scen_total if neutral and scen_total else 1.0
    c = (
        c.with_columns(scenario_dkk=pl.col("scenario_dkk") * k)
        .with_columns(
            change_dkk=pl.col("scenario_dkk") - pl.col("base_dkk"),
        )
        .with_columns(
            change_pct=pl.when(pl.col("base_dkk") > 0)
            .then(pl.col("change_dkk") / pl.col("base_dkk") * 100.0)
            .otherwise(None)
        )
    )
    totals = {
        "base_dkk": base_total,
        "scenario_dkk": float(c["scenario_dkk"].sum()),
        "scaling": k,
        "unplaced_dkk": sum(unplaced),
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
