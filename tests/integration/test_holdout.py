"""Issue 18 item 1: targets and held-out figures apart.

The calibration table has two parts: the targets the generator was tuned to and at least
30 public figures it was never tuned to, each with a source, a year and a tolerance band
(``reference/data/synth_holdout.csv``), measured on the finished warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from almen.synth import SynthParams, write_denmark
from almen.synth.calibration import TARGETS
from almen.synth.holdout import HOLDOUT_FILE, load_held_out
from almen.warehouse import Warehouse

# Held-out figures the generator does not yet reproduce at scale 0.1, seed 1 (issue 18
# items 2-5: supply by region, solo practice by age, morbidity beyond age and sex, the
# channel mix). The test fails when one of them comes inside its band, so that this list
# stays true, and when any other figure leaves its band. Never move one into the targets.
# At scale 0.1 a municipality has a tenth of its clinics (Aalborg 7, Aarhus 14 at seed 1), so its
# share closed moves in steps of 7-14 points: with the counted FOLK1A age structure and
# the deprivation layer (item 2) Aarhus and Aalborg fall outside at this scale and the
# Egedal group comes inside; at scale 1 all of them are inside (docs/synthetic-denmark.md).
KNOWN_OUTSIDE = {
    "gp_share_solo_syddanmark",
    "share_closed_aarhus",
    "share_closed_aalborg",
    "region_or_tender_listed_nordjylland",
    "region_or_tender_listed_sjaelland",
    "region_or_tender_listed_syddanmark",
    "region_or_tender_listed_midtjylland",
    "region_or_tender_listed_hovedstaden",
    "share_with_contact_men_30_59",
    "share_with_phone_consultation",
    "cardiovascular_drug_users_35_plus",
    # left its band when atrial fibrillation, stroke, other heart and vessel disease,
    # osteoporosis and rheumatoid arthritis were added (9.96 at scale 1, band to 9.90):
    # the old municipality's extra conditions bring extra contacts
    "contacts_per_person_langeland",
}


def _calibration(data: Path) -> pl.DataFrame:
    with Warehouse.connect(data, read_only=True) as wh:
        got = pl.from_arrow(wh.read_table("calibration").to_pyarrow())
    assert isinstance(got, pl.DataFrame)
    return got


def test_the_table_has_targets_and_at_least_30_held_out_figures(tiny_denmark: Path) -> None:
    cal = _calibration(tiny_denmark)
    kinds = dict(cal.group_by("kind").len().iter_rows())
    assert kinds["target"] >= 20 and kinds["held_out"] >= 30 and kinds["injected"] == 6
    held = cal.filter(pl.col("kind") == "held_out")
    assert held["measure"].is_in(list(TARGETS)).sum() == 0  # apart: no name in both
    assert held["source"].str.len_chars().min() > 10  # type: ignore[operator]
    assert held["year"].is_between(2008, 2025).all()
    assert (held["low"] <= held["target"]).all() and (held["target"] <= held["high"]).all()
    measured = held.filter(pl.col("generated").is_not_null())
    expect = measured["generated"].is_between(measured["low"], measured["high"])
    assert (measured["inside"] == expect).all()
    assert cal.filter(pl.col("kind") == "target")["low"].is_null().all()


def test_the_generator_never_reads_the_held_out_figures(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Held out means the data do not depend on them: with every held-out value and band
    changed, the generated people, clinics and claims are the same; only the held-out
    rows of the calibration table change."""
    params = SynthParams(scale=0.005, seed=3, year=2025)
    write_denmark(params, tmp_path / "a")
    other = tmp_path / "holdout.csv"
    ho = load_held_out().with_columns(pl.col("value", "low", "high") * 3 + 1)
    ho.write_csv(other)
    monkeypatch.setattr("almen.synth.holdout.HOLDOUT_FILE", other)
    write_denmark(params, tmp_path / "b")
    with (
        Warehouse.connect(tmp_path / "a", read_only=True) as a,
        Warehouse.connect(tmp_path / "b", read_only=True) as b,
    ):
        for table in ("patient", "clinic", "doctor", "claim", "condition", "medication"):
            assert a.content_hash(table) == b.content_hash(table), table
    ca, cb = _calibration(tmp_path / "a"), _calibration(tmp_path / "b")
    targets = pl.col("kind") != "held_out"
    assert ca.filter(targets).equals(cb.filter(targets))
    assert not ca.filter(~targets)["target"].equals(cb.filter(~targets)["target"])
    assert HOLDOUT_FILE.exists()


def test_measures_agree_with_sql_written_apart(tiny_denmark: Path) -> None:
    """Three held-out measures recomputed in SQL on the DuckDB file: women among GPs,
    contacts per citizen of København and the share of 85+ with one of the six chronic
    diseases."""
    cal = _calibration(tiny_denmark)
    got = dict(cal.filter(pl.col("kind") == "held_out").select("measure", "generated").iter_rows())
    con = duckdb.connect(str(tiny_denmark / "warehouse.duckdb"), read_only=True)
    women = con.sql("select avg((sex = 'F')::int) from doctor").fetchone()[0]  # type: ignore[index]
    kbh = con.sql("""
        select (select count(*) from claim c join patient p using (patient_id)
                where p.municipality = '0101' and year(c.service_date) = 2025
                  and c.service_code in ('0101','0102','0105','0120','0121','0125','0127',
                                         '0201','0204','0411'))
             / (select count(*) from patient where municipality = '0101')
    """).fetchone()[0]  # type: ignore[index]
    old = con.sql("""
        select avg((exists (select 1 from condition c where c.patient_id = p.patient_id
                    and c.code in ('R95','L88','L95','T89','T90','K77','R96')))::int)
        from patient p where 2025 - p.birth_year >= 85
    """).fetchone()[0]  # type: ignore[index]
    con.close()
    assert got["gp_share_women"] == pytest.approx(women)
    assert got["contacts_per_person_kobenhavn"] == pytest.approx(kbh)
    assert got["share_85_plus_with_chronic_disease"] == pytest.approx(old)


@pytest.mark.slow
def test_held_out_figures_stay_in_their_bands_at_scale_0_1(tmp_path: Path) -> None:
    """At scale 0.1 (seed 1, as `almen synth --scale 0.1`): every held-out figure not in
    KNOWN_OUTSIDE is inside its band, and every one in it is still outside."""
    write_denmark(SynthParams(scale=0.1, seed=1, year=2025), tmp_path)
    held = _calibration(tmp_path).filter(pl.col("kind") == "held_out")
    outside = set(held.filter(~pl.col("inside"))["measure"].to_list())
    assert outside - KNOWN_OUTSIDE == set(), "left their band"
    assert KNOWN_OUTSIDE - outside == set(), "now inside: take them off KNOWN_OUTSIDE"
    assert len(held) - len(outside) >= 20


def test_solo_practice_is_more_common_among_older_gps(tiny_denmark: Path) -> None:
    """Issue 18 item 3 (in part): solo owners are older than the other owners, with the
    owners' mean age unchanged; the held-out share of GPs under 45 in solo practice (14 %,
    2017) is the check, not this."""
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        d = wh.read_table("doctor").to_polars()
        c = wh.read_table("clinic").to_polars()
    owners = d.filter(pl.col("role") == "owner").join(c.select("provider_number", "form"),
                                                       on="provider_number")  # fmt: skip
    age = 2025 - pl.col("birth_year").cast(pl.Int32)
    solo = owners.filter(pl.col("form") == "solo").select(age.mean()).item()
    other = owners.filter(pl.col("form") != "solo").select(age.mean()).item()
    assert solo - other > 3
    assert 50 <= owners.select(age.mean()).item() <= 56


def test_christmas_eve_and_new_years_eve_are_out_of_hours_days(tiny_denmark: Path) -> None:
    """Issue 18 item 5 (in part): on 24 and 31 December clinics are closed and the
    lægevagt runs in daytime as on a public holiday (they are not public holidays in the
    `holidays` package); an ordinary weekday has no daytime out-of-hours contacts."""
    con = duckdb.connect(str(tiny_denmark / "warehouse.duckdb"), read_only=True)

    def daytime_ooh(day: str) -> int:
        return con.sql(f"""select count(*) from ooh_contact where cast(start_time as date) =
                           date '{day}' and hour(start_time) between 9 and 14""").fetchone()[0]  # type: ignore[index]

    sundays = [daytime_ooh(d) for d in ("2025-12-07", "2025-12-14", "2025-12-21")]
    for day in ("2025-12-24", "2025-12-31"):
        assert daytime_ooh(day) >= 0.5 * sum(sundays) / 3 > 0, day
        consultations = con.sql(f"""select count(*) from claim where service_date = date '{day}'
                                    and service_code = '0101'""").fetchone()[0]  # type: ignore[index]
        assert consultations == 0, day
    assert daytime_ooh("2025-12-17") == 0  # a Wednesday
    con.close()
