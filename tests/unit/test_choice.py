"""Free choice of doctor: fewer than 2 open clinics within 15 km (danish-facts §2.4)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from almen.capacity import free_choice

# one degree of latitude is 111.32 km: 0.1° ≈ 11 km, 0.2° ≈ 22 km
CLINICS = pl.DataFrame(
    {
        "provider_number": ["A", "B", "C", "R"],
        "form": ["solo", "solo", "solo", "region"],
        "closed_to_new": [False, False, True, False],
        "lat": [56.0, 56.1, 56.05, 57.0],
        "lon": [10.5, 10.5, 10.5, 10.5],
    }
)
AREAS = pl.DataFrame({"municipality": ["m1", "m2"], "health_council": ["h", "h"]})


def test_free_choice_by_hand() -> None:
    """Person 1 at 56.05: A and B (5.6 km each) are open: free choice. Person 2 at 56.2:
    B is 11 km away, A 22 km: one open clinic (C is closed): no free choice. Person 3 at
    57.0 has only the region clinic R. Person 4 has no location and is counted apart."""
    persons = pl.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "municipality": ["m1", "m1", "m2", "m2"],
            "provider_number": ["A", "B", "R", "A"],
            "lat": [56.05, 56.2, 57.0, None],
            "lon": [10.5, 10.5, 10.5, None],
        }
    )
    res = free_choice(persons, CLINICS, AREAS)
    nat = res.filter(pl.col("level") == "national").row(0, named=True)
    assert nat["citizens"] == 4 and nat["located"] == 3
    assert nat["without_free_choice"] == 2
    assert nat["listed_region_or_tender"] == 1
    m1 = res.filter((pl.col("level") == "municipality") & (pl.col("area") == "m1")).row(
        0, named=True
    )
    assert m1["without_free_choice"] == 1
    wider = free_choice(persons, CLINICS, AREAS, radius_km=25.0)
    nat2 = wider.filter(pl.col("level") == "national").row(0, named=True)
    assert nat2["without_free_choice"] == 1  # person 2 now reaches A too


def test_which_clinics_count_and_nearby_definitions() -> None:
    """Issue 21 item 5: a person whose second open clinic is a region clinic has free
    choice only if region clinics count; the sensitivity grid has, for each definition,
    the persons without free choice, those listed with a region or tender clinic and
    those in either group, and it moves the right way."""
    from almen.capacity import free_choice_sensitivity

    clinics = pl.DataFrame({"provider_number": ["A", "R"], "form": ["solo", "region"],
                            "closed_to_new": [False, False], "lat": [56.0, 56.02],
                            "lon": [10.5, 10.5]})  # fmt: skip
    persons = pl.DataFrame({"patient_id": [1, 2], "municipality": ["m1", "m1"],
                            "provider_number": ["A", "R"], "lat": [56.01, 56.5],
                            "lon": [10.5, 10.5]})  # fmt: skip

    def nat(**kw: object) -> int:
        r = free_choice(persons, clinics, AREAS, **kw)  # type: ignore[arg-type]
        return int(r.filter(pl.col("level") == "national")["without_free_choice"][0])

    assert nat() == 1 and nat(count_public=False) == 2  # person 1 has A and R within 15 km
    grid = free_choice_sensitivity(persons, clinics, radii_km=(15.0, 60.0), min_opens=(1, 2))
    row = grid.filter((pl.col("radius_km") == 15.0) & (pl.col("min_open") == 2)
                      & pl.col("public_clinics_count")).row(0, named=True)  # fmt: skip
    # person 2 is both: far from every clinic and listed with the region clinic
    assert (row["without_free_choice"], row["listed_region_or_tender"], row["either"]) == (1, 1, 1)
    for public in (True, False):
        g = grid.filter(pl.col("public_clinics_count") == public).sort("radius_km", "min_open")
        by = {
            (r["radius_km"], r["min_open"]): r["without_free_choice"]
            for r in g.iter_rows(named=True)
        }
        assert by[60.0, 2] <= by[15.0, 2] and by[15.0, 1] <= by[15.0, 2]
    assert grid.filter(~pl.col("public_clinics_count"))["without_free_choice"].sum() >= (
        grid.filter(pl.col("public_clinics_count"))["without_free_choice"].sum()
    )


def test_choice_command(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "capacity", "choice")
    assert result.exit_code == 0, result.output
    assert "Denmark:" in result.stdout
    bad = call_cli("--data", str(tiny_denmark), "capacity", "choice", "--radius-km", "0")
    assert bad.exit_code == 2


def test_capacity_commands_write_csv_json_and_parquet(  # type: ignore[no-untyped-def]
    call_cli, tiny_denmark: Path, tmp_path: Path
) -> None:
    out = tmp_path / "choice.parquet"
    r = call_cli("--data", str(tiny_denmark), "capacity", "choice", "--format", "parquet",
                 "--output", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert pl.read_parquet(out).filter(pl.col("level") == "national").height == 1
    csv = call_cli("capacity", "workforce", "--runs", "50", "--format", "csv")
    # two tables (the projection and the sensitivity table), each under its name
    head = "intake,year,p05,median,p95,p_reach,fte_p05,fte_median,fte_p95,women,owners,employed,returned"
    assert csv.stdout.splitlines()[:2] == ["# workforce", head]
    bad = call_cli("capacity", "workforce", "--runs", "50", "--format", "xml")
    assert bad.exit_code == 2 and "--format must be one of" in bad.stderr


def test_json_keeps_the_minimum_intake_and_the_unmet_totals(  # type: ignore[no-untyped-def]
    call_cli, tiny_denmark: Path
) -> None:
    """Issue 21 item 6: --format json holds what the table mode prints beside the table:
    the smallest sufficient intake, and the unmet demand before and after each policy."""
    import json

    wf = json.loads(call_cli("capacity", "workforce", "--runs", "50", "--format", "json").stdout)
    assert isinstance(wf["meta"]["minimum_intake"], int) and wf["meta"]["target"] == 5000
    r = call_cli("--data", str(tiny_denmark), "capacity", "distribute", "--new", "5",
                 "--format", "json")  # fmt: skip
    doc = json.loads(r.stdout)
    meta = doc["meta"]
    for p in ("voluntary", "forced"):
        assert meta[f"unmet_after_{p}"] <= meta[f"unmet_before_{p}"]
    rows = doc["parts"]["distribution"]
    assert sum(x["voluntary"] for x in rows) == 5 and all(x["name"] for x in rows)
