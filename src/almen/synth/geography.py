"""Places inside municipalities: towns, residents and distances."""

from __future__ import annotations

import math

import numpy as np
import shapely

from almen.geo import KM_PER_DEG_LAT, to_km

__all__ = ["place_residents", "sample_uniform", "to_km"]

RURAL_SHARE = 0.15  # assumption: share of residents spread evenly over the municipality


def sample_uniform(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points (lon, lat) uniform inside ``geom`` by rejection sampling."""
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        need = max(64, int((n - len(out)) * 3))
        x = rng.uniform(minx, maxx, need)
        y = rng.uniform(miny, maxy, need)
        ok = shapely.contains_xy(geom, x, y)
        out = np.vstack([out, np.column_stack([x[ok], y[ok]])])
    return out[:n]


def place_residents(
    geom: shapely.Geometry,
    n: int,
    full_population: int,
    rng_towns: np.random.Generator,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` residents (lon, lat) inside ``geom``, clustered in towns.

    Towns: one per about 5,000 residents at full scale (1-40), placed uniformly inside the
    municipality, sized by Zipf's law (weight 1/rank). Residents fall around a town with a
    spread that grows with its size; 15 % live spread over the whole area. Points that fall
    outside the boundary (sea, a neighbour) are drawn again. ``rng_towns`` only places the
    towns, so the map is the same at every scale.
    """
    if n == 0:
        return np.empty((0, 2))
    shapely.prepare(geom)
    k = int(np.clip(round(full_population / 5_000), 1, 40))
    towns = sample_uniform(geom, k, rng_towns)
    weights = 1.0 / np.arange(1, k + 1)
    weights /= weights.sum()
    town_pop = weights * full_population
    spread_km = 0.5 + 0.012 * np.sqrt(town_pop)  # 5,000 → 1.3 km; 600,000 → 9.8 km
    lat0 = float(towns[:, 1].mean())
    deg_x = 1.0 / (KM_PER_DEG_LAT * math.cos(math.radians(lat0)))
    deg_y = 1.0 / KM_PER_DEG_LAT

    out = np.empty((n, 2))
    rural = rng.random(n) < RURAL_SHARE
    n_rural = int(rural.sum())
    out[rural] = sample_uniform(geom, n_rural, rng) if n_rural else np.empty((0, 2))
    idx = np.flatnonzero(~rural)
    town = rng.choice(k, size=len(idx), p=weights)
    todo = idx
    todo_town = town
    for _ in range(8):
        if len(todo) == 0:
            break
        s = spread_km[todo_town]
        x = towns[todo_town, 0] + rng.normal(0.0, 1.0, len(todo)) * s * deg_x
        y = towns[todo_town, 1] + rng.normal(0.0, 1.0, len(todo)) * s * deg_y
        ok = shapely.contains_xy(geom, x, y)
        out[todo[ok], 0] = x[ok]
        out[todo[ok], 1] = y[ok]
        todo, todo_town = todo[~ok], todo_town[~ok]
    if len(todo):
        out[todo] = towns[todo_town]
    return out
