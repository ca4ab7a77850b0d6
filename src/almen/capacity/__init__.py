"""Capacity: GP workforce, treatment need, coverage and the distribution of capacity.

Plain functions from tables and parameters to tables (seed 001 "5.000 praktiserende
læger", "National fordeling af kapaciteter"; seed 002 §4). Modules: ``need``,
``coverage``, ``choice``, ``limits``, ``distribute``, ``workforce``, and ``scenario``
which runs them year by year (docs/capacity.md).
"""

from __future__ import annotations

from almen.capacity.choice import free_choice, free_choice_sensitivity
from almen.capacity.coverage import coverage, floating_catchment
from almen.capacity.distribute import Distribution, distribute, side_by_side
from almen.capacity.limits import LimitParams, closing_limits
from almen.capacity.need import need_by_area, need_index
from almen.capacity.scenario import (
    Country,
    Replicated,
    ScenarioParams,
    ScenarioResult,
    replicate,
    run_scenario,
    summarise,
)
from almen.capacity.scenario_file import load_capacity_scenario
from almen.capacity.workforce import (
    WorkforceParams,
    minimum_intake,
    project,
    reach_probability,
    yearly_table,
)

__all__ = [
    "Country",
    "Distribution",
    "LimitParams",
    "Replicated",
    "ScenarioParams",
    "ScenarioResult",
    "WorkforceParams",
    "closing_limits",
    "coverage",
    "distribute",
    "floating_catchment",
    "free_choice",
    "free_choice_sensitivity",
    "load_capacity_scenario",
    "minimum_intake",
    "need_by_area",
    "need_index",
    "project",
    "reach_probability",
    "replicate",
    "run_scenario",
    "side_by_side",
    "summarise",
    "yearly_table",
]
