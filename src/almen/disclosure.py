"""Disclosure control: the one module every published count goes through.

Every number about patients that leaves a clinic (to a cluster, municipality, health
council, region or the country; on the CLI, the API, the pages and in exports) is a
count, a denominator, a total, or a share or limit computed from them. The method
(docs/disclosure.md) is OpenSAFELY's, applied to the table actually published:

- a count from 0 to ``SUPPRESS_AT_MOST`` (7) is not published (``None``): small
  counts identify people, and zeros disclose a group ("none of the 56 had a visit");
- every other count is rounded to the nearest ``ROUND_TO`` (5): 8-12 → 10, 13-17 → 15;
- a share is two published counts divided (never the true counts), and a share whose
  numerator or complement (denominator − numerator) is hidden is hidden too;
- a total is rounded on its own from the true total, never summed from published cells;
- an audit (``audit_sums``) then plays the attacker on everything published together
  (every level's totals and their parts): rounding leaves a hidden cell one possible
  value only when every rounding error of a total and its parts is extreme at once (a
  hidden 0 beside four 8s under a total of 32, published as 30 and four 10s); where
  that happens, the total is hidden too (secondary suppression).

Why differencing fails: a published value r tells only that the true count lies in
r − 2 … r + 2, so a hidden cell recovered as "total − the other cells" lies in an interval
of at least 9 values, whatever the level, the date or the file it is taken from; and a
share × its denominator gives back only the rounded numerator. ``bounds`` states what a
published value tells, for the auditors in the tests (tests/disclosure).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import polars as pl

__all__ = [
    "ROUND_TO",
    "SUPPRESS_AT_MOST",
    "audit_sums",
    "bounds",
    "protect",
    "protect_columns",
    "protected_share",
    "rounded",
]

SUPPRESS_AT_MOST = 7  # counts 0..7 are hidden
ROUND_TO = 5  # other counts are rounded to the nearest 5


def rounded(value: int) -> int | None:
    """One count as it is published: None for 0-7, else the nearest multiple of 5."""
    if value <= SUPPRESS_AT_MOST:
        return None
    return (value + ROUND_TO // 2) // ROUND_TO * ROUND_TO


def protect(count: pl.Expr) -> pl.Expr:
    """``rounded`` on a column of counts (Int64 out; nulls stay null)."""
    c = count.cast(pl.Int64)
    return pl.when(c > SUPPRESS_AT_MOST).then((c + ROUND_TO // 2) // ROUND_TO * ROUND_TO)


def protect_columns(table: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """``table`` with each count column in ``columns`` as published."""
    return table.with_columns([protect(pl.col(c)).alias(c) for c in columns])


def protected_share(numerator: pl.Expr, denominator: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """A share as published, from true counts: (x, n, x / n), each None where hidden.

    n is the published denominator; x the published numerator, hidden also when the
    complement n − x is 0-7 ("all of them"); the share is x / n of the published counts.
    """
    n = protect(denominator)
    complement = protect(denominator - numerator)
    x = pl.when(complement.is_not_null()).then(protect(numerator))
    share = pl.when(x.is_not_null() & n.is_not_null()).then(x / n)
    return x, n, share


def bounds(published: int | None) -> tuple[int, int | None]:
    """What a published count says about the true count: (lowest, highest); None as the
    highest is no upper bound. A hidden count (None) lies in 0 … ``SUPPRESS_AT_MOST``."""
    if published is None:
        return 0, SUPPRESS_AT_MOST
    half = ROUND_TO // 2
    return max(published - half, SUPPRESS_AT_MOST + 1), published + half


INF = float("inf")


def _tighten(
    lo: dict[Hashable, float], hi: dict[Hashable, float],
    sums: Sequence[tuple[Hashable, Sequence[Hashable]]],
) -> None:  # fmt: skip
    """Interval propagation over total = Σ parts, in place, to a fixed point."""
    changed = True
    while changed:
        changed = False
        for total, parts in sums:
            lo_sum = sum(lo[c] for c in parts)
            hi_sum = sum(hi[c] for c in parts)
            new_lo, new_hi = max(lo[total], lo_sum), min(hi[total], hi_sum)
            if (new_lo, new_hi) != (lo[total], hi[total]):
                lo[total], hi[total], changed = new_lo, new_hi, True
            for c in parts:
                c_lo = max(lo[c], lo[total] - (hi_sum - hi[c]))
                c_hi = min(hi[c], hi[total] - (lo_sum - lo[c]))
                if (c_lo, c_hi) != (lo[c], hi[c]):
                    lo[c], hi[c], changed = c_lo, c_hi, True


def audit_sums(
    published: dict[Hashable, int | None],
    sums: Sequence[tuple[Hashable, Sequence[Hashable]]],
    hidden_bounds: dict[Hashable, tuple[float, float]] | None = None,
) -> dict[Hashable, int | None]:
    """``published`` with the totals hidden that would let an attacker pin a hidden cell.

    ``published``: each cell's published value (None: hidden, 0-7); ``sums``: the
    relations total = Σ parts among those cells (every level published together).
    ``hidden_bounds``: what the attacker may know of a hidden cell, where it is more than
    0-7 (a share's numerator hidden because its complement is small). The attacker's
    reasoning is interval propagation over all relations at once; a hidden cell left
    with one possible value has the published totals of its relations hidden (their
    bounds become 0-∞), and the audit repeats until no hidden cell is pinned.
    """
    out = dict(published)
    secondary: set[Hashable] = set()
    extra = hidden_bounds or {}
    for _ in range(len(out) + 1):
        lo: dict[Hashable, float] = {}
        hi: dict[Hashable, float] = {}
        for k, v in out.items():
            if k in secondary:
                lo[k], hi[k] = 0.0, INF
            elif v is None:
                lo[k], hi[k] = extra.get(k, (0.0, float(SUPPRESS_AT_MOST)))
            else:
                b_lo, b_hi = bounds(v)
                lo[k], hi[k] = float(b_lo), INF if b_hi is None else float(b_hi)
        _tighten(lo, hi, sums)
        pinned = [k for k, v in out.items() if v is None and k not in secondary and lo[k] == hi[k]]
        if not pinned:
            return out
        for k in pinned:
            totals = [t for t, parts in sums if k in parts and out[t] is not None]
            if not totals:  # a hidden total pinned by its parts: hide the published parts
                totals = [c for t, parts in sums if t == k for c in parts if out[c] is not None]
            for t in totals:
                out[t] = None
                secondary.add(t)
    raise AssertionError("the disclosure audit did not settle")
