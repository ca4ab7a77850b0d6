"""Reference data shipped with almen and its loaders.

Every file in ``reference/data`` has its source in ``docs/data-sources.md``. Loaders
return Polars frames (small tables) or Shapely geometries.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import shapely
from shapely.geometry import shape

from almen.errors import InputError, NotFoundError

__all__ = [
    "AGE_MAX",
    "CONTACT_CODES",
    "DATA_DIR",
    "derive_population",
    "fee_schedule_for_year",
    "fee_schedule_years",
    "largest_remainder",
    "load_atc_groups",
    "load_boundaries",
    "load_boundaries_geojson",
    "load_condition_codes",
    "load_fee_schedule",
    "load_municipalities",
    "load_municipality_age_sex_2020",
    "load_municipality_income",
    "load_municipality_totals",
    "load_national_population",
    "load_underserved",
]

DATA_DIR = Path(str(resources.files("almen.reference") / "data"))
FEE_SCHEDULE_DIR = DATA_DIR / "fee_schedules"
AGE_MAX = 100  # ages 100 and over are kept together as 100
# the daytime fee codes that are a patient contact (consultation, e-mail, phone, video,
# home visit, yearly control): the contacts behind the need index and the clinic's
# request pattern
CONTACT_CODES = ("0101", "0102", "0105", "0120", "0121", "0125", "0127", "0201", "0204", "0411")

FEE_COLUMNS = {
    "agreement": pl.Utf8,
    "service_code": pl.Utf8,
    "name_da": pl.Utf8,
    "name_en": pl.Utf8,
    "price_dkk": pl.Float64,
    "unit": pl.Utf8,
    "daytime": pl.Boolean,
    "outside_frame": pl.Boolean,
    "valid_from": pl.Date,
    "valid_to": pl.Date,
    "price_basis": pl.Utf8,
    "insurance_group": pl.Int8,
}


def largest_remainder(values: np.ndarray, total: int) -> np.ndarray:
    """Round non-negative ``values`` to integers that sum to ``total`` (Hamilton's method)."""
    values = np.asarray(values, dtype=np.float64)
    s = values.sum()
    if total == 0 or s <= 0:
        return np.zeros(values.shape, dtype=np.int64)
    scaled = values * (total / s)
    floor = np.floor(scaled).astype(np.int64)
    short = int(total - floor.sum())
    if short > 0:
        # stable order so that the rounding is deterministic
        order = np.argsort(-(scaled - floor), kind="stable")[:short]
        floor[order] += 1
    return floor


@cache
def load_municipalities() -> pl.DataFrame:
    """The 98 municipalities: code, name, region, region from 2027, health council, geometry facts."""
    return pl.read_csv(
        DATA_DIR / "municipality.csv",
        schema_overrides={"code": pl.Utf8, "code_dst": pl.Utf8, "region_code": pl.Utf8},
    )


@cache
def load_underserved() -> pl.DataFrame:
    """PLO's 2019 list of 42 municipalities at risk of GP shortage (lægedækningstruede)."""
    return pl.read_csv(DATA_DIR / "underserved_2019.csv", schema_overrides={"code": pl.Utf8})


@cache
def load_national_population(year: int) -> pl.DataFrame:
    """National residents by single year of age (0–100) and sex on 1 January ``year``.

    The 5-year bands of ``year`` (latest year ≤ ``year`` available) are split into single
    years with the within-band shares of Statistics Denmark's FOLK1A 2021Q2 table; the
    result is integerised per band so every band total is exact.
    """
    bands = pl.read_csv(DATA_DIR / "national_population_5y.csv")
    years = sorted(set(bands["year"].to_list()))
    use = max((y for y in years if y <= year), default=None)
    if use is None:
        raise NotFoundError(f"no national population for {year} (available {years[0]}–{years[-1]})")
    bands = bands.filter(pl.col("year") == use)
    single = pl.read_csv(DATA_DIR / "national_population_2021q2.csv")
    single = (
        single.with_columns(pl.col("age").clip(upper_bound=AGE_MAX))
        .group_by(["age", "sex"])
        .agg(pl.col("persons").sum())
    )
    rows: list[tuple[int, str, int]] = []
    for band in bands.iter_rows(named=True):
        lo = int(band["age_from"])
        hi = AGE_MAX if band["age_to"] is None else int(band["age_to"])
        sub = single.filter((pl.col("sex") == band["sex"]) & pl.col("age").is_between(lo, hi)).sort(
            "age"
        )
        counts = largest_remainder(sub["persons"].to_numpy(), int(band["persons"]))
        rows.extend(
            (int(a), band["sex"], int(c)) for a, c in zip(sub["age"].to_list(), counts, strict=True)
        )
    return pl.DataFrame(
        rows, schema={"age": pl.Int16, "sex": pl.Utf8, "persons": pl.Int64}, orient="row"
    )


@cache
def load_municipality_age_sex_2020() -> pl.DataFrame:
    """Residents by municipality × single year of age (100+ as 100) × sex on 1 January
    2020 (Statistics Denmark FOLK1A 2020K1; Christiansø left out)."""
    return pl.read_csv(
        DATA_DIR / "municipality_population_2020.csv",
        schema_overrides={"code": pl.Utf8, "age": pl.Int16, "persons": pl.Int64},
    )


@cache
def load_municipality_income() -> pl.DataFrame:
    """Average disposable income per person by municipality, 2023 (Statistics Denmark
    INDKP101, as copied by a public project; see docs/data-sources.md)."""
    return pl.read_csv(
        DATA_DIR / "municipality_income_2023.csv",
        schema_overrides={"code": pl.Utf8, "disposable_income_dkk": pl.Int64},
    )


@cache
def load_municipality_totals(year: int) -> pl.DataFrame:
    """Municipality totals for ``year``, rescaled to the national total of ``year``.

    The shares come from the counted 2020 totals (FOLK1A) up to 2020, from the shipped
    2025 estimates from 2025, and by linear interpolation between the two in between.
    """
    est = pl.read_csv(
        DATA_DIR / "municipality_population_2025.csv", schema_overrides={"code": pl.Utf8}
    ).sort("code")
    counted = (
        load_municipality_age_sex_2020().group_by("code").agg(pl.col("persons").sum()).sort("code")
    )
    if counted["code"].to_list() != est["code"].to_list():
        raise ValueError("the 2020 count and the 2025 estimates name different municipalities")
    w = min(max((year - 2020) / 5.0, 0.0), 1.0)
    a = counted["persons"].to_numpy().astype(np.float64)
    b = est["persons_estimate"].to_numpy().astype(np.float64)
    share = (1 - w) * a / a.sum() + w * b / b.sum()
    national = int(load_national_population(year)["persons"].sum())
    counts = largest_remainder(share, national)
    return est.select("code").with_columns(pl.Series("persons", counts, dtype=pl.Int64))


@cache
def derive_population(year: int) -> pl.DataFrame:
    """Municipality × age × sex residents for ``year``, derived (basis 'derived').

    Method: the counted table of 1 January 2020 (FOLK1A, municipality × single year of
    age × sex) is the seed; it is fitted by iterative proportional fitting to the two
    margins of ``year``, the municipality totals and the national age × sex counts
    (sourced), then integerised per municipality by largest remainder so that municipality
    totals are exact. For 2020 the margins are nearly the seed's own, so the result is
    FOLK1A 2020 to within the national single-year split.
    """
    muni = load_municipalities().select("code").sort("code")
    totals = load_municipality_totals(year)
    muni = muni.join(totals, on="code", maintain_order="left")
    national = load_national_population(year).sort(["sex", "age"])
    seed = (
        load_municipality_age_sex_2020()
        .with_columns(pl.col("age").clip(upper_bound=AGE_MAX))
        .group_by(["code", "sex", "age"])
        .agg(pl.col("persons").sum())
    )
    grid = (
        muni.select("code")
        .join(national.select("sex", "age"), how="cross")
        .join(seed, on=["code", "sex", "age"], how="left")
        .fill_null(0)
    )
    n_m, n_c = len(muni), len(national)
    # half a person in every cell, so a margin can reach an age the seed lacks there
    m = grid["persons"].to_numpy().astype(np.float64).reshape(n_m, n_c) + 0.5
    col_target = national["persons"].to_numpy().astype(np.float64)
    row_target = muni["persons"].to_numpy().astype(np.float64)
    for _ in range(50):
        m *= (row_target / m.sum(axis=1))[:, None]
        m *= (col_target / m.sum(axis=0))[None, :]
    counts = np.vstack(
        [largest_remainder(m[i], int(row_target[i])) for i in range(len(row_target))]
    )
    ages = national["age"].to_numpy()
    return pl.DataFrame(
        {
            "municipality": np.repeat(muni["code"].to_numpy(), n_c),
            "age": np.tile(ages, n_m).astype(np.int16),
            "sex": np.tile(national["sex"].to_numpy(), n_m),
            "year": np.full(n_m * n_c, year, dtype=np.int16),
            "persons": counts.ravel().astype(np.int64),
            "basis": np.full(n_m * n_c, "derived"),
        }
    )


def load_fee_schedule(path: Path | None = None) -> pl.DataFrame:
    """One fee-schedule file, or all shipped ones when ``path`` is None.

    A user drops in another year's table as a CSV with the same columns; extra columns
    (``code_basis``, ``note``) are kept out of the warehouse table. ``insurance_group``
    may be left out (a group-1 table); 2 marks the group-2 fees.
    """
    paths = [path] if path is not None else sorted(FEE_SCHEDULE_DIR.glob("*.csv"))
    frames = []
    for p in paths:
        try:
            df = pl.read_csv(p, schema_overrides={"service_code": pl.Utf8}, try_parse_dates=False)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"cannot read fee schedule: {exc}", source=str(p)) from None
        if "insurance_group" not in df.columns:  # a group-1 table
            df = df.with_columns(insurance_group=pl.lit(1, pl.Int8))
        missing = [c for c in FEE_COLUMNS if c not in df.columns]
        if missing:
            raise InputError(f"fee schedule lacks columns {missing}", source=str(p), line=1)
        try:
            df = df.select(
                [
                    pl.col(c).str.to_date("%Y-%m-%d").alias(c)
                    if t == pl.Date
                    else pl.col(c).cast(t, strict=True)
                    for c, t in FEE_COLUMNS.items()
                ]
            )
        except pl.exceptions.PolarsError as exc:
            raise InputError(f"fee schedule has a bad value: {exc}", source=str(p)) from None
        frames.append(df)
    return pl.concat(frames)


def fee_schedule_years(schedule: pl.DataFrame | None = None) -> list[int]:
    """Years fully covered by a fee schedule with a capitation (BASIS) row."""
    schedule = load_fee_schedule() if schedule is None else schedule
    basis = schedule.filter(pl.col("service_code") == "BASIS")
    years: set[int] = set()
    for r in basis.iter_rows(named=True):
        years.update(range(r["valid_from"].year, r["valid_to"].year + 1))
    return sorted(years)


def fee_schedule_for_year(year: int, schedule: pl.DataFrame | None = None) -> pl.DataFrame:
    """The fee-schedule rows in force on any day of ``year``; NotFoundError if none."""
    schedule = load_fee_schedule() if schedule is None else schedule
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    rows = schedule.filter((pl.col("valid_from") <= end) & (pl.col("valid_to") >= start))
    if rows.filter(pl.col("service_code") == "BASIS").is_empty():
        years = fee_schedule_years(schedule)
        have = f"{years[0]}–{years[-1]}" if years else "none"
        raise NotFoundError(f"no fee schedule covers the year {year} (years with one: {have})")
    return rows


@cache
def load_condition_codes() -> pl.DataFrame:
    """ICPC-2 codes of the chronic conditions almen tracks, by condition group."""
    return pl.read_csv(DATA_DIR / "condition_code.csv")


@cache
def load_atc_groups() -> pl.DataFrame:
    """ATC prefixes of the drugs that treat each condition group."""
    return pl.read_csv(DATA_DIR / "atc_group.csv")


@cache
def load_boundaries_geojson() -> dict[str, Any]:
    """The municipality boundaries as GeoJSON (simplified DAGI 2014, WGS84; each
    feature's ``properties.code`` is the municipality code), for maps."""
    raw: dict[str, Any] = json.loads(
        (DATA_DIR / "municipality.geojson").read_text(encoding="utf-8")
    )
    return raw


@cache
def load_boundaries() -> dict[str, shapely.Geometry]:
    """Municipality code → boundary (simplified DAGI 2014, WGS84 lon/lat)."""
    raw = json.loads((DATA_DIR / "municipality.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["code"]: shape(f["geometry"]) for f in raw["features"]}
