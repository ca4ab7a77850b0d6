"""Synthetic Denmark: determinism, population match, atomic writes, and what it makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from almen import reference
from almen.synth import SynthParams, write_denmark
from almen.synth.people import generate_persons, scaled_cell_counts
from almen.warehouse import WAREHOUSE_FILE, Warehouse
from tests.conftest import TINY

TABLES = ("municipality", "population", "clinic", "doctor", "patient", "condition",
          "medication", "claim", "ooh_contact", "fee_schedule", "calibration")  # fmt: skip


def _hashes(data: Path) -> dict[str, str]:
    with Warehouse.connect(data, read_only=True) as wh:
        return {t: wh.content_hash(t) for t in TABLES}


def test_same_seed_gives_same_tables_when_run_twice(tiny_denmark: Path, tmp_path: Path) -> None:
    """Two runs with the same (scale, seed, year) give tables with equal content hashes."""
    again = tmp_path / "again"
    write_denmark(TINY, again)
    assert _hashes(again) == _hashes(tiny_denmark)


def test_other_seed_gives_other_tables_when_seed_changes(
    tiny_denmark: Path, tmp_path: Path
) -> None:
    """A different seed changes the patients and claims (the hash test can fail)."""
    other = tmp_path / "other"
    write_denmark(SynthParams(scale=0.01, seed=1, year=2025), other)
    a, b = _hashes(other), _hashes(tiny_denmark)
    assert a["patient"] != b["patient"] and a["claim"] != b["claim"]
    assert a["municipality"] == b["municipality"]


def test_population_matches_reference_exactly_when_scale_is_one() -> None:
    """At scale 1 the persons per municipality × age × sex equal the population table."""
    pop = reference.derive_population(2025)
    codes = reference.load_municipalities()["code"].to_list()
    cells = scaled_cell_counts(pop, codes, 1.0)
    persons = generate_persons(cells, codes, np.random.default_rng(0))
    got = (
        pl.DataFrame(
            {
                "municipality": np.array(codes)[persons.muni],
                "age": persons.age,
                "sex": np.where(persons.female, "F", "M"),
            }
        )
        .group_by(["municipality", "age", "sex"])
        .len()
    )
    joined = pop.join(got, on=["municipality", "age", "sex"], how="left").fill_null(0)
    assert len(persons) == 5_992_734
    assert (joined["persons"] == joined["len"]).all()


def test_population_by_municipality_and_age_band_within_tolerance_at_small_scale(
    tiny_denmark: Path,
) -> None:
    """At scale 0.01 each municipality × 10-year band is within 2 persons (1 per sex) of target."""
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        patients = pl.from_arrow(wh.read_table("patient").to_pyarrow())
        pop = pl.from_arrow(wh.read_table("population").to_pyarrow())
    assert isinstance(patients, pl.DataFrame) and isinstance(pop, pl.DataFrame)
    got = (
        patients.with_columns(band=((2025 - 1 - pl.col("birth_year")) // 10))
        .group_by(["municipality", "band"])
        .agg(n=pl.len())
    )
    want = (
        pop.with_columns(band=pl.col("age") // 10)
        .group_by(["municipality", "band"])
        .agg(target=pl.col("persons").sum() * 0.01, cells=pl.len())
    )
    j = want.join(got, on=["municipality", "band"], how="left").fill_null(0)
    # systematic rounding: a run of ages of one sex is less than one person off
    assert ((j["n"] - j["target"]).abs() < 2.0 + 1e-9).all()
    totals = j.group_by("municipality").agg(pl.col("n").sum(), pl.col("target").sum())
    assert ((totals["n"] - totals["target"]).abs() <= 1).all()


def test_interrupted_run_leaves_previous_data_intact(
    tiny_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt in the middle of generation leaves the old warehouse and no temp files."""
    before = _hashes(tiny_copy)
    import almen.synth as synth_mod

    real = synth_mod.generate_conditions

    def boom(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(synth_mod, "generate_conditions", boom)
    with pytest.raises(KeyboardInterrupt):
        write_denmark(SynthParams(scale=0.01, seed=5, year=2025), tiny_copy)
    monkeypatch.setattr(synth_mod, "generate_conditions", real)
    assert _hashes(tiny_copy) == before
    assert sorted(p.name for p in tiny_copy.iterdir()) == [WAREHOUSE_FILE]


def test_calibration_table_has_both_numbers_on_each_line(tiny_denmark: Path) -> None:
    """The calibration table holds generated and target values for the public figures."""
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        cal = pl.from_arrow(wh.read_table("calibration").to_pyarrow())
    assert isinstance(cal, pl.DataFrame)
    row = {r["measure"]: r for r in cal.iter_rows(named=True)}
    assert row["population"]["generated"] == pytest.approx(row["population"]["target"], abs=50)
    assert row["contacts"]["generated"] == pytest.approx(row["contacts"]["target"], rel=0.05)
    assert 0.03 < row["prevalence_type2_diabetes"]["generated"] < 0.07
    assert {"gps", "clinics", "share_clinics_closed", "contacts_per_person"} <= row.keys()


def test_synthetic_tables_are_consistent(tiny_denmark: Path) -> None:
    """Claims point at known clinics, patients and fee-schedule codes; listings at clinics."""
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        claim, clinic = wh.read_table("claim"), wh.read_table("clinic")
        patient, fees = wh.read_table("patient"), wh.read_table("fee_schedule")
        assert claim.anti_join(clinic, "provider_number").count().execute() == 0
        assert claim.anti_join(patient, "patient_id").count().execute() == 0
        assert claim.anti_join(fees, "service_code").count().execute() == 0
        listed = patient.filter(patient.provider_number.notnull())
        assert listed.anti_join(clinic, "provider_number").count().execute() == 0
        assert claim.filter(claim.time_band == "ooh").count().execute() > 0
        assert set(clinic.form.to_pyarrow().to_pylist()) >= {"solo", "partnership"}
