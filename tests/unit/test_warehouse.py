"""The warehouse checks columns and types against the schema in both directions."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from almen.errors import NotFoundError, StorageError
from almen.warehouse import Warehouse

FEE = {
    "agreement": ["A"], "service_code": ["0101"], "name_da": ["Konsultation"],
    "name_en": ["Consultation"], "price_dkk": [175.0], "unit": ["service"],
    "daytime": [True], "outside_frame": [False],
    "valid_from": pa.array([0], pa.int32()).cast(pa.date32()),
    "valid_to": pa.array([1000], pa.int32()).cast(pa.date32()),
    "price_basis": ["estimate"],
}  # fmt: skip


def test_write_then_read_round_trips_through_a_backend_url(tmp_path: Path) -> None:
    """A table written through a duckdb:// URL reads back with the declared types."""
    with Warehouse.connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        wh.write_table("fee_schedule", pa.table(FEE))
        t = wh.read_table("fee_schedule")
        assert t.schema()["price_dkk"].is_floating()
        assert wh.row_count("fee_schedule") == 1


def test_write_refuses_missing_columns(tmp_path: Path) -> None:
    """Writing a table without a declared column is refused before anything is written."""
    with Warehouse.connect(tmp_path) as wh:
        data = pa.table({k: v for k, v in FEE.items() if k != "price_dkk"})
        with pytest.raises(ValueError, match="missing columns"):
            wh.write_table("fee_schedule", data)
        assert not wh.has_table("fee_schedule")


def test_read_detects_a_column_of_the_wrong_type(tmp_path: Path) -> None:
    """A table whose column type differs from the schema is a StorageError on read."""
    with Warehouse.connect(tmp_path) as wh:
        bad = dict(FEE, price_dkk=["175,00"])
        wh.con.create_table("fee_schedule", pa.table(bad))
        with pytest.raises(StorageError, match="price_dkk is"):
            wh.read_table("fee_schedule")


def test_read_only_on_empty_directory_says_what_to_do(tmp_path: Path) -> None:
    """Opening a data directory without a warehouse names the command that makes one."""
    with pytest.raises(NotFoundError, match="almen synth"):
        Warehouse.connect(tmp_path / "nothing", read_only=True)


def test_duckdb_settings_come_from_the_environment(tiny_denmark, call_cli) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: ALMEN_DUCKDB_MEMORY_LIMIT, _THREADS and _TEMP_DIRECTORY reach DuckDB;
    a value DuckDB refuses is one clear error with exit code 2."""
    from almen.config import get_settings, warehouse_target

    tmp = tiny_denmark.parent / "spill"
    env = {"ALMEN_DUCKDB_MEMORY_LIMIT": "1GB", "ALMEN_DUCKDB_THREADS": "1",
           "ALMEN_DUCKDB_TEMP_DIRECTORY": str(tmp)}  # fmt: skip
    settings = get_settings(env, data=tiny_denmark)
    with Warehouse.connect(warehouse_target(settings), read_only=True) as wh:
        got = {
            k: wh.con.raw_sql(f"SELECT current_setting('{k}')").fetchone()[0]
            for k in ("memory_limit", "threads", "temp_directory")
        }
    assert got["threads"] == 1
    assert got["memory_limit"].replace(" ", "") in ("953.6MiB", "1.0GB", "1GB", "0.9GiB")
    assert got["temp_directory"] == str(tmp)
    bad = call_cli("--data", str(tiny_denmark), "runs",
                   env={"ALMEN_DUCKDB_MEMORY_LIMIT": "lots"})  # fmt: skip
    assert bad.exit_code == 2
    assert "cannot open warehouse" in bad.stderr and "memory" in bad.stderr.lower()


def test_a_table_from_before_a_nullable_column_reads_it_empty_and_grows_it(
    tmp_path: Path,
) -> None:
    """A fee schedule written before ``insurance_group`` existed (made here by hand,
    without it) reads with the column empty; appending a row adds the column to the
    table, the old row empty and the new one kept. A missing column that is not
    nullable is still an error."""
    with Warehouse.connect(tmp_path / "w.duckdb") as wh:
        wh.con.create_table("fee_schedule", pa.table(FEE))
        got = wh.read_table("fee_schedule").to_pyarrow()
        assert got.column("insurance_group").to_pylist() == [None]
        wh.append_table(
            "fee_schedule", pa.table({**FEE, "insurance_group": pa.array([2], pa.int8())})
        )
        raw = wh.con.table("fee_schedule").to_pyarrow()
        assert sorted(raw.column("insurance_group").to_pylist(), key=str) == [2, None]
        no_price = {k: v for k, v in FEE.items() if k != "price_dkk"}
        wh.con.create_table("fee_schedule", pa.table(no_price), overwrite=True)
        with pytest.raises(StorageError, match="price_dkk is missing"):
            wh.read_table("fee_schedule")


def test_appending_keeps_no_copy_of_the_rows_registered(tmp_path: Path) -> None:
    """Each append's Arrow rows are let go when it returns (issue 12, memory): a claim
    file written in pieces must not keep every piece in the DuckDB connection, as
    Ibis' own insert did (its data stays registered as a view until the process ends)."""
    with Warehouse.connect(tmp_path) as wh:
        wh.write_table("fee_schedule", pa.table(FEE))
        views = "SELECT count(*) FROM duckdb_views() WHERE NOT internal"
        before = wh.con.con.execute(views).fetchone()
        for _ in range(3):
            wh.append_table("fee_schedule", pa.table(FEE))
        assert wh.con.con.execute(views).fetchone() == before
        assert wh.row_count("fee_schedule") == 4


def test_delete_rows_removes_only_the_rows_named(tmp_path: Path) -> None:
    with Warehouse.connect(tmp_path) as wh:
        wh.write_table("fee_schedule", pa.table(FEE))
        wh.append_table("fee_schedule", pa.table(dict(FEE, service_code=["0120"])))
        wh.delete_rows("fee_schedule", "service_code", ["0120", "it's"])
        codes = wh.read_table("fee_schedule").service_code.to_pyarrow().to_pylist()
        assert codes == ["0101"]
        with pytest.raises(KeyError):
            wh.delete_rows("fee_schedule", "no_such_column", ["x"])
