"""Hostile files for every importer (issue 12, "Bad input").

A file that cannot be read as a whole (wrong encoding, broken quoting, wrong column
count) gives one line ``file:line:column: what is wrong``, exit 2, and nothing in the
warehouse changes. A bad value in a row (an unknown code, a date out of range, a negative
quantity, a duplicate key) puts that row in the reject table with its column and reason;
with ``--strict`` it refuses the file the same way. A BOM and CRLF line ends are read as
any Windows export has them. A ``kill -9`` in the middle of an import leaves the previous
tables as they were.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from almen.warehouse import Warehouse

Cli = Callable[..., Result]
# made-up CPR numbers, built from parts so that no CPR-shaped text is committed
A, B = "010170" + "1234", "020270" + "2345"
KEY = {"ALMEN_PSEUDONYM_KEY": "test-key"}

# importer: (header, a good row); made-up CPR numbers
BASE: dict[str, tuple[str, str]] = {
    "clinics": ("Ydernummer;Navn;Kommune;Klinikform;Klynge;Lukket fra;Lukket til",
                "200001;Lægehuset;101;Solopraksis;K1;;"),
    "doctors": ("Ydernummer;Fødselsår;Køn;Rolle;Kapacitet;Etableret",
                "200001;1970;K;Ejer;1,0;2005"),
    "patients": ("CPR;Ydernummer;Tilmeldt;Kommune", f"{A};200001;01-01-2010;101"),
    "conditions": ("CPR;ICPC;Dato", f"{A};T90;01-01-2015"),
    "medications": ("CPR;ATC;Startdato;Slutdato", f"{A};A10BA02;01-01-2015;"),
    "ooh": ("Region;Sted;Starttid;Kontakttype;Minutter;CPR",
            f"Hovedstaden;Amager;07-03-2025 18:20;Telefon;4;{A}"),
    "fees": ("Aftale;Ydelse;Navn;Pris;Enhed;Gyldig fra;Gyldig til",
             "Lokal;L777;Opfølgning;100,00;ydelse;01-01-2025;31-12-2025"),
    "claims": ("CPR;Ydernummer;Ydelse;Dato;Antal", f"{A};200001;0101;03-03-2025;1"),
    "population": ("OMRÅDE;KØN;ALDER;TID;INDHOLD", "101 København;Mænd;7 år;2025K1;3000"),
}  # fmt: skip

# (importer, kind): (the bad row, the column named in its reject; None: the row as a whole)
ROWS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("clinics", "unknown code"): ("200002;B;9999;Solopraksis;K1;;", "municipality"),
    ("doctors", "unknown code"): ("200001;1970;K;Kirurg;1,0;2005", "role"),
    ("patients", "unknown code"): (f"{B};200001;01-01-2010;9999", "municipality"),
    ("conditions", "unknown code"): (f"{A};Q99;01-01-2015", "code"),
    ("medications", "unknown code"): (f"{A};E01AA01;01-01-2015;", "atc"),
    ("ooh", "unknown code"): ("Hovedstaden;Amager;07-03-2025 18:20;Teleport;4;", "kind"),
    ("fees", "unknown code"): ("Lokal;L778;X;100,00;liter;01-01-2025;31-12-2025", "unit"),
    ("claims", "unknown code"): (f"{A};200001;01@1;03-03-2025;1", "service_code"),
    ("population", "unknown code"): ("9999 Atlantis;Mænd;7 år;2025K1;30", "area"),
    ("clinics", "date out of range"): ("200002;B;101;Solopraksis;K1;01-01-1850;",
                                       "closed_to_new_from"),
    ("doctors", "date out of range"): ("200001;1850;K;Ejer;1,0;", "birth_year"),
    ("patients", "date out of range"): (f"{B};200001;01-01-2150;101", "listed_from"),
    ("conditions", "date out of range"): (f"{A};K86;01-01-2150", "onset_date"),
    ("medications", "date out of range"): (f"{A};C09AA05;01-01-1850;", "start_date"),
    ("ooh", "date out of range"): ("Hovedstaden;Amager;07-03-1850 18:20;Telefon;4;",
                                   "start_time"),
    ("fees", "date out of range"): ("Lokal;L778;X;100,00;ydelse;01-01-1850;31-12-2025",
                                    "valid_from"),
    ("claims", "date out of range"): (f"{A};200001;0101;03-03-1850;1", "service_date"),
    ("population", "date out of range"): ("101 København;Mænd;7 år;1850K1;3000", "time"),
    ("doctors", "negative quantity"): ("200001;1970;K;Ejer;-0,5;", "fte"),
    ("ooh", "negative quantity"): ("Hovedstaden;Amager;07-03-2025 18:20;Telefon;-4;",
                                   "minutes"),
    ("fees", "negative quantity"): ("Lokal;L778;X;-100,00;ydelse;01-01-2025;31-12-2025",
                                    "price_dkk"),
    ("claims", "negative quantity"): (f"{A};200001;0101;03-03-2025;-1", "quantity"),
    ("population", "negative quantity"): ("101 København;Mænd;8 år;2025K1;-5", "persons"),
    ("clinics", "duplicate key"): (BASE["clinics"][1], None),
    ("patients", "duplicate key"): (BASE["patients"][1], "cpr"),
    ("conditions", "duplicate key"): (BASE["conditions"][1], None),
    ("medications", "duplicate key"): (BASE["medications"][1], None),
    ("population", "duplicate key"): (BASE["population"][1], None),
}  # fmt: skip


def _snapshot(empty: Path) -> dict[str, str]:
    with Warehouse.connect(empty, read_only=True) as wh:
        return {t: wh.content_hash(t) for t in sorted(wh.con.list_tables())}


def _ingest(call_cli: Cli, empty: Path, importer: str, path: Path, *extra: str) -> Result:
    return call_cli("--data", str(empty), "ingest", importer, str(path), *extra, env=KEY)


def _file(tmp_path: Path, importer: str, *rows: str, raw: bytes | None = None) -> Path:
    header, good = BASE[importer]
    path = tmp_path / f"{importer}.csv"
    body = raw if raw is not None else "\n".join([header, good, *rows]).encode() + b"\n"
    path.write_bytes(body)
    return path


@pytest.mark.parametrize(("importer", "kind"), list(ROWS), ids=lambda v: str(v))
def test_a_bad_row_is_rejected_with_its_column_or_refuses_the_file_with_strict(
    importer: str, kind: str, empty: Path, call_cli: Cli, tmp_path: Path
) -> None:
    row, column = ROWS[importer, kind]
    path = _file(tmp_path, importer, row)
    before = _snapshot(empty)
    strict = _ingest(call_cli, empty, importer, path, "--strict")
    assert strict.exit_code == 2, strict.output
    where = f"{importer}.csv:3:{column}:" if column else f"{importer}.csv:3:"
    assert strict.stderr.startswith(where), strict.stderr
    assert strict.stderr.count("\n") == 1  # one line
    assert A not in strict.stderr and B not in strict.stderr
    assert _snapshot(empty) == before  # nothing changed
    res = _ingest(call_cli, empty, importer, path)
    assert res.exit_code == 0, res.output
    assert "read 2 = accepted 1 + rejected 1" in res.stdout
    with Warehouse.connect(empty, read_only=True) as wh:
        rej = wh.read_table("reject").to_polars().to_dicts()
    assert [(r["line"], r["column_name"]) for r in rej] == [(3, column)]


FILE_LEVEL = {
    "wrong encoding": (lambda h, g: (h + "\n" + g + "\n").encode() + b"\xe6\xf8\n",
                       "not valid utf-8", 3),
    "broken quoting": (lambda h, g: (h + "\n" + g + '\n"' + g + "\n").encode(),
                       "malformed line", 3),
    "wrong column count": (lambda h, g: (h + "\n" + g + "\n" + g + ";extra\n").encode(),
                           "fields where the header has", 3),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(FILE_LEVEL))
@pytest.mark.parametrize("importer", list(BASE))
def test_a_malformed_file_is_one_line_exit_2_and_changes_nothing(
    importer: str, kind: str, empty: Path, call_cli: Cli, tmp_path: Path
) -> None:
    make, message, line = FILE_LEVEL[kind]
    header, good = BASE[importer]
    path = _file(tmp_path, importer, raw=make(header, good))
    before = _snapshot(empty)
    extra = () if importer == "population" else ("--encoding", "utf-8")
    if importer == "population" and kind == "wrong encoding":
        pytest.skip("FOLK1A extracts are read as UTF-8 or else Latin-1, never refused")
    res = _ingest(call_cli, empty, importer, path, *extra)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"{importer}.csv:{line}:"), res.stderr
    assert message in res.stderr and res.stderr.count("\n") == 1
    assert _snapshot(empty) == before


@pytest.mark.parametrize("importer", list(BASE))
def test_bom_and_crlf_are_read_as_any_windows_export_has_them(
    importer: str, empty: Path, call_cli: Cli, tmp_path: Path
) -> None:
    header, good = BASE[importer]
    raw = b"\xef\xbb\xbf" + f"{header}\r\n{good}\r\n".encode()
    res = _ingest(call_cli, empty, importer, _file(tmp_path, importer, raw=raw))
    assert res.exit_code == 0, res.output
    assert "read 1 = accepted 1 + rejected 0" in res.stdout


def test_the_fee_schedule_refuses_a_duplicate_key_as_an_overlap(
    empty: Path, call_cli: Cli, tmp_path: Path
) -> None:
    path = _file(tmp_path, "fees", BASE["fees"][1])
    before = _snapshot(empty)
    res = _ingest(call_cli, empty, "fees", path)
    assert res.exit_code == 2 and res.stderr.startswith("fees.csv:3: input error: service L777")
    assert _snapshot(empty) == before


def test_kill_9_in_the_middle_of_an_import_leaves_the_previous_tables(
    empty: Path, tmp_path: Path
) -> None:
    """Kill the import at several moments: the claim table is either as before or has the
    whole file, never part of it, and the warehouse opens."""
    header, _ = BASE["claims"]
    rows = [f"{A};200001;0101;{1 + i % 28:02d}-03-2025;1" for i in range(150_000)]
    path = tmp_path / "big.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    almen = Path(sys.executable).with_name("almen")
    seen = set()
    for delay in (0.5, 1.5, 2.5, 3.5, 5.0):
        before = _snapshot(empty)
        with Warehouse.connect(empty, read_only=True) as wh:
            n_before = wh.row_count("claim")
            runs_before = wh.row_count("ingest_log")
        proc = subprocess.Popen(
            [str(almen), "--data", str(empty), "ingest", "claims", "--replace", str(path)],
            env={**os.environ, **KEY}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Warehouse.connect(empty, read_only=True) as wh:
            n_after = wh.row_count("claim")
            log = wh.read_table("ingest_log").to_polars()
        # the import committed when its ingest log row is there (a --replace of the
        # same file leaves as many claims as before, so the count cannot tell)
        if len(log) == runs_before:
            assert n_after == n_before
            assert finished or _snapshot(empty) == before
            seen.add("before")
        else:
            assert n_after == len(rows)  # the whole file, in place of an earlier import
            assert log["source"].to_list().count("big.csv") >= 1
            seen.add("after")
    assert "before" in seen  # at least one kill landed mid-import
