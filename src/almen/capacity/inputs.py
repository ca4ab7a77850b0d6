"""The capacity engines' inputs, read from the warehouse (the only module of the
domain that knows the warehouse; the engines take tables)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from almen import reference
from almen.capacity.need import need_index
from almen.capacity.scenario import Country
from almen.geo import person_cells
from almen.warehouse import Warehouse

__all__ = [
    "clinic_capacity",
    "councils",
    "country_from_warehouse",
    "distribution_areas",
    "limit_inputs",
    "need_from_warehouse",
    "site_inputs",
]


def need_from_warehouse(wh: Warehouse, year: int) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The need index of every person, from the warehouse and the year's claims."""
    return need_index(
        wh.read_table("patient"),
        wh.read_table("condition"),
        wh.read_table("claim"),
        reference.load_condition_codes(),
        year=year,
    )


def councils(wh: Warehouse) -> pl.DataFrame:
    """municipality → health_council."""
    m = wh.read_table("municipality")
    return m.select(municipality=m.code, health_council=m.health_council).to_polars()


def country_from_warehouse(wh: Warehouse, year: int) -> Country:
    """The starting point of a capacity scenario: the located citizens with their need
    index (weights from ``year``'s claims), the clinics, their doctors, the municipalities."""
    persons, _ = need_from_warehouse(wh, year)
    loc = wh.read_table("patient").select("patient_id", "lat", "lon").to_polars()
    persons = (
        persons.select("patient_id", "provider_number", "municipality", "need", "vulnerable")
        .join(loc, on="patient_id", how="inner")
        .filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    )
    m = wh.read_table("municipality")
    return Country(
        persons=persons,
        cells=person_cells(persons.select("lon", "lat").to_numpy()),
        clinics=wh.read_table("clinic")
        .select("provider_number", "municipality", "form", "closed_to_new", "lat", "lon")
        .to_polars(),
        doctors=wh.read_table("doctor").select("provider_number", "birth_year", "fte").to_polars(),
        areas=m.select(
            municipality=m.code, health_council=m.health_council, lat=m.lat, lon=m.lon
        ).to_polars(),
    )


def clinic_capacity(wh: Warehouse, persons: pl.DataFrame) -> pl.DataFrame:
    """Every clinic with its FTE and listed patients (from ``persons`` of
    ``need_from_warehouse``): provider_number, municipality, form, closed_to_new, lat,
    lon, fte, listed."""
    d = wh.read_table("doctor")
    fte = d.group_by("provider_number").aggregate(fte=d.fte.sum()).to_polars()
    clinics = (
        wh.read_table("clinic")
        .select("provider_number", "municipality", "form", "closed_to_new", "lat", "lon")
        .to_polars()
    )
    listed = persons.group_by("provider_number").agg(listed=pl.len())
    return (
        clinics.join(fte, on="provider_number", how="left")
        .join(listed, on="provider_number", how="left")
        .with_columns(pl.col("fte").fill_null(0.0), pl.col("listed").fill_null(0))
    )


def limit_inputs(wh: Warehouse, persons: pl.DataFrame, year: int | None = None) -> pl.DataFrame:
    """The clinics as ``closing_limits`` takes them: provider_number, municipality, fte,
    listed, need_index and vulnerable_share of the list, underserved (PLO's list of
    municipalities), years_established: the years since the clinic's most recently
    established owner set up (``year`` minus the doctor register's latest
    year_established among its owners; ``year`` defaults to the warehouse's last data
    date), null where the register gives no year."""
    if year is None:
        last = wh.last_data_date()
        year = last.year if last is not None else dt.date.today().year
    doc = wh.read_table("doctor")
    newest = (
        doc.filter((doc.role == "owner") & doc.year_established.notnull())
        .group_by("provider_number")
        .aggregate(established=doc.year_established.max())
        .to_polars()
    )
    lists = (
        persons.filter(pl.col("provider_number").is_not_null())
        .group_by("provider_number")
        .agg(
            listed=pl.len(),
            need_index=pl.col("need").mean(),
            vulnerable_share=pl.col("vulnerable").mean(),
        )
    )
    cap = clinic_capacity(wh, persons).select("provider_number", "municipality", "fte")
    underserved = set(reference.load_underserved()["code"].to_list())
    return (
        cap.filter(pl.col("fte") > 0)
        .join(lists, on="provider_number", how="inner")
        .join(newest, on="provider_number", how="left")
        .with_columns(
            underserved=pl.col("municipality").is_in(list(underserved)),
            years_established=(year - pl.col("established").cast(pl.Int32)),
        )
        .drop("established")
    )


def distribution_areas(wh: Warehouse, persons: pl.DataFrame) -> pl.DataFrame:
    """The municipalities as ``distribute`` takes them: area (code), name,
    health_council, need (need-weighted residents, from ``persons``) and capacity (FTE of
    the clinics there)."""
    need = (
        persons.filter(pl.col("municipality").is_not_null())
        .group_by("municipality")
        .agg(need=pl.col("need").sum())
    )
    cap = clinic_capacity(wh, persons).group_by("municipality").agg(capacity=pl.col("fte").sum())
    m = wh.read_table("municipality")
    munis = m.select(municipality=m.code, name=m.name, health_council=m.health_council)
    return (
        munis.to_polars()
        .join(need, on="municipality", how="left")
        .join(cap, on="municipality", how="left")
        .with_columns(pl.col("need").fill_null(0.0), pl.col("capacity").fill_null(0.0))
        .rename({"municipality": "area"})
    )


def site_inputs(wh: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What ``sites.choose_sites`` takes: the located citizens (municipality, lon, lat)
    and the clinics open to new patients (lon, lat)."""
    p = wh.read_table("patient")
    located = p.filter(p.lat.notnull() & p.lon.notnull()).select("municipality", "lon", "lat")
    c = wh.read_table("clinic")
    return located.to_polars(), c.filter(~c.closed_to_new).select("lon", "lat").to_polars()
