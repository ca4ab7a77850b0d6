"""The tiny Denmark served as tests/web/conftest.py does, with small cells planted where
the attacks need them (the synthetic data alone has few published zeros and few
clinics with a count of 1-4 beside published neighbours)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.web.conftest import Site, build_site

ID_CODE = "P85"  # intellectual disability (reference/data condition codes)


def plant(data: Path) -> tuple[str, str]:
    """In the largest cluster (``build_site``'s), the first clinic gets exactly two
    patients with an intellectual disability, and the second no preventive home visit
    (0121) in the year: a count of 2, and an indicator met by 0 of its frail elderly."""
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    try:
        cluster = con.execute(
            "SELECT cluster FROM clinic GROUP BY cluster ORDER BY count(*) DESC, cluster DESC LIMIT 1"
        ).fetchone()[0]  # type: ignore[index]
        first, second = [r[0] for r in con.execute(
            "SELECT provider_number FROM clinic WHERE cluster = ? ORDER BY provider_number LIMIT 2",
            [cluster]).fetchall()]  # fmt: skip
        mine = "SELECT patient_id FROM patient WHERE provider_number = ?"
        con.execute(f"DELETE FROM condition WHERE code = ? AND patient_id IN ({mine})",
                    [ID_CODE, first])  # fmt: skip
        con.execute(
            f"INSERT INTO condition SELECT patient_id, ?, DATE '2020-01-01', 'gp', NULL "
            f"FROM ({mine} ORDER BY patient_id LIMIT 2)", [ID_CODE, first])  # fmt: skip
        con.execute(f"DELETE FROM claim WHERE service_code = '0121' AND patient_id IN ({mine})",
                    [second])  # fmt: skip
    finally:
        con.close()
    return first, second


@pytest.fixture(scope="session")
def planted(tiny_denmark: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    data = tmp_path_factory.mktemp("planted") / "data"
    shutil.copytree(tiny_denmark, data)
    plant(data)
    return build_site(data)
