"""Workforce projection 2025-2035: will Denmark have 5,000 GPs by 2035?

Seed 001 ("5.000 praktiserende læger"): the reform's goal is at least 5,000 GPs by 2035;
in 2024 296 doctors started specialist training (hoveduddannelse), 1,246 were in it and
265 became specialists; PLO asks for about 50 more posts a year (400 instead of 350).

A cohort model by single year of age, run many times (Monte Carlo):

- each year a GP of age a leaves with probability ``leave_rate(a)`` (retirement and
  other attrition, binomial draws);
- ``intake`` training posts are advertised; each is filled with probability
  ``fill_rate``; a trainee completes with probability ``completion`` after
  ``training_years`` and then enters general practice with probability ``entry_rate`` at
  about ``entry_age``;
- the trainees already in training at the start (``in_training``) complete over the next
  ``training_years`` years in equal parts.

``minimum_intake`` solves, as the Dutch capacity body's model does for its balance year,
for the smallest yearly intake that reaches the target by the target year with a given
probability; every intake is run with the same seed (common random numbers), and the
search assumes the probability rises with the intake.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from almen.errors import ParameterError

__all__ = [
    "UNCERTAIN",
    "WorkforceParams",
    "backcast",
    "draw",
    "entrants",
    "minimum_intake",
    "plo_reading",
    "project",
    "reach_probability",
    "sensitivity",
    "settable",
    "with_settings",
    "yearly_table",
]

AGES = np.arange(25, 80)


def _default_stock() -> np.ndarray:
    """GPs by age 25-79 at the start: 3,499 GPs (2023, danish-facts §2.1) with mean age
    about 52.7 and sd 8.5 (§2.3: 11 % over 65, mean 52.7 in 2017); a smooth shape."""
    w = np.exp(-0.5 * ((AGES - 52.7) / 8.5) ** 2)
    w[AGES < 32] = 0.0
    return np.round(w / w.sum() * 3499).astype(np.int64)


@dataclass(frozen=True)
class WorkforceParams:
    """Inputs of the projection, each with its source or marked as an assumption."""

    start_year: int = 2025
    target_year: int = 2035
    target: int = 5000  # seed 001: at least 5,000 GPs by 2035
    intake: int = 350  # posts a year from 2020 (danish-facts §2.8); PLO asks 400 (seed 001)
    fill_rate: float = 0.85  # 296 started of 350 posts in 2024 (seed 001)
    completion: float = 0.90  # assumption: share of trainees who complete
    training_years: int = 4  # assumption: hoveduddannelse about 4 years
    entry_rate: float = 0.95  # assumption: new specialists who enter general practice
    entry_age: int = 37  # assumption
    in_training: int = 1246  # in training 2024 (seed 001)
    stock: np.ndarray = field(default_factory=_default_stock)  # GPs by age 25-79
    # yearly leaving probability by age band (retirement + other attrition): assumptions
    # chosen so that about 4-5 % leave a year, in line with 265 new specialists a year
    # and a stock that grew slowly to about 3,500 (danish-facts §2.1, §2.8)
    leave_under_55: float = 0.012
    leave_55_59: float = 0.03
    leave_60_64: float = 0.08
    leave_65_69: float = 0.22
    leave_70_plus: float = 0.45
    # the year the intake starts (issue 21: "the year extra posts start"); before it,
    # current_intake posts a year
    intake_from: int | None = None
    current_intake: int = 350
    # parameter uncertainty (issue 21): each run draws its own rates, so the interval
    # holds what is not known as well as chance. Standard deviations (assumptions):
    # of the fill, completion and entry rates (Beta draws around the value above), and
    # relative ones of the leaving rates (a lognormal factor on every age) and of the
    # starting stock. 0 turns a parameter's uncertainty off.
    fill_rate_sd: float = 0.05
    completion_sd: float = 0.05
    entry_rate_sd: float = 0.08
    leave_sd: float = 0.15
    stock_sd: float = 0.02

    def check(self) -> None:
        if self.intake < 0:
            raise ParameterError(f"intake must not be negative, got {self.intake}")
        if self.target_year <= self.start_year:
            raise ParameterError("target_year must be after start_year")
        for name in ("fill_rate", "completion", "entry_rate"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ParameterError(f"{name} must be between 0 and 1, got {v}")
        if self.training_years < 1:
            raise ParameterError("training_years must be at least 1")
        for name in ("fill_rate_sd", "completion_sd", "entry_rate_sd", "leave_sd", "stock_sd"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} must not be negative")

    def intake_in(self, year: int) -> int:
        """The posts advertised in ``year``."""
        if self.intake_from is not None and year < self.intake_from:
            return self.current_intake
        return self.intake

    def leave_rate(self, ages: np.ndarray = AGES) -> np.ndarray:
        """Yearly probability of leaving at each age in ``ages``."""
        a = np.asarray(ages)
        return np.select(
            [a < 55, a < 60, a < 65, a < 70],
            [self.leave_under_55, self.leave_55_59, self.leave_60_64, self.leave_65_69],
            default=self.leave_70_plus,
        )


def beta_draws(rng: np.random.Generator, mean: float, sd: float, runs: int) -> np.ndarray:
    """``runs`` draws of a rate with this mean and standard deviation (Beta), or the
    mean itself where there is no uncertainty (sd 0, or a rate of 0 or 1)."""
    k = mean * (1 - mean) / sd**2 - 1 if sd > 0 else 0.0
    if sd <= 0 or not 0 < mean < 1 or k <= 0:
        return np.full(runs, mean)
    return rng.beta(mean * k, (1 - mean) * k, runs)


@dataclass(frozen=True)
class Draws:
    """One run's parameters (arrays of ``runs``): fill, completion, entry rates, the
    factor on the leaving rates and on the starting stock."""

    fill: np.ndarray
    completion: np.ndarray
    entry: np.ndarray
    leave: np.ndarray
    stock: np.ndarray


def draw(params: WorkforceParams, rng: np.random.Generator, runs: int) -> Draws:
    """The parameters of each run, drawn before the process (the same seed gives the same
    parameters for every intake: common random numbers)."""

    def lognormal(sd: float) -> np.ndarray:
        return np.exp(rng.normal(-(sd**2) / 2, sd, runs)) if sd > 0 else np.ones(runs)

    return Draws(
        fill=beta_draws(rng, params.fill_rate, params.fill_rate_sd, runs),
        completion=beta_draws(rng, params.completion, params.completion_sd, runs),
        entry=beta_draws(rng, params.entry_rate, params.entry_rate_sd, runs),
        leave=lognormal(params.leave_sd),
        stock=rng.normal(1.0, params.stock_sd, runs) if params.stock_sd > 0 else np.ones(runs),
    )


def entrants(
    params: WorkforceParams,
    rng: np.random.Generator,
    runs: int = 1,
    intake_by_year: Sequence[int] | None = None,
    draws: Draws | None = None,
) -> Iterator[np.ndarray]:
    """The training pipeline: each ``next`` gives the year's new GPs (one per run).

    The trainees in training at the start complete over the first ``training_years``
    years in equal parts; from then on, the year's intake (``intake_by_year[t]`` in year
    t, else ``params.intake``) fills, completes and enters general practice by binomial
    draws.
    """
    ty = params.training_years
    pipeline = np.zeros((runs, ty), dtype=np.int64)
    pipeline[:] = params.in_training // ty
    pipeline[:, 0] += params.in_training - (params.in_training // ty) * ty
    d = draws or Draws(np.full(runs, params.fill_rate), np.full(runs, params.completion),
                       np.full(runs, params.entry_rate), np.ones(runs), np.ones(runs))  # fmt: skip
    t = 0
    while True:
        intake = params.intake_in(params.start_year + t)
        if intake_by_year is not None and t < len(intake_by_year):
            intake = intake_by_year[t]
        done = rng.binomial(pipeline[:, 0], d.completion)
        new = rng.binomial(done, d.entry)
        started = rng.binomial(np.full(runs, intake), d.fill)
        pipeline[:, :-1] = pipeline[:, 1:]
        pipeline[:, -1] = started
        t += 1
        yield new


def project(
    params: WorkforceParams,
    runs: int = 1000,
    seed: int = 1,
    intake_by_year: Sequence[int] | None = None,
) -> np.ndarray:
    """GPs at the end of each year, start_year..target_year: array (runs, years);
    ``intake_by_year`` as ``entrants`` takes it."""
    params.check()
    rng = np.random.default_rng(seed)
    d = draw(params, rng, runs)
    years = params.target_year - params.start_year + 1
    stock = np.round(params.stock[None, :] * np.maximum(d.stock, 0)[:, None]).astype(np.int64)
    leave = np.clip(params.leave_rate()[None, :] * d.leave[:, None], 0.0, 1.0)
    pipeline = entrants(params, rng, runs, intake_by_year, draws=d)
    entry_i = int(np.clip(params.entry_age - AGES[0], 0, len(AGES) - 1))
    out = np.empty((runs, years), dtype=np.int64)
    for y in range(years):
        leavers = rng.binomial(stock, leave)
        stock = stock - leavers
        # age one year; those past the last age leave
        stock[:, 1:] = stock[:, :-1].copy()
        stock[:, 0] = 0
        stock[:, entry_i] += next(pipeline)
        out[:, y] = stock.sum(axis=1)
    return out


def reach_probability(params: WorkforceParams, runs: int = 1000, seed: int = 1) -> float:
    """Probability that the GPs in the target year are at least the target."""
    return float((project(params, runs, seed)[:, -1] >= params.target).mean())


def minimum_intake(
    params: WorkforceParams,
    probability: float = 0.8,
    *,
    runs: int = 1000,
    seed: int = 1,
    highest: int = 2000,
) -> int | None:
    """The smallest yearly intake that reaches the target with ``probability``; None if
    not even ``highest`` posts a year do (the pipeline is too slow for the target year)."""
    if not 0 < probability < 1:
        raise ParameterError(f"probability must be between 0 and 1, got {probability}")

    def ok(n: int) -> bool:
        return reach_probability(replace(params, intake=n), runs, seed) >= probability

    if not ok(highest):
        return None
    lo, hi = 0, highest  # ok(hi) is true
    if ok(lo):
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def yearly_table(
    params: WorkforceParams, intakes: Sequence[int], runs: int = 1000, seed: int = 1
) -> pl.DataFrame:
    """Per intake and year: the 5th, 50th and 95th percentile of the GPs and the share of
    runs at or above the target."""
    rows = []
    for n in intakes:
        out = project(replace(params, intake=n), runs, seed)
        lo, mid, hi = np.percentile(out, [5, 50, 95], axis=0)
        for i, y in enumerate(range(params.start_year, params.target_year + 1)):
            rows.append({"intake": n, "year": y, "p05": float(lo[i]), "median": float(mid[i]),
                         "p95": float(hi[i]),
                         "p_reach": float((out[:, i] >= params.target).mean())})  # fmt: skip
    return pl.DataFrame(rows)


# the uncertain parameters: (field, its sd field, relative sd?)
UNCERTAIN = (
    ("fill_rate", "fill_rate_sd", False),
    ("completion", "completion_sd", False),
    ("entry_rate", "entry_rate_sd", False),
    ("leave", "leave_sd", True),
    ("stock", "stock_sd", True),
)
_Z90 = 1.6448536269514722  # the 5th and 95th percentile of a normal: mean ∓ 1.645 sd


def _certain(params: WorkforceParams) -> WorkforceParams:
    return replace(params, **{sd: 0.0 for _n, sd, _r in UNCERTAIN})  # type: ignore[arg-type]


def _at(params: WorkforceParams, name: str, z: float) -> WorkforceParams:
    """``params`` without uncertainty, one parameter moved ``z`` standard deviations."""
    base = _certain(params)
    sd = getattr(params, f"{name}_sd")
    if name == "leave":
        f = float(np.exp(z * sd))
        return replace(base, leave_under_55=min(1.0, params.leave_under_55 * f),
                       leave_55_59=min(1.0, params.leave_55_59 * f),
                       leave_60_64=min(1.0, params.leave_60_64 * f),
                       leave_65_69=min(1.0, params.leave_65_69 * f),
                       leave_70_plus=min(1.0, params.leave_70_plus * f))  # fmt: skip
    if name == "stock":
        return replace(base, stock=np.round(params.stock * (1 + z * sd)).astype(np.int64))
    return replace(base, **{name: float(np.clip(getattr(params, name) + z * sd, 0.0, 1.0))})  # type: ignore[arg-type]


def sensitivity(params: WorkforceParams, runs: int = 400, seed: int = 1) -> pl.DataFrame:
    """Which parameter moves the target year most: per uncertain parameter, the median
    GPs in the target year with it at its 5th and at its 95th percentile (the others at
    their values, no parameter uncertainty), and the swing between them; largest first."""
    rows = []
    for name, sd_name, _rel in UNCERTAIN:
        if getattr(params, sd_name) <= 0:
            continue
        lo = float(np.median(project(_at(params, name, -_Z90), runs, seed)[:, -1]))
        hi = float(np.median(project(_at(params, name, _Z90), runs, seed)[:, -1]))
        rows.append({"parameter": name, "sd": getattr(params, sd_name), "at_p05": lo,
                     "at_p95": hi, "swing": abs(hi - lo)})  # fmt: skip
    return pl.DataFrame(rows).sort("swing", descending=True)


# public counts for the back-cast (danish-facts §2.1, §2.8): 3,457 GPs in 2009 and 3,499
# in 2023; 240-259 training posts a year 2011-2018, 350 from 2020
BACKCAST_START, BACKCAST_STOCK, BACKCAST_CHECK_YEAR, BACKCAST_CHECK = 2009, 3457, 2023, 3499
BACKCAST_INTAKE = {2009: 240, 2010: 240, 2011: 240, 2012: 245, 2013: 250, 2014: 250,
                   2015: 255, 2016: 255, 2017: 259, 2018: 259, 2019: 300, 2020: 350,
                   2021: 350, 2022: 350, 2023: 350}  # fmt: skip
# 2009-2010 are taken as 2011's, 2019 halfway to 2020's: assumptions


def backcast(params: WorkforceParams, runs: int = 2000, seed: int = 1) -> dict[str, float]:
    """The model run from 2009 (3,457 GPs, the starting stock's age shape) with the
    historic intake, to 2023: the median and 90 % interval against the public 3,499. The
    trainees in training in 2009 are taken as ``training_years`` intakes of 2009 filled
    at the fill rate (an assumption). The leaving rates were chosen with the stock near
    3,500 in mind, so the back-cast checks the whole pipeline, not those rates alone."""
    stock = np.round(params.stock / params.stock.sum() * BACKCAST_STOCK).astype(np.int64)
    years = list(range(BACKCAST_START, BACKCAST_CHECK_YEAR + 1))
    start = replace(params, start_year=BACKCAST_START, target_year=BACKCAST_CHECK_YEAR,
                    stock=stock, intake_from=None,
                    in_training=int(params.training_years * BACKCAST_INTAKE[2009]
                                    * params.fill_rate))  # fmt: skip
    end = project(start, runs, seed, [BACKCAST_INTAKE[y] for y in years])[:, -1]
    lo, mid, hi = np.percentile(end, [5, 50, 95])
    return {"year": float(BACKCAST_CHECK_YEAR), "public": float(BACKCAST_CHECK),
            "median": float(mid), "p05": float(lo), "p95": float(hi),
            "inside": float(lo <= BACKCAST_CHECK <= hi)}  # fmt: skip


def plo_reading(params: WorkforceParams) -> WorkforceParams:
    """PLO's reading (seed 001: 350 posts fall short of 5,000 by 2035, 400 reach it) is
    reproduced when every filled post becomes a practising GP: completion and entry 1,
    no uncertainty of the rates (the assumptions that reproduce it)."""
    return replace(params, completion=1.0, entry_rate=1.0, completion_sd=0.0,
                   entry_rate_sd=0.0)  # fmt: skip


def settable() -> dict[str, type]:
    """The parameters a user may set (``--set NAME=VALUE`` or a TOML ``[workforce]``
    table): every scalar field of ``WorkforceParams`` and its type."""
    from dataclasses import fields

    out: dict[str, type] = {}
    for f in fields(WorkforceParams):
        if f.name == "stock":
            continue
        out[f.name] = float if "float" in str(f.type) else int
    return out


def with_settings(
    params: WorkforceParams, values: dict[str, object], where: str
) -> WorkforceParams:
    """``params`` with ``values`` (name → number or text) set; ParameterError naming an
    unknown name or a value that is not a number, then ``check``."""
    kinds = settable()
    changes: dict[str, object] = {}
    for name, raw in values.items():
        if name not in kinds:
            raise ParameterError(
                f"{where}: unknown parameter {name!r}; known: {', '.join(sorted(kinds))}"
            )
        try:
            changes[name] = kinds[name](float(str(raw)) if kinds[name] is int else str(raw))
        except ValueError:
            raise ParameterError(f"{where}: {name} must be a number, not {raw!r}") from None
        if kinds[name] is int and float(str(raw)) != int(float(str(raw))):
            raise ParameterError(f"{where}: {name} must be a whole number, not {raw!r}")
    out = replace(params, **changes)  # type: ignore[arg-type]
    out.check()
    return out
