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
  ``training_years`` years in equal parts;
- every GP is a woman or a man and an owner (praksisejer) or employed (ansat læge, seed
  002 §4.2); new GPs are women with ``entrant_female_share`` and start employed with
  ``entrant_employed_share``; each year an employed GP becomes an owner with
  ``employed_to_owner``; employed GPs leave at ``employed_leave_factor`` times the rate;
- a GP who leaves before ``return_max_age`` joins a pool of specialists outside practice
  (770 in 2018, danish-facts §2.1), from which each year ``return_rate`` come back as
  employed GPs (returners, issue 21);
- full-time equivalents weigh each GP by sex (``fte_female``, ``fte_male``) and by
  ``fte_60_plus`` from age 60 (seed 002 §4.3: older doctors kept on, often part time).

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
    "PARTS",
    "UNCERTAIN",
    "WorkforceParams",
    "backcast",
    "draw",
    "entrants",
    "minimum_intake",
    "plo_reading",
    "project",
    "project_parts",
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
    # sex, owners and employed, returners, FTE (issue 21 item 3). Women were about 48 %
    # of GPs in 2014 and 55 % in 2019 (danish-facts §2.3), so the younger are more often
    # women: the starting share falls by female_share_slope a year of age around 55 % at
    # the mean age. The rest are assumptions, none found as Danish figures.
    female_share: float = 0.55
    female_share_slope: float = 0.015
    entrant_female_share: float = 0.65  # assumption: most new specialists are women
    employed_share: float = 0.10  # assumption: share of the stock that is employed
    entrant_employed_share: float = 0.40  # assumption: new GPs who start employed
    employed_to_owner: float = 0.10  # assumption: employed GPs who buy in, a year
    employed_leave_factor: float = 1.0  # assumption: no figure says employed leave more
    returners_pool: int = 770  # specialists in almen medicin not working as GPs (2018)
    return_rate: float = 0.02  # assumption: share of the pool coming back a year
    return_rate_sd: float = 0.01
    return_max_age: int = 60  # leavers younger than this join the pool
    # FTE by sex: the Dutch capacity model's factors (women 0.72, men 0.81; research
    # anchors §2.8), no Danish figure found; fte_60_plus: assumption
    fte_female: float = 0.72
    fte_male: float = 0.81
    fte_60_plus: float = 0.85

    def check(self) -> None:
        if self.intake < 0:
            raise ParameterError(f"intake must not be negative, got {self.intake}")
        if self.target_year <= self.start_year:
            raise ParameterError("target_year must be after start_year")
        for name in ("fill_rate", "completion", "entry_rate", "female_share",
                     "entrant_female_share", "employed_share", "entrant_employed_share",
                     "employed_to_owner", "return_rate", "fte_female", "fte_male",
                     "fte_60_plus"):  # fmt: skip
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ParameterError(f"{name} must be between 0 and 1, got {v}")
        if self.training_years < 1:
            raise ParameterError("training_years must be at least 1")
        for name in ("fill_rate_sd", "completion_sd", "entry_rate_sd", "leave_sd", "stock_sd",
                     "return_rate_sd", "returners_pool", "employed_leave_factor"):  # fmt: skip
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
    factor on the leaving rates and on the starting stock, the return rate."""

    fill: np.ndarray
    completion: np.ndarray
    entry: np.ndarray
    leave: np.ndarray
    stock: np.ndarray
    returning: np.ndarray


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
        returning=beta_draws(rng, params.return_rate, params.return_rate_sd, runs),
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
                       np.full(runs, params.entry_rate), np.ones(runs), np.ones(runs),
                       np.full(runs, params.return_rate))  # fmt: skip
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


# what project_parts gives, each (runs, years) at the end of each year
PARTS = ("gps", "fte", "women", "owners", "employed", "returned", "pool")


def _start_female(params: WorkforceParams) -> np.ndarray:
    """The share of women at each age of the starting stock."""
    mean_age = float((params.stock * AGES).sum() / max(params.stock.sum(), 1))
    share = params.female_share + params.female_share_slope * (mean_age - AGES)
    return np.clip(share, 0.0, 1.0)


def project_parts(
    params: WorkforceParams,
    runs: int = 1000,
    seed: int = 1,
    intake_by_year: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """The projection in full: per part in ``PARTS`` an array (runs, years) for
    start_year..target_year: GPs, full-time equivalents, women, owners, employed, the
    returners of the year and the pool outside practice. ``intake_by_year`` as
    ``entrants`` takes it.

    The state is GPs by sex (women, men), role (owner, employed) and age, and the pool by
    sex and age; each year: leavers (binomial by age and role), the young among them to
    the pool, returners from the pool (as employed), employed to owners, one year older,
    then the year's new GPs split by sex and role."""
    params.check()
    rng = np.random.default_rng(seed)
    d = draw(params, rng, runs)
    years = params.target_year - params.start_year + 1
    n_age = len(AGES)
    total = np.round(params.stock[None, :] * np.maximum(d.stock, 0)[:, None]).astype(np.int64)
    women = rng.binomial(total, _start_female(params)[None, :])
    stock = np.zeros((runs, 2, 2, n_age), dtype=np.int64)  # run, sex (0 women), role (0 owner)
    for sex, n in ((0, women), (1, total - women)):
        employed = rng.binomial(n, params.employed_share)
        stock[:, sex, 0], stock[:, sex, 1] = n - employed, employed
    # the pool at the start: spread evenly over ages 40-64, split by sex as the stock is
    pool = np.zeros((runs, 2, n_age), dtype=np.int64)
    span = (AGES >= 40) & (AGES < 65)
    per_age = np.full(int(span.sum()), params.returners_pool // int(span.sum()))
    per_age[: params.returners_pool - int(per_age.sum())] += 1
    pool_women = rng.binomial(np.broadcast_to(per_age, (runs, len(per_age))), params.female_share)
    pool[:, 0, span], pool[:, 1, span] = pool_women, per_age[None, :] - pool_women
    base_leave = params.leave_rate()[None, :] * d.leave[:, None]
    leave = np.stack([base_leave, base_leave * params.employed_leave_factor], axis=1)
    leave = np.clip(leave, 0.0, 1.0)[:, None, :, :]  # run, 1, role, age
    young = params.return_max_age > AGES
    returning = d.returning
    fte_age = np.where(AGES >= 60, params.fte_60_plus, 1.0)
    fte_sex = np.array([params.fte_female, params.fte_male])
    pipeline = entrants(params, rng, runs, intake_by_year, draws=d)
    entry_i = int(np.clip(params.entry_age - AGES[0], 0, n_age - 1))
    out = {k: np.empty((runs, years), dtype=np.float64 if k == "fte" else np.int64) for k in PARTS}
    for y in range(years):
        leavers = rng.binomial(stock, leave)
        stock -= leavers
        pool[:, :, young] += leavers[:, :, :, young].sum(axis=2)
        back = rng.binomial(pool, returning[:, None, None])
        pool -= back
        stock[:, :, 1] += back
        buy_in = rng.binomial(stock[:, :, 1], params.employed_to_owner)
        stock[:, :, 1] -= buy_in
        stock[:, :, 0] += buy_in
        # age one year; those past the last age leave, the pool keeps those under 65
        stock[..., 1:] = stock[..., :-1].copy()
        stock[..., 0] = 0
        pool[..., 1:] = pool[..., :-1].copy()
        pool[..., 0] = 0
        pool[..., AGES >= 65] = 0
        new = next(pipeline)
        new_women = rng.binomial(new, params.entrant_female_share)
        for sex, n in ((0, new_women), (1, new - new_women)):
            employed = rng.binomial(n, params.entrant_employed_share)
            stock[:, sex, 0, entry_i] += n - employed
            stock[:, sex, 1, entry_i] += employed
        out["gps"][:, y] = stock.sum(axis=(1, 2, 3))
        out["fte"][:, y] = (stock.sum(axis=2) * fte_sex[None, :, None] * fte_age).sum(axis=(1, 2))
        out["women"][:, y] = stock[:, 0].sum(axis=(1, 2))
        out["owners"][:, y] = stock[:, :, 0].sum(axis=(1, 2))
        out["employed"][:, y] = stock[:, :, 1].sum(axis=(1, 2))
        out["returned"][:, y] = back.sum(axis=(1, 2))
        out["pool"][:, y] = pool.sum(axis=(1, 2))
    return out


def project(
    params: WorkforceParams,
    runs: int = 1000,
    seed: int = 1,
    intake_by_year: Sequence[int] | None = None,
) -> np.ndarray:
    """GPs at the end of each year, start_year..target_year: array (runs, years);
    ``intake_by_year`` as ``entrants`` takes it."""
    return project_parts(params, runs, seed, intake_by_year)["gps"]


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
    """Per intake and year: the 5th, 50th and 95th percentile of the GPs, the share of
    runs at or above the target, the same percentiles of the full-time equivalents, and
    the medians of women, owners, employed and the year's returners."""
    rows = []
    for n in intakes:
        parts = project_parts(replace(params, intake=n), runs, seed)
        out, fte = parts["gps"], parts["fte"]
        lo, mid, hi = np.percentile(out, [5, 50, 95], axis=0)
        f_lo, f_mid, f_hi = np.percentile(fte, [5, 50, 95], axis=0)
        med = {k: np.median(parts[k], axis=0) for k in ("women", "owners", "employed", "returned")}
        for i, y in enumerate(range(params.start_year, params.target_year + 1)):
            rows.append({"intake": n, "year": y, "p05": float(lo[i]), "median": float(mid[i]),
                         "p95": float(hi[i]),
                         "p_reach": float((out[:, i] >= params.target).mean()),
                         "fte_p05": float(f_lo[i]), "fte_median": float(f_mid[i]),
                         "fte_p95": float(f_hi[i]),
                         **{k: float(v[i]) for k, v in med.items()}})  # fmt: skip
    return pl.DataFrame(rows)


# the uncertain parameters: (field, its sd field, relative sd?)
UNCERTAIN = (
    ("fill_rate", "fill_rate_sd", False),
    ("completion", "completion_sd", False),
    ("entry_rate", "entry_rate_sd", False),
    ("leave", "leave_sd", True),
    ("stock", "stock_sd", True),
    ("return_rate", "return_rate_sd", False),
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
    no uncertainty of the rates (the assumptions that reproduce it), and no returners:
    the seed counts new specialists only. With the default returners (770 in the pool,
    ``return_rate`` 0.02, an assumption) 350 posts reach 5,000 more often than not, so the
    reading hangs on whether specialists outside practice come back (docs/capacity.md)."""
    return replace(params, completion=1.0, entry_rate=1.0, completion_sd=0.0,
                   entry_rate_sd=0.0, returners_pool=0, return_rate=0.0,
                   return_rate_sd=0.0)  # fmt: skip


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
