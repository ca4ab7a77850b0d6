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
    "WorkforceParams",
    "entrants",
    "minimum_intake",
    "project",
    "reach_probability",
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

    def leave_rate(self, ages: np.ndarray = AGES) -> np.ndarray:
        """Yearly probability of leaving at each age in ``ages``."""
        a = np.asarray(ages)
        return np.select(
            [a < 55, a < 60, a < 65, a < 70],
            [self.leave_under_55, self.leave_55_59, self.leave_60_64, self.leave_65_69],
            default=self.leave_70_plus,
        )


def entrants(
    params: WorkforceParams,
    rng: np.random.Generator,
    runs: int = 1,
    intake_by_year: Sequence[int] | None = None,
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
    t = 0
    while True:
        intake = params.intake
        if intake_by_year is not None and t < len(intake_by_year):
            intake = intake_by_year[t]
        done = rng.binomial(pipeline[:, 0], params.completion)
        new = rng.binomial(done, params.entry_rate)
        started = rng.binomial(np.full(runs, intake), params.fill_rate)
        pipeline[:, :-1] = pipeline[:, 1:]
        pipeline[:, -1] = started
        t += 1
        yield new


def project(params: WorkforceParams, runs: int = 1000, seed: int = 1) -> np.ndarray:
    """GPs at the end of each year, start_year..target_year: array (runs, years)."""
    params.check()
    rng = np.random.default_rng(seed)
    years = params.target_year - params.start_year + 1
    stock = np.tile(params.stock.astype(np.int64), (runs, 1))
    leave = params.leave_rate()
    pipeline = entrants(params, rng, runs)
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
