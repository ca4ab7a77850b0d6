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
    load_definitions,
    patient_features,
    polypharmacy_share_check,
    publishable,
    published,
    warehouse_features,
)

__all__ = [
    "DEFINITIONS",
    "LEVELS",
    "aggregate",
    "apply_definitions",
    "clinic_areas",
    "clinic_counts",
    "load_definitions",
    "patient_features",
    "polypharmacy_share_check",
    "publishable",
    "published",
    "warehouse_features",
]
