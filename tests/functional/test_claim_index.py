"""The same-day index (almen.claim_index): the check gives the same result with it as
with the window, and an index that no longer matches the claim table is not used
(seed 004 §5.2: duplicates and per-day limits come back)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from almen import claim_index, settlement
from almen.settlement import readers
from almen.warehouse import Warehouse

YEAR = 2025


def _check(wh: Warehouse, same_day: object) -> tuple[pl.DataFrame, pl.DataFrame]:
    checked = settlement.check_year(
        wh.read_table("claim"), wh.read_table("fee_schedule"), wh.read_table("patient"),
        settlement.load_service_rules(), year=YEAR, as_of=dt.date(YEAR + 1, 1, 31),
        same_day=same_day,  # type: ignore[arg-type]
    )  # fmt: skip
    summary = settlement.claim_summary(checked).sort(pl.all())
    returned = settlement.returned_lines(checked, settlement.load_return_rules())
    return summary, returned


def test_same_result_with_and_without_the_index(tiny_denmark: Path) -> None:
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        index = claim_index.read(wh)
        assert index is not None  # synth built it
        assert index.count().execute() > 0
        with_index = _check(wh, index)
        with_window = _check(wh, None)
    assert with_index[0].equals(with_window[0])
    assert with_index[1].equals(with_window[1])
    rules = set(with_index[1]["rule"].to_list())
    assert {"duplicate", "per_day"} & rules  # the index is doing work here


def test_a_stale_index_is_not_used_and_settle_rebuilds_it(tiny_copy: Path, call_cli) -> None:  # type: ignore[no-untyped-def]
    with Warehouse.connect(tiny_copy) as wh:
        c = wh.read_table("claim")
        one = c.filter(c.settlement_month == dt.date(YEAR, 3, 1)).limit(1).to_pyarrow()
        top = c.claim_id.max().execute()
        dup = one.set_column(0, "claim_id", [[int(top) + 1]])  # the same line again
        wh.append_table("claim", dup)
        assert claim_index.read(wh) is None  # the stamp no longer matches
        checked = readers.checked_year(
            wh, YEAR, dt.date(YEAR, 12, 1), as_of=dt.date(YEAR + 1, 1, 31)
        )
        r = checked.filter(checked.claim_id == int(top) + 1).select("rule").to_pyarrow()
        assert r.column(0).to_pylist() == ["duplicate"]  # found by the window
    res = call_cli("--data", str(tiny_copy), "settle", "--year", str(YEAR), "--month", "3")
    assert res.exit_code == 0, res.output
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        index = claim_index.read(wh)
        assert index is not None
        assert index.filter(index.claim_id == int(top) + 1).count().execute() == 1


def test_the_stamp_is_exact_past_2_to_the_53(tiny_copy: Path) -> None:
    """Issue 14: claims {1, 2^53 + 2} and {2, 2^53 + 2} have the same count and largest
    id, and sums 2^53 + 3 and 2^53 + 4 that a float64 rounds to one value; the integer
    stamp tells them apart, so the index of the first is not used for the second."""
    big = 2**53 + 2
    with Warehouse.connect(tiny_copy) as wh:
        two = wh.read_table("claim").limit(2).to_pyarrow()
        wh.write_table("claim", two.set_column(0, "claim_id", [[1, big]]))
        claim_index.build(wh)
        assert claim_index.read(wh) is not None
        wh.write_table("claim", two.set_column(0, "claim_id", [[2, big]]))
        assert float(1 + big) == float(2 + big)  # what a float stamp could not see
        assert claim_index.read(wh) is None


def test_a_stamp_of_an_earlier_version_is_not_trusted(tiny_copy: Path) -> None:
    """A stamp with a float sum (before issue 14) means: use the window, build anew."""
    import pyarrow as pa

    with Warehouse.connect(tiny_copy) as wh:
        wh.con.drop_table("claim_same_day_stamp", force=True)
        wh.con.create_table("claim_same_day_stamp", pa.table({
            "claim_rows": pa.array([1], pa.int64()), "max_claim_id": pa.array([1], pa.int64()),
            "sum_claim_id": pa.array([1.0], pa.float64())}))  # fmt: skip
        assert claim_index.read(wh) is None


def test_one_year_summary_gives_the_same_results_as_checking_each_time(
    tiny_denmark: Path,
) -> None:
    """§ 96, the frame, a service overview and a fee comparison read from one
    ``year_summary`` equal the same functions checking the claims themselves (the web
    app checks once and shares the summary)."""
    year, dec31 = 2025, dt.date(2025, 12, 31)
    with Warehouse.connect(tiny_denmark, read_only=True) as wh:
        summary = readers.year_summary(wh, year)
        pairs = [
            (readers.ceiling_for_year(wh, year, dec31),
             readers.ceiling_for_year(wh, year, dec31, summary=summary), "provider_number"),
            (readers.frame_for_year(wh, year)[0],
             readers.frame_for_year(wh, year, summary=summary)[0], None),
        ]  # fmt: skip
        clinic = pairs[0][0].sort("ratio")["provider_number"][-1]
        pairs.append(
            (readers.overview_for_clinic(wh, clinic, year)[0],
             readers.overview_for_clinic(wh, clinic, year, summary=summary)[0], "service_code")
        )  # fmt: skip
        scenario = Path(__file__).parents[2] / "docs" / "scenarios" / "underserved-supplement.toml"
        base = readers.compare_fees(wh, scenario, year=year)
        shared = readers.compare_fees(wh, scenario, year=year, summary=summary)
        assert base.totals == pytest.approx(shared.totals)
    for plain, shared, key in pairs:
        assert len(plain) > 0
        if key is not None:
            plain, shared = plain.sort(key), shared.sort(key)
        assert_frame_equal(plain, shared, check_exact=False, rel_tol=1e-9, abs_tol=1e-6)


def test_an_appended_batch_extends_the_index_as_a_rebuild_would(tiny_copy: Path) -> None:
    """Issue 14 item 3: an ingest that adds a month extends the index from the keys it
    touches instead of a window over all claims; the index equals a full rebuild (a new
    line that repeats an old one makes both lines indexed), and the stamp matches."""
    import pyarrow as pa

    with Warehouse.connect(tiny_copy) as wh:
        c = wh.read_table("claim")
        old = c.filter(c.settlement_month == dt.date(YEAR, 3, 1)).limit(50).to_pyarrow()
        top = int(c.claim_id.max().execute())
        # a batch: 50 repeats of March lines (each makes a new same-day key or joins one)
        batch = old.set_column(0, "claim_id", pa.array(range(top + 1, top + 51), pa.int64()))
        batch = batch.set_column(batch.schema.get_field_index("ingest_id"), "ingest_id",
                                 pa.array(["batch-x"] * 50))  # fmt: skip
        assert claim_index.read(wh) is not None
        wh.append_table("claim", batch)
        added = claim_index.extend(wh, ["batch-x"])
        extended = claim_index.read(wh)
        assert extended is not None  # the stamp matches the claims again
        got = set(extended.to_pyarrow().column("claim_id").to_pylist())
        claim_index.build(wh)
        rebuilt = set(claim_index.read(wh).to_pyarrow().column("claim_id").to_pylist())  # type: ignore[union-attr]
    assert got == rebuilt
    assert added >= 50 and set(old.column("claim_id").to_pylist()) <= got


def test_settle_says_no_fee_schedule_before_any_expensive_work(tiny_copy: Path, call_cli) -> None:  # type: ignore[no-untyped-def]
    """Cheap errors first: a year without a fee schedule exits 2 naming it, and the stale
    same-day index is not rebuilt on the way (that costs a window over every claim)."""
    with Warehouse.connect(tiny_copy) as wh:
        wh.con.drop_table("claim_same_day_stamp")
    res = call_cli("--data", str(tiny_copy), "settle", "--year", "2019")
    assert res.exit_code == 2
    assert "2019" in res.output
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        assert not wh.has_table("claim_same_day_stamp")
