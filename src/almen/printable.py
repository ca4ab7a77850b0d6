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
from babel.dates import format_date
from babel.numbers import format_decimal

__all__ = ["LOCALES", "number", "s96_html"]

LOCALES = {"da": "da_DK", "en": "en_GB"}

LABELS: dict[str, dict[str, str]] = {
    "da": {
        "title": "§ 96-opgørelse (højestegrænse)",
        "clinic": "Klinik",
        "year": "Afregningsår",
        "region": "Region",
        "months": "Måneder opgjort",
        "method": "Metode",
        "standardised": "køns- og aldersstandardiseret",
        "crude": "ustandardiseret",
        "limit": "Grænse",
        "patient_years": "Tilmeldte gruppe 1-sikrede (patientår)",
        "capitation": "Basishonorar",
        "ffs": "Ydelseshonorarer i dagtiden",
        "ffs_year": "Ydelseshonorarer, fremskrevet til året",
        "expenditure": "Udgift i alt",
        "expected": "Forventet udgift efter regionens satser",
        "per_patient": "Udgift pr. sikret",
        "region_average": "Regionens gennemsnit pr. sikret",
        "ratio": "Forholdstal",
        "over": "Over grænsen",
        "yes": "ja",
        "no": "nej",
        "ceiling": "Højestegrænse for ydelseshonorarer (år)",
        "effective": "Gælder fra",
        "statement_date": "Opgørelsesdato",
        "bands": "Standardiseringstabel: alder og køn",
        "age": "Alder",
        "sex": "Køn",
        "region_rate": "Regionens udgift pr. patientår",
        "F": "kvinder",
        "M": "mænd",
        "source": "Overenskomst om almen praksis § 96 (seed 004 §5.3); fra afregningsåret "
        "2025 køns- og aldersstandardiseret med en grænse på 20 % (seed 001).",
        "note": "Kun egne tilmeldte gruppe 1-sikrede tæller: gruppe 2 og patienter, der er "
        "set for en anden læge (akut eller ved forfald), er holdt ude.",
        "dkk": "kr.",
    },
    "en": {
        "title": "§ 96 statement (ceiling)",
        "clinic": "Clinic",
        "year": "Settlement year",
        "region": "Region",
        "months": "Months counted",
        "method": "Method",
        "standardised": "standardised by age and sex",
        "crude": "crude",
        "limit": "Limit",
        "patient_years": "Listed group-1 patients (patient-years)",
        "capitation": "Capitation",
        "ffs": "Daytime fee-for-service",
        "ffs_year": "Fee-for-service projected to the year",
        "expenditure": "Expenditure",
        "expected": "Expected at the region's rates",
        "per_patient": "Expenditure per patient",
        "region_average": "Region's average per patient",
        "ratio": "Ratio",
        "over": "At or over the limit",
        "yes": "yes",
        "no": "no",
        "ceiling": "Ceiling on fee-for-service (year)",
        "effective": "In force from",
        "statement_date": "Statement date",
        "bands": "Standardisation table: age and sex",
        "age": "Age",
        "sex": "Sex",
        "region_rate": "Region's expenditure per patient-year",
        "F": "women",
        "M": "men",
        "source": "Agreement on general practice § 96 (seed 004 §5.3); from settlement year "
        "2025 standardised by age and sex with a 20 % limit (seed 001).",
        "note": "Only own listed group-1 patients count: group 2 and patients seen for "
        "another GP (acute or in the GP's absence) are left out.",
        "dkk": "DKK",
    },
}


def number(value: float | int | None, lang: str = "da", decimals: int = 0) -> str:
    """A number as ``lang`` writes it (Danish: 1.234,5); an empty value as a dot."""
    if value is None or (isinstance(value, float) and value != value):
        return "·"
    fmt = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=fmt, locale=LOCALES[lang])


def _date(value: dt.date | None, lang: str) -> str:
    return "·" if value is None else format_date(value, format="long", locale=LOCALES[lang])


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
