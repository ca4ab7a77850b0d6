"""Where inside a municipality its new capacities open: maximal covering location (HiGHS).

Seed 001 ("National fordeling af kapaciteter og styring af lukkegrænser") places new
capacities by municipality (``distribute``); seed 003 asks for free choice of doctor for
every citizen in 2030, and a citizen has free choice with at least ``min_open`` open
clinics within ``radius_km`` of home (2 within 15 km, danish-facts §2.4). This module
chooses the sites of a municipality's k new clinics so that as many of its citizens as
possible gain free choice (a maximal covering location problem, Church and ReVelle 1974,
with a coverage threshold):

    maximise   Σ_c w_c z_c
    subject to Σ_{j ∈ N(c)} y_j ≥ g_c z_c   for each cell c short of free choice,
               Σ_j y_j = k,   y_j ∈ {0, 1, …, k},   z_c ∈ {0, 1},

where c runs over the municipality's inhabited 1 km cells, w_c is the citizens in the
cell, g_c = min_open − (open clinics within reach now) the clinics it lacks, N(c) the
candidate sites within ``radius_km`` of its centre, y_j the new clinics opening at
candidate j (a town may get two) and z_c whether cell c reaches free choice. Candidates
are the population centres of a ``grid_km`` grid over the municipality's citizens; each
new capacity opens its own clinic. Cells lacking more clinics than the municipality gets are left out (they
cannot be covered). Citizens of neighbouring municipalities who gain are counted in the
result (``without_after``) but not in the objective: the capacity was given for this
municipality's need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from almen.errors import ParameterError
from almen.geo import FREE_CHOICE_KM, FREE_CHOICE_MIN_OPEN, count_within, person_cells, to_lonlat
from almen.solver import quiet_highs as _highs

__all__ = ["SiteChoice", "choose_sites", "cover_sites"]


@dataclass(frozen=True)
class SiteChoice:
    sites: pl.DataFrame  # area, site (1..k), lon, lat, covered (citizens of the area it helps)
    areas: pl.DataFrame  # level, area, new, citizens, without_before, without_after, gained


def cover_sites(
    weight: np.ndarray,
    gap: np.ndarray,
    reach: list[np.ndarray],
    k: int,
    n_candidates: int,
) -> tuple[np.ndarray, float]:
    """Solve the covering problem: ``weight`` and ``gap`` per cell, ``reach[c]`` the
    candidate indices within reach of cell c, ``k`` clinics to open among
    ``n_candidates`` (several may open at one candidate). Returns the candidate index of
    each new clinic (sorted, repeated where several open) and the covered weight."""
    import highspy

    if k <= 0 or n_candidates == 0:
        return np.zeros(0, dtype=np.int64), 0.0
    keep = [c for c in range(len(gap)) if 0 < gap[c] <= k and len(reach[c])]
    h = _highs()
    m, n = n_candidates, len(keep)
    h.addVars(m + n, np.zeros(m + n), np.r_[np.full(m, float(k)), np.ones(n)])
    h.changeColsIntegrality(
        m + n, np.arange(m + n, dtype=np.int32), np.full(m + n, highspy.HighsVarType.kInteger)
    )
    # maximise covered weight = minimise its negative; a tiny cost per site keeps ties
    # deterministic (the earlier candidate first)
    cost = np.r_[np.arange(m) * 1e-9, -weight[keep].astype(float)]
    h.changeColsCost(m + n, np.arange(m + n, dtype=np.int32), cost)
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    for i, c in enumerate(keep):
        starts.append(len(index))
        index.extend([*reach[c].tolist(), m + i])
        value.extend([1.0] * len(reach[c]) + [-float(gap[c])])
    if n:
        h.addRows(n, np.zeros(n), np.full(n, highspy.kHighsInf), len(index),
                  np.array(starts, dtype=np.int32), np.array(index, dtype=np.int32),
                  np.array(value))  # fmt: skip
    h.addRow(float(k), float(k), m, np.arange(m, dtype=np.int32), np.ones(m))
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise ParameterError(f"site choice: no solution ({h.modelStatusToString(status)})")
    col = np.asarray(h.getSolution().col_value)
    chosen = np.repeat(np.arange(m), np.round(col[:m]).astype(np.int64))
    covered = float(weight[keep][col[m:] > 0.5].sum()) if n else 0.0
    return chosen, covered


def choose_sites(
    persons: pl.DataFrame,
    open_clinics: pl.DataFrame,
    new: pl.DataFrame,
    *,
    radius_km: float = FREE_CHOICE_KM,
    min_open: int = FREE_CHOICE_MIN_OPEN,
    grid_km: float = 2.0,
) -> SiteChoice:
    """Sites for each municipality's new clinics and the free choice before and after.

    ``persons``: municipality, lon, lat (located citizens); ``open_clinics``: lon, lat
    (the clinics that count as a choice); ``new``: area (municipality), new (clinics to
    open there, from ``distribute``). Municipalities are solved one at a time against
    the clinics open now; the after figures count every new site together.
    """
    if radius_km <= 0 or min_open < 1 or grid_km <= 0:
        raise ParameterError("radius_km and grid_km must be above 0 and min_open at least 1")
    ll = persons.select("lon", "lat").to_numpy()
    cells = person_cells(ll)
    open_now = count_within(cells, open_clinics.select("lon", "lat").to_numpy(), radius_km)
    cell_xy = cells.centres
    muni = persons["municipality"].to_numpy()
    rows, site_rows = [], []
    new_xy: list[np.ndarray] = []
    for area, k in new.filter(pl.col("new") > 0).sort("area").select("area", "new").iter_rows():
        mine = muni == area
        if not mine.any():
            raise ParameterError(f"site choice: no located citizens in {area!r}")
        of_cell = cells.of_person[mine]
        uniq, weight = np.unique(of_cell, return_counts=True)
        xy = cell_xy[uniq]
        # candidates: the population centre of each grid_km square
        sq = np.floor(xy / grid_km).astype(np.int64)
        _, grp = np.unique(sq, axis=0, return_inverse=True)
        grp = grp.ravel()
        w = weight.astype(float)
        cand = np.column_stack([
            np.bincount(grp, w * xy[:, 0]) / np.bincount(grp, w),
            np.bincount(grp, w * xy[:, 1]) / np.bincount(grp, w),
        ])  # fmt: skip
        reach = [np.asarray(r, dtype=np.int64)
                 for r in cKDTree(cand).query_ball_point(xy, r=radius_km)]  # fmt: skip
        gap = np.maximum(min_open - open_now[uniq], 0)
        chosen, covered = cover_sites(weight, gap, reach, int(k), len(cand))
        new_xy.append(cand[chosen])
        lonlat = to_lonlat(cand[chosen])
        near = cKDTree(xy).query_ball_point(cand[chosen], r=radius_km) if len(chosen) else []
        for i, cells_near in enumerate(near):
            idx = np.asarray(cells_near, dtype=np.int64)
            helps = int(weight[idx][gap[idx] > 0].sum())
            site_rows.append({"area": area, "site": i + 1, "lon": float(lonlat[i, 0]),
                              "lat": float(lonlat[i, 1]), "reaches_short": helps})  # fmt: skip
        rows.append({"area": area, "new": int(k), "sites": len(chosen),
                     "covered_in_solve": int(covered)})  # fmt: skip
    added = np.vstack(new_xy) if new_xy else np.zeros((0, 2))
    after = open_now.copy()
    if len(added):
        tree = cKDTree(added)
        after += np.asarray(
            tree.query_ball_point(cell_xy, r=radius_km, return_length=True), dtype=np.int64
        )
    per_person = pl.DataFrame({
        "area": persons["municipality"],
        "before": open_now[cells.of_person] < min_open,
        "after": after[cells.of_person] < min_open,
    })  # fmt: skip
    by_area = per_person.group_by("area").agg(
        citizens=pl.len(), without_before=pl.col("before").sum(),
        without_after=pl.col("after").sum(),
    )  # fmt: skip
    solved = pl.DataFrame(rows, schema={"area": pl.Utf8, "new": pl.Int64, "sites": pl.Int64,
                                        "covered_in_solve": pl.Int64})  # fmt: skip
    areas = by_area.join(solved, on="area", how="left").with_columns(
        pl.col("new").fill_null(0), pl.col("sites").fill_null(0),
        pl.col("covered_in_solve").fill_null(0), level=pl.lit("municipality"),
    )  # fmt: skip
    national = areas.select(
        pl.lit("national").alias("level"), pl.lit("Danmark").alias("area"),
        pl.col("new").sum(), pl.col("sites").sum(), pl.col("citizens").sum(),
        pl.col("without_before").sum(), pl.col("without_after").sum(),
        pl.col("covered_in_solve").sum(),
    )  # fmt: skip
    cols = ["level", "area", "new", "sites", "citizens", "without_before", "without_after",
            "covered_in_solve"]  # fmt: skip
    out = pl.concat(
        [areas.select(cols).sort("area"), national.select(cols)], how="vertical_relaxed"
    )
    out = out.with_columns(gained=pl.col("without_before") - pl.col("without_after"))
    sites = pl.DataFrame(site_rows, schema={"area": pl.Utf8, "site": pl.Int64, "lon": pl.Float64,
                                            "lat": pl.Float64, "reaches_short": pl.Int64})  # fmt: skip
    return SiteChoice(sites=sites, areas=out)
