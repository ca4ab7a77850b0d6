"""Held-out checks of synthetic Denmark: public figures the generator was never tuned to.

The calibration table (``synth.calibration.TARGETS``) holds the targets: figures the
generator's parameters were set from. The figures here are not used anywhere in the
generator (``reference/data/synth_holdout.csv``: value, a tolerance band, unit, year and
source from ``shared/research/danish-facts.md``); they are measured on the finished
warehouse, the way an analyst would measure them on real data, and set beside their
band. Never move a held-out figure into the targets to make it pass: a figure outside its
band is a finding about the generator.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import polars as pl

from almen.reference import CONTACT_CODES, load_municipalities
from almen.warehouse import Warehouse

__all__ = ["HOLDOUT_FILE", "held_out_rows", "load_held_out", "measure"]

HOLDOUT_FILE = Path(__file__).resolve().parents[1] / "reference" / "data" / "synth_holdout.csv"
SIX_CHRONIC = ("R95", "L88", "L95", "T89", "T90", "K77", "R96")  # KOL, RA, osteoporosis,
# type 1 and 2 diabetes, heart failure, asthma: SSI's six diseases (2015)
# ICPC-2 angina, infarction, other ischaemic heart disease, heart failure, atrial
# fibrillation and other heart disease (K74-K79), stroke and TIA (K89-K92): the heart and
# vessel diseases the Danish Heart Foundation counts, without high blood pressure
HEART = r"^K(7[4-9]|89|9[0-2])$"
CLOSED_FOUR = ("0240", "0253", "0187", "0390")  # Egedal, Greve, Vallensbæk, Vordingborg


def load_held_out() -> pl.DataFrame:
    """The held-out figures: measure, value, low, high, unit, year, scales, source."""
    return pl.read_csv(HOLDOUT_FILE, schema_overrides={"scales": pl.Boolean, "year": pl.Int32})


def _share(mask: pl.Series) -> float:
    return float(mask.mean()) if len(mask) else float("nan")  # type: ignore[arg-type]


def _ratio(part: ibis.Table, whole: ibis.Table) -> float:
    """How many rows of ``part`` per row of ``whole`` (NaN when ``whole`` is empty)."""
    n = int(whole.count().execute())
    return int(part.count().execute()) / n if n else float("nan")


def measure(wh: Warehouse, year: int) -> dict[str, float]:
    """Every held-out measure, from the warehouse tables of ``year``. Clinics and doctors
    are read whole (thousands of rows); person and claim measures are counted in the
    database, so no patient-level table is pulled into memory."""
    region_of = dict(load_municipalities().select("code", "region").iter_rows())
    doctors = wh.read_table("doctor").to_polars()
    clinics = (
        wh.read_table("clinic")
        .to_polars()
        .with_columns(region=pl.col("municipality").replace_strict(region_of, default=None))
    )
    pt = wh.read_table("patient")
    people = pt.select("patient_id", "sex", "municipality", "provider_number",
                       age=year - pt.birth_year)  # fmt: skip
    c = wh.read_table("claim")
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    lines = c.filter(c.service_code.isin(list(CONTACT_CODES)), c.service_date.between(start, end))
    contacts = lines.select("patient_id", "service_code").join(people, "patient_id")
    out: dict[str, float] = {}

    gp_age = year - doctors["birth_year"]
    out["gp_share_aged_65_plus"] = _share(gp_age >= 65)
    out["gp_share_aged_50_plus"] = _share(gp_age >= 50)
    out["gp_share_women"] = _share(doctors["sex"] == "F")
    gps = doctors.with_columns(age=year - pl.col("birth_year")).join(
        clinics.select("provider_number", "form", "region"), on="provider_number"
    )
    solo = pl.col("form") == "solo"
    out["gp_share_solo"] = _share(gps.select(solo).to_series())
    out["gp_share_solo_syddanmark"] = _share(
        gps.filter(pl.col("region") == "Region Syddanmark").select(solo).to_series()
    )
    out["gp_share_solo_under_45"] = _share(gps.filter(pl.col("age") < 45).select(solo).to_series())

    own = clinics.filter(~pl.col("form").is_in(["region", "tender"]))
    for region in ("hovedstaden", "midtjylland"):
        part = own.filter(pl.col("region").str.to_lowercase() == f"region {region}")
        out[f"share_open_practices_{region}"] = _share(~part["closed_to_new"])
    for name, code in (("kobenhavn", "0101"), ("aarhus", "0751"), ("aalborg", "0851")):
        out[f"share_closed_{name}"] = _share(
            own.filter(pl.col("municipality") == code)["closed_to_new"]
        )
    four = own.filter(pl.col("municipality").is_in(CLOSED_FOUR))["closed_to_new"]
    out["share_closed_egedal_greve_vallensbaek_vordingborg"] = _share(four)

    listed = people.filter(people.provider_number.notnull())
    per_clinic = dict(
        listed.group_by("provider_number").aggregate(n=listed.count()).to_polars().iter_rows()
    )
    for region in ("nordjylland", "syddanmark"):
        mine = gps.filter(pl.col("region") == f"Region {region.capitalize()}")
        pns = set(mine["provider_number"].to_list())
        patients = sum(per_clinic.get(pn, 0) for pn in pns)
        out[f"listed_per_gp_{region}"] = patients / len(mine) if len(mine) else float("nan")

    public = clinics.filter(pl.col("form").is_in(["region", "tender"]))
    on_public = people.filter(people.provider_number.isin(public["provider_number"].to_list()))
    by_clinic = dict(
        on_public.group_by("provider_number").aggregate(n=on_public.count()).to_polars().iter_rows()
    )
    for region in ("nordjylland", "sjaelland", "syddanmark", "midtjylland", "hovedstaden"):
        name = {"sjaelland": "sjælland"}.get(region, region)
        mine = public.filter(pl.col("region").str.to_lowercase() == f"region {name}")
        out[f"region_or_tender_listed_{region}"] = float(
            sum(by_clinic.get(pn, 0) for pn in mine["provider_number"])
        )

    for name, code in (("kobenhavn", "0101"), ("egedal", "0240"), ("langeland", "0482")):
        out[f"contacts_per_person_{name}"] = _ratio(
            contacts.filter(contacts.municipality == code),
            people.filter(people.municipality == code),
        )
    mid = people.filter(people.age.between(30, 59))
    mid_contacts = contacts.filter(contacts.age.between(30, 59))
    seen = mid_contacts.select("patient_id", "sex").distinct()
    for sex, many, one in (("F", "women", "woman"), ("M", "men", "man")):
        group = mid.filter(mid.sex == sex)
        out[f"share_with_contact_{many}_30_59"] = _ratio(seen.filter(seen.sex == sex), group)
        out[f"contacts_per_{one}_30_59"] = _ratio(
            mid_contacts.filter(mid_contacts.sex == sex), group
        )
    out["women_share_of_contacts_30_59"] = _ratio(
        mid_contacts.filter(mid_contacts.sex == "F"), mid_contacts
    )
    phone = contacts.filter(contacts.service_code.isin(["0201", "0204"]))
    out["share_with_phone_consultation"] = _ratio(phone.select("patient_id").distinct(), people)
    e = contacts.filter(contacts.service_code.isin(["0105", "0127"]))
    out["e_consultation_share_aged_80_plus"] = _ratio(e.filter(e.age >= 80), e)

    cond = wh.read_table("condition")
    chronic = cond.filter(cond.code.isin(list(SIX_CHRONIC))).select("patient_id").distinct()
    old = people.filter(people.age >= 85)
    out["share_85_plus_with_chronic_disease"] = _ratio(old.semi_join(chronic, "patient_id"), old)
    heart = cond.filter(cond.code.re_search(HEART)).select("patient_id").distinct()
    aged = people.filter(people.age >= 65)
    out["share_65_plus_with_cardiovascular_disease"] = _ratio(
        aged.semi_join(heart, "patient_id"), aged
    )
    med = wh.read_table("medication")
    users = med.filter(
        med.atc.startswith("C"),
        med.start_date <= end,
        med.end_date.isnull() | (med.end_date >= start),
    ).select("patient_id").distinct()  # fmt: skip
    adults = people.filter(people.age >= 35)
    out["cardiovascular_drug_users_35_plus"] = _ratio(adults.semi_join(users, "patient_id"), adults)

    ooh = wh.read_table("ooh_contact")
    region_h = ooh.filter(ooh.region == "Region Hovedstaden")
    out["ooh_consultation_share_hovedstaden"] = _ratio(
        region_h.filter(region_h.kind == "consultation"), region_h
    )
    return out


def held_out_rows(wh: Warehouse, year: int, scale: float) -> pl.DataFrame:
    """The held-out part of the calibration table: measure, generated, target (the public
    figure, scaled to the run when it is a count), low, high, inside, unit, year, source,
    kind ("held_out")."""
    got = measure(wh, year)
    ho = load_held_out()
    k = pl.when(pl.col("scales")).then(pl.lit(scale)).otherwise(pl.lit(1.0))
    return ho.with_columns(
        generated=pl.col("measure")
        .replace_strict(got, default=None, return_dtype=pl.Float64)
        .fill_nan(None),  # nothing to measure (no clinic of that kind in a small run)
        target=pl.col("value") * k, low=pl.col("low") * k, high=pl.col("high") * k,
    ).with_columns(
        inside=pl.col("generated").is_between(pl.col("low"), pl.col("high")).fill_null(False),
        kind=pl.lit("held_out"),
    ).select("measure", "generated", "target", "unit", "source", "kind", "low", "high",
             "year", "inside")  # fmt: skip
