"""An empty warehouse with the shipped reference data (``almen init``).

Municipalities with their regions and health councils, the population by municipality ×
age × sex (derived from the shipped public figures, basis 'derived', until an official
extract is ingested), and the shipped fee schedules; every table a real user fills
(clinics, doctors, patients and their listings, diagnoses, drugs, claims, out-of-hours
contacts) is created empty, as are the reject table and the ingest log. The code lists
(ICPC-2 groups, ATC groups, return rules, triage rules) ship with almen and are read from
``almen.reference``. No synthetic person is made.
"""

from __future__ import annotations

import polars as pl

from almen import claim_index, reference
from almen.warehouse import Warehouse

__all__ = ["EMPTY_TABLES", "initialise", "is_initialised"]

EMPTY_TABLES = (
    "clinic",
    "doctor",
    "patient",
    "listing",
    "condition",
    "medication",
    "claim",
    "ooh_contact",
    "reject",
    "ingest_log",
)


def is_initialised(wh: Warehouse) -> bool:
    return wh.has_table("municipality") and wh.has_table("fee_schedule")


def initialise(wh: Warehouse, years: list[int] | None = None) -> dict[str, int]:
    """Write the reference tables and create the empty ones; rows by table.

    ``years``: population years to derive (default: every year a shipped fee schedule
    covers). Tables already in the warehouse with rows are left as they are.
    """
    years = years or reference.fee_schedule_years()
    munis = reference.load_municipalities().select(
        "code", "name", "region", "region_from_2027", "health_council", "area_km2", "lat", "lon"
    )
    population = pl.concat([reference.derive_population(y) for y in years])
    tables = {
        "municipality": munis.to_arrow(),
        "population": population.to_arrow(),
        "fee_schedule": reference.load_fee_schedule().to_arrow(),
    }
    counts: dict[str, int] = {}
    with wh.transaction():
        for name, data in tables.items():
            if wh.has_table(name) and wh.row_count(name):
                counts[name] = wh.row_count(name)
                continue
            wh.write_table(name, data)
            counts[name] = data.num_rows
        for name in EMPTY_TABLES:
            if not wh.has_table(name):
                wh.create_empty(name)
            counts[name] = wh.row_count(name)
        claim_index.build(wh)
    return counts
