"""Shift rosters for out-of-hours: the fewest shift hours that cover each hour's need
(an integer programme solved with HiGHS).

Seed 002 §3 (the out-of-hours service: doctors where and when the activity is, a
maximum load per doctor) gives, per site and hour, the doctors needed (``ooh.staffing``)
and the agents on the phone line (``ooh.phone_plan``). People work shifts, not hours:

    minimise   Σ_s L_s x_s
    subject to Σ_{s covers h} x_s ≥ need_h   for every hour h of the week,
               x_s ≥ 0 integer,

where s runs over every start hour of the week and every allowed length L_s (default 4,
6 and 8 hours), and a shift covers its L_s hours from its start, wrapping from Sunday
night into Monday (the week repeats). The surplus Σ L_s x_s − Σ need_h is the price of
whole shifts.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from almen.access.ooh import HOLIDAY
from almen.errors import ParameterError
from almen.solver import quiet_highs

__all__ = ["roster", "week_rosters"]

HOURS_PER_WEEK = 7 * 24


def roster(need: np.ndarray, lengths: tuple[int, ...] = (4, 6, 8)) -> pl.DataFrame:
    """Shifts (start hour 0-167 of the week from Monday 00:00, length, count) that cover
    ``need`` at the fewest shift hours; ties go to the earliest start and the longest
    shift. ``need`` is 168 hourly numbers (a week, which repeats: a shift may run from
    Sunday night into Monday) or 24 (one day on its own, a holiday: every shift starts
    and ends inside it). An empty table when nothing is needed."""
    import highspy

    need = np.asarray(need, dtype=float)
    if need.shape not in ((HOURS_PER_WEEK,), (24,)) or (need < 0).any():
        raise ParameterError("a roster needs 168 (a week) or 24 (a day) hourly numbers, "
                             "none negative")  # fmt: skip
    if not lengths or any(not 1 <= n <= 24 for n in lengths):
        raise ParameterError("shift lengths must be between 1 and 24 hours")
    schema = {"start": pl.Int64, "length": pl.Int64, "count": pl.Int64}
    if need.sum() == 0:
        return pl.DataFrame(schema=schema)
    span = len(need)
    wrap = span == HOURS_PER_WEEK
    shifts = [(s, n) for n in sorted(set(lengths), reverse=True) for s in range(span)
              if wrap or s + n <= span]  # fmt: skip
    m = len(shifts)
    h = quiet_highs()
    h.addVars(m, np.zeros(m), np.full(m, highspy.kHighsInf))
    h.changeColsIntegrality(
        m, np.arange(m, dtype=np.int32), np.full(m, highspy.HighsVarType.kInteger)
    )
    # cost: the hours, and a tiny preference for early starts and long shifts (ties)
    cost = np.array([n + 1e-6 * (s + 1) / span for s, n in shifts])
    h.changeColsCost(m, np.arange(m, dtype=np.int32), cost)
    covers: list[list[int]] = [[] for _ in range(span)]
    for j, (s, n) in enumerate(shifts):
        for k in range(n):
            covers[(s + k) % span].append(j)
    for hour, cols in enumerate(covers):
        if need[hour] > 0:
            h.addRow(float(np.ceil(need[hour])), highspy.kHighsInf, len(cols),
                     np.array(cols, dtype=np.int32), np.ones(len(cols)))  # fmt: skip
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise ParameterError(f"no roster: {h.modelStatusToString(h.getModelStatus())}")
    x = np.round(np.asarray(h.getSolution().col_value)).astype(np.int64)
    rows = [{"start": s, "length": n, "count": int(c)}
            for (s, n), c in zip(shifts, x, strict=True) if c > 0]  # fmt: skip
    return pl.DataFrame(rows, schema=schema).sort("start", "length")


def _week(rows: pl.DataFrame, column: str) -> np.ndarray:
    """A (weekday, hour, column) table's ordinary week as 168 hourly numbers."""
    week = np.zeros(HOURS_PER_WEEK)
    r = rows.filter(pl.col("weekday") < 7)
    idx = r["weekday"].to_numpy().astype(int) * 24 + r["hour"].to_numpy().astype(int)
    np.add.at(week, idx, r[column].to_numpy().astype(float))
    return week


def _holiday(rows: pl.DataFrame, column: str) -> np.ndarray:
    """A table's holiday (day type 7) as 24 hourly numbers."""
    day = np.zeros(24)
    r = rows.filter(pl.col("weekday") == HOLIDAY)
    np.add.at(day, r["hour"].to_numpy().astype(int), r[column].to_numpy().astype(float))
    return day


def week_rosters(
    plan: pl.DataFrame,
    phone: pl.DataFrame,
    lengths: tuple[int, ...] = (4, 6, 8),
    coordinator: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rosters for each face-to-face site's doctors (``plan``'s ``doctors``), the phone
    line's rostered agents (``phone``'s ``rostered``) and, if given, the coordinator
    doctors (``coordinator``'s ``rostered``): one for an ordinary week and one for a
    holiday (day type 7, its own 24 hours; ``day`` 7 in the shifts). Returns the shifts
    (who, day 0 = Monday … 6 = Sunday or 7 = a holiday, hour, length, count) and per
    roster (who, day_type "week" or "holiday") the hours needed, the shift hours and the
    surplus."""
    shifts, totals = [], []
    who = [(str(s), g, "doctors") for (s,), g in plan.group_by("site", maintain_order=True)]
    who.append(("phone line", phone, "rostered"))
    if coordinator is not None:
        who.append(("coordinator", coordinator, "rostered"))
    for name, rows, column in who:
        for kind, need in (("week", _week(rows, column)), ("holiday", _holiday(rows, column))):
            if kind == "holiday" and need.sum() == 0:
                continue
            r = roster(need, lengths)
            hours = int((r["length"] * r["count"]).sum()) if r.height else 0
            totals.append({"who": name, "day_type": kind, "hours_needed": float(need.sum()),
                           "shift_hours": hours, "shifts": int(r["count"].sum()) if r.height else 0,
                           "surplus_hours": hours - float(need.sum())})  # fmt: skip
            day = pl.lit(HOLIDAY, pl.Int64) if kind == "holiday" else pl.col("start") // 24
            shifts.append(r.with_columns(who=pl.lit(name), day=day, hour=pl.col("start") % 24))
    cols = ["who", "day", "hour", "length", "count"]
    out = pl.concat([x.select(cols) for x in shifts]) if shifts else pl.DataFrame()
    return out, pl.DataFrame(totals)
