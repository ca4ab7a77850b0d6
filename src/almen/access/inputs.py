"""The access engines' inputs, read from the warehouse (the only module of the domain
that knows the warehouse)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from almen import reference
from almen.errors import NotFoundError
from almen.reference import CONTACT_CODES
from almen.warehouse import Warehouse

__all__ = [
    "SPECIAL_EFFORT_GROUPS",
    "clinic_channel_mix",
    "clinic_inputs",
    "load_case_mix",
    "load_emergency_departments",
    "ooh_inputs",
    "patient_facts",
]

# seed 002 §2: special efforts for psychiatric illness and intellectual disability
SPECIAL_EFFORT_GROUPS = ("schizophrenia", "bipolar_disorder", "intellectual_disability")


def load_case_mix() -> pl.DataFrame:
    """reason, share: the mix of requests (reference/data/request_mix.csv, assumptions)."""
    return pl.read_csv(reference.DATA_DIR / "request_mix.csv")


def _daytime_claims(wh: Warehouse, provider_number: str, year: int, codes: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """The clinic's claims of ``year`` with one of ``codes``, out-of-hours left out."""
    c = wh.read_table("claim")
    return c.filter(
        (c.provider_number == provider_number)
        & (c.service_date >= dt.date(year, 1, 1))
        & (c.service_date <= dt.date(year, 12, 31))
        & c.service_code.isin(list(codes))
        & (c.time_band != "ooh")
    )


def clinic_inputs(
    wh: Warehouse, provider_number: str, year: int
) -> tuple[list[float], float, pl.DataFrame]:
    """For one clinic: daytime contacts a day by weekday (Monday..Sunday, from the
    year's claims), the doctors' FTE, and its listed people (age, sex, chronic,
    special_effort)."""
    clinic = wh.read_table("clinic")
    if clinic.filter(clinic.provider_number == provider_number).count().execute() == 0:
        raise NotFoundError(f"no clinic with provider number {provider_number!r}")
    c = _daytime_claims(wh, provider_number, year, CONTACT_CODES)
    by_day = c.group_by(wd=c.service_date.day_of_week.index()).aggregate(n=c.count()).to_polars()
    days = [0] * 7
    d = dt.date(year, 1, 1)
    while d.year == year:
        days[d.weekday()] += 1
        d += dt.timedelta(days=1)
    counts = dict(zip(by_day["wd"].to_list(), by_day["n"].to_list(), strict=True))
    per_weekday = [counts.get(i, 0) / days[i] for i in range(7)]
    doc = wh.read_table("doctor")
    fte = doc.filter(doc.provider_number == provider_number).fte.sum().execute()
    p = wh.read_table("patient")
    p = p.filter(p.provider_number == provider_number)
    codes = reference.load_condition_codes()
    special = codes.filter(pl.col("condition_group").is_in(SPECIAL_EFFORT_GROUPS))["icpc2_code"]
    cond = wh.read_table("condition")
    cond = cond.filter(cond.onset_date <= dt.date(year, 12, 31))
    flags = cond.group_by("patient_id").aggregate(
        special_effort=cond.code.isin(special.to_list()).any()
    )
    j = p.left_join(flags, p.patient_id == flags.patient_id)
    people = j.select(
        age=(year - j.birth_year - 1).clip(lower=0),
        sex=j.sex,
        chronic=j.special_effort.notnull(),
        special_effort=j.special_effort.fill_null(False),
    ).to_polars()
    # a fixed order, so that a seed draws the same people (rows that tie are identical)
    people = people.sort("age", "sex", "chronic", "special_effort")
    return per_weekday, float(fte or 0.0), people


def clinic_channel_mix(wh: Warehouse, provider_number: str, year: int) -> pl.DataFrame:
    """channel, contacts, share: the clinic's daytime contacts of ``year`` by the channel
    their service code is (``simulate.TODAY_CHANNEL``): how it works today."""
    from almen.access.simulate import TODAY_CHANNEL

    c = _daytime_claims(wh, provider_number, year, tuple(TODAY_CHANNEL))
    by = c.group_by("service_code").aggregate(n=c.count()).to_polars()
    mapping = pl.DataFrame({"service_code": list(TODAY_CHANNEL),
                            "channel": list(TODAY_CHANNEL.values())})  # fmt: skip
    out = (
        by.join(mapping, on="service_code")
        .group_by("channel")
        .agg(contacts=pl.col("n").sum())
        .sort("channel")
    )
    return out.with_columns(share=pl.col("contacts") / pl.col("contacts").sum())


def patient_facts(wh: Warehouse, patient_id: int, as_of: dt.date) -> tuple[int, str, set[str]]:
    """What triage needs to know of a patient from the records: age (on ``as_of``, from
    the birth year, as ``clinic_inputs``), sex and the flags ``chronic`` (a condition
    with onset by ``as_of``) and ``special_effort`` (one of ``SPECIAL_EFFORT_GROUPS``,
    seed 002 §2). ``housebound`` is not in the records: staff set it."""
    p = wh.read_table("patient")
    got = p.filter(p.patient_id == patient_id).select("birth_year", "sex").to_polars()
    if got.is_empty():
        raise NotFoundError("no such patient")
    birth_year, sex = got.row(0)
    cond = wh.read_table("condition")
    codes = (
        cond.filter((cond.patient_id == patient_id) & (cond.onset_date <= as_of))
        .select("code")
        .to_polars()["code"]
        .to_list()
    )
    special = set(
        reference.load_condition_codes()
        .filter(pl.col("condition_group").is_in(SPECIAL_EFFORT_GROUPS))["icpc2_code"]
        .to_list()
    )
    flags = {"chronic"} if codes else set()
    if special.intersection(codes):
        flags.add("special_effort")
    return max(as_of.year - birth_year - 1, 0), sex, flags


def load_emergency_departments() -> pl.DataFrame:
    """municipality, hospital, region: joint emergency departments (reference data)."""
    return pl.read_csv(reference.DATA_DIR / "emergency_department.csv")


def ooh_inputs(
    wh: Warehouse, region: str, year: int
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """A region's out-of-hours contacts of ``year`` (site, start_time, kind, minutes, and
    the patient's lon, lat), its sites (site, lon, lat: the centroid of the municipality
    the site is named after, if any) and the sites beside an emergency department."""
    o = wh.read_table("ooh_contact")
    regions = o.select("region").distinct().to_polars()["region"].to_list()
    if region not in regions:
        raise NotFoundError(
            f"no out-of-hours contacts for region {region!r}; known: {', '.join(sorted(regions))}"
        )
    o = o.filter(
        (o.region == region)
        & (o.start_time >= dt.datetime(year, 1, 1))
        & (o.start_time < dt.datetime(year + 1, 1, 1))
    )
    p = wh.read_table("patient").select("patient_id", "lon", "lat")
    j = o.left_join(p, o.patient_id == p.patient_id)
    contacts = j.select("site", "start_time", "kind", "minutes", "lon", "lat").to_polars()
    if len(contacts) == 0:
        raise NotFoundError(f"no out-of-hours contacts for {region} in {year}")
    m = wh.read_table("municipality").select("name", "lon", "lat").to_polars()
    names = sorted(m["name"].to_list(), key=len, reverse=True)
    rows = []
    for site in sorted(contacts["site"].unique().to_list()):
        hit = next((n for n in names if site.endswith(" " + n) or site == n), None)
        r = m.filter(pl.col("name") == hit).row(0, named=True) if hit else None
        rows.append({"site": site, "municipality": hit,
                     "lon": r["lon"] if r else None, "lat": r["lat"] if r else None})  # fmt: skip
    sites = pl.DataFrame(rows, schema={"site": pl.String, "municipality": pl.String,
                                       "lon": pl.Float64, "lat": pl.Float64})  # fmt: skip
    ed = set(load_emergency_departments()["municipality"].to_list())
    ed_sites = sites.filter(pl.col("municipality").is_in(list(ed)))["site"].to_list()
    return contacts, sites.drop("municipality"), ed_sites
