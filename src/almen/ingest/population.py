"""Population extracts in Statistics Denmark's FOLK1A layout (StatBank CSV).

Columns OMRÅDE (area), KØN (sex), ALDER (age), TID (time) and INDHOLD (count), in Danish or
English, with areas as code, name or "code name". Total rows (all ages, both sexes, the
whole country, regions) are not cells and go to the rejects with that reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pyarrow as pa

from almen.ingest.csv_reader import open_extract
from almen.ingest.validated import Reject, Validated
from almen.reference import AGE_MAX, load_municipalities

__all__ = ["POPULATION_ALIASES", "validate_population"]

POPULATION_ALIASES: dict[str, tuple[str, ...]] = {
    "area": ("område", "omrade", "omraade", "region", "municipality", "kommune"),
    "sex": ("køn", "kon", "koen", "sex"),
    "age": ("alder", "age"),
    "time": ("tid", "time", "kvartal", "quarter"),
    "persons": ("indhold", "content", "value", "persons", "antal"),
}
_SEX = {
    "mænd": "M",
    "men": "M",
    "m": "M",
    "1": "M",
    "kvinder": "F",
    "women": "F",
    "k": "F",
    "f": "F",
    "2": "F",
}
_TOTAL = {
    "i alt",
    "total",
    "tot",
    "alder i alt",
    "age, total",
    "ialt",
    "hele landet",
    "all denmark",
    "both sexes",
}
_AGE = re.compile(r"^(\d{1,3})\s*(år|years?|y)?\+?$")
_TIME = re.compile(r"^(\d{4})(?:\s*[KQ]([1-4]))?$")


def _municipality_lookup() -> dict[str, str]:
    m = load_municipalities()
    look: dict[str, str] = {}
    for code, dst, name in m.select("code", "code_dst", "name").iter_rows():
        for k in (code, dst, name.lower(), f"{dst} {name}".lower(), f"{name} kommune".lower()):
            look[k] = code
    return look


def validate_population(path: Path) -> Validated:
    """Validate a FOLK1A extract; accepted cells become ``population`` rows (basis 'official')."""
    ex = open_extract(path, POPULATION_ALIASES, ("area", "sex", "age", "time", "persons"))
    look = _municipality_lookup()
    rejects: list[Reject] = []
    rows: list[tuple[str, int, str, int, int]] = []
    seen: dict[tuple[str, int, str, int], int] = {}

    def cell(values: list[str], name: str) -> str:
        pos = ex.columns[name]
        return values[pos].strip() if pos < len(values) else ""

    for line, values in ex.rows:
        area, sex_t, age_t = cell(values, "area"), cell(values, "sex"), cell(values, "age")
        if (
            area.lower() in _TOTAL
            or area.lower().startswith("region")
            or sex_t.lower() in _TOTAL
            or age_t.lower() in _TOTAL
        ):
            rejects.append(Reject(line, None, "a total row, not a municipality × sex × age cell"))
            continue
        code = look.get(area.lower()) or look.get(area.split(" ")[0].lstrip("0").rjust(3, "0"))
        if code is None:
            rejects.append(Reject(line, "area", "not one of the 98 municipalities"))
            continue
        sex = _SEX.get(sex_t.lower())
        if sex is None:
            rejects.append(Reject(line, "sex", "sex must be Mænd/Kvinder (Men/Women)"))
            continue
        m_age = _AGE.match(age_t.lower())
        if not m_age:
            rejects.append(Reject(line, "age", "age must look like '7 år' or '7 years'"))
            continue
        age = min(int(m_age[1]), AGE_MAX)
        m_time = _TIME.match(cell(values, "time").upper())
        if not m_time:
            rejects.append(Reject(line, "time", "time must look like 2025K1 or 2025Q1"))
            continue
        if m_time[2] not in (None, "1"):
            rejects.append(Reject(line, "time", "only first-quarter (1 January) counts are used"))
            continue
        year = int(m_time[1])
        if not 1900 <= year <= 2099:
            rejects.append(Reject(line, "time", "year out of range (1900-2099)"))
            continue
        persons_t = cell(values, "persons").replace(".", "").replace(" ", "")
        if not persons_t.isdigit():
            rejects.append(Reject(line, "persons", "count is not a whole number of 0 or more"))
            continue
        exact_age = int(m_age[1])
        k = (code, exact_age, sex, year)
        if k in seen:
            rejects.append(Reject(line, None, f"same cell as line {seen[k]}"))
            continue
        seen[k] = line
        rows.append((code, age, sex, year, int(persons_t)))

    df = pl.DataFrame(rows, schema={"municipality": pl.Utf8, "age": pl.Int16, "sex": pl.Utf8,
                                    "year": pl.Int16, "persons": pl.Int64}, orient="row")  # fmt: skip
    df = (
        df.group_by(["municipality", "age", "sex", "year"])
        .agg(pl.col("persons").sum())
        .sort(["year", "municipality", "sex", "age"])
    )
    notes = []
    for year, n_muni in df.group_by("year").agg(pl.col("municipality").n_unique()).iter_rows():
        if n_muni < 98:
            notes.append(f"{year}: the extract covers {n_muni} of 98 municipalities")
    accepted = df.with_columns(pl.lit("official").alias("basis")).to_arrow()
    return Validated(
        target_table="population",
        source=ex.source,
        rows_read=len(ex.rows),
        rows_accepted=len(ex.rows) - len(rejects),
        accepted=pa.table(accepted),
        rejects=rejects,
        content_sha256=ex.sha256,
        replace_key=("municipality", "year"),
        notes=notes,
    )
