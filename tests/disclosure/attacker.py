"""An attacker on published tables: what do they tell about the true counts?

The attacker knows the disclosure rule (``almen.disclosure``: what a published value and
a hidden cell mean) and gathers published observations, each a sum of unknown true
counts (for example a health council's count = the sum of its clinics' counts) with a
published value or a hidden mark. For each cell it then finds the smallest and largest
true count that every observation allows, by integer programming (HiGHS), and so
recovers a count wherever the two are equal. This is the audit statistics offices run
(Tau-Argus, "interval audit"), and stronger than differencing by hand: it chains every
level, file and date at once.

Before issue 13 a published value was the true count and a hidden cell could hold
anything; ``semantics`` reads the rule off the module, so the same attack runs on both.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import highspy

from almen import disclosure

BIG = 10**7


def semantics() -> tuple[int, int | None]:
    """(rounding base, largest hidden count) of the rule in force; (1, None) before
    issue 13: exact values, hidden cells unbounded (secondary suppression)."""
    return getattr(disclosure, "ROUND_TO", 1), getattr(disclosure, "SUPPRESS_AT_MOST", None)


def value_bounds(published: float | None) -> tuple[float, float]:
    """What one published count says about the true count."""
    base, hidden_max = semantics()
    if published is None:
        return 0.0, float(BIG if hidden_max is None else hidden_max)
    half = base // 2
    low = published - half
    if hidden_max is not None:
        low = max(low, hidden_max + 1)
    return float(low), float(published + half)


@dataclass
class Observation:
    """Σ coef × cell = a published value (None: hidden)."""

    terms: dict[Hashable, float]
    published: float | None
    # a hidden share's numerator: hidden because it or the complement (terms of
    # ``complement``) is small; the attacker knows one of the two is
    complement: dict[Hashable, float] | None = None
    # hidden by the audit (secondary suppression), not for being small: the attacker is
    # told which (the worst case for the publisher)
    secondary: bool = False


@dataclass
class Attack:
    observations: list[Observation] = field(default_factory=list)

    def add(self, terms: dict[Hashable, float], published: float | None,
            complement: dict[Hashable, float] | None = None, secondary: bool = False) -> None:  # fmt: skip
        self.observations.append(Observation(terms, published, complement, secondary))

    def ranges(self, targets: Sequence[dict[Hashable, float]]) -> list[tuple[float, float]]:
        """The smallest and largest value of each target sum that all observations allow."""
        cells = sorted({k for o in self.observations for k in o.terms}
                       | {k for t in targets for k in t}
                       | {k for o in self.observations for k in (o.complement or {})}, key=repr)  # fmt: skip
        index = {k: i for i, k in enumerate(cells)}
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 0.0)
        for _ in cells:
            h.addVar(0.0, float(BIG))
        h.changeColsIntegrality(len(cells), list(range(len(cells))),
                                [highspy.HighsVarType.kInteger] * len(cells))  # fmt: skip
        _, hidden_max = semantics()
        for o in self.observations:
            if o.secondary:
                continue  # says nothing beyond ≥ 0
            idx = [index[k] for k in o.terms]
            vals = [o.terms[k] for k in o.terms]
            if o.complement is not None and o.published is None and hidden_max is not None:
                # numerator ≤ hidden_max or complement ≤ hidden_max, by a binary b
                b = h.getNumCol()
                h.addVar(0.0, 1.0)
                h.changeColsIntegrality(1, [b], [highspy.HighsVarType.kInteger])
                h.addRow(-highspy.kHighsInf, float(hidden_max), len(idx) + 1, [*idx, b],
                         [*vals, -float(BIG)])  # fmt: skip
                cidx = [index[k] for k in o.complement]
                cvals = [o.complement[k] for k in o.complement]
                h.addRow(-highspy.kHighsInf, float(hidden_max + BIG), len(cidx) + 1, [*cidx, b],
                         [*cvals, float(BIG)])  # fmt: skip
                continue
            lo, hi = value_bounds(o.published)
            h.addRow(lo, hi, len(idx), idx, vals)
        out = []
        n = h.getNumCol()
        for t in targets:
            got = []
            for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
                cost = [0.0] * n
                for k, v in t.items():
                    cost[index[k]] = v
                h.changeColsCost(n, list(range(n)), cost)
                h.changeObjectiveSense(sense)
                h.run()
                if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                    raise AssertionError(
                        f"the attack model is {h.modelStatusToString(h.getModelStatus())}"
                    )
                got.append(h.getInfo().objective_function_value)
            out.append((round(got[0]), round(got[1])))
        return out
