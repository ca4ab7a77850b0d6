"""Every figure can leave as a file (issue 12 item 5): ``--format table|csv|json|parquet``
and ``--output FILE`` on every command, through the one output module (``almen.export``),
with no part of a result dropped; a table printed to a pipe or a narrow terminal never
cuts a number."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import Result

from almen.export import Result as Res
from almen.export import to_csv, to_json, write_result

Cli = Callable[..., Result]

COMMANDS: list[tuple[str, ...]] = [
    ("settle", "--year", "2025", "--month", "3", "--as-of", "2025-12-31"),
    ("ceiling", "--year", "2025"),
    ("ceiling", "--year", "2025", "--backtest"),
    ("frame", "--year", "2025"),
    ("fees", "compare", "--scenario", "docs/scenarios/need-weighted-capitation.toml"),
    ("findings", "--as-of", "2025-12-31"),
    ("findings", "--as-of", "2025-12-31", "--by", "region"),
    ("access", "triage", "--reason", "fever", "--age", "40", "--sex", "F"),
    ("ooh", "plan", "--region", "Region Nordjylland", "--consolidate"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_every_command_writes_json_with_all_its_parts(
    args: tuple[str, ...], tiny_copy: Path, call_cli: Cli
) -> None:
    res = call_cli("--data", str(tiny_copy), *args, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"meta", "parts"}
    assert doc["parts"] and all(isinstance(rows, list) for rows in doc["parts"].values())


def test_ooh_consolidation_is_in_the_export(tiny_copy: Path, call_cli: Cli) -> None:
    args = ("ooh", "plan", "--region", "Region Nordjylland", "--consolidate", "--format", "json")
    doc = json.loads(call_cli("--data", str(tiny_copy), *args).stdout)
    assert {"plan", "phone", "consolidated_plan", "consolidation"} <= set(doc["parts"])
    assert doc["parts"]["consolidation"][0]["sites_after"] >= 1


def test_triage_export_names_the_deciding_rule(call_cli: Cli) -> None:
    res = call_cli("access", "triage", "--reason", "chest_pain", "--age", "60", "--sex", "M",
                   "--format", "csv")  # fmt: skip
    rows = pl.read_csv(res.stdout.encode())
    assert rows["severity"][0] == "acute" and rows["rule_id"][0]


def test_ceiling_file_has_every_clinic_not_just_the_shown_ones(
    tiny_copy: Path, call_cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "s96.parquet"
    res = call_cli("--data", str(tiny_copy), "ceiling", "--year", "2025", "--show", "3",
                   "--format", "parquet", "--output", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    back = pl.read_parquet(out)
    csv = pl.read_csv(
        call_cli("--data", str(tiny_copy), "ceiling", "--year", "2025", "--format", "csv")
        .stdout.encode()
    )  # fmt: skip
    assert len(back) == len(csv) > 3
    assert back["expenditure_dkk"].sum() == pytest.approx(csv["expenditure_dkk"].sum())


def test_settle_with_several_parts_writes_one_file_per_part(
    tiny_copy: Path, call_cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "marts.csv"
    res = call_cli("--data", str(tiny_copy), "settle", "--year", "2025", "--month", "3",
                   "--as-of", "2025-12-31", "--output", str(out), "--format", "csv")  # fmt: skip
    assert res.exit_code == 0, res.output
    stmt = pl.read_csv(tmp_path / "marts-statement.csv")
    # every column as text: service codes look numeric until a code such as F301 comes
    returned = pl.read_csv(tmp_path / "marts-returned.csv", infer_schema=False)
    assert stmt["returned_lines"].sum() == len(returned)


def test_a_table_in_a_pipe_at_80_columns_never_cuts_a_number(
    tiny_copy: Path, call_cli: Cli
) -> None:
    data = ("--data", str(tiny_copy))
    csv = pl.read_csv(
        call_cli(*data, "ceiling", "--year", "2025", "--format", "csv").stdout.encode()
    )
    for columns in ("80", "40"):
        res = call_cli(*data, "ceiling", "--year", "2025", "--show", "100",
                       env={"COLUMNS": columns})  # fmt: skip
        assert res.exit_code == 0
        assert "…" not in res.stdout
        for dkk in csv["expenditure_dkk"].to_list():
            assert f"{dkk:,.0f}" in res.stdout  # whole, on one line
    wide = max(len(line) for line in res.stdout.splitlines())
    assert wide > 40  # laid out at its natural width, not cut to COLUMNS


def test_multi_part_csv_marks_each_part_and_json_keeps_dates() -> None:
    import datetime as dt

    r = Res({"a": pl.DataFrame({"x": [1]}), "b": pl.DataFrame({"d": [dt.date(2025, 3, 1)]})},
            {"as_of": dt.date(2025, 3, 31)})  # fmt: skip
    text = to_csv(r)
    assert re.search(r"^# a\nx\n1\n", text) and "# b\nd\n2025-03-01" in text
    doc = json.loads(to_json(r))
    assert doc["meta"]["as_of"] == "2025-03-31" and doc["parts"]["b"][0]["d"] == "2025-03-01"


def test_parquet_to_stdout_is_refused(tiny_copy: Path, call_cli: Cli) -> None:
    res = call_cli("--data", str(tiny_copy), "frame", "--year", "2025", "--format", "parquet")
    assert res.exit_code == 2 and "needs --output" in res.output


def test_write_result_reports_an_unwritable_file(tmp_path: Path) -> None:
    from almen.errors import StorageError

    with pytest.raises(StorageError, match="cannot write"):
        write_result(Res({"a": pl.DataFrame({"x": [1]})}), "json", tmp_path / "no" / "f.json")


def test_a_narrow_terminal_folds_cells_instead_of_cutting_them() -> None:
    """On a terminal narrower than the table, a cell goes on to the next line; no number
    ends in "…" (the pipe case is above)."""
    import io

    from rich.table import Table

    from almen.cli.render import WholeConsole

    out = io.StringIO()
    con = WholeConsole(file=out, force_terminal=True, width=30, color_system=None)
    t = Table()
    for name in ("clinic", "DKK", "expected", "ratio"):
        t.add_column(name, justify="right")
    t.add_row("271917", "3,168,435", "2,728,528", "1.161")
    con.print(t)
    text = out.getvalue()
    assert "…" not in text
    from collections import Counter

    digits = Counter(ch for ch in text if ch.isdigit())
    assert digits == Counter("271917316843527285281161")  # every digit is there
