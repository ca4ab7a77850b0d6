"""Properties of settlement (Hypothesis): every submitted line is accepted or returned."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from almen import settlement
from almen.warehouse import Warehouse
from tests.settlement_world import FEES, World

CODES = [f[0] for f in FEES if f[0] != "BASIS"] + ["9999"]
claim_st = st.tuples(
    st.sampled_from(["100001", "100002"]),
    st.integers(1, 6),  # patient 6 is not in the register
    st.sampled_from(CODES),
    st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    st.integers(-1, 3),
    st.sampled_from(["day", "evening", "ooh"]),
    st.integers(0, 2),  # months the settlement period lags the service date
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(claim_st, min_size=1, max_size=60))
def test_accepted_plus_returned_equals_submitted_in_lines_and_dkk(claims: list) -> None:
    """Seed 004 §5.2: each line is paid or comes back, and the amounts reconcile with
    the lines sent (counted and priced from the input, not from the checked table)."""
    w = World(clinics=[("100001", "0101"), ("100002", "0851")])
    for pid in range(1, 6):
        w.patient(pid, "100001" if pid <= 3 else "100002", birth_year=1930 + 15 * pid)
    for provider, pid, code, day, q, band, lag in claims:
        month = dt.date(day.year, day.month, 1)
        m = month.month + lag
        month = dt.date(month.year + (m - 1) // 12, (m - 1) % 12 + 1, 1)
        w.claim(provider, pid, code, day, quantity=q, month=month, band=band)
    with tempfile.TemporaryDirectory() as tmp:
        path = w.write(Path(tmp) / "w")
        with Warehouse.connect(path) as wh:
            checked = settlement.check_year(
                wh.read_table("claim"),
                wh.read_table("fee_schedule"),
                wh.read_table("patient"),
                settlement.load_service_rules(),
                year=2025,
                through_month=12,
                as_of=dt.date(2026, 6, 1),
            )
            all_lines = checked.to_polars()
            by_month = settlement.monthly_claims(checked)
    in_period = [c for c in w.claims if c[5] is not None and c[5].year == 2025]
    assert len(all_lines) == len(in_period)
    assert all_lines["claim_id"].n_unique() == len(all_lines)
    accepted = by_month.filter(~pl.col("returned"))
    returned = by_month.filter(pl.col("returned"))
    assert accepted["lines"].sum() + returned["lines"].sum() == len(in_period)
    # against the input lines, priced here from the fee table (not the checked table):
    # price × quantity, nothing for an unknown service
    price = {code: p for code, p, *_ in FEES}
    submitted_dkk = sum(price.get(c[2], 0.0) * c[4] for c in in_period)
    assert abs(accepted["dkk"].sum() + returned["dkk"].sum() - submitted_dkk) < 1e-6
    for clinic in ("100001", "100002"):  # and clinic by clinic
        mine = by_month.filter(pl.col("provider_number") == clinic)
        sent = [c for c in in_period if c[0] == clinic]
        assert mine["lines"].sum() == len(sent)
        sent_dkk = sum(price.get(c[2], 0.0) * c[4] for c in sent)
        assert abs(mine["dkk"].sum() - sent_dkk) < 1e-6
