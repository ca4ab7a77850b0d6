"""Disclosure control for every aggregate that leaves a clinic.

Patient data is sensitive: a count of 1-4 people in a cell can identify them. Every
output path that publishes counts above the clinic (cluster, region, national) passes its
table through ``suppress``:

- primary suppression: a count from 1 to ``threshold`` − 1 (default 1-4) is hidden;
- secondary suppression: wherever the cells of a margin (the cells that add up to a
  published total: a row, a column) have exactly one hidden cell, it could be recovered
  as the total minus the others, so the smallest other non-zero cell of that margin is
  hidden too (a zero cell if none), and this repeats over all margins until no margin
  has exactly one hidden cell.

Zeros are published: they identify nobody. Totals are computed from the true counts
before suppression and published, as a statistics office does.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

__all__ = ["SUPPRESSED_SUFFIX", "THRESHOLD", "margin_totals", "suppress"]

THRESHOLD = 5
SUPPRESSED_SUFFIX = "_suppressed"


def suppress(
    table: pl.DataFrame,
    count: str,
    margins: Sequence[Sequence[str]],
    *,
    threshold: int = THRESHOLD,
) -> pl.DataFrame:
    """``table`` with ``count`` set to null where it must not be shown.

    ``margins`` lists the groupings whose totals are (or could be) published: for a
    clinic × group table with per-clinic and per-group totals, ``[["clinic"], ["group"]]``;
    for a one-way table with a grand total, ``[[]]``. A boolean column
    ``<count>_suppressed`` says which cells are hidden (and why is not told: the reason
    of a secondary cell would point to the primary one).
    """
    if count not in table.columns:
        raise KeyError(f"no column {count!r} to suppress")
    n = len(table)
    values = table[count].fill_null(0).to_list()
    hidden = [1 <= v < threshold for v in values]
    groups: list[list[list[int]]] = []
    for keys in margins:
        if keys:
            idx = (
                table.with_row_index("_i")
                .group_by(list(keys), maintain_order=True)
                .agg(pl.col("_i"))
            )
            groups.append([list(g) for g in idx["_i"].to_list()])
        else:
            groups.append([list(range(n))])
    changed = True
    while changed:
        changed = False
        for margin in groups:
            for cells in margin:
                n_hidden = sum(hidden[i] for i in cells)
                if n_hidden != 1:
                    continue
                candidates = [i for i in cells if not hidden[i]]
                if not candidates:
                    continue
                nonzero = [i for i in candidates if values[i] > 0]
                pick = min(nonzero or candidates, key=lambda i: (values[i], i))
                hidden[pick] = True
                changed = True
    flag = f"{count}{SUPPRESSED_SUFFIX}"
    return table.with_columns(
        pl.Series(flag, hidden, dtype=pl.Boolean),
    ).with_columns(
        pl.when(pl.col(flag)).then(None).otherwise(pl.col(count)).alias(count),
    )


def margin_totals(
    original: pl.DataFrame,
    suppressed: pl.DataFrame,
    count: str,
    keys: Sequence[str],
    *,
    threshold: int = THRESHOLD,
) -> pl.DataFrame:
    """The totals of one margin of a table passed through ``suppress``, safe to publish.

    A total is the sum of the true counts; it is hidden (null) when it is itself 1 to
    ``threshold`` − 1, or when its only cell is hidden (it would reveal that cell).
    """
    flag = f"{count}{SUPPRESSED_SUFFIX}"
    merged = original.select(*keys, count).with_columns(suppressed[flag])
    grouped = (
        merged.group_by(list(keys), maintain_order=True)
        if keys
        else merged.with_columns(pl.lit(0).alias("_all")).group_by("_all")
    )
    out = grouped.agg(
        total=pl.col(count).fill_null(0).sum(),
        cells=pl.len(),
        hidden=pl.col(flag).sum(),
    )
    unsafe = ((pl.col("total") >= 1) & (pl.col("total") < threshold)) | (
        (pl.col("cells") == 1) & (pl.col("hidden") == 1)
    )
    out = out.with_columns(pl.when(unsafe).then(None).otherwise(pl.col("total")).alias("total"))
    return out.drop("cells", "hidden", *(["_all"] if not keys else []))
