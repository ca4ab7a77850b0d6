"""Capacity: GP workforce, treatment need, coverage and the distribution of capacity.

Plain functions from tables and parameters to tables (seed 001 "5.000 praktiserende
læger", "National fordeling af kapaciteter"; seed 002 §4). This session built the
workforce projection and the need index; need, coverage, free choice, distribution and closing limits come
next (issue 5).
"""

from __future__ import annotations

from almen.capacity.choice import free_choice
from almen.capacity.coverage import coverage, floating_catchment
from almen.capacity.distribute import Distribution, distribute
from almen.capacity.limits import LimitParams, closing_limits
from almen.capacity.need import need_by_area, need_index
from almen.capacity.workforce import WorkforceParams, minimum_intake, project, reach_probability

__all__ = [
    "Distribution",
    "LimitParams",
    "WorkforceParams",
    "closing_limits",
    "coverage",
    "distribute",
    "floating_catchment",
    "free_choice",
    "minimum_intake",
    "need_by_area",
    "need_index",
    "project",
    "reach_probability",
]
