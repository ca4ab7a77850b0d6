"""The same code on PostgreSQL as on DuckDB (issue 14): the tiny Denmark copied table by
table into a real PostgreSQL server (tests/backends/conftest.py), then settlement, § 96
and case finding computed on both and compared table by table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from ibis import desc as ibis_desc
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from almen import population
from almen.cli import app
from almen.schema import TABLES
from almen.settlement import readers
from almen.warehouse import Warehouse

YEAR = 2025
AS_OF = dt.date(YEAR + 1, 1, 31)


@pytest.fixture(scope="module")
def both(tiny_denmark: Path, postgres_url: str):  # type: ignore[no-untyped-def]
    """The tiny Denmark copied to PostgreSQL by `almen warehouse copy --to URL`."""
    got = CliRunner().invoke(app, ["--data", str(tiny_denmark), "warehouse", "copy", "--to",
                                   postgres_url], catch_exceptions=False)  # fmt: skip
    assert got.exit_code == 0, got.output
    duck = Warehouse.connect(tiny_denmark, read_only=True)
    pg = Warehouse.connect(postgres_url)
    yield duck, pg
    duck.close()
    pg.close()


def _new_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _table(wh: Warehouse, name: str) -> pl.DataFrame:
    spec = TABLES[name]
    df = pl.from_arrow(wh.read_table(name).to_pyarrow())
    assert isinstance(df, pl.DataFrame)
    return df.sort(list(spec.key) if spec.key else df.columns)


def _same(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> None:
    assert len(a) > 0
    assert_frame_equal(a.sort(keys), b.sort(keys), check_dtypes=False, check_exact=False,
                       rel_tol=1e-9, abs_tol=1e-6)  # fmt: skip


def test_every_table_reads_back_under_the_schema_check(both) -> None:  # type: ignore[no-untyped-def]
    duck, pg = both
    for spec in TABLES.values():
        if duck.has_table(spec.name):
            assert (
                pg.read_table(spec.name).count().execute()
                == duck.read_table(spec.name).count().execute()
            ), spec.name


def test_warehouse_copy_carries_every_row_and_value(both) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 item 2: every declared table arrives whole, value for value (nulls,
    dates, decimals, text), not only the same number of rows."""
    duck, pg = both
    copied = [n for n in TABLES if duck.has_table(n)]
    assert {"claim", "patient", "fee_schedule", "claim_same_day"} <= set(copied)
    for name in copied:
        a, b = _table(duck, name), _table(pg, name)
        assert_frame_equal(a, b, check_dtypes=False, check_exact=False, rel_tol=1e-12)


def test_synth_writes_to_a_backend_url(tiny_denmark: Path, postgres_url: str) -> None:
    """`almen synth` with ALMEN_WAREHOUSE_URL: the same synthetic Denmark (same scale,
    seed and year) as in a DuckDB file, in PostgreSQL; the data directory gets no
    warehouse file."""
    url = _new_database(postgres_url, "almen_synth")
    data = tiny_denmark.parent / "synth-to-url"
    got = CliRunner().invoke(app, ["--data", str(data), "synth", "--scale", "0.01", "--seed",
                                   "0", "--year", "2025"], env={"ALMEN_WAREHOUSE_URL": url},
                             catch_exceptions=False)  # fmt: skip
    assert got.exit_code == 0, got.output
    assert not (data / "warehouse.duckdb").exists()
    with Warehouse.connect(tiny_denmark, read_only=True) as duck, Warehouse.connect(url) as pg:
        for name in ("clinic", "patient", "claim", "calibration"):
            assert_frame_equal(_table(duck, name), _table(pg, name), check_dtypes=False,
                               check_exact=False, rel_tol=1e-12)  # fmt: skip


def test_capacity_is_the_same_on_postgres(both) -> None:  # type: ignore[no-untyped-def]
    """Need index, distribution inputs and closing limits from PostgreSQL equal
    DuckDB's."""
    from almen.capacity import LimitParams, closing_limits, distribute
    from almen.capacity.inputs import distribution_areas, limit_inputs, need_from_warehouse

    duck, pg = both
    got = []
    for wh in (duck, pg):
        persons, _ = need_from_warehouse(wh, YEAR)
        areas = distribution_areas(wh, persons)
        got.append((persons, areas, closing_limits(limit_inputs(wh, persons), LimitParams()),
                    distribute(areas, 50, policy="voluntary")))  # fmt: skip
    _same(got[0][0], got[1][0], ["patient_id"])
    _same(got[0][1], got[1][1], ["area"])
    _same(got[0][2], got[1][2], ["provider_number"])
    _same(got[0][3].allocation, got[1][3].allocation, ["area"])
    assert abs(got[0][3].unmet_after - got[1][3].unmet_after) < 1e-6


def test_patient_overview_is_the_same_on_postgres(both) -> None:  # type: ignore[no-untyped-def]
    """The patient view crashed on PostgreSQL (issue 14); it gives DuckDB's overview."""
    from almen import reference
    from almen.population.patient import patient_overview

    duck, pg = both
    c = duck.read_table("condition")
    pid = c.group_by("patient_id").aggregate(n=c.count()).order_by([ibis_desc("n"), "patient_id"])
    patient_id = pid.limit(1).to_pyarrow().column("patient_id")[0].as_py()
    views = []
    for wh in (duck, pg):
        views.append(patient_overview(
            patient_id, wh.read_table("patient"), wh.read_table("condition"),
            wh.read_table("medication"), wh.read_table("claim"),
            reference.load_condition_codes(), population.load_definitions(), as_of=AS_OF,
        ))  # fmt: skip
    assert views[0] == views[1] and views[0].diagnoses


def test_settlement_is_the_same_on_postgres(both) -> None:  # type: ignore[no-untyped-def]
    duck, pg = both
    s_duck, r_duck, f_duck = readers.settle_year(duck, YEAR, [3, 4], AS_OF)
    s_pg, r_pg, f_pg = readers.settle_year(pg, YEAR, [3, 4], AS_OF)
    _same(s_duck, s_pg, ["provider_number", "month"])
    _same(r_duck.select("claim_id", "rule"), r_pg.select("claim_id", "rule"), ["claim_id"])
    # synthetic claims carry no amount of their own: nothing is flagged on either backend
    assert f_duck["claim_id"].to_list() == f_pg["claim_id"].to_list()


def test_s96_is_the_same_on_postgres(both) -> None:  # type: ignore[no-untyped-def]
    duck, pg = both
    day = dt.date(YEAR, 12, 31)
    _same(readers.ceiling_for_year(duck, YEAR, day), readers.ceiling_for_year(pg, YEAR, day),
          ["provider_number"])  # fmt: skip


def test_case_finding_is_the_same_on_postgres(both) -> None:  # type: ignore[no-untyped-def]
    """Before the planner fix (cursor_tuple_fraction, ANALYZE after COPY) this took
    over five minutes on PostgreSQL; the features are the same as on DuckDB."""
    duck, pg = both
    defs = population.load_definitions()
    day = dt.date(YEAR, 12, 31)
    got = []
    for wh in (duck, pg):
        feats = population.warehouse_features(wh, as_of=day, definitions=defs)
        found = population.apply_definitions(feats, defs)
        got.append(population.clinic_counts(found, feats))
    _same(got[0], got[1], ["provider_number"])


def test_bulk_load_keeps_nulls_empty_strings_and_text_apart(postgres_url: str) -> None:
    """COPY (CSV) into PostgreSQL: a null stays null, an empty string empty, and text
    with the delimiter, quotes, a line break and Danish letters comes back as written."""
    import pyarrow as pa

    rows = pa.table({
        "ingest_id": ["a", "a", "a"], "target_table": ["claim"] * 3, "source": ["x.csv"] * 3,
        "line": pa.array([2, 3, 4], pa.int64()),
        "column_name": [None, "", 'cpr; "kvote"\nÆØÅ'], "reason": ["r", "r", "r"],
    })  # fmt: skip
    with Warehouse.connect(postgres_url) as pg:
        pg.write_table("reject", rows)
        pg.append_table("reject", rows.set_column(3, "line", pa.array([5, 6, 7], pa.int64())))
        got = pg.read_table("reject").order_by("line").to_pyarrow()
    assert got.column("column_name").to_pylist() == [None, "", 'cpr; "kvote"\nÆØÅ'] * 2


def test_init_and_every_importer_write_to_postgres(
    postgres_url: str,
    tmp_path: Path,
    call_cli,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 14 item 2: `almen init` and every importer with ALMEN_WAREHOUSE_URL: the
    example's extracts (docs/examples/real-data) load into PostgreSQL with the same rows,
    rejects and reconciliation as into a DuckDB file, pseudonyms included."""
    import subprocess

    example = Path(__file__).parents[2] / "docs" / "examples" / "real-data"
    extracts = tmp_path / "extracts"
    extracts.mkdir()
    subprocess.run(["bash", str(example / "fill.sh"), str(extracts)], check=True)
    url = _new_database(postgres_url, "almen_ingest")
    files = [("clinics", "klinikker.csv"), ("doctors", "læger.csv"),
             ("patients", "tilmeldinger.csv"), ("conditions", "diagnoser.csv"),
             ("medications", "medicin.csv"), ("ooh", "vagt.csv"), ("fees", "lokalaftale.csv"),
             ("claims", "ydelser-2025-03.csv", "--encoding", "cp1252")]  # fmt: skip
    for target, env in ((tmp_path / "duck", {}), (tmp_path / "pg", {"ALMEN_WAREHOUSE_URL": url})):
        env = {**env, "ALMEN_PSEUDONYM_KEY": "test-key"}
        got = call_cli("--data", str(target), "init", env=env)
        assert got.exit_code == 0, got.output
        for kind, file, *extra in files:
            got = call_cli("--data", str(target), "ingest", kind, str(extracts / file), *extra,
                           env=env)  # fmt: skip
            assert got.exit_code == 0, got.output
    assert not (tmp_path / "pg" / "warehouse.duckdb").exists()
    with Warehouse.connect(tmp_path / "duck", read_only=True) as duck, Warehouse.connect(url) as pg:
        for name in ("clinic", "doctor", "patient", "listing", "condition", "medication",
                     "ooh_contact", "fee_schedule", "claim", "reject"):  # fmt: skip
            a = _table(duck, name).drop("ingest_id", strict=False)
            b = _table(pg, name).drop("ingest_id", strict=False)
            assert len(a) > 0 or name == "reject", name
            assert_frame_equal(a.sort(a.columns), b.sort(b.columns), check_dtypes=False,
                               check_exact=False, rel_tol=1e-12)  # fmt: skip
        log = pg.read_table("ingest_log").to_polars()
        assert (log["rows_read"] == log["rows_accepted"] + log["rows_rejected"]).all()
