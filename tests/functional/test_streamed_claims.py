"""Claim files written to the warehouse as they are read (issue 12, speed and memory).

``almen ingest claims`` hands each piece of accepted rows to a ``ClaimWriter`` inside
one transaction instead of holding the whole file in memory: the command's memory no
longer grows with the file. These tests read files in pieces of a few hundred bytes and
check that the pieces really go one by one, that they add up to exactly what the
line-by-line reader accepts, that a file which needs the line-by-line reader halfway
(a quote in a later piece) is not written twice, and that a malformed line in a later
piece leaves the warehouse as it was, with pieces already written.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from typer.testing import Result

from almen.ingest import claims_fast
from almen.ingest.claims import validate_claims
from almen.ingest.csv_reader import file_sha256
from almen.ingest.validated import ClaimWriter, Validated
from almen.warehouse import Warehouse

Cli = Callable[..., Result]
KEY = b"streamed-key"
ENV = {"ALMEN_PSEUDONYM_KEY": "test-key"}
# made-up CPR numbers, built from parts so that no CPR-shaped text is committed
CPRS = ["010170" + "1234", "150385" + "-4321", "310270" + "1234", "12345"]
HEADER = "CPR;Ydernummer;Ydelse;Dato;Antal;Beløb"


def _rows(n: int, seed: int = 3) -> list[str]:
    rnd = random.Random(seed)
    return [
        ";".join(
            (
                rnd.choice(CPRS),
                rnd.choice(["200001", "200002", "2000x1"]),
                rnd.choice(["0101", "0120", "01@1"]),
                f"{rnd.randint(1, 30):02d}-0{rnd.randint(3, 4)}-2025",
                rnd.choice(["1", "2", "-1"]),
                rnd.choice(["175,00", "1.055,50", "abc"]),
            )
        )
        for _ in range(n)
    ]


class _Recorder(ClaimWriter):
    """A ClaimWriter that notes the size of each piece it is handed."""

    def __init__(self, wh: Warehouse, path: Path) -> None:
        super().__init__(wh, sha256=file_sha256(path), source=path.name)
        self.sizes: list[int] = []
        self.discarded = 0

    def append(self, piece: pa.Table, lines: object) -> None:  # type: ignore[override]
        self.sizes.append(piece.num_rows)
        super().append(piece, lines)  # type: ignore[arg-type]

    def discard(self) -> None:
        self.discarded += 1
        super().discard()


def _stream(empty: Path, path: Path) -> tuple[list[dict[str, object]], _Recorder, Validated]:
    with Warehouse.connect(empty) as wh:
        with wh.transaction(), _Recorder(wh, path) as writer:
            v, _ = validate_claims(path, KEY, first_claim_id=1, sink=writer,
                                   sha256=file_sha256(path))  # fmt: skip
            writer.finish(v)
        got = wh.read_table("claim").drop("ingest_id").order_by("claim_id").to_pyarrow()
    plain = got.cast(pa.schema([pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(
        f.type) else f for f in got.schema])).to_pylist()  # fmt: skip
    return plain, writer, v


def _spill_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files (the spilled pieces) in a directory of the test's own."""
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    return spill


def _expected(path: Path) -> list[dict[str, object]]:
    slow, _ = validate_claims(path, KEY, first_claim_id=1, column_wise=False)
    t = slow.accepted.append_column("source_line", pa.array(slow.source_lines, pa.int64()))
    return t.to_pylist()


def _same(got: list[dict[str, object]], want: list[dict[str, object]]) -> None:
    keys = list(want[0])
    assert [{k: r[k] for k in keys} for r in got] == want


def test_pieces_go_to_the_warehouse_one_by_one_and_add_up_to_the_file(
    empty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("\n".join([HEADER, *_rows(600)]) + "\n", encoding="utf-8")
    monkeypatch.setattr(claims_fast, "CHUNK_BYTES", 400)
    spill = _spill_here(tmp_path, monkeypatch)
    got, writer, v = _stream(empty, path)
    want = _expected(path)
    assert not any(spill.iterdir())  # the spilled pieces are gone
    assert v.streamed and v.accepted.num_rows == 0
    assert len(writer.sizes) > 20 and max(writer.sizes) < len(want) / 10  # really piecewise
    assert sum(writer.sizes) == len(want) == v.rows_accepted
    _same(got, want)
    assert writer.discarded == 0


def test_a_quote_in_a_later_piece_starts_again_line_by_line_without_doubles(
    empty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(600)
    rows[550] = '"' + CPRS[0] + '";200001;0101;03-03-2025;1;"175,00"'
    path = tmp_path / "quoted.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    monkeypatch.setattr(claims_fast, "CHUNK_BYTES", 400)
    got, writer, v = _stream(empty, path)
    want = _expected(path)
    assert writer.discarded == 1 and len(writer.sizes) > 20  # pieces, then the whole file
    assert len(got) == len(want) == v.rows_accepted
    _same(got, want)


def test_a_malformed_line_in_a_later_piece_leaves_the_warehouse_as_it_was(
    empty: Path, tmp_path: Path, call_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "january.csv"
    first.write_text("\n".join([HEADER, *_rows(50, seed=1)]) + "\n", encoding="utf-8")
    res = call_cli("--data", str(empty), "ingest", "claims", str(first), env=ENV)
    assert res.exit_code == 0, res.output
    with Warehouse.connect(empty, read_only=True) as wh:
        before = {t: wh.content_hash(t) for t in sorted(wh.con.list_tables())}
    rows = _rows(600)
    rows[580] += ";extra"
    bad = tmp_path / "march.csv"
    bad.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    monkeypatch.setattr(claims_fast, "CHUNK_BYTES", 400)
    spill = _spill_here(tmp_path, monkeypatch)
    res = call_cli("--data", str(empty), "ingest", "claims", str(bad), env=ENV)
    assert res.exit_code == 2
    assert not any(spill.iterdir())  # nothing left behind
    assert res.stderr.startswith("march.csv:582:") and "malformed line" in res.stderr
    with Warehouse.connect(empty, read_only=True) as wh:
        after = {t: wh.content_hash(t) for t in sorted(wh.con.list_tables())}
    assert after == before


def _same_day_ids(wh: Warehouse) -> set[int]:
    """Claims that share patient, day and service with another, computed here in Polars
    from the claim table (independently of ``claim_index``)."""
    c = wh.read_table("claim").select("claim_id", "patient_id", "service_date", "service_code")
    df = c.to_polars()
    keys = ["patient_id", "service_date", "service_code"]
    shared = df.filter(df.select(pl.len().over(keys)).to_series() > 1)
    return set(shared["claim_id"].to_list())


def test_the_same_day_index_is_current_after_each_import(
    empty: Path, tmp_path: Path, call_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 (speed) and 14 item 3: the same-day index is updated after the import has
    committed: built from the new lines on a first import (two files in one command),
    extended by a later one, rebuilt after ``--replace``; after each it matches the
    claim table and holds exactly the lines that share a key with another."""
    from almen import claim_index

    calls: list[str] = []
    for name in ("build", "extend"):
        real = getattr(claim_index, name)

        def spy(*a: object, _real: Callable[..., int] = real, _n: str = name) -> int:
            calls.append(_n)
            return _real(*a)

        monkeypatch.setattr(claim_index, name, spy)
    rows = _rows(400)
    files = []
    for i, part in enumerate((rows[:150], rows[150:300], rows[300:] + rows[:40])):
        f = tmp_path / f"part{i}.csv"
        f.write_text(HEADER + "\n" + "\n".join(part) + "\n", encoding="utf-8")
        files.append(f)

    def current() -> set[int]:
        with Warehouse.connect(empty, read_only=True) as wh:
            index = claim_index.read(wh)
            assert index is not None  # the stamp matches the claims
            got = set(index.to_pyarrow().column("claim_id").to_pylist())
            assert got == _same_day_ids(wh)
            return got

    res = call_cli("--data", str(empty), "ingest", "claims", str(files[0]), str(files[1]),
                   env=ENV)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert calls == ["build"]  # a first import: a window over its own lines
    first = current()
    assert first
    res = call_cli("--data", str(empty), "ingest", "claims", str(files[2]), env=ENV)
    assert res.exit_code == 0, res.output
    assert calls == ["build", "extend"]  # repeats of earlier lines join their keys
    second = current()
    assert first < second
    res = call_cli("--data", str(empty), "ingest", "claims", "--replace", str(files[2]),
                   env=ENV)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert calls == ["build", "extend", "build"]
    assert len(current()) == len(second)
