"""The command line: bad input gives one clear line and exit code 2; good input works."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from almen.synth.holdout import load_held_out
from almen.warehouse import WAREHOUSE_FILE, Warehouse

Cli = Callable[..., Result]


def _one_line(result: Result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ("0", "--scale must be above 0"),
        ("-1", "--scale must be above 0"),
        ("nan", "must be a number"),
    ],
)
def test_synth_rejects_bad_scale_when_not_positive(
    call_cli: Cli, tmp_path: Path, scale: str, expected: str
) -> None:
    """--scale 0, a negative or a non-number scale: one line, exit 2, nothing written."""
    result = call_cli("--data", str(tmp_path / "d"), "synth", "--scale", scale)
    assert result.exit_code == 2
    assert expected in _one_line(result)
    assert not (tmp_path / "d" / WAREHOUSE_FILE).exists()


def test_synth_rejects_year_when_no_fee_schedule(call_cli: Cli, tmp_path: Path) -> None:
    """A year no fee schedule covers: one line naming the years that have one, exit 2."""
    result = call_cli("--data", str(tmp_path / "d"), "synth", "--scale", "0.01", "--year", "2019")
    assert result.exit_code == 2
    line = _one_line(result)
    assert "no fee schedule covers the year 2019" in line and "2022–2027" in line


def test_synth_rejects_data_dir_when_unwritable(call_cli: Cli, tmp_path: Path) -> None:
    """A data directory that cannot be written (here: below a regular file) → exit 2."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = call_cli("--data", str(blocker / "sub"), "synth", "--scale", "0.01")
    assert result.exit_code == 2
    assert "cannot write to data directory" in _one_line(result)


def test_synth_writes_warehouse_and_prints_calibration(call_cli: Cli, tmp_path: Path) -> None:
    """`almen synth` at scale 0.01 shows progress, row counts and the calibration table's
    two parts: the targets and, apart, the held-out figures with their bands."""
    result = call_cli("--data", str(tmp_path / "d"), "synth", "--scale", "0.01", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / WAREHOUSE_FILE).exists()
    out = result.stdout
    assert "Targets (tuned to)" in out and "contacts_per_person" in out
    n_held = load_held_out().height
    assert "Held out (never tuned to)" in out and f"of {n_held} inside their band" in out
    assert out.index("Targets (tuned to)") < out.index("Held out (never tuned to)")


def test_demo_builds_data_when_missing_then_reuses_it(call_cli: Cli, tmp_path: Path) -> None:
    """`almen demo` generates demo data once; a second run shows what is there."""
    # A long path (as on CI) must not split the message across lines.
    data = tmp_path / ("long-directory-name-" * 4) / "d"
    first = call_cli("--data", str(data), "demo", "--scale", "0.005", "--no-serve")
    assert first.exit_code == 0, first.output
    assert "generating synthetic Denmark" in first.stdout
    second = call_cli("--data", str(data), "demo", "--no-serve")
    assert second.exit_code == 0
    assert "generating" not in second.stdout and "claim" in second.stdout


def test_tables_reports_missing_warehouse(call_cli: Cli, tmp_path: Path) -> None:
    """Reading an empty data directory says what to do, exit 2."""
    result = call_cli("--data", str(tmp_path / "empty"), "tables")
    assert result.exit_code == 2
    assert "almen synth" in _one_line(result)


def test_schema_lists_every_table(call_cli: Cli) -> None:
    """`almen schema` prints the reference for every declared table."""
    from almen.schema import TABLES

    result = call_cli("schema")
    assert result.exit_code == 0
    for name in TABLES:
        assert f"## `{name}`" in result.stdout


def test_settle_writes_statements_and_returned_claims(call_cli: Cli, tiny_copy: Path) -> None:
    result = call_cli("--data", str(tiny_copy), "settle", "--year", "2025", "--as-of", "2026-01-31")
    assert result.exit_code == 0, result.output
    assert "Settlement 2025" in result.stdout
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        stmt = wh.read_table("settlement").to_pyarrow()
        claims = wh.row_count("claim")
        returned = wh.row_count("returned_claim")
    assert stmt.num_rows > 0
    assert 0 < returned < claims
    one = call_cli(
        "--data", str(tiny_copy), "settle", "--year", "2025", "--month", "3",
        "--clinic", str(stmt.column("provider_number")[0]), "--as-of", "2026-01-31",
    )  # fmt: skip
    assert one.exit_code == 0, one.output
    assert "2025-04-15" in one.stdout


def test_ceiling_lists_clinics_with_their_ratio(call_cli: Cli, tiny_denmark: Path) -> None:
    result = call_cli("--data", str(tiny_denmark), "ceiling", "--year", "2025")
    assert result.exit_code == 0, result.output
    assert "§ 96 2025" in result.stdout
    assert "standardised ratio" in result.stdout
    early = call_cli(
        "--data", str(tiny_denmark), "ceiling", "--year", "2025", "--as-of", "2025-06-30"
    )
    assert early.exit_code == 0, early.output
    assert "projected from claims to 2025-06-30" in early.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("settle", "--year", "2025", "--month", "13"), "--month must be 1-12"),
        (("settle", "--year", "1990"), "no fee schedule covers the year 1990"),
        (("ceiling", "--year", "2025", "--as-of", "2024-05-01"), "is not in 2025"),
        (("ceiling", "--year", "2025", "--clinic", "000000"), "no clinic 000000"),
    ],
)
def test_settlement_commands_refuse_bad_input_with_exit_2(
    call_cli: Cli, tiny_copy: Path, args: tuple[str, ...], message: str
) -> None:
    result = call_cli("--data", str(tiny_copy), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_fees_compare_on_the_base_year(call_cli: Cli, tiny_denmark: Path) -> None:
    result = call_cli(
        "--data", str(tiny_denmark), "fees", "compare", "--base", "aftale25",
        "--scenario", "docs/scenarios/underserved-supplement.toml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "budget-neutral" in result.stdout
    assert "By clinic form" in result.stdout


def test_fees_compare_moves_2151_money_on_a_2024_year(call_cli: Cli, tmp_path: Path) -> None:
    """docs/scenarios/aftale25-2151.toml against OK22 (seed 001: 2151 closed by Aftale25)."""
    data = tmp_path / "d24"
    made = call_cli(
        "--data", str(data), "synth", "--scale", "0.01", "--seed", "3", "--year", "2024"
    )
    assert made.exit_code == 0, made.output
    result = call_cli(
        "--data", str(data), "fees", "compare", "--base", "OK22", "--year", "2024",
        "--scenario", "docs/scenarios/aftale25-2151.toml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Aftale25: 2151 closed" in result.stdout
    # 0102 has no synthetic activity: its share is reported, not silently lost
    assert "could not be placed" in result.stdout


def test_fees_compare_refuses_unknown_service_code(
    call_cli: Cli, tiny_denmark: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[prices]\n"0101" = 180.0\n"2151" = 10.0\n', encoding="utf-8")
    result = call_cli("--data", str(tiny_denmark), "fees", "compare", "--scenario", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:4:1: input error: unknown service code '2151'" in result.stderr
