"""Ingest of claim extracts: formats, reconciliation of lines and amounts, bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import Result

from almen.ingest.claims import parse_amount
from almen.warehouse import Warehouse

Cli = Callable[..., Result]
KEY_ENV = {"ALMEN_PSEUDONYM_KEY": "test-key-not-secret"}

# made-up CPR numbers, none of them a real person's
CPR_A, CPR_B = "010170" + "1234", "311299" + "4562"

HEADER_DA = "CPR;Ydernummer;Ydelse;Dato;Antal;Beløb"
GOOD_DA = [
    f"{CPR_A};123456;0101;03-03-2025;1;175,00",
    f"{CPR_B};123456;0201;2025-03-04;1;35,00",
    f"{CPR_A};123456;KM92;05.03.2025;12;45,48",
    f"{CPR_B};123456;2101;06-03-2025;1;1.055,50",  # Danish thousands separator
]
BAD_DA = [
    "12345;123456;0101;03-03-2025;1;175,00",  # CPR too short
    f"{CPR_A};12345;0101;03-03-2025;1;175,00",  # provider not 6 digits
    f"{CPR_A};123456;0101;31-02-2025;1;175,00",  # no such date
    f"{CPR_A};123456;0101;03-03-2025;x;175,00",  # quantity not a number
    f"{CPR_A};123456;0101;03-03-2025;1;abc",  # amount unreadable
]


def _claims(call_cli: Cli, data: Path, *args: str) -> Result:
    return call_cli("--data", str(data), "ingest", "claims", *args, env=KEY_ENV)


def _claim_count(data: Path) -> int:
    with Warehouse.connect(data, read_only=True) as wh:
        return wh.row_count("claim")


def test_claims_reconcile_lines_and_amounts(call_cli: Cli, tiny_copy: Path, tmp_path: Path) -> None:
    src = tmp_path / "claims.csv"
    src.write_text("\n".join([HEADER_DA, *GOOD_DA, *BAD_DA]) + "\n", encoding="utf-8")
    before = _claim_count(tiny_copy)
    result = _claims(call_cli, tiny_copy, str(src))
    assert result.exit_code == 0, result.output
    assert "read 9 = accepted 4 + rejected 5" in result.stdout
    # 175 + 35 + 45.48 + 1055.50 accepted; 4 × 175 rejected; one line's amount unreadable
    assert "read 2,010.98 DKK = accepted 1,310.98 + rejected 700.00" in result.stdout
    assert _claim_count(tiny_copy) == before + 4
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        rej = pl.from_arrow(wh.read_table("reject").to_pyarrow())
        new = pl.from_arrow(wh.read_table("claim").filter(lambda t: t.claim_id > 0).to_pyarrow())
    assert isinstance(rej, pl.DataFrame) and isinstance(new, pl.DataFrame)
    assert rej["line"].to_list() == [6, 7, 8, 9, 10]
    assert rej["column_name"].to_list() == [
        "cpr", "provider_number", "service_date", "quantity", "amount_dkk"]  # fmt: skip
    km = new.filter(pl.col("service_code") == "KM92")
    assert km["quantity"].to_list()[-1] == 12


def test_claims_with_comma_delimiter_and_english_header(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    src = tmp_path / "claims_en.csv"
    src.write_text(
        "cpr,provider_number,service_code,service_date,amount\n"
        f"{CPR_A},123456,0101,2025-03-03,175.00\n",
        encoding="utf-8",
    )
    result = _claims(call_cli, tiny_copy, "--period", "2025-04", str(src))
    assert result.exit_code == 0, result.output
    assert "read 1 = accepted 1 + rejected 0" in result.stdout


def test_column_map_adds_header_names(call_cli: Cli, tiny_copy: Path, tmp_path: Path) -> None:
    src = tmp_path / "odd.csv"
    src.write_text(f"Patient;Klinik;Kode;Dag\n{CPR_A};123456;0101;2025-03-03\n", encoding="utf-8")
    cmap = tmp_path / "map.toml"
    cmap.write_text(
        '[columns]\ncpr = "Patient"\nprovider_number = "Klinik"\n'
        'service_code = "Kode"\nservice_date = ["Dag", "Dato2"]\n',
        encoding="utf-8",
    )
    result = _claims(call_cli, tiny_copy, "--columns", str(cmap), str(src))
    assert result.exit_code == 0, result.output
    assert "accepted 1" in result.stdout


def test_malformed_line_refuses_the_file_and_imports_nothing(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    good = tmp_path / "a.csv"
    good.write_text("\n".join([HEADER_DA, *GOOD_DA]) + "\n", encoding="utf-8")
    bad = tmp_path / "b.csv"
    bad.write_text("\n".join([HEADER_DA, GOOD_DA[0], "1;2;3"]) + "\n", encoding="utf-8")
    before = _claim_count(tiny_copy)
    result = _claims(call_cli, tiny_copy, str(good), str(bad))
    assert result.exit_code == 2
    assert "b.csv:3:4: input error: malformed line" in result.stderr
    assert _claim_count(tiny_copy) == before  # not even the good file


def test_wrong_encoding_names_line_and_column(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    src = tmp_path / "latin.csv"
    text = "\n".join([HEADER_DA, *GOOD_DA]) + "\n"
    src.write_bytes(text.encode("cp1252"))  # 'ø' in Beløb is not UTF-8
    before = _claim_count(tiny_copy)
    result = _claims(call_cli, tiny_copy, str(src))
    assert result.exit_code == 2
    assert "latin.csv:1:37: input error: not valid utf-8" in result.stderr
    assert _claim_count(tiny_copy) == before
    ok = _claims(call_cli, tiny_copy, "--encoding", "cp1252", str(src))
    assert ok.exit_code == 0, ok.output


def test_missing_column_names_it(call_cli: Cli, tiny_copy: Path, tmp_path: Path) -> None:
    src = tmp_path / "nodate.csv"
    src.write_text(f"CPR;Ydernummer;Ydelse\n{CPR_A};123456;0101\n", encoding="utf-8")
    result = _claims(call_cli, tiny_copy, str(src))
    assert result.exit_code == 2
    assert "nodate.csv:1:4: input error: missing column service_date" in result.stderr


def test_strict_refuses_a_file_with_rejected_lines(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    src = tmp_path / "claims.csv"
    src.write_text("\n".join([HEADER_DA, *GOOD_DA, BAD_DA[0]]) + "\n", encoding="utf-8")
    before = _claim_count(tiny_copy)
    result = _claims(call_cli, tiny_copy, "--strict", str(src))
    assert result.exit_code == 2
    assert "claims.csv:6:cpr: input error: 1 row rejected (--strict)" in result.stderr
    assert _claim_count(tiny_copy) == before


def test_no_cpr_in_the_warehouse_after_claims_ingest(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path
) -> None:
    src = tmp_path / "claims.csv"
    src.write_text("\n".join([HEADER_DA, *GOOD_DA]) + "\n", encoding="utf-8")
    assert _claims(call_cli, tiny_copy, str(src)).exit_code == 0
    for f in tiny_copy.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            for cpr in (CPR_A, CPR_B):
                assert cpr.encode() not in blob, f.name


@pytest.mark.parametrize(
    ("text", "value"),
    [("175,00", 175.0), ("1.055,50", 1055.5), ("1055.50", 1055.5), ("12.500", 12500.0),
     ("-35,5", -35.5), ("42", 42.0)],
)  # fmt: skip
def test_parse_amount_reads_danish_and_english_decimals(text: str, value: float) -> None:
    assert parse_amount(text) == pytest.approx(value)


def test_parse_amount_refuses_text() -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount("12,3,4")


@pytest.mark.parametrize("quoted", [False, True], ids=["column-wise", "line-by-line"])
def test_claims_keep_amount_condition_and_cover(
    call_cli: Cli, tiny_copy: Path, tmp_path: Path, quoted: bool
) -> None:
    """Issue 16: the amount on a line is kept (compared with the price at settlement),
    0120's condition (ICPC-2) and a cover reason (akut, vikar) too; a bad condition or
    cover is rejected with its column. Both readers (a quoted file goes line by line)
    give the same rows."""
    q = '"' if quoted else ""
    lines = [
        "CPR;Ydernummer;Ydelse;Dato;Beløb;Diagnose;Akut_vikar",
        f"{CPR_A};123456;0120;03-03-2025;{q}420,00{q};t90;",
        f"{CPR_B};123456;0101;04-03-2025;175,00;;akut",
        f"{CPR_B};123456;0101;05-03-2025;175,00;;Vikar",
        f"{CPR_A};123456;0120;06-03-2025;420,00;T9;",  # not an ICPC-2 code
        f"{CPR_A};123456;0101;07-03-2025;175,00;;maybe",  # not a cover reason
    ]
    src = tmp_path / "claims.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _claims(call_cli, tiny_copy, str(src))
    assert result.exit_code == 0, result.output
    assert "read 5 = accepted 3 + rejected 2" in result.stdout
    with Warehouse.connect(tiny_copy, read_only=True) as wh:
        c = wh.read_table("claim")
        new = c.filter(c.ingest_id.notnull()).order_by("source_line").to_polars()
        rej = wh.read_table("reject").to_polars()
    assert new["claimed_dkk"].to_list() == [420.0, 175.0, 175.0]
    assert new["condition_code"].to_list() == ["T90", None, None]
    assert new["cover_reason"].to_list() == [None, "acute", "substitute"]
    assert rej.sort("line")["column_name"].to_list() == ["condition_code", "cover_reason"]
