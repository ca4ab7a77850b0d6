"""A web app over a private copy of the tiny Denmark, with one user per role."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from almen import population, records
from almen.config import get_settings
from almen.warehouse import Warehouse
from almen.web import create_app
from almen.web.auth import add_user
from almen.web.demo import settle_demo_year

PASSWORD = "correct horse 1"


@dataclass
class Site:
    data: Path
    app: object
    clinic: str
    other_clinic: str
    other_region_clinic: str
    cluster: str
    region: str
    council: str
    patient: int  # listed with `clinic`
    other_patient: int  # listed elsewhere


def build_site(data: Path) -> Site:
    """Settle the demo year in the data directory ``data`` (a copy of a synthetic
    Denmark) and serve it, with one user per role."""
    with Warehouse.connect(data) as wh:
        settle_demo_year(wh, 2025)
        areas = population.clinic_areas(wh)
        p = wh.read_table("patient").select("patient_id", "provider_number").to_polars()
    sizes = areas.group_by("cluster").len().sort("len", "cluster", descending=True)
    cluster = sizes["cluster"][0]  # the largest cluster: several clinics
    members = areas.filter(pl.col("cluster") == cluster).sort("provider_number")
    clinic, other = members["provider_number"][0], members["provider_number"][1]
    region = members["region"][0]
    council = members["health_council"][0]
    elsewhere = areas.filter(pl.col("region") != region)["provider_number"][0]
    patient = p.filter(pl.col("provider_number") == clinic)["patient_id"][0]
    other_patient = p.filter(pl.col("provider_number") == other)["patient_id"][0]
    eng = records.connect(data)
    add_user(eng, "nat", PASSWORD, "national", None, "Nina National")
    add_user(eng, "reg", PASSWORD, "region", region)
    add_user(eng, "klynge", PASSWORD, "cluster", cluster)
    add_user(eng, "klinik", PASSWORD, "clinic", clinic)
    app = create_app(get_settings(os.environ, data=data))
    return Site(data, app, clinic, other, elsewhere, cluster, region, council, patient,
                other_patient)  # fmt: skip


def role_pages(site: Site) -> dict[str, list[str]]:
    """The pages each role's user sees (checked for Danish and by axe-core)."""
    return {
        "nat": ["/national", f"/region/{site.region}", f"/council/{site.council}",
                f"/cluster/{site.cluster}", f"/clinic/{site.clinic}", "/fees", "/admin/users"],
        "reg": [f"/region/{site.region}"],
        "klynge": [f"/cluster/{site.cluster}"],
        "klinik": [f"/clinic/{site.clinic}", f"/clinic/{site.clinic}/patient/{site.patient}",
                   f"/clinic/{site.clinic}/s96", f"/clinic/{site.clinic}/audit",
                   f"/clinic/{site.clinic}/vejviser"],
    }  # fmt: skip


@pytest.fixture(scope="session")
def site(tiny_denmark: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    data = tmp_path_factory.mktemp("web") / "data"
    shutil.copytree(tiny_denmark, data)
    return build_site(data)


class Client:
    def __init__(self, site: Site, user: str | None) -> None:
        self.http = TestClient(site.app)  # type: ignore[arg-type]
        self.csrf = ""
        if user is not None:
            r = self.http.post("/api/login", json={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.csrf = r.json()["csrf"]


@pytest.fixture
def as_user(site: Site):  # type: ignore[no-untyped-def]
    return lambda user: Client(site, user)
