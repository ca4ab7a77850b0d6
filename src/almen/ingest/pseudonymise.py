"""CPR numbers in, pseudonyms out: a keyed hash (HMAC-SHA-256) at the door.

The CPR number itself is never stored or logged. The key lives outside the warehouse:
``ALMEN_PSEUDONYM_KEY`` or, by default, a random key file ``pseudonym.key`` in the data
directory, created on first use with owner-only permissions. The same key gives the same
pseudonym for the same person across extracts; keep it, and keep it secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import pyarrow as pa

from almen.errors import StorageError

__all__ = ["KEY_FILE", "CprError", "load_key", "parse_cpr", "pseudonymise", "pseudonymise_many"]

KEY_FILE = "pseudonym.key"
_CPR = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d{4})$")


class CprError(ValueError):
    """A CPR number is malformed. The message never contains the number."""


def load_key(key_text: str | None, data_dir: Path) -> bytes:
    """The pseudonym key: ``key_text`` if given, else the key file (created if missing)."""
    if key_text:
        return key_text.encode("utf-8")
    path = data_dir / KEY_FILE
    try:
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text(encoding="ascii").strip().encode("ascii")
    except OSError as exc:
        raise StorageError(
            f"cannot read or create the pseudonym key {path}: {exc.strerror}"
        ) from None


def parse_cpr(text: str) -> tuple[str, dt.date, str]:
    """Normalised 10 digits, birth date and sex ('M'/'F') of a CPR number.

    The century follows the 7th digit (CPR-kontoret's rule); the modulus-11 check is not
    applied, as numbers issued since 2007 need not satisfy it.
    """
    m = _CPR.match(text.strip())
    if not m:
        raise CprError("CPR number is not 10 digits (DDMMYY-SSSS)")
    dd, mm, yy, seq = int(m[1]), int(m[2]), int(m[3]), m[4]
    d7 = int(seq[0])
    if d7 <= 3:
        century = 1900
    elif d7 in (4, 9):
        century = 2000 if yy <= 36 else 1900
    else:  # 5-8
        century = 2000 if yy <= 57 else 1800
    try:
        born = dt.date(century + yy, mm, dd)
    except ValueError:
        raise CprError("CPR number has an impossible birth date") from None
    sex = "M" if int(seq[3]) % 2 else "F"
    return f"{m[1]}{m[2]}{m[3]}{seq}", born, sex


def pseudonymise(cpr10: str, key: bytes) -> int:
    """A positive 63-bit pseudonym: HMAC-SHA-256(key, CPR), first 8 bytes."""
    digest = hmac.new(key, cpr10.encode("ascii"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def pseudonymise_many(cprs: pa.Array, key: bytes) -> pa.Array:
    """``pseudonymise`` of many normalised CPR numbers at once (int64), computed by DuckDB
    in an in-memory database: HMAC(k, m) = SHA-256((k ⊕ opad) ‖ SHA-256((k ⊕ ipad) ‖ m))
    (RFC 2104), the same digest as ``hmac``, about 20 times faster than a Python loop.
    Nothing is written anywhere; the connection is closed at once."""
    import duckdb

    k = hashlib.sha256(key).digest() if len(key) > 64 else key
    k = k.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in k).hex()
    opad = bytes(b ^ 0x5C for b in k).hex()
    con = duckdb.connect(":memory:")
    try:
        con.register("given", pa.table({"c": cprs.cast(pa.string())}))
        # copied into a table first: DuckDB scans a registered Arrow table on one thread,
        # its own tables on all of them (the copy and two threads: 10-20 % faster);
        # the order of the rows is kept (DuckDB preserves insertion order)
        con.execute("CREATE TEMP TABLE cprs AS SELECT c FROM given")
        # the pads as literals (hex digits we made), so DuckDB folds them once
        sql = (
            f"SELECT (('0x' || substr(sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}')"
            " || encode(c)))), 1, 16))::UBIGINT & 9223372036854775807)::BIGINT AS pid FROM cprs"
        )
        got = con.execute(sql).arrow().read_all()
    finally:
        con.close()
    return got.column("pid").combine_chunks()
