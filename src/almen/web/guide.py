"""The guide for new GPs (seed 004) as one clinic reads it: the bodies of the clinic's
region, and each concept almen computes linked to the clinic's own page that computes it.
The "Vejviser" page and ``/api/clinics/{provider_number}/guide`` both read it."""

from __future__ import annotations

from functools import cache
from typing import Any

import polars as pl
from fastapi import HTTPException

from almen import guide as vejviser
from almen.web.app import Ctx, rows

__all__ = ["clinic_guide", "concept_pages", "guide_file"]


@cache
def guide_file() -> vejviser.Guide:
    """The shipped guide, read once."""
    return vejviser.load_guide()


def concept_pages(provider_number: str, cluster: str, role: str) -> dict[str, str]:
    """Each concept of the guide → the page that computes it for this clinic: § 96 → its
    § 96 statement, Ydelsesoverblik → its service overview, afregning → its statements,
    lokale aftaler → the local-agreement lines of its statements, kvalitetsklynge → its
    indicators beside the cluster's (the clinic's own user; the clinic page shows them
    only to it) or the cluster's page (a region or the country, who may open it)."""
    home = f"/clinic/{provider_number}"
    return {
        "s96": f"{home}/s96",
        "service_overview": f"{home}#overview",
        "statements": f"{home}#statements",
        "local_agreements": f"{home}#local",
        "quality_cluster": f"{home}#quality" if role == "clinic" else f"/cluster/{cluster}",
    }


def clinic_guide(
    c: Ctx, provider_number: str, topic: str | None, lang: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """The clinic (region, municipality, cluster), the guide's rows for its region with
    the pages of their concepts (``pages``, space-separated), and concept → page. For
    whoever may see the clinic's money (the pages linked are those)."""
    u = c.need_clinic_money(provider_number)
    s = c.services
    area = s.areas().filter(pl.col("provider_number") == provider_number)
    if area.is_empty():
        raise HTTPException(404, f"no clinic {provider_number}")
    a = area.row(0, named=True)
    names = dict(s.municipalities().select("code", "name").iter_rows())
    clinic = {"provider_number": provider_number, "region": a["region"],
              "municipality": names.get(a["municipality"], a["municipality"]),
              "cluster": a["cluster"]}  # fmt: skip
    pages = concept_pages(provider_number, a["cluster"], u.role)
    table = vejviser.guide(guide_file(), region=a["region"], topic=topic, lang=lang)
    out = rows(table)
    for r in out:
        r["pages"] = " ".join(pages[k] for k in r["concepts"].split(",") if k)
    return clinic, out, pages
