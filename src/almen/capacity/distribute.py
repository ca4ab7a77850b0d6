"""The national distribution of new capacities, solved with HiGHS.

Seed 001 ("National fordeling af kapaciteter og styring af lukkegrænser"): new provider
numbers go where citizens' treatment need is least covered. For municipalities i with
need-weighted residents D_i and current capacity F_i (FTE), place N new capacities x_i
(integers, 0 ≤ x_i ≤ u_i) to minimise the unmet need-weighted demand

    minimise Σ_i s_i   subject to   s_i ≥ D_i − L × (F_i + x_i),  s_i ≥ 0,  Σ_i x_i = N,
    and, optionally, Σ_{i in h} x_i ≥ m_h for each health council h,

where L is the number of need-weighted patients one capacity serves: the closing limit
under the *voluntary* policy (no list forced above it), or the limit raised by the regions
under the *forced* policy (L × (1 + raise)). A mixed-integer programme; HiGHS solves it
(``objective="total"``).

That objective counts every unmet patient the same wherever he lives, so every
municipality short of at least L patients is worth the same to it and the solver breaks
the tie by row order: at scale 1 Hjørring, 39 % short, got none of 300 new capacities
while Silkeborg, 1.7 % short, got one. The default objective is **fair**
(``objective="fair"``): the worst-covered first. The relative shortfall of area i is
r_i(x) = max(0, D_i − L (F_i + x)) / D_i; each new capacity in turn goes to the area
with the largest r_i (ties: the larger unmet demand D_i − L (F_i + x), then the area
code), within its bounds, after each area's minimum and each council's minimum (given
to its worst-covered areas the same way). Since a capacity lowers only its own area's
shortfall, this greedy order gives the lexicographic min-max allocation: no unit could
move from an area that got it to another without leaving that other area, or this one
before its last unit, worse off than the worst-off area now (docs/capacity.md).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import polars as pl

from almen.errors import ParameterError
from almen.solver import quiet_highs as _highs

__all__ = ["Distribution", "distribute", "side_by_side"]


@dataclass(frozen=True)
class Distribution:
    allocation: pl.DataFrame  # area, need, capacity, new, served, unmet, list_per_capacity,
    # shortfall_share (unmet / need after)
    unmet_before: float
    unmet_after: float
    policy: str


def distribute(
    areas: pl.DataFrame,
    new: int,
    *,
    limit: float = 1600.0,
    policy: str = "voluntary",
    raise_share: float = 0.10,
    max_new: int | None = None,
    min_per_council: dict[str, int] | None = None,
    objective: str = "fair",
) -> Distribution:
    """Place ``new`` capacities. ``areas``: area, need (need-weighted residents),
    capacity (FTE now), health_council when ``min_per_council`` is given, and optionally
    min_new and max_new (per-area bounds on the new capacities; ``max_new`` caps every
    area).

    An infeasible request (more minimum places than ``new``, or limits that cannot hold
    ``new``) is a ``ParameterError`` saying which.
    """
    import highspy

    if new < 0:
        raise ParameterError(f"the number of new capacities must not be negative, got {new}")
    if policy not in ("voluntary", "forced"):
        raise ParameterError(f"policy must be voluntary or forced, not {policy!r}")
    if objective not in ("fair", "total"):
        raise ParameterError(f"objective must be fair or total, not {objective!r}")
    per_cap = limit * (1.0 + raise_share) if policy == "forced" else limit
    n = len(areas)
    need = areas["need"].to_numpy().astype(float)
    cap = areas["capacity"].to_numpy().astype(float)
    cap_all = float(new if max_new is None else max_new)
    upper = np.full(n, cap_all)
    lower = np.zeros(n)
    if "max_new" in areas.columns:
        upper = np.minimum(upper, areas["max_new"].fill_null(cap_all).to_numpy().astype(float))
    if "min_new" in areas.columns:
        lower = areas["min_new"].fill_null(0).to_numpy().astype(float)
    names = areas["area"].to_list()
    for bad in np.flatnonzero(lower > upper):
        raise ParameterError(
            f"infeasible: {names[bad]} must take at least {lower[bad]:g} new capacities "
            f"but at most {upper[bad]:g}"
        )
    if upper.sum() < new:
        raise ParameterError(
            f"infeasible: the {n} areas can take at most {upper.sum():g} new capacities, "
            f"fewer than {new}"
        )
    if lower.sum() > new:
        raise ParameterError(
            f"infeasible: the minimums per area add up to {lower.sum():g}, "
            f"more than the {new} new capacities"
        )
    mins = min_per_council or {}
    if sum(mins.values()) > new:
        raise ParameterError(
            f"infeasible: the minimums per health council add up to {sum(mins.values())}, "
            f"more than the {new} new capacities"
        )

    if objective == "fair":
        councils = areas["health_council"].to_list() if mins else []
        for council in mins:
            if council not in councils:
                raise ParameterError(f"unknown health council {council!r}")
        x = _fair(need, cap, per_cap, lower, upper, names, new, councils, mins)
        return _result(areas, need, cap, x, per_cap, policy)
    h = _highs()
    inf = highspy.kHighsInf
    # variables: x_0..x_{n-1} (integer), s_0..s_{n-1} (continuous)
    for i in range(n):
        h.addVar(float(lower[i]), float(upper[i]))
    for _ in range(n):
        h.addVar(0.0, inf)
    h.changeColsIntegrality(
        n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger)
    )
    h.changeColsCost(2 * n, np.arange(2 * n, dtype=np.int32), np.r_[np.zeros(n), np.ones(n)])
    # s_i + per_cap x_i ≥ need_i − per_cap cap_i
    for i in range(n):
        h.addRow(
            need[i] - per_cap * cap[i], inf, 2, np.array([i, n + i], dtype=np.int32),
            np.array([per_cap, 1.0]),
        )  # fmt: skip
    h.addRow(float(new), float(new), n, np.arange(n, dtype=np.int32), np.ones(n))
    if mins:
        councils = areas["health_council"].to_list()
        for council, m in mins.items():
            idx = np.array([i for i, c in enumerate(councils) if c == council], dtype=np.int32)
            if len(idx) == 0:
                raise ParameterError(f"unknown health council {council!r}")
            if upper[idx].sum() < m:
                raise ParameterError(f"infeasible: {council} cannot take {m} new capacities")
            h.addRow(float(m), inf, len(idx), idx, np.ones(len(idx)))
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise ParameterError(f"no solution: {h.modelStatusToString(status)}")
    x = np.round(np.asarray(h.getSolution().col_value[:n])).astype(np.int64)
    return _result(areas, need, cap, x, per_cap, policy)


def _fair(
    need: np.ndarray, cap: np.ndarray, per_cap: float, lower: np.ndarray, upper: np.ndarray,
    names: list[str], new: int, councils: list[str], mins: dict[str, int],
) -> np.ndarray:  # fmt: skip
    """The worst-covered first: each unit to the area with the largest relative
    shortfall (then the larger unmet demand, then the area code), within ``upper``;
    ``lower`` first, then each council's minimum among its own areas, then the rest."""
    x = lower.astype(np.int64).copy()

    def key(i: int) -> tuple[float, float, str]:
        gap = need[i] - per_cap * (cap[i] + x[i])
        rel = max(gap, 0.0) / need[i] if need[i] > 0 else 0.0
        return (-rel, -gap, names[i])  # heapq pops the smallest: the worst off

    def give(pool: list[int], units: int) -> None:
        heap = [(*key(i), i) for i in pool if x[i] < upper[i]]
        heapq.heapify(heap)
        for _ in range(units):
            if not heap:
                raise ParameterError("infeasible: the areas cannot take the new capacities")
            *_k, i = heapq.heappop(heap)
            x[i] += 1
            if x[i] < upper[i]:
                heapq.heappush(heap, (*key(i), i))

    for council, m in mins.items():
        pool = [i for i, c in enumerate(councils) if c == council]
        if upper[pool].sum() < m:
            raise ParameterError(f"infeasible: {council} cannot take {m} new capacities")
        give(pool, max(0, m - int(x[pool].sum())))
    give(list(range(len(need))), new - int(x.sum()))
    return x


def _result(
    areas: pl.DataFrame, need: np.ndarray, cap: np.ndarray, x: np.ndarray, per_cap: float,
    policy: str,
) -> Distribution:  # fmt: skip
    total = cap + x
    served = np.minimum(need, per_cap * total)
    unmet = need - served
    alloc = areas.select("area").with_columns(
        need=pl.Series(need),
        capacity=pl.Series(cap),
        new=pl.Series(x),
        served=pl.Series(served),
        unmet=pl.Series(unmet),
        list_per_capacity=pl.Series(np.where(total > 0, served / np.maximum(total, 1e-12), 0.0)),
    )
    before = float(np.maximum(need - per_cap * cap, 0.0).sum())
    rel = np.where(need > 0, unmet / np.maximum(need, 1e-12), 0.0)
    alloc = alloc.with_columns(shortfall_share=pl.Series(rel))
    return Distribution(alloc, before, float(unmet.sum()), policy)


def side_by_side(results: dict[str, Distribution]) -> pl.DataFrame:
    """The voluntary and forced allocations in one table: area, need, capacity,
    voluntary, list_voluntary, forced, list_forced (and served, unmet of voluntary)."""
    v = results["voluntary"].allocation.rename(
        {"new": "voluntary", "list_per_capacity": "list_voluntary"}
    )
    f = results["forced"].allocation.select(
        "area", forced=pl.col("new"), list_forced=pl.col("list_per_capacity")
    )
    return v.join(f, on="area")
