"""Disclosure control (Hypothesis): nothing between 1 and 4 is shown, and no hidden cell
can be recovered as a published total minus the other published cells."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.disclosure import margin_totals, suppress


def _table(rows: int, cols: int, counts: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "clinic": [f"c{i}" for i in range(rows) for _ in range(cols)],
            "group": [f"g{j}" for _ in range(rows) for j in range(cols)],
            "n": counts[: rows * cols],
        }
    )


tables = st.integers(1, 6).flatmap(
    lambda r: st.integers(1, 6).flatmap(
        lambda c: st.lists(
            st.one_of(st.integers(0, 6), st.integers(0, 200)), min_size=r * c, max_size=r * c
        ).map(lambda xs: _table(r, c, xs))
    )
)


@settings(max_examples=300, deadline=None)
@given(tables)
def test_no_small_cell_is_visible_and_no_hidden_cell_is_recoverable(t: pl.DataFrame) -> None:
    out = suppress(t, "n", [["clinic"], ["group"]])
    visible = out["n"].drop_nulls().to_list()
    assert not any(1 <= v <= 4 for v in visible)
    for keys in (["clinic"], ["group"]):
        totals = margin_totals(t, out, "n", keys)
        assert not any(1 <= v <= 4 for v in totals["total"].drop_nulls().to_list())
        joined = out.join(totals, on=keys)
        for _key, part in joined.group_by(keys):
            if part["total"][0] is None:
                continue
            hidden = part["n_suppressed"].sum()
            # exactly one hidden cell under a published total could be recovered
            assert hidden != 1


def test_primary_and_secondary_suppression_by_hand() -> None:
    """A clinic with 3 in one group: 3 is hidden (primary); its row total would reveal it
    as total − the others, so the smallest other cell of the row (7) is hidden too; the
    columns of 3 and 7 then have one hidden cell each, so the smallest other cells of
    those columns are hidden as well (20 and 30)."""
    t = pl.DataFrame(
        {"clinic": ["A", "A", "A", "B", "B", "B"], "group": ["x", "y", "z"] * 2,
         "n": [3, 7, 50, 20, 30, 40]}
    )  # fmt: skip
    out = suppress(t, "n", [["clinic"], ["group"]])
    assert out["n"].to_list() == [None, None, 50, None, None, 40]
    assert margin_totals(t, out, "n", ["clinic"])["total"].to_list() == [60, 90]


def test_a_zero_beside_a_lone_hidden_cell_is_hidden_and_a_small_total_too() -> None:
    t = pl.DataFrame({"clinic": ["A", "A"], "group": ["x", "y"], "n": [0, 2]})
    out = suppress(t, "n", [[]])
    assert out["n"].to_list() == [None, None]  # 2 hidden, then 0 hidden beside it
    assert margin_totals(t, out, "n", [])["total"].to_list() == [None]
