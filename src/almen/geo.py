"""Distances for the whole country: planar km and clinics within reach of people.

Shared by synthetic Denmark (calibration) and the capacity domain (free choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "FREE_CHOICE_KM",
    "FREE_CHOICE_MIN_OPEN",
    "KM_PER_DEG_LAT",
    "Cells",
    "count_within",
    "open_within",
    "person_cells",
    "to_km",
    "to_lonlat",
]

KM_PER_DEG_LAT = 111.32
_COS_REF = math.cos(math.radians(56.0))
FREE_CHOICE_KM = 15.0  # free choice: at least 2 open practices within 15 km [danish-facts §2.4]
FREE_CHOICE_MIN_OPEN = 2


def to_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Planar x, y in km (equirectangular at 56° N; a few % error across Denmark)."""
    x = (np.asarray(lon) - 10.5) * KM_PER_DEG_LAT * _COS_REF
    y = (np.asarray(lat) - 56.0) * KM_PER_DEG_LAT
    return np.column_stack([x, y])


def to_lonlat(xy: np.ndarray) -> np.ndarray:
    """The inverse of ``to_km``: planar km rows (x, y) back to lon, lat rows."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    lon = xy[:, 0] / (KM_PER_DEG_LAT * _COS_REF) + 10.5
    lat = xy[:, 1] / KM_PER_DEG_LAT + 56.0
    return np.column_stack([lon, lat])


@dataclass(frozen=True)
class Cells:
    """People binned to 1 km cells: ``centres`` (km, one row per occupied cell) and
    ``of_person`` (each person's cell). The centre is within 0.71 km of everyone in it,
    which makes counts within reach fast for millions of people."""

    centres: np.ndarray
    of_person: np.ndarray

    @property
    def n(self) -> int:
        return len(self.centres)


def person_cells(person_lonlat: np.ndarray) -> Cells:
    """Bin people (lon, lat rows) to 1 km cells."""
    if len(person_lonlat) == 0:
        return Cells(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    xy = to_km(person_lonlat[:, 0], person_lonlat[:, 1])
    cell = np.floor(xy).astype(np.int64)
    key = cell[:, 0] * 1_000_003 + cell[:, 1]
    uniq, inverse = np.unique(key, return_inverse=True)
    cx = np.floor_divide(uniq + 500_000, 1_000_003)
    cy = uniq - cx * 1_000_003
    return Cells(np.column_stack([cx + 0.5, cy + 0.5]), inverse.astype(np.int64))


def count_within(
    cells: Cells, open_lonlat: np.ndarray, radius_km: float = FREE_CHOICE_KM
) -> np.ndarray:
    """Per cell: how many of the places (lon, lat rows) lie within ``radius_km``."""
    if cells.n == 0 or len(open_lonlat) == 0:
        return np.zeros(cells.n, dtype=np.int64)
    tree = cKDTree(to_km(open_lonlat[:, 0], open_lonlat[:, 1]))
    n_open = tree.query_ball_point(cells.centres, r=radius_km, return_length=True, workers=-1)
    return np.asarray(n_open, dtype=np.int64)


def open_within(
    person_lonlat: np.ndarray, open_lonlat: np.ndarray, radius_km: float = FREE_CHOICE_KM
) -> np.ndarray:
    """Per person: how many open clinics lie within ``radius_km`` (counted at the centre
    of the person's 1 km cell)."""
    cells = person_cells(person_lonlat)
    return count_within(cells, open_lonlat, radius_km)[cells.of_person]
