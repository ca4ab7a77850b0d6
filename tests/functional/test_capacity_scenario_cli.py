"""`almen capacity scenario FILE.toml`: a ten-year run on the tiny Denmark, and scenario
files that are refused with file, line and column (seed 001 "5.000 praktiserende læger",
"National fordeling af kapaciteter og styring af lukkegrænser")."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios" / "capacity"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "scenario.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_ten_years_both_policies(call_cli, tiny_denmark: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = _write(
        tmp_path, 'name = "t"\nfirst_year = 2026\nlast_year = 2035\n[workforce]\nintake = 400\n'
    )
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f), "--policy", "both",
                 "--replications", "1", "--format", "csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    years = pl.read_csv(io.StringIO(r.stdout))
    assert len(years) == 22  # 2025 (start) to 2035, two policies
    assert set(years["policy"]) == {"voluntary", "forced"}
    v = years.filter(pl.col("policy") == "voluntary").sort("year")
    f_ = years.filter(pl.col("policy") == "forced").sort("year")
    # the same training pipeline and retirement; forced limits push some GPs out early
    # (the exit response), so forced never has more GPs
    assert (f_["gps"] <= v["gps"]).all() and v["forced_exits"].sum() == 0
    for y in (v, f_):
        assert (y["gps"] == y["gps"][0] + (y["new_gps"] - y["leavers"]).cum_sum()).all()
    # without the exit response and with every limit raised, the workforce is the same and
    # forced never closes more clinics than voluntary
    g = _write(tmp_path, 'name = "t"\nfirst_year = 2026\nlast_year = 2035\n[workforce]\n'
               'intake = 400\n[distribution]\nforced_where = "all"\nforced_exit_rate = 0\n')  # fmt: skip
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(g), "--policy", "both",
                 "--replications", "1", "--format", "csv")  # fmt: skip
    years = pl.read_csv(io.StringIO(r.stdout))
    v = years.filter(pl.col("policy") == "voluntary").sort("year")
    f_ = years.filter(pl.col("policy") == "forced").sort("year")
    assert v["gps"].to_list() == f_["gps"].to_list()
    assert (f_["share_closed"] <= v["share_closed"] + 1e-9).all()


def test_replicated_scenario_reports_means_intervals_and_the_difference(  # type: ignore[no-untyped-def]
    call_cli, tiny_denmark: Path, tmp_path: Path
) -> None:
    """Issue 21 item 4 on the command line: --replications N runs seeds 1..N under both
    policies; the JSON holds the means and 90 % intervals, the forced − voluntary
    difference, every run, and how many runs and why."""
    import json

    f = _write(tmp_path, "last_year = 2027\n")
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f), "--policy", "both",
                 "--replications", "3", "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["meta"]["replications"] == 3 and "as asked" in doc["meta"]["note"]
    runs = pl.DataFrame(doc["parts"]["runs"])
    assert sorted(set(runs["replicate"])) == [0, 1, 2] and len(runs) == 3 * 2 * 3
    summary = pl.DataFrame(doc["parts"]["summary"])
    assert set(summary["runs"]) == {3} and (summary["p05"] <= summary["p95"]).all()
    assert pl.DataFrame(doc["parts"]["difference"])["year"].max() == 2027
    table = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f), "--policy",
                     "both", "--replications", "2")  # fmt: skip
    assert table.exit_code == 0 and "mean (90 % interval) of 2 runs" in table.output
    bad = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f),
                   "--replications", "many")  # fmt: skip
    assert bad.exit_code == 2 and "--replications" in bad.stderr


def test_table_and_area_output(call_cli, tiny_denmark: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = _write(tmp_path, "last_year = 2027\n")
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f))
    assert r.exit_code == 0, r.output
    assert "voluntary policy" in r.output and "2027" in r.output
    out = tmp_path / "areas.parquet"
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f), "--by",
                 "municipality", "--format", "parquet", "--output", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    areas = pl.read_parquet(out)
    assert len(areas) == 3 * 98
    assert {"without_free_choice", "listed_per_fte", "underserved", "new_gps"} <= set(areas.columns)


@pytest.mark.parametrize("name", sorted(p.name for p in DOCS.glob("*.toml")))
def test_documented_scenarios_run(call_cli, tiny_denmark: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(DOCS / name),
                 "--format", "csv")  # fmt: skip
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('[distribution]\nmunicipality_min = { "9999" = 1 }\n', "unknown municipality '9999'", 2),
        ('[distribution]\ncouncil_min = { "Atlantis" = 1 }\n', "unknown health council", 2),
        ("[workforce]\nintake = -50\n", "intake must not be negative", 2),
        ("[workforce]\nintake_by_year = { 2030 = -1 }\n", "intake in 2030 must not be negative", 2),
        (
            '[distribution]\nmunicipality_min = { "0101" = 3 }\nmunicipality_max = { "0101" = 1 }\n',
            "infeasible: municipality 0101",
            2,
        ),
        (
            '[distribution]\nmax_new_per_municipality = 1\ncouncil_min = { "Fyn" = 11 }\n',
            "infeasible: Fyn",
            3,
        ),
        (
            '[distribution]\nmunicipality_min = { "København" = 5000 }\n',
            "infeasible: municipality_min",
            2,
        ),
        ('[distribution]\npolicy = "sometimes"\n', "policy must be voluntary or forced", 2),
        ("[limits]\nrule = 1600\n", "rule must be need or fixed", 2),
        ("[workforce]\nintkae = 400\n", "unknown key 'intkae' in [workforce]", 2),
        ("first_year = 2030\nlast_year = 2026\n", "last_year 2026 is before first_year", 2),
        ('name = "unterminated\n', "not valid TOML", 1),
    ],
)
def test_bad_scenario_files_exit_2_with_where(  # type: ignore[no-untyped-def]
    call_cli, tiny_denmark: Path, tmp_path: Path, text: str, message: str, line: int
) -> None:
    f = _write(tmp_path, text)
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f))
    assert r.exit_code == 2
    assert message in r.stderr
    assert f"{f}:{line}:" in r.stderr
    assert "Traceback" not in r.output


def test_infeasible_in_a_year_names_the_year(call_cli, tiny_denmark: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """300 minimum places a year pass the file check (at most 1,246 a year come out of
    training) but not 2026, when about 270 come out (the pipeline at full scale)."""
    f = _write(
        tmp_path,
        "[workforce]\nintake = 400\nscale = 1.0\n"
        '[distribution]\ncouncil_min = { "Fyn" = 150, "Aarhus" = 150 }\n',
    )
    r = call_cli("--data", str(tiny_denmark), "capacity", "scenario", str(f))
    assert r.exit_code == 2
    assert "cannot be run: 2026" in r.stderr and "infeasible" in r.stderr


def test_the_documented_examples_are_there() -> None:
    assert {p.name for p in DOCS.glob("*.toml")} >= {"today.toml", "plo-400.toml", "old-rule.toml"}
