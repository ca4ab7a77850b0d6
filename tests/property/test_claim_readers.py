"""The column-wise claim reader (``claims_fast``) gives exactly what the line-by-line
reader gives: the same accepted lines, pseudonyms, line numbers, rejects and reasons, and
the same amounts, on files that mix every kind of good and bad value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from almen.ingest.claims import validate_claims

KEY = b"property-key"
# made-up CPR numbers, built from parts so that no CPR-shaped text is committed
CPR = ["010170" + "1234", "150385" + "-4321", "310270" + "1234", "12345", "010199" + "1234",
       "010150" + "5678", ""]  # fmt: skip
PROVIDER = ["123456", "654321", "12345", "abcdef", ""]
CODE = ["0101", "v101", "KM92", "01@1", "123456", ""]
DAY = ["03-03-2025", "2025-03-04", "5.3.2025", "06/03/2025", "20250307", "31-02-2025",
       "03-03-1850", "x", ""]  # fmt: skip
QTY = ["1", "", "2", "-1", "0", "40000", "1,5", " 3 "]
BAND = ["", "dag", "Aften", "vagt", "night", "ooh"]
AMOUNT = ["175,00", "1.055,50", "1234.50", "1.234", "abc", "", "-35,00", "12 345,00"]
PERIOD = ["", "2025-03", "03-2025", "202503", "2025-02-14", "march"]
FIELDS = (CPR, PROVIDER, CODE, DAY, QTY, BAND, AMOUNT, PERIOD)
HEADER = "CPR;Ydernummer;Ydelse;Dato;Antal;Tidsrum;Beløb;Periode"


def _plain(t: pa.Table) -> list[dict[str, object]]:
    schema = pa.schema(
        [
            pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
            for f in t.schema
        ]
    )
    return t.cast(schema).to_pylist()


lines = st.lists(
    st.one_of(
        st.tuples(*[st.sampled_from(pool) for pool in FIELDS]).map(";".join),
        st.just(""),  # a blank line
        st.just(";;;;;;;"),  # a line of empty fields
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows=lines, period=st.sampled_from([None, dt.date(2025, 3, 1)]))
def test_column_wise_and_line_by_line_readers_agree(
    rows: list[str], period: dt.date | None, tmp_path_factory: object
) -> None:
    path = Path(tmp_path_factory.mktemp("claims")) / "claims.csv"  # type: ignore[attr-defined]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    fast, fast_totals = validate_claims(path, KEY, first_claim_id=10, period=period)
    slow, slow_totals = validate_claims(path, KEY, first_claim_id=10, period=period,
                                        column_wise=False)  # fmt: skip
    assert fast.rows_read == slow.rows_read
    assert fast.rejects == slow.rejects
    assert _plain(fast.accepted) == _plain(slow.accepted)
    assert list(pa.array(fast.source_lines).to_pylist()) == list(slow.source_lines or [])
    assert fast.content_sha256 == slow.content_sha256
    assert (fast_totals is None) == (slow_totals is None)
    if fast_totals and slow_totals:
        assert abs(fast_totals.accepted_dkk - slow_totals.accepted_dkk) < 1e-6
        assert abs(fast_totals.rejected_dkk - slow_totals.rejected_dkk) < 1e-6
        assert fast_totals.unparsed_lines == slow_totals.unparsed_lines


def test_a_quoted_file_is_read_line_by_line_with_the_same_result(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(f'{HEADER}\n"{CPR[0]}";123456;0101;03-03-2025;1;dag;"175,00";\n',
                    encoding="utf-8")  # fmt: skip
    v, totals = validate_claims(path, KEY, first_claim_id=1)
    assert v.rows_accepted == 1 and totals is not None and totals.accepted_dkk == 175.0


def test_pieces_of_a_file_join_up_to_the_whole(tmp_path: Path, monkeypatch: object) -> None:
    """Read in pieces of a few hundred bytes, a file gives the same lines, line numbers,
    pseudonyms and rejects as read line by line (and as one piece)."""
    import random

    from almen.ingest import claims_fast

    rnd = random.Random(7)
    rows = [";".join(rnd.choice(pool) for pool in FIELDS) for _ in range(400)]
    path = tmp_path / "pieces.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    whole, _ = validate_claims(path, KEY, first_claim_id=1)
    monkeypatch.setattr(claims_fast, "CHUNK_BYTES", 300)  # type: ignore[attr-defined]
    pieces, _ = validate_claims(path, KEY, first_claim_id=1)
    slow, _ = validate_claims(path, KEY, first_claim_id=1, column_wise=False)
    assert len(pieces.accepted.to_batches()) > 5  # really in pieces
    for v in (whole, pieces):
        assert v.rejects == slow.rejects and v.rows_read == slow.rows_read
        assert _plain(v.accepted) == _plain(slow.accepted)
        assert pa.array(v.source_lines).to_pylist() == slow.source_lines
