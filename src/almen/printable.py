"""Printable pages of results: the one place almen renders a result as a standalone
HTML document (to print or save as PDF from a browser), used by the CLI's
``--format html`` and the web app alike. Numbers, money and dates are Danish (Babel,
da_DK); English is the second language.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import jinja2
import polars as pl

from almen.i18n import LANGS, LOCALES, date, number, prefixed

__all__ = ["LOCALES", "number", "s96_html"]

LABELS = {lang: prefixed(lang, "s96.") for lang in LANGS}


def _date(value: dt.date | None, lang: str) -> str:
    return date(value, lang)


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("almen", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    return env


def s96_html(
    report_row: dict[str, Any],
    bands: pl.DataFrame,
    *,
    year: int,
    lang: str = "da",
    downloads: dict[str, str] | None = None,
) -> str:
    """One clinic's § 96 statement (``readers.s96_statement``) as a printable page;
    ``downloads`` (label → link) are shown beside it (the web app's CSV and JSON)."""
    if lang not in LABELS:
        raise ValueError(f"language must be one of {', '.join(LABELS)}")
    t = LABELS[lang]
    r = report_row

    def n(v: Any, d: int = 0) -> str:
        return number(v, lang, d)

    summary = [
        (t["patient_years"], n(r["patient_years"], 1)),
        (t["capitation"], f"{n(r['capitation_dkk'])} {t['dkk']}"),
        (t["ffs"], f"{n(r['ffs_dkk'])} {t['dkk']}"),
        *(
            [(t["ffs_year"], f"{n(r['ffs_year_dkk'])} {t['dkk']}")]
            if r.get("months", 12) < 12
            else []
        ),
        (t["expenditure"], f"{n(r['expenditure_dkk'])} {t['dkk']}"),
        (t["expected"], f"{n(r['expected_dkk'])} {t['dkk']}"),
        (t["per_patient"], f"{n(r['per_patient_dkk'])} {t['dkk']}"),
        (t["region_average"], f"{n(r['region_per_patient_dkk'])} {t['dkk']}"),
        (t["ratio"], n(r["ratio"], 3)),
        (t["over"], t["yes"] if r["over"] else t["no"]),
        (
            t["ceiling"],
            "·" if r["ceiling_ffs_dkk"] is None else f"{n(r['ceiling_ffs_dkk'])} {t['dkk']}",
        ),
        (t["effective"], _date(r["effective_from"], lang)),
        (t["statement_date"], _date(r["statement_date"], lang)),
    ]
    band_rows = [
        (
            f"{b['age_band']}–{b['age_band'] + 4}" if b["age_band"] < 85 else "85+",
            t.get(b["sex"], b["sex"]),
            n(b["patient_years"], 1),
            n(b["expenditure_dkk"]),
            n(b["region_rate_dkk"]),
            n(b["expected_dkk"]),
        )
        for b in bands.iter_rows(named=True)
    ]
    head = {
        "clinic": r["provider_number"],
        "year": str(year),
        "region": r["region"],
        "months": f"1–{r.get('months', 12)}",
        "method": t[r["method"]],
        "limit": f"{n(r['limit'] * 100)} %",
    }
    return (
        _env()
        .get_template("s96_statement.html")
        .render(
            t=t, lang=lang, head=head, summary=summary, bands=band_rows, downloads=downloads or {}
        )
    )
