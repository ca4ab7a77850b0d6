"""Demo set-up for `almen demo`: the year's settlement written to the warehouse, and one
user per role with a fresh random password (demo users are made here only)."""

from __future__ import annotations

import secrets

import polars as pl
from sqlalchemy.engine import Engine

from almen import population
from almen.warehouse import Warehouse
from almen.web.auth import add_user

__all__ = ["make_demo_users", "settle_demo_year"]


def settle_demo_year(wh: Warehouse, year: int) -> bool:
    """Write the year's monthly statements and returned claims if they are missing."""
    import datetime as dt

    from almen.settlement import readers

    if wh.has_table("settlement"):
        s = wh.read_table("settlement")
        if s.filter(s.month.year() == year).count().execute() > 0:
            return False
    months = list(range(1, 13))
    run_date = dt.date(year + 1, 1, 31)
    stmt, returned, flagged = readers.settle_year(wh, year, months, run_date)
    readers.write_settlement(wh, year, months, stmt, returned, flagged, as_of=run_date)
    return True


def make_demo_users(wh: Warehouse, records: Engine) -> list[tuple[str, str, str, str | None]]:
    """national, region, cluster and clinic users: the region of the first clinic by
    provider number, its cluster, and that clinic (so the four scopes nest)."""
    areas = population.clinic_areas(wh).sort("provider_number")
    clinic = areas.filter(pl.col("region") == areas["region"][0]).row(0, named=True)
    out = []
    for user, role, scope, name in (
        ("national", "national", None, "Demo: national"),
        ("region", "region", clinic["region"], "Demo: region"),
        ("cluster", "cluster", clinic["cluster"], "Demo: klynge"),
        ("clinic", "clinic", clinic["provider_number"], "Demo: klinik"),
    ):
        password = secrets.token_urlsafe(9)
        add_user(records, user, password, role, scope, name)
        out.append((user, password, role, scope))
    return out
