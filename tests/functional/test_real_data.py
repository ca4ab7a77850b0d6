"""Real data end to end (issue 12): an empty warehouse, importers for every table a region
or a practice system holds, listings by date, settlement runs that are never rewritten,
returned claims traced to their file and line, a check before sending, and dates.

The worked example (``docs/examples/real-data/``) uses made-up extracts in the formats a
region or practice system exports: ``;``-separated, decimal comma, Danish dates, Latin-1
and Windows-1252 for some; ``fill.sh`` puts made-up CPR numbers in place of {Pnn}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import Result

from almen.warehouse import Warehouse

Cli = Callable[..., Result]
EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "real-data"
KEY = {"ALMEN_PSEUDONYM_KEY": "test-key"}
ALMEN = Path(sys.executable).with_name("almen")


@pytest.fixture(scope="session")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's templates filled with made-up CPR numbers (``fill.sh``)."""
    out = tmp_path_factory.mktemp("extracts")
    subprocess.run(["bash", str(EXAMPLE / "fill.sh"), str(out)], check=True)
    return out


def _run(call_cli: Cli, data: Path, *args: str) -> Result:
    res = call_cli("--data", str(data), *args, env=KEY)
    assert res.exit_code == 0, res.output
    return res


def _table(data: Path, name: str) -> pl.DataFrame:
    with Warehouse.connect(data, read_only=True) as wh:
        return wh.read_table(name).to_polars()


def _load_example(call_cli: Cli, data: Path, extracts: Path) -> None:
    for kind, file, *extra in (
        ("clinics", "klinikker.csv"),
        ("doctors", "læger.csv"),
        ("patients", "tilmeldinger.csv"),
        ("conditions", "diagnoser.csv"),
        ("medications", "medicin.csv"),
        ("labs", "laboratoriesvar.csv"),
        ("ooh", "vagt.csv"),
        ("fees", "lokalaftale.csv"),
        ("claims", "ydelser-2025-03.csv", "--encoding", "cp1252"),
    ):
        _run(call_cli, data, "ingest", kind, str(extracts / file), *extra)


def test_init_makes_reference_data_and_no_people(empty: Path, call_cli: Cli) -> None:
    counts = {n: len(_table(empty, n)) for n in ("municipality", "fee_schedule", "population")}
    assert counts["municipality"] == 98 and counts["fee_schedule"] > 30
    assert counts["population"] > 0
    for name in ("clinic", "doctor", "patient", "listing", "claim", "condition", "medication"):
        assert _table(empty, name).is_empty(), name
    pop = _table(empty, "population")
    assert set(pop["basis"].to_list()) == {"derived"}
    councils = _table(empty, "municipality")["health_council"].n_unique()
    assert councils >= 5


def test_ingest_into_an_empty_directory_initialises_it_first(
    tmp_path: Path, call_cli: Cli, extracts: Path
) -> None:
    data = tmp_path / "new"
    res = _run(call_cli, data, "ingest", "clinics", str(extracts / "klinikker.csv"))
    assert "written first (almen init)" in res.stdout
    assert len(_table(data, "fee_schedule")) > 30 and len(_table(data, "clinic")) == 3


def test_the_example_loads_every_table_with_reconciled_counts(
    empty: Path, call_cli: Cli, extracts: Path
) -> None:
    _load_example(call_cli, empty, extracts)
    clinics = _table(empty, "clinic").sort("provider_number")
    assert clinics["form"].to_list() == ["partnership", "solo", "region"]
    assert clinics["closed_to_new_from"].to_list()[1].isoformat() == "2025-02-01"
    doctors = _table(empty, "doctor")
    assert len(doctors) == 5 and doctors["fte"].sum() == pytest.approx(4.3)  # decimal comma
    assert "Trøjborg" in clinics["name"].to_list()[1]  # UTF-8 kept
    cond = _table(empty, "condition")
    assert "T90" in cond["code"].to_list() and all(len(c) == 3 for c in cond["code"])
    log = _table(empty, "ingest_log")
    assert (log["rows_read"] == log["rows_accepted"] + log["rows_rejected"]).all()
    assert log["content_sha256"].str.len_chars().min() == 64
    rejects = _table(empty, "reject")
    assert rejects.filter(pl.col("target_table") == "claim")["line"].to_list() == [23]
    claims = _table(empty, "claim")
    assert claims["source_line"].min() == 2 and claims["ingest_id"].n_unique() == 1
    # no CPR number anywhere in the warehouse
    with Warehouse.connect(empty, read_only=True) as wh:
        for name in wh.con.list_tables():
            text = wh.read_table(name).to_polars().write_csv()
            assert "010150" not in text and "010150" + "1235" not in text, name


def test_returned_claims_name_their_file_line_and_ingest(
    empty: Path, call_cli: Cli, extracts: Path
) -> None:
    _load_example(call_cli, empty, extracts)
    res = _run(call_cli, empty, "settle", "--year", "2025", "--month", "3", "--as-of",
               "2025-04-05", "--format", "json")  # fmt: skip
    doc = json.loads(res.stdout)
    returned = pl.DataFrame(doc["parts"]["returned"])
    assert set(returned["source"].to_list()) == {"ydelser-2025-03.csv"}
    by_line = dict(zip(returned["source_line"].to_list(), returned["rule"].to_list(), strict=True))
    # line 11 repeats line 10 (a consultation, once a day); line 6 repeats line 5, a phone
    # consultation, which may be given three times a day, so both are paid (issue 16);
    # line 13 is a patient of another clinic; line 21 is an unknown service code
    assert by_line == {11: "duplicate", 13: "not_listed", 21: "unknown_service"}
    assert returned["ingest_id"].n_unique() == 1


def test_a_consultation_before_a_move_stays_accepted_when_settled_again(
    empty: Path, call_cli: Cli, extracts: Path
) -> None:
    """Listing is by date (seed 005: one GP at a time): a patient listed elsewhere from
    1 June keeps his March consultation at the first clinic."""
    _load_example(call_cli, empty, extracts)
    march = ("settle", "--year", "2025", "--month", "3", "--as-of", "2025-04-05")
    first = json.loads(_run(call_cli, empty, *march, "--format", "json").stdout)
    _run(call_cli, empty, "ingest", "patients", str(extracts / "tilmeldinger-juni.csv"))
    listing = _table(empty, "listing")
    moved = listing.group_by("patient_id").len().filter(pl.col("len") == 2)["patient_id"]
    periods = listing.filter(pl.col("patient_id").is_in(moved)).sort("listed_from")
    assert periods["provider_number"].to_list() == ["100101", "100202"]
    assert periods["listed_to"].to_list()[0].isoformat() == "2025-05-31"
    again = json.loads(_run(call_cli, empty, *march, "--format", "json").stdout)
    assert again["meta"]["previous_run_id"] == first["meta"]["run_id"]
    assert again["parts"]["correction"] == []  # nothing changed

    def lines(doc: dict) -> list[dict]:  # type: ignore[type-arg]
        return [{k: v for k, v in r.items() if k != "run_id"} for r in doc["parts"]["returned"]]

    assert lines(again) == lines(first)
    # June: the patient counts at the new clinic
    june = json.loads(_run(call_cli, empty, "settle", "--year", "2025", "--month", "6",
                           "--as-of", "2025-07-05", "--format", "json").stdout)  # fmt: skip
    listed = {r["provider_number"]: r["listed"] for r in june["parts"]["statement"]}
    march_listed = {r["provider_number"]: r["listed"] for r in first["parts"]["statement"]}
    assert listed["100101"] == march_listed["100101"] - 1
    assert listed["100202"] == march_listed["100202"] + 1


def test_settling_again_keeps_the_earlier_run_and_shows_the_correction(
    empty: Path, call_cli: Cli, extracts: Path, tmp_path: Path
) -> None:
    _load_example(call_cli, empty, extracts)
    march = ("settle", "--year", "2025", "--month", "3", "--as-of", "2025-04-05")
    first = json.loads(_run(call_cli, empty, *march, "--format", "json").stdout)
    same = json.loads(_run(call_cli, empty, *march, "--format", "json").stdout)
    assert not same["meta"]["new_run"]  # same inputs and run date: nothing new written
    late = tmp_path / "efterlevering.csv"
    late.write_text("CPR;Ydernummer;Ydelse;Dato\n" + "020255" + "2346;100101;0101;27-03-2025\n",
                    encoding="utf-8")  # fmt: skip
    _run(call_cli, empty, "ingest", "claims", str(late))
    second = json.loads(_run(call_cli, empty, *march, "--format", "json").stdout)
    assert (
        second["meta"]["new_run"] and second["meta"]["previous_run_id"] == first["meta"]["run_id"]
    )
    (corr,) = second["parts"]["correction"]
    assert corr["provider_number"] == "100101" and corr["change_dkk"] == pytest.approx(175.0)
    # the earlier statements are still there, as issued
    old = json.loads(_run(call_cli, empty, "runs", "--run", first["meta"]["run_id"],
                          "--format", "json").stdout)  # fmt: skip
    assert old["parts"]["statement"] == first["parts"]["statement"]
    runs = _table(empty, "settlement_run")
    assert len(runs) == 2 and runs["claim_sha256"].n_unique() == 2
    assert set(runs["fee_schedules"].to_list()) == {"Aftale25, Lokalaftale Hovedstaden 2025"}
    assert len(_table(empty, "settlement")) == 6  # 3 clinics × 2 runs, none overwritten


def test_the_same_file_twice_is_refused_unless_replaced(
    empty: Path, call_cli: Cli, extracts: Path
) -> None:
    _load_example(call_cli, empty, extracts)
    before = len(_table(empty, "claim"))
    f = str(extracts / "ydelser-2025-03.csv")
    again = call_cli("--data", str(empty), "ingest", "claims", "--encoding", "cp1252", f, env=KEY)
    assert again.exit_code == 2 and "already imported into claim" in again.stderr
    assert len(_table(empty, "claim")) == before
    _run(call_cli, empty, "ingest", "claims", "--encoding", "cp1252", "--replace", f)
    claims = _table(empty, "claim")
    assert len(claims) == before and claims["ingest_id"].n_unique() == 1  # in place
    twice = call_cli("--data", str(empty), "ingest", "clinics", str(extracts / "klinikker.csv"),
                     env=KEY)  # fmt: skip
    assert twice.exit_code == 2 and "--replace" in twice.stderr


def test_an_overlapping_fee_schedule_is_refused_at_its_line(
    empty: Path, call_cli: Cli, extracts: Path, tmp_path: Path
) -> None:
    f = tmp_path / "takster.csv"
    f.write_text(
        "Aftale;Ydelse;Navn;Pris;Enhed;Gyldig fra;Gyldig til\n"
        "Aftale26;0105;E-konsultation;55,00;ydelse;01-01-2026;31-12-2026\n"
        "Aftale26;0101;Konsultation;180,00;ydelse;01-01-2026;31-12-2026\n",
        encoding="utf-8",
    )
    before = _table(empty, "fee_schedule")
    res = call_cli("--data", str(empty), "ingest", "fees", str(f))
    assert res.exit_code == 2
    assert res.stderr.startswith("takster.csv:2: input error: service 0105")
    assert "overlaps Aftale25 (2025-01-01 to 2027-12-31)" in res.stderr
    assert _table(empty, "fee_schedule").equals(before)
    # a new validity period of its own agreement, and --replace of that agreement
    g = tmp_path / "lokal.csv"
    g.write_text("Aftale;Ydelse;Navn;Pris;Enhed;Gyldig fra;Gyldig til\n"
                 "Lokal;L901;Opfølgning;300;ydelse;01-01-2025;30-06-2025\n"
                 "Lokal;L901;Opfølgning;320;ydelse;01-07-2025;31-12-2025\n",
                 encoding="utf-8")  # fmt: skip
    _run(call_cli, empty, "ingest", "fees", str(g))
    h = tmp_path / "lokal2.csv"
    h.write_text(
        "Aftale;Ydelse;Navn;Pris;Enhed;Gyldig fra;Gyldig til\n"
        "Lokal;L901;Opfølgning;310;ydelse;01-01-2025;31-12-2025\n",
        encoding="utf-8",
    )
    clash = call_cli("--data", str(empty), "ingest", "fees", str(h))
    assert clash.exit_code == 2 and "give --replace to replace that agreement" in clash.stderr
    _run(call_cli, empty, "ingest", "fees", "--replace", str(h))
    lokal = _table(empty, "fee_schedule").filter(pl.col("agreement") == "Lokal")
    assert lokal["price_dkk"].to_list() == [310.0]


def test_capitation_is_looked_up_for_the_day_never_the_first_row() -> None:
    import datetime as dt

    from almen.reference import load_fee_schedule
    from almen.settlement import capitation_price

    fees = load_fee_schedule()
    assert capitation_price(fees, dt.date(2024, 12, 31)) == 495.0  # OK22
    assert capitation_price(fees, dt.date(2025, 1, 1)) == 510.0  # Aftale25
    clash = pl.concat([fees, fees.filter(pl.col("service_code") == "BASIS").with_columns(
        agreement=pl.lit("X"), price_dkk=pl.lit(600.0))])  # fmt: skip
    with pytest.raises(LookupError, match="two capitation"):
        capitation_price(clash, dt.date(2025, 6, 1))


def test_check_claims_lists_what_would_come_back_and_imports_nothing(
    empty: Path, call_cli: Cli, extracts: Path
) -> None:
    _load_example(call_cli, empty, extracts)
    before = len(_table(empty, "claim"))
    res = _run(call_cli, empty, "check", "claims", str(extracts / "ydelser-2025-04-kladde.csv"),
               "--as-of", "2025-04-05", "--format", "csv")  # fmt: skip
    found = pl.read_csv(res.stdout.encode())
    assert dict(zip(found["line"], found["rule"], strict=True)) == {3: "duplicate", 5: "age_sex"}
    assert len(_table(empty, "claim")) == before
    assert not (_table(empty, "ingest_log")["source"] == "ydelser-2025-04-kladde.csv").any()


def test_a_year_without_claims_is_refused(empty: Path, call_cli: Cli, extracts: Path) -> None:
    _load_example(call_cli, empty, extracts)
    res = call_cli("--data", str(empty), "settle", "--year", "2024")
    assert res.exit_code == 2
    assert "no claims sent for 2024" in res.stderr and "2025-03 to 2025-04" in res.stderr


def test_analyses_default_to_the_last_data_date(tiny_copy: Path, call_cli: Cli) -> None:
    res = call_cli("--data", str(tiny_copy), "findings", "--format", "json")
    assert "as of 2025-12-31 (the warehouse's last data date" in res.stderr
    assert json.loads(res.stdout)["meta"]["as_of"] == "2025-12-31"
    bad = call_cli("--data", str(tiny_copy), "findings", "--as-of", "31-12-2025")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr


def test_the_worked_example_runs_from_nothing(tmp_path: Path) -> None:
    """docs/examples/real-data/run.sh: from an empty directory to a settled month, a § 96
    statement, a service overview and a case-finding count, without almen synth."""
    data = tmp_path / "rd"
    env = {**os.environ, "ALMEN": str(ALMEN), "COLUMNS": "100"}
    done = subprocess.run(["bash", str(EXAMPLE / "run.sh"), str(data)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "Settlement 2025: 3 clinics" in out
    assert "§ 96 2025, projected from claims to 2025-03-31" in out
    assert "Clinic 100101 2025: § 96 ratio" in out
    assert "Multimorbidity with polypharmacy" in out
    assert "no statement changed against run" in out
    assert "2 would come back (nothing was imported)" in out
    stmt = pl.read_csv(data / "marts-statement.csv")
    assert len(stmt) == 3 and stmt["total_dkk"].sum() > 0
    with Warehouse.connect(data, read_only=True) as wh:
        assert not wh.has_table("calibration")  # no synthetic Denmark was made


def test_lab_results_and_ended_conditions_reach_the_definitions(
    empty: Path, call_cli: Cli, extracts: Path
) -> None:
    """Issue 19: lab results (NPU) enter through an importer with rejects, and a
    condition's end date (issue 19 item 1, "conditions with onset/end") is read by the
    definitions: P12's depression ended on 31-12-2024."""
    import datetime as dt

    from almen import population

    _load_example(call_cli, empty, extracts)
    labs = _table(empty, "lab_result")
    assert sorted(labs["value"].to_list()) == [47.0, 51.5, 58.0]  # decimal comma read
    rejects = _table(empty, "reject").filter(pl.col("target_table") == "lab_result")
    assert rejects["line"].to_list() == [4] and rejects["column_name"].to_list() == ["value"]
    log = _table(empty, "ingest_log").filter(pl.col("target_table") == "lab_result")
    assert log["rows_read"].to_list() == [4] and log["rows_accepted"].to_list() == [3]
    cond = _table(empty, "condition")
    assert cond["end_date"].drop_nulls().to_list() == [dt.date(2024, 12, 31)]
    defs = population.load_definitions()
    with Warehouse.connect(empty, read_only=True) as wh:
        march = population.warehouse_features(wh, as_of=dt.date(2025, 3, 31), definitions=defs)
        before = population.warehouse_features(wh, as_of=dt.date(2024, 6, 30), definitions=defs)
    # the latest HbA1c on 31 March is P01's 51.5 (not January's 58); P03 has no diabetes
    diab = march.filter(pl.col("diabetes") == 1)
    assert sorted(v for v in diab["hba1c_last"].to_list() if v) == [51.5]
    assert march["psychiatric_dx_secondary"].sum() == 0
    assert before["psychiatric_dx_secondary"].sum() == 1
