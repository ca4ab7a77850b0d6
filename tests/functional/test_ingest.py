"""Ingest of patient lists and population extracts: reconciliation, rejects, no CPR stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
from typer.testing import Result

from almen.warehouse import Warehouse

Cli = Callable[..., Result]

# Made-up CPR numbers (not real persons); the digits are what the test looks for.
GOOD = [
    ("010170" + "1234", "123456", "2010-05-01"),
    (
        "150385" + "-" + "4321",
        "123456",
        "01-02-2015",
    ),  # dashed form, built so no CPR-shaped text is committed
    ("311299" + "4562", "654321", "2020-01-01"),
]
BAD = [
    ("12345", "123456", "2010-05-01"),  # CPR too short
    ("310270" + "1234", "123456", "2010-05-01"),  # 31 February
    ("020270" + "2345", "12345", "2010-05-01"),  # provider number not 6 digits
    ("030370" + "3456", "123456", "2099-01-01"),  # listing date in the future
    ("040470" + "4567", "123456", "not a date"),  # unreadable date
    ("010170" + "1234", "123456", "2010-05-01"),  # same person and listing date again
]


def _write_list(path: Path, rows: list[tuple[str, str, str]], sep: str = ";") -> None:
    lines = [sep.join(("CPR", "Ydernummer", "Tilmeldt"))] + [sep.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_patient_list_reconciles_and_rejects_with_reasons(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    """Read = accepted + rejected; each bad row is in the reject table with line and reason."""
    src = tmp_path / "liste.csv"
    _write_list(src, GOOD + BAD)
    result = call_cli("--data", str(tiny_copy), "ingest", "patients", str(src))
    assert result.exit_code == 0, result.output
    assert "read 9 = accepted 3 + rejected 6" in result.stdout
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        rej = pl.from_arrow(wh.read_table("reject").to_pyarrow())
        log = pl.from_arrow(wh.read_table("ingest_log").to_pyarrow())
    assert isinstance(rej, pl.DataFrame) and isinstance(log, pl.DataFrame)
    assert rej["line"].to_list() == [5, 6, 7, 8, 9, 10]
    assert rej["column_name"].to_list() == [
        "cpr", "cpr", "provider_number", "listed_from", "listed_from", "cpr"]  # fmt: skip
    assert "same person and listing date as on line 2" in rej["reason"].to_list()[-1]
    assert log.row(0, named=True)["rows_read"] == 9


def test_no_cpr_number_is_stored_anywhere(call_cli: Cli, tiny_copy: Path, tmp_path: Path) -> None:
    """After ingesting a list, no CPR string appears in any file of the data directory."""
    src = tmp_path / "liste.csv"
    _write_list(src, GOOD + BAD)
    assert call_cli("--data", str(tiny_copy), "ingest", "patients", str(src)).exit_code == 0
    cprs = {re.sub(r"\D", "", r[0]) for r in GOOD + BAD if len(re.sub(r"\D", "", r[0])) == 10}
    needles = set()
    for c in cprs:
        needles |= {c.encode(), f"{c[:6]}-{c[6:]}".encode()}
    for f in tiny_copy.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert not any(n in blob for n in needles), f"CPR found in {f.name}"


def test_same_key_gives_same_pseudonym_across_extracts(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    """Ingesting the same person twice replaces the row (same pseudonym), never duplicates."""
    src = tmp_path / "a.csv"
    _write_list(src, GOOD)
    env = {"ALMEN_PSEUDONYM_KEY": "test-key"}
    call_cli("--data", str(tiny_copy), "ingest", "patients", str(src), env=env)
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        n1 = wh.row_count("patient")
    call_cli("--data", str(tiny_copy), "ingest", "patients", str(src), env=env)
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        assert wh.row_count("patient") == n1


def test_malformed_patient_list_exits_2_and_writes_nothing(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    """A list without a CPR column: one line naming file, line and column; exit 2; no change."""
    src = tmp_path / "bad.csv"
    src.write_text("Navn;Ydernummer;Tilmeldt\nA;123456;2020-01-01\n", encoding="utf-8")
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        before = wh.content_hash("patient")
    result = call_cli("--data", str(tiny_copy), "ingest", "patients", str(src))
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bad.csv:1:4: input error: missing column cpr")
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        assert wh.content_hash("patient") == before
        assert wh.row_count("reject") == 0


def test_binary_file_is_a_malformed_extract(call_cli: Cli, tiny_copy: Path, tmp_path: Path) -> None:
    """A binary file: one line, exit 2."""
    src = tmp_path / "x.csv"
    src.write_bytes(b"\x00\x01\x02garbage")
    result = call_cli("--data", str(tiny_copy), "ingest", "population", str(src))
    assert result.exit_code == 2
    assert "not a text file" in result.stderr


def test_population_extract_replaces_derived_rows(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    """A FOLK1A extract: totals rejected, cells land as 'official' for their municipality."""
    src = tmp_path / "folk1a.csv"
    src.write_text(
        "OMRÅDE;KØN;ALDER;TID;INDHOLD\n"
        "Hele landet;Mænd;0 år;2025K1;30000\n"
        "101 København;Mænd;0 år;2025K1;5000\n"
        "101 København;Kvinder;0 år;2025K1;4800\n"
        "København;Mænd;Alder i alt;2025K1;300000\n"
        "Læsø;Kvinder;101 år;2025K1;1\n"
        "Læsø;Kvinder;100 år;2025K1;2\n"
        "Atlantis;Mænd;3 år;2025K1;7\n"
        "Læsø;Mænd;3 år;2025K2;7\n",
        encoding="utf-8",
    )
    result = call_cli("--data", str(tiny_copy), "ingest", "population", str(src))
    assert result.exit_code == 0, result.output
    assert "read 8 = accepted 4 + rejected 4" in result.stdout
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        pop = pl.from_arrow(wh.read_table("population").to_pyarrow())
    assert isinstance(pop, pl.DataFrame)
    kbh = pop.filter(pl.col("municipality") == "0101")
    assert kbh["basis"].unique().to_list() == ["official"]
    laeso_100 = pop.filter((pl.col("municipality") == "0825") & (pl.col("age") == 100))
    assert laeso_100["persons"].to_list() == [3]
    assert pop.filter(pl.col("municipality") == "0147")["basis"].unique().to_list() == ["derived"]
