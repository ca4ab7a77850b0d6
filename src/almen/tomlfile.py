"""Scenario files in TOML, read with errors that say where (file, line, column).

Shared by the fee scenarios (settlement) and the capacity scenarios: each reads a
``TomlFile`` and calls ``fail(message, needle)`` for a value it refuses, which points at
the first place ``needle`` occurs in the text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from almen.errors import InputError

__all__ = ["TomlFile", "parse_toml", "read_toml"]


@dataclass(frozen=True)
class TomlFile:
    source: str
    text: str
    data: dict[str, Any]

    def where(self, needle: str) -> tuple[int | None, int | None]:
        """Line and column of the first occurrence of ``needle`` as a key or string."""
        for pat in (
            rf'"{re.escape(needle)}"',
            rf"'{re.escape(needle)}'",
            rf"\b{re.escape(needle)}\b",
        ):
            m = re.search(pat, self.text)
            if m:
                line = self.text.count("\n", 0, m.start()) + 1
                col = m.start() - (self.text.rfind("\n", 0, m.start()) + 1) + 1
                return line, col
        return None, None

    def fail(self, message: str, needle: str | None = None) -> InputError:
        """An ``InputError`` at the first place ``needle`` occurs (or the file alone)."""
        line, col = self.where(needle) if needle else (None, None)
        return InputError(message, source=self.source, line=line, column=col)

    def check_keys(self, table: dict[str, Any], known: set[str], section: str = "") -> None:
        """Refuse a key that is not in ``known`` (a typo would otherwise be ignored)."""
        for key in table:
            if key not in known:
                where = f" in [{section}]" if section else ""
                raise self.fail(
                    f"unknown key {key!r}{where}; known: {', '.join(sorted(known))}", key
                )

    def number(
        self,
        value: object,
        what: str,
        needle: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
    ) -> float:
        """``value`` as a number within [minimum, maximum], or an error that says which."""
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise self.fail(f"{what} must be {'a whole number' if integer else 'a number'}", needle)
        v = float(value)  # type: ignore[arg-type]
        if minimum is not None and v < minimum:
            word = "negative" if minimum == 0 else f"below {minimum:g}"
            raise self.fail(f"{what} must not be {word}, got {v:g}", needle)
        if maximum is not None and v > maximum:
            raise self.fail(f"{what} must not be above {maximum:g}, got {v:g}", needle)
        return v


def read_toml(path: Path) -> TomlFile:
    """Read ``path`` as UTF-8 TOML; an ``InputError`` names file, line and column."""
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", source=src) from None
    except UnicodeDecodeError:
        raise InputError("the file is not UTF-8 text", source=src) from None
    return parse_toml(text, src)


def parse_toml(text: str, source: str) -> TomlFile:
    """Parse ``text`` (from ``source``: a file name, or e.g. an uploaded file's or a form
    field's name, used in messages); an ``InputError`` names source, line and column."""
    src = source
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise InputError(f"not valid TOML: {msg}", source=src, line=line, column=col) from None
    return TomlFile(src, text, data)
