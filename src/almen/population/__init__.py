"""Population: case finding for the special efforts (seed 002 §2, seed 003).

Plain functions from warehouse tables and the case definitions (data) to tables.
"""

from __future__ import annotations

from almen.population.case_finding import (
    DEFINITIONS,
    LEVELS,
    aggregate,
    apply_definitions,
    clinic_areas,
    clinic_counts,
    group_shares,
    load_definitions,
    patient_features,
    publishable,
    published,
    share_warnings,
    warehouse_features,
)
from almen.population.definitions import Definitions

__all__ = [
    "DEFINITIONS",
    "LEVELS",
    "Definitions",
    "aggregate",
    "apply_definitions",
    "clinic_areas",
    "clinic_counts",
    "group_shares",
    "load_definitions",
    "patient_features",
    "publishable",
    "published",
    "share_warnings",
    "warehouse_features",
]
