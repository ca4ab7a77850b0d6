"""Coverage: GP capacity against need-weighted population, by area and within reach.

Seed 002 §4 (lægedækning) and seed 001 ("National fordeling af kapaciteter"): where is
capacity short against need? Per municipality and health council: FTE of the clinics in
the area, need-weighted residents, FTE per 10,000 need-weighted residents (against the
country), listed patients per FTE, and the share of clinics closed to new patients.

Across municipal borders: the two-step floating catchment area (2SFCA, Luo & Wang 2003):
each clinic's ratio R_j = FTE_j / Σ need of residents within ``radius_km``; each
resident's access A_i = Σ R_j over clinics within reach; an area's access is its
residents' mean A, shown per 10,000 against the country's.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

from almen.geo import person_cells, to_km

__all__ = ["coverage", "floating_catchment"]


def coverage(
    residents: pl.DataFrame, clinics: pl.DataFrame, areas: pl.DataFrame, level: str
) -> pl.DataFrame:
    """Capacity against need by ``level`` (municipality or health_council), most short first.

    ``residents``: municipality, need (one row per person, from ``need_index``);
    ``clinics``: provider_number, municipality, fte, listed, closed_to_new;
    ``areas``: municipality, health_council.
    """
    r = residents.join(areas, on="municipality", how="left")
    need = r.group_by(level).agg(residents=pl.len(), need_weighted=pl.col("need").sum())
    c = clinics.join(areas, on="municipality", how="left")
    cap = c.group_by(level).agg(
        clinics=pl.len(),
        fte=pl.col("fte").sum(),
        listed=pl.col("listed").sum(),
        closed=pl.col("closed_to_new").sum(),
    )
    out = need.join(cap, on=level, how="full", coalesce=True).fill_null(0)
    total_fte = float(out["fte"].sum())
    total_need = float(out["need_weighted"].sum())
    national = total_fte / total_need * 10_000 if total_need else 0.0
    return (
        out.with_columns(
            fte_per_10000_need=pl.col("fte") / pl.col("need_weighted") * 10_000,
            listed_per_fte=pl.col("listed") / pl.col("fte"),
            share_closed=pl.col("closed") / pl.col("clinics"),
        )
        .with_columns(relative_capacity=pl.col("fte_per_10000_need") / national)
        .sort("relative_capacity")
        .rename({level: "area"})
    )


def floating_catchment(
    residents: pl.DataFrame, clinics: pl.DataFrame, radius_km: float = 15.0
) -> np.ndarray:
    """2SFCA access per resident (FTE per unit of need within reach), in residents' order.

    ``residents``: lon, lat, need; ``clinics``: lon, lat, fte. People are binned to 1 km
    cells (need summed per cell) so that millions of people are fast.
    """
    cells = person_cells(residents.select("lon", "lat").to_numpy())
    cell_need = np.bincount(
        cells.of_person, weights=residents["need"].to_numpy(), minlength=cells.n
    )
    cxy = to_km(clinics["lon"].to_numpy(), clinics["lat"].to_numpy())
    # step 1: each clinic's FTE over the need within reach
    reach = cKDTree(cells.centres).query_ball_point(cxy, r=radius_km)
    demand = np.array([cell_need[idx].sum() for idx in reach])
    ratio = np.where(demand > 0, clinics["fte"].to_numpy() / np.maximum(demand, 1e-12), 0.0)
    # step 2: each cell sums the ratios of the clinics within reach
    access = np.zeros(cells.n)
    for j, idx in enumerate(reach):
        access[idx] += ratio[j]
    return access[cells.of_person]
