"""Treatment need (seed 001 "National fordeling af kapaciteter"; danish-facts §2.7)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from almen import reference
from almen.capacity import need_by_area, need_index
from almen.warehouse import Warehouse
from tests.settlement_world import D, World


def _need(path: Path) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    with Warehouse.connect(path) as wh:
        return need_index(
            wh.read_table("patient"),
            wh.read_table("condition"),
            wh.read_table("claim"),
            reference.load_condition_codes(),
            year=2025,
        )


def test_need_index_by_hand(tmp_path: Path) -> None:
    """Two women born 1985 with 2 and 4 contacts, two born 1955 with 0 and 2: the country
    has 8 / 4 = 2 contacts a person; the age-sex weights are 3 / 2 = 1.5 and 1 / 2 = 0.5,
    nobody has a chronic condition (m = 1), so need is 1.5 and 0.5 (mean 1.0)."""
    w = World(clinics=[("100001", "0101")])
    for pid, born in ((1, 1985), (2, 1985), (3, 1955), (4, 1955)):
        w.patient(pid, "100001", birth_year=born)
    for pid, n in ((1, 2), (2, 4), (4, 2)):
        for i in range(n):
            w.claim("100001", pid, "0101", D(2025, 3, 1 + i))
    path = w.write(tmp_path / "w")
    with Warehouse.connect(path) as wh:
        wh.write_table(
            "condition",
            pa.table(
                {
                    "patient_id": pa.array([], pa.int64()),
                    "code": pa.array([], pa.string()),
                    "onset_date": pa.array([], pa.date32()),
                    "diagnosed_by": pa.array([], pa.string()),
                }
            ),
        )
    persons, weights = _need(path)
    need = dict(zip(persons["patient_id"], persons["need"], strict=True))
    assert need[1] == pytest.approx(1.5) and need[2] == pytest.approx(1.5)
    assert need[3] == pytest.approx(0.5) and need[4] == pytest.approx(0.5)
    assert weights["morbidity"]["m"].to_list() == [pytest.approx(1.0)]


def test_need_on_synthetic_denmark_has_mean_one_and_reproduces_contact_rates(
    tiny_denmark: Path,
) -> None:
    persons, weights = _need(tiny_denmark)
    assert persons["need"].mean() == pytest.approx(1.0)
    national = persons["contacts"].mean()
    age_sex = weights["age_sex"]
    # the age-sex part reproduces the contact rates it was estimated from
    for r in age_sex.iter_rows(named=True):
        assert r["w"] * national * r["persons"] == pytest.approx(r["contacts"])
    # more chronic conditions, more need
    m = weights["morbidity"]["m"].to_list()
    assert m == sorted(m)
    by_muni = need_by_area(persons, "municipality")
    assert (by_muni["need_weighted"].sum() / by_muni["persons"].sum()) == pytest.approx(
        1.0, abs=0.01
    )


def test_need_command_by_health_council(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "capacity", "need", "--by", "health_council")
    assert result.exit_code == 0, result.output
    assert "morbidity factors" in result.stdout
    bad = call_cli("--data", str(tiny_denmark), "capacity", "need", "--by", "street")
    assert bad.exit_code == 2
