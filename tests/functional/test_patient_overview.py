"""The patient overview (seed 002 §8.2) and its FHIR R4B bundle; care plans stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from almen import population, reference
from almen.population.patient import patient_overview
from almen.warehouse import Warehouse
from tests.functional.test_case_finding import AS_OF, FRAIL, _world
from tests.settlement_world import D


def _overview(path: Path, pid: int, as_of: dt.date = AS_OF) -> population.patient.PatientOverview:
    with Warehouse.connect(path) as wh:
        return patient_overview(
            pid,
            wh.read_table("patient"),
            wh.read_table("condition"),
            wh.read_table("medication"),
            wh.read_table("claim"),
            reference.load_condition_codes(),
            population.load_definitions(),
            as_of=as_of,
        )


def test_overview_shows_diagnoses_drugs_contacts_and_efforts(tmp_path: Path) -> None:
    path = _world(tmp_path)
    o = _overview(path, 9)  # born 1940, five eFI deficits, a home visit in June
    assert sorted(d["code"] for d in o.diagnoses) == sorted(FRAIL)
    assert o.contacts == {"home visit": 1}
    assert {e["definition"] for e in o.efforts} == {"rarely_in_contact"}
    p12 = _overview(path, 12)
    assert len(p12.drugs) == 5


def test_overview_shows_only_what_was_known_on_its_date(tmp_path: Path) -> None:
    """Issue 19 item 5: a diagnosis made, a condition ended and a yearly control given
    after the as-of date are not in the overview of that date; a leap day is a date."""
    import pyarrow as pa

    path = _world(tmp_path)
    with Warehouse.connect(path) as wh:
        c = wh.read_table("condition").to_pyarrow()
        extra = pa.table({"patient_id": pa.array([6, 6], pa.int64()), "code": ["K77", "R96"],
                          "onset_date": pa.array([D(2026, 3, 1), D(2019, 1, 1)], pa.date32()),
                          "diagnosed_by": ["gp", "gp"],
                          "end_date": pa.array([None, D(2024, 6, 30)], pa.date32())})  # fmt: skip
        wh.write_table(
            "condition", pa.concat_tables([c, extra.select(c.column_names).cast(c.schema)])
        )
        cl = wh.read_table("claim").to_pyarrow().to_pylist()
        later = dict(cl[0], claim_id=999, patient_id=6, service_code="0120",
                     service_date=D(2026, 2, 1), settlement_month=D(2026, 2, 1))  # fmt: skip
        wh.write_table("claim", pa.Table.from_pylist([*cl, later],
                                                     schema=wh.read_table("claim").schema().to_pyarrow()))  # fmt: skip
    now = _overview(path, 6)
    assert [d["code"] for d in now.diagnoses] == ["T90"]  # K77 is later, R96 ended
    assert now.last_yearly_control is None  # the control of February 2026 is after
    later_view = _overview(path, 6, dt.date(2028, 2, 29))
    assert {d["code"] for d in later_view.diagnoses} == {"T90", "K77"}
    assert later_view.last_yearly_control == D(2026, 2, 1)


def test_impossible_as_of_exits_2_and_the_default_is_the_data(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    bad = call_cli("--data", str(tiny_denmark), "findings", "--as-of", "2027-02-30")
    assert bad.exit_code == 2 and "real date" in bad.stderr
    ok = call_cli("--data", str(tiny_denmark), "findings")
    assert ok.exit_code == 0, ok.output
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        last = wh.last_data_date()
    assert f"as of {last} (the warehouse's last data date" in ok.stderr


def test_unknown_patient_exits_2(call_cli, tiny_denmark: Path) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "patient", "12345")
    assert result.exit_code == 2
    assert "no such patient" in result.stderr
    plan = call_cli("--data", str(tiny_denmark), "careplan", "12345", "--title", "x")
    assert plan.exit_code == 2
