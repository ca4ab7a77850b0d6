"""Closing limits (danish-facts §2.4, §2.7; seed 002 §4.4)."""

from __future__ import annotations

import polars as pl
import pytest

from almen.capacity.limits import closing_limits


def test_closing_limits_by_hand() -> None:
    """National vulnerable share: (0.05 × 1,000 + 0.15 × 1,000) / 2,000 = 0.10.
    A: 1 FTE, need 1.25, share 0.05 → 1,600 / 1.25 = 1,280.
    B: 1 FTE, need 0.8, share 0.15 (excess 0.05) → 1,600 / 0.8 × 0.95 = 1,900; a new GP
       (1 year) in an underserved area → × 0.9 = 1,710.
    The old rule: 1,600 for both; A with 1,000 listed may close under neither."""
    clinics = pl.DataFrame(
        {
            "provider_number": ["A", "B"],
            "fte": [1.0, 1.0],
            "listed": [1000, 1000],
            "need_index": [1.25, 0.8],
            "vulnerable_share": [0.05, 0.15],
            "underserved": [False, True],
            "years_established": [None, 1],
        }
    )
    out = {r["provider_number"]: r for r in closing_limits(clinics).to_dicts()}
    assert out["A"]["new_limit"] == pytest.approx(1280.0)
    assert out["B"]["new_limit"] == pytest.approx(1710.0)
    assert out["A"]["old_limit"] == 1600.0
    assert out["A"]["may_close_new"] is False and out["A"]["may_close_old"] is False


def test_limits_command(call_cli, tiny_denmark) -> None:  # type: ignore[no-untyped-def]
    result = call_cli("--data", str(tiny_denmark), "capacity", "limits")
    assert result.exit_code == 0, result.output
    assert "under the need-based limit" in result.stdout
    assert call_cli("--data", str(tiny_denmark), "capacity", "limits", "--norm", "0").exit_code == 2
