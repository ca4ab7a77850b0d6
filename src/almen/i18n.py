"""Languages: message catalogs and Danish formatting, shared by the web app and the
printable pages.

Every sentence, label and code shown to a user comes from a gettext catalog,
``locale/<lang>/LC_MESSAGES/almen.po`` (Danish first, English complete as the second
language), read with Babel. Message ids are keys: ``ui.*`` page text, ``col.*`` table
headings, ``s96.*`` the printable § 96 statement and ``code.<kind>.<value>`` the codes
(triage reasons, severities, case definitions, indicators, ...). Numbers, money and
dates are formatted by Babel in ``da_DK`` (``en_GB`` for English).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = ["LANGS", "LOCALES", "catalog", "code", "date", "fmt", "gettext", "month", "number"]

LOCALES = {"da": "da_DK", "en": "en_GB"}
LANGS = tuple(LOCALES)
LOCALE_DIR = Path(__file__).parent / "locale"
EMPTY = "·"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


@cache
def catalog(lang: str) -> dict[str, str]:
    """Message id → translation for ``lang`` (one of ``LANGS``)."""
    if lang not in LOCALES:
        raise ValueError(f"language must be one of {', '.join(LANGS)}")
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "almen.po").open("rb") as f:
        cat = read_po(f, locale=lang)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string}


def gettext(lang: str, key: str) -> str:
    """The translation of ``key``; the key itself when the catalog lacks it (a test
    checks that both catalogs hold every key the pages use)."""
    return catalog(lang).get(key, key)


def prefixed(lang: str, prefix: str) -> dict[str, str]:
    """The messages under ``prefix`` (``"ui."``), keyed by the rest of the id."""
    n = len(prefix)
    return {k[n:]: v for k, v in catalog(lang).items() if k.startswith(prefix)}


def code(lang: str, kind: str, value: Any) -> str:
    """A code as the user reads it: ``code.<kind>.<value>`` from the catalog, or the
    code itself when it has no translation (rules a user added, say)."""
    if value is None:
        return EMPTY
    return catalog(lang).get(f"code.{kind}.{value}", str(value))


def audit_what(lang: str, what: str) -> str:
    """An audit entry as the user reads it: ``code.audit.<what>``, or for a drill-down
    ``missing:<indicator>`` the entry's text with the indicator's name, for a share
    ``shared:<user>`` / ``unshared:<user>`` with the user's name."""
    kind, _, arg = what.partition(":")
    if arg and f"code.audit.{kind}" in catalog(lang):
        shown = code(lang, "indicator", arg) if kind == "missing" else arg
        return catalog(lang)[f"code.audit.{kind}"].format(shown)
    return code(lang, "audit", what)


def number(value: float | int | None, lang: str = "da", decimals: int = 0) -> str:
    """A number as ``lang`` writes it (Danish: 1.234,5); an empty value as a dot."""
    if value is None or (isinstance(value, float) and value != value):
        return EMPTY
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=LOCALES[lang])


def date(value: dt.date | None, lang: str = "da", form: str = "long") -> str:
    """A date in words (Danish: 2. december 2026)."""
    return EMPTY if value is None else format_date(value, format=form, locale=LOCALES[lang])


def month(value: dt.date | None, lang: str = "da") -> str:
    """A settlement month (Danish: januar 2025)."""
    return EMPTY if value is None else format_date(value, format="MMMM y", locale=LOCALES[lang])


def fmt(value: Any, lang: str = "da") -> str:
    """Any cell value as shown in a table: counts with thousands separators, amounts
    from 100 up without decimals, smaller fractions with two, dates in words, a tick
    for true and a dot for an empty value."""
    if value is None:
        return EMPTY
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, float):
        if value != value:
            return EMPTY
        return number(value, lang, 0 if abs(value) >= 100 else 2)
    if isinstance(value, int):
        return number(value, lang)
    if isinstance(value, dt.datetime):
        return format_date(value, format="medium", locale=LOCALES[lang]) + value.strftime(" %H:%M")
    if isinstance(value, dt.date):
        return date(value, lang, "medium")
    if isinstance(value, str) and _ISO.match(value):  # a date that went through JSON
        return fmt(
            dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value), lang
        )
    return str(value)
