"""Disclosure control (Hypothesis, issue 13): no published count is 0-7, every published
count is within 2 of the truth and a multiple of 5, and differencing a rounded total
against its rounded cells never pins a hidden cell."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.disclosure import (
    ROUND_TO,
    SUPPRESS_AT_MOST,
    audit_sums,
    bounds,
    protect,
    protected_share,
    rounded,
)
from tests.disclosure.attacker import Attack


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=50))
def test_published_counts_are_rounded_and_never_small(values: list[int]) -> None:
    out = pl.DataFrame({"n": values}).select(protect(pl.col("n")))["n"].to_list()
    for v, r in zip(values, out, strict=True):
        assert r == rounded(v)
        if v <= SUPPRESS_AT_MOST:
            assert r is None
        else:
            assert r is not None and r % ROUND_TO == 0 and abs(r - v) <= ROUND_TO // 2
            lo, hi = bounds(r)
            assert hi is not None and lo <= v <= hi


def _attack(cells: list[int], published: dict[object, int | None],
            sums: list[tuple[object, list[object]]]) -> list[tuple[int, int]]:  # fmt: skip
    attack = Attack()
    for k, v in published.items():
        parts = next((p for t, p in sums if t == k), [k])
        true = sum(cells[i] for i in parts)  # type: ignore[call-overload]
        attack.add(dict.fromkeys(parts, 1.0), v, secondary=v is None and true > SUPPRESS_AT_MOST)  # type: ignore[misc]
    return attack.ranges([{i: 1.0} for i in range(len(cells))])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=2, max_size=8))
def test_a_total_against_its_cells_pins_no_hidden_cell(cells: list[int]) -> None:
    """Rounding and the audit, then the attacker's integer programme (HiGHS, stronger
    than the audit's interval reasoning) on a total and its cells."""
    sums: list[tuple[object, list[object]]] = [("total", list(range(len(cells))))]
    raw = {**{i: rounded(c) for i, c in enumerate(cells)}, "total": rounded(sum(cells))}
    published = audit_sums(raw, sums)  # type: ignore[arg-type]
    for (lo, hi), c in zip(_attack(cells, published, sums), cells, strict=True):
        assert lo <= c <= hi
        if c <= SUPPRESS_AT_MOST:
            assert lo < hi, f"hidden cell {c} pinned from {cells}"


def test_the_audit_hides_a_total_that_would_pin_a_cell() -> None:
    """docs/disclosure.md: a hidden 0 beside four 8s under a total of 32. Published as
    four 10s and 30, the total allows 28-32 and the four cells at least 32: the hidden
    cell is 0. Four hidden 7s under 28 (published 30) are each 7. The audit hides both
    totals; the cells are published as before."""
    for cells in ([0, 8, 8, 8, 8], [7, 7, 7, 7]):
        sums: list[tuple[object, list[object]]] = [("total", list(range(len(cells))))]
        raw = {**{i: rounded(c) for i, c in enumerate(cells)}, "total": rounded(sum(cells))}
        assert _attack(cells, raw, sums)[0][0] == _attack(cells, raw, sums)[0][1]  # pinned
        published = audit_sums(raw, sums)  # type: ignore[arg-type]
        assert published["total"] is None
        assert [published[i] for i in range(len(cells))] == [raw[i] for i in range(len(cells))]
        lo, hi = _attack(cells, published, sums)[0]
        assert lo < hi


def test_rounding_and_shares_by_hand() -> None:
    """docs/disclosure.md, worked example: 56 frail patients, 0 with a visit: the share
    is hidden (0 is small); 56 with 49 visits: the complement 7 is small, so x is hidden
    too; 56 with 20: x 20, n 55, p 20/55."""
    assert [rounded(v) for v in (0, 4, 7, 8, 12, 13, 56, 1_234)] == [
        None, None, None, 10, 10, 15, 55, 1_235,
    ]  # fmt: skip
    x, n, p = protected_share(pl.col("x"), pl.col("n"))
    got = pl.DataFrame({"x": [0, 49, 20], "n": [56, 56, 56]}).select(x=x, n=n, p=p)
    assert got["n"].to_list() == [55, 55, 55]
    assert got["x"].to_list() == [None, None, 20]
    assert got["p"].to_list()[:2] == [None, None]
    assert abs(got["p"][2] - 20 / 55) < 1e-12
