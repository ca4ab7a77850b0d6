"""Distances for the whole country: planar km and clinics within reach of people.

Shared by synthetic Denmark (calibration) and the capacity domain (free choice).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["FREE_CHOICE_KM", "FREE_CHOICE_MIN_OPEN", "KM_PER_DEG_LAT", "open_within", "to_km"]

KM_PER_DEG_LAT = 111.32
_COS_REF = math.cos(math.radians(56.0))
FREE_CHOICE_KM = 15.0  # free choice: at least 2 open practices within 15 km [danish-facts §2.4]
FREE_CHOICE_MIN_OPEN = 2


def to_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Planar x, y in km (equirectangular at 56° N; a few % error across Denmark)."""
    x = (np.asarray(lon) - 10.5) * KM_PER_DEG_LAT * _COS_REF
    y = (np.asarray(lat) - 56.0) * KM_PER_DEG_LAT
    return np.column_stack([x, y])


def open_within(
    person_lonlat: np.ndarray, open_lonlat: np.ndarray, radius_km: float = FREE_CHOICE_KM
) -> np.ndarray:
    """Per person: how many open clinics lie within ``radius_km``.

    People are binned to 1 km cells and the count is taken at the cell centre, which is
    within 0.71 km of everyone in the cell (fast for millions of people).
    """
    if len(person_lonlat) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(open_lonlat) == 0:
        return np.zeros(len(person_lonlat), dtype=np.int64)
    xy = to_km(person_lonlat[:, 0], person_lonlat[:, 1])
    cell = np.floor(xy).astype(np.int64)
    key = cell[:, 0] * 1_000_003 + cell[:, 1]
    uniq, inverse = np.unique(key, return_inverse=True)
    cx = np.floor_divide(uniq + 500_000, 1_000_003)
    cy = uniq - cx * 1_000_003
    centres = np.column_stack([cx + 0.5, cy + 0.5])
    tree = cKDTree(to_km(open_lonlat[:, 0], open_lonlat[:, 1]))
    n_open = tree.query_ball_point(centres, r=radius_km, return_length=True, workers=-1)
    return np.asarray(n_open, dtype=np.int64)[inverse]
