"""Synthetic Denmark: a whole country of made-up but realistic data.

``generate_denmark(params)`` yields ``(table name, Arrow table)`` pieces, deterministic for
``(scale, seed, year)``; ``write_denmark(params, data_dir)`` writes them into a new
warehouse file and moves it into place only when complete, so an interrupted run leaves
the previous data intact. The method of each step is in ``docs/synthetic-denmark.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from almen import claim_index, reference
from almen.errors import ParameterError
from almen.synth import area
from almen.synth import params as P
from almen.synth.calibration import calibration_table, citizens_without_free_choice
from almen.synth.claims import (
    CONTROL_CONDITIONS,
    TIME_BANDS,
    ClaimCodes,
    contact_rates,
    generate_claims,
    month_start,
    send_claims,
)
from almen.synth.clinics import Doctors, generate_clinics, list_patients
from almen.synth.geography import place_residents
from almen.synth.holdout import held_out_rows
from almen.synth.morbidity import generate_conditions, generate_medications
from almen.synth.ooh import KINDS, Sites, generate_ooh, out_of_hours_rates
from almen.synth.people import generate_persons, scaled_cell_counts
from almen.warehouse import WAREHOUSE_FILE, Warehouse, check_data_dir

__all__ = ["MAX_SCALE", "STEPS", "Progress", "SynthParams", "generate_denmark", "write_denmark"]

Progress = Callable[[str], None]
MAX_SCALE = 2.0
REGIONS = (
    "Region Hovedstaden",
    "Region Sjælland",
    "Region Syddanmark",
    "Region Midtjylland",
    "Region Nordjylland",
)
STEPS = (
    "reference data",
    "persons",
    "places",
    "clinics",
    "listing",
    "conditions",
    "medications",
    *(f"claims {r.removeprefix('Region ')}" for r in REGIONS),
    *(f"out-of-hours {r.removeprefix('Region ')}" for r in REGIONS),
    "calibration",
)


@dataclass(frozen=True, slots=True)
class SynthParams:
    """Scale (people and clinics together), seed and year of a synthetic Denmark."""

    scale: float = 1.0
    seed: int = 1
    year: int = 2025
    fee_schedule: pl.DataFrame | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.scale, int | float) or not math.isfinite(self.scale):
            raise ParameterError(f"--scale must be a number, got {self.scale!r}")
        if self.scale <= 0:
            raise ParameterError(f"--scale must be above 0, got {self.scale:g}")
        if self.scale > MAX_SCALE:
            raise ParameterError(f"--scale must be at most {MAX_SCALE:g}, got {self.scale:g}")
        if self.seed < 0:
            raise ParameterError(f"--seed must be 0 or more, got {self.seed}")
        try:
            reference.fee_schedule_for_year(self.year, self.fee_schedule)
        except Exception as exc:
            raise ParameterError(str(exc).split(": ", 1)[-1]) from None


def _rng(seed: int, stream: int, sub: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, sub]))


def _dict_array(indices: np.ndarray, values: list[str] | np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(indices, dtype=np.int32)), pa.array(list(values), pa.string())
    )


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.int32()).cast(pa.date32())


def generate_denmark(
    params: SynthParams,
    *,
    population: pl.DataFrame | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[str, pa.Table]]:
    """Yield the tables of a synthetic Denmark, piece by piece (claims by region).

    ``population`` (municipality × age × sex) replaces the derived reference table, for
    example an ingested Statistics Denmark extract.
    """
    step = progress or (lambda _name: None)
    scale, seed, year = params.scale, params.seed, params.year

    step("reference data")
    munis = reference.load_municipalities()
    codes = munis["code"].to_list()
    if population is None:
        population = reference.derive_population(year)
    fees_all = reference.load_fee_schedule() if params.fee_schedule is None else params.fee_schedule
    fees = reference.fee_schedule_for_year(year, fees_all)
    fees = fees.filter(pl.col("insurance_group").fill_null(1) == 1)  # group-1 prices
    claim_codes = ClaimCodes(set(fees["service_code"].to_list()))
    yield (
        "municipality",
        munis.select(
            "code", "name", "region", "region_from_2027", "health_council", "area_km2", "lat", "lon"
        ).to_arrow(),
    )
    yield (
        "population",
        population.select("municipality", "age", "sex", "year", "persons", "basis").to_arrow(),
    )
    yield "fee_schedule", fees_all.to_arrow()

    step("persons")
    cells = scaled_cell_counts(population, codes, scale)
    persons = generate_persons(cells, codes, _rng(seed, 1))
    n = len(persons)
    pop_full = (
        population.group_by("municipality")
        .agg(pl.col("persons").sum())
        .join(munis.select(pl.col("code").alias("municipality")), on="municipality", how="right")
        .fill_null(0)
    )
    pop_full_by_code = dict(zip(pop_full["municipality"], pop_full["persons"], strict=True))

    step("places")
    boundaries = reference.load_boundaries()
    lonlat = np.empty((n, 2))
    order = np.argsort(persons.muni, kind="stable")
    starts = np.searchsorted(persons.muni[order], np.arange(len(codes) + 1))
    for m, code in enumerate(codes):
        idx = order[starts[m] : starts[m + 1]]
        lonlat[idx] = place_residents(
            boundaries[code],
            len(idx),
            int(pop_full_by_code[code]),
            _rng(seed, 2, m),
            _rng(seed, 3, m),
        )
    persons.lon, persons.lat = lonlat[:, 0], lonlat[:, 1]

    step("clinics")
    underserved_codes = set(reference.load_underserved()["code"].to_list())
    underserved = np.array([c in underserved_codes for c in codes])
    clinics, doctors = generate_clinics(
        muni_names=munis["name"].to_list(),
        pop_full=np.array([pop_full_by_code[c] for c in codes], dtype=np.float64),
        underserved=underserved,
        centroids=munis.select("lon", "lat").to_numpy(),
        person_muni=persons.muni,
        person_lonlat=lonlat,
        year=year,
        scale=scale,
        rng=_rng(seed, 4),
    )

    step("listing")
    rng = _rng(seed, 5)
    group1 = ~((persons.age >= 18) & (rng.random(n) < P.GROUP2_SHARE_ADULTS))
    listing = list_patients(clinics, lonlat, persons.age, group1, year, rng)
    muni_codes = np.array(codes, dtype=object)
    yield (
        "clinic",
        pa.table(
            {
                "provider_number": pa.array(clinics.provider_number.tolist(), pa.string()),
                "municipality": pa.array(muni_codes[clinics.muni].tolist(), pa.string()),
                "form": pa.array(clinics.form.tolist(), pa.string()),
                "cluster": pa.array(clinics.cluster.tolist(), pa.string()),
                "closed_to_new": clinics.closed_to_new,
                "lat": clinics.lat,
                "lon": clinics.lon,
            }
        ),
    )
    yield (
        "doctor",
        pa.table(
            {
                "doctor_id": doctors.doctor_id,
                "provider_number": pa.array(
                    clinics.provider_number[doctors.clinic].tolist(), pa.string()
                ),
                "birth_year": doctors.birth_year,
                "sex": np.where(doctors.female, "F", "M"),
                "role": pa.array(doctors.role.tolist(), pa.string()),
                "fte": doctors.fte,
                "year_established": _established(doctors, year, _rng(seed, 40)),
            }
        ),
    )
    listed = listing.clinic >= 0
    providers = clinics.provider_number.tolist()
    yield (
        "patient",
        pa.table(
            {
                "patient_id": persons.patient_id,
                "birth_year": (year - 1 - persons.age).astype(np.int16),
                "sex": _dict_array(persons.female.astype(np.int32), ["M", "F"]),
                "municipality": _dict_array(persons.muni, codes),
                "provider_number": pa.DictionaryArray.from_arrays(
                    pa.array(np.where(listed, listing.clinic, 0).astype(np.int32), mask=~listed),
                    pa.array(providers, pa.string()),
                ),
                "insurance_group": np.where(group1, 1, 2).astype(np.int8),
                "listed_from": pa.array(listing.listed_from_days, pa.int32(), mask=~listed).cast(
                    pa.date32()
                ),
                "lat": persons.lat,
                "lon": persons.lon,
            }
        ),
    )

    step("conditions")
    # area deprivation (income) shifts need beyond age and sex, national margins kept
    muni_pop = population.group_by("municipality").agg(pl.col("persons").sum())
    dep = area.deprivation_by_municipality(
        reference.load_municipality_income(), muni_pop.rename({"municipality": "code"})
    )
    dep_of_muni = dict(zip(dep["code"].to_list(), dep["deprivation"].to_list(), strict=True))
    person_dep = np.array([dep_of_muni.get(c, 0.0) for c in codes])[persons.muni]

    def need(gradient: float) -> np.ndarray:
        return area.raked_factor(person_dep, persons.age, persons.female, gradient)

    morb = generate_conditions(
        persons.age, persons.female, year, _rng(seed, 6), area=need(area.CONDITION_GRADIENT)
    )
    yield (
        "condition",
        pa.table(
            {
                "patient_id": persons.patient_id[morb.cond_person],
                "code": pa.array(morb.cond_code.tolist(), pa.string()),
                "onset_date": _dates(morb.cond_onset),
                "diagnosed_by": pa.array(morb.cond_by.tolist(), pa.string()),
            }
        ),
    )

    step("medications")
    med_person, med_atc, med_start = generate_medications(
        morb, persons.age, persons.female, year, _rng(seed, 7)
    )
    yield (
        "medication",
        pa.table(
            {
                "patient_id": persons.patient_id[med_person],
                "atc": pa.array(med_atc.tolist(), pa.string()),
                "start_date": _dates(med_start),
                "end_date": pa.nulls(len(med_person), pa.date32()),
            }
        ),
    )

    # --- claims, region by region --------------------------------------------------
    region_of_muni = munis["region"].to_numpy()
    person_region = region_of_muni[persons.muni]
    rates = contact_rates(
        persons.age,
        persons.female,
        morb.n_chronic,
        P.CONTACTS_AT_SCALE_1 * scale,
        area=need(area.CONTACT_GRADIENT),
    )
    provider_of = np.where(listed, listing.clinic, listing.nearest).astype(np.int32)
    # practice style: clinics differ in how much they do for the same patients (mean 1)
    sd = P.PRACTICE_STYLE_SD
    style = _rng(seed, 11).lognormal(-sd * sd / 2, sd, len(clinics))
    rates = rates * style[provider_of]
    price = dict(zip(fees["service_code"].to_list(), fees["price_dkk"].to_list(), strict=False))
    daytime = dict(zip(fees["service_code"].to_list(), fees["daytime"].to_list(), strict=False))
    inside = dict(
        zip(fees["service_code"].to_list(), (~fees["outside_frame"]).to_list(), strict=False)
    )
    code_price = np.array([price[c] for c in claim_codes.codes])
    code_frame_day = np.array([daytime[c] and inside[c] for c in claim_codes.codes])
    contact_codes = [claim_codes[c] for c in ("0101", "0201", "0204", "0105", "0125", "0411")]
    stats: dict[str, float] = {
        "contacts": 0.0,
        "consultations": 0.0,
        "phone": 0.0,
        "ffs_dkk": 0.0,
    }
    has_contact = np.zeros(n, dtype=bool)
    claim_offset = 0
    is_t2 = np.zeros(n, dtype=bool)
    is_t2[morb.cond_person[morb.cond_code == "T90"]] = True
    has = {**morb.has, "type2_diabetes": is_t2}
    injected: dict[str, int] = {}
    for r_i, region in enumerate(REGIONS):
        step(f"claims {region.removeprefix('Region ')}")
        idx = np.flatnonzero(person_region == region)
        rng = _rng(seed, 8, r_i)
        c = generate_claims(
            idx,
            rates,
            persons.age,
            persons.female,
            has,
            morb.n_chronic,
            claim_codes,
            year,
            rng,
        )
        sent = send_claims(c, provider_of[c.person], len(clinics), persons.female, claim_codes, rng)
        for k, v in sent.injected.items():
            injected[k] = injected.get(k, 0) + v
        c = sent.claims
        is_contact = np.isin(c.code, contact_codes)
        stats["contacts"] += float(is_contact.sum())
        stats["consultations"] += float((c.code == claim_codes["0101"]).sum())
        stats["phone"] += float(np.isin(c.code, [claim_codes["0201"], claim_codes["0204"]]).sum())
        stats["ffs_dkk"] += float((code_price[c.code] * code_frame_day[c.code]).sum())
        has_contact[c.person[is_contact]] = True
        yield "claim", _claim_table(
            claim_offset, c.person, sent.provider, c.code, c.date, c.band, persons.patient_id,
            providers, claim_codes.codes, month=sent.month, cover=sent.cover,
            condition=c.conditions(),
        )  # fmt: skip
        claim_offset += len(c)
        del c, is_contact, sent

    # --- out of hours ---------------------------------------------------------------
    sites = _ooh_sites(munis, pop_full_by_code)
    ooh_rates = out_of_hours_rates(
        persons.age, P.OOH_CONTACTS_PER_PERSON, area=need(area.OOH_GRADIENT)
    )
    clinic_region = region_of_muni[clinics.muni]
    contact_offset = 0
    ooh_by_region: dict[str, int] = {}
    for r_i, region in enumerate(REGIONS):
        step(f"out-of-hours {region.removeprefix('Region ')}")
        idx = np.flatnonzero(person_region == region)
        rng = _rng(seed, 9, r_i)
        o = generate_ooh(idx, ooh_rates, lonlat, region, sites, year, rng)
        ooh_by_region[region] = len(o.person)
        yield (
            "ooh_contact",
            pa.table(
                {
                    "contact_id": np.arange(contact_offset + 1, contact_offset + len(o.person) + 1),
                    "region": pa.array([region] * len(o.person), pa.string()),
                    "site": pa.array(o.site.tolist(), pa.string()),
                    "start_time": pa.array(o.start_us, pa.timestamp("us")),
                    "kind": _dict_array(o.kind, list(KINDS)),
                    "minutes": o.minutes,
                    "patient_id": persons.patient_id[o.person],
                }
            ),
        )
        contact_offset += len(o.person)
        regional = np.flatnonzero(clinic_region == region)
        if region in P.OOH_PLO_REGIONS and len(regional) and len(o.person):
            # PLO doctors on duty claim out-of-hours fees under their own provider number
            kind_code = np.array(
                [claim_codes[c] for c in ("V201", "V125", "V101", "V411")], dtype=np.int16
            )
            duty = regional[rng.integers(0, len(regional), len(o.person))]
            days = (o.start_us // 86_400_000_000).astype(np.int32)
            yield "claim", _claim_table(
                claim_offset, o.person, duty, kind_code[o.kind], days,
                np.full(len(o.person), TIME_BANDS.index("ooh"), dtype=np.int8),
                persons.patient_id, providers, claim_codes.codes,
            )  # fmt: skip
            claim_offset += len(o.person)

    # --- calibration ----------------------------------------------------------------
    step("calibration")
    public = np.isin(clinics.form, ["region", "tender"])
    open_ll = np.column_stack([clinics.lon, clinics.lat])[~clinics.closed_to_new]
    no_choice = citizens_without_free_choice(lonlat, open_ll)
    adults = persons.age >= 16
    old = persons.age >= 75
    n_drugs = np.bincount(med_person, minlength=n)
    psych_secondary = np.zeros(n, dtype=bool)
    psych_codes = np.isin(morb.cond_code, ["P70", "P72", "P73", "P74", "P76"])
    psych_secondary[morb.cond_person[psych_codes & (morb.cond_by == "psychiatry")]] = True
    generated = {
        "population": float(n),
        "gps": float(len(doctors.doctor_id)),
        "clinics": float(len(clinics)),
        "share_clinics_closed": float(clinics.closed_to_new.mean()) if len(clinics) else 0.0,
        "listed_per_gp_fte": float(listed.sum() / max(doctors.fte.sum(), 1e-9)),
        "contacts": stats["contacts"],
        "contacts_per_person": stats["contacts"] / n,
        "share_with_contact": float(has_contact.mean()),
        "share_consultation": stats["consultations"] / max(stats["contacts"], 1.0),
        "share_phone": stats["phone"] / max(stats["contacts"], 1.0),
        "prevalence_type2_diabetes": float(is_t2.mean()),
        "prevalence_copd": float(morb.has["copd"].mean()),
        "prevalence_hypertension": float(morb.has["hypertension"].mean()),
        "prevalence_dementia": float(morb.has["dementia"].mean()),
        "prevalence_depression": float(morb.has["depression"].mean()),
        "prevalence_intellectual_disability": float(morb.has["intellectual_disability"].mean()),
        "share_psychiatric_secondary_care": float(psych_secondary.mean()),
        "share_multimorbid": float((morb.n_chronic >= 2).mean()),
        "share_polypharmacy_adults": float((n_drugs[adults] >= 5).mean()),
        "share_polypharmacy_75plus": float((n_drugs[old] >= 5).mean()),
        "listed_region_or_tender": float(public[listing.clinic[listed]].sum()),
        "without_free_choice": float(no_choice.sum()),
        "ooh_contacts_sjaelland": float(ooh_by_region["Region Sjælland"]),
        "daytime_expenditure_dkk": stats["ffs_dkk"] + float(listed.sum()) * price["BASIS"],
        **{f"claims_injected_{k}": float(v) for k, v in injected.items()},
    }
    yield "calibration", calibration_table(generated, scale).to_arrow()


def _claim_table(
    offset: int,
    person: np.ndarray,
    provider: np.ndarray,
    code: np.ndarray,
    days: np.ndarray,
    band: np.ndarray,
    patient_ids: np.ndarray,
    providers: list[str],
    codes: list[str],
    *,
    month: np.ndarray | None = None,
    cover: np.ndarray | None = None,
    condition: np.ndarray | None = None,
) -> pa.Table:
    """Claim rows; ``month`` (days of the settlement month's first day; default the
    service date's month), ``cover`` (True: acute cover) and ``condition`` (index into
    CONTROL_CONDITIONS, −1 none) as ``send_claims`` gives them."""
    n = len(person)
    table = {
        "claim_id": np.arange(offset + 1, offset + n + 1, dtype=np.int64),
        "provider_number": _dict_array(provider, providers),
        "patient_id": patient_ids[person],
        "service_code": _dict_array(code, codes),
        "service_date": _dates(days),
        "time_band": _dict_array(band, list(TIME_BANDS)),
        "quantity": np.ones(n, dtype=np.int16),
        "settlement_month": _dates(month_start(days) if month is None else month),
    }
    if cover is not None:
        # dictionary arrays with a null index where there is no reason
        table["cover_reason"] = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, dtype=np.int32), mask=~cover), pa.array(["acute"])
        )
    if condition is not None:
        icpc = [code for _flag, code in CONTROL_CONDITIONS]
        table["condition_code"] = pa.DictionaryArray.from_arrays(
            pa.array(np.maximum(condition, 0).astype(np.int32), mask=condition < 0),
            pa.array(icpc),
        )
    return pa.table(table)


def _ooh_sites(munis: pl.DataFrame, pop_full_by_code: dict[str, int]) -> Sites:
    """Out-of-hours sites: the largest municipalities of each region, at their centroids."""
    names, regions, ll = [], [], []
    for region, k in P.OOH_SITES.items():
        sub = munis.filter(pl.col("region") == region).with_columns(
            pl.col("code").replace_strict(pop_full_by_code, default=0).alias("pop")
        )
        top = sub.sort(["pop", "code"], descending=[True, False]).head(k)
        prefix = "Akutmodtagelse" if region == "Region Hovedstaden" else "Lægevagten"
        for row in top.iter_rows(named=True):
            names.append(f"{prefix} {row['name']}")
            regions.append(region)
            ll.append((row["lon"], row["lat"]))
    return Sites(np.array(names, dtype=object), np.array(regions, dtype=object), np.array(ll))


# --- writing -------------------------------------------------------------------------
TMP_PREFIX = ".synth-"


def _remove_stale(data_dir: Path) -> None:
    for p in data_dir.glob(f"{TMP_PREFIX}*"):
        pid = p.name.removeprefix(TMP_PREFIX).split(".")[0]
        alive = pid.isdigit() and Path(f"/proc/{pid}").exists() and int(pid) != os.getpid()
        if not alive:
            with contextlib.suppress(OSError):
                p.unlink()


def existing_population(data_dir: Path, year: int) -> pl.DataFrame | None:
    """The warehouse's population for ``year`` if it holds ingested (official) rows.

    After ``almen ingest population`` that table is official where the extract reached and
    derived elsewhere; it is used only when it covers all 98 municipalities.
    """
    path = data_dir / WAREHOUSE_FILE
    if not path.exists():
        return None
    try:
        with Warehouse.connect(path, read_only=True) as wh:
            if not wh.has_table("population"):
                return None
            t = wh.read_table("population")
            df = pl.from_arrow(t.filter(t.year == year).to_pyarrow())
    except Exception:
        return None
    assert isinstance(df, pl.DataFrame)
    has_official = not df.filter(pl.col("basis") == "official").is_empty()
    complete = df["municipality"].n_unique() == len(reference.load_municipalities())
    return df if has_official and complete else None


def write_denmark(
    params: SynthParams,
    data_dir: Path,
    *,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Generate synthetic Denmark into ``data_dir`` atomically; row counts by table.

    The warehouse is built in a temporary file beside the current one and moved over it
    (``os.replace``) only when every table is written, so an interrupted or failed run
    leaves the previous data as it was. An ingested official population for the year is
    carried over and used.
    """
    check_data_dir(data_dir)
    _remove_stale(data_dir)
    population = existing_population(data_dir, params.year)
    tmp = data_dir / f"{TMP_PREFIX}{os.getpid()}.duckdb"
    counts: dict[str, int] = {}
    try:
        with Warehouse.connect(tmp) as wh:
            for name, piece in generate_denmark(params, population=population, progress=progress):
                if name in counts:
                    wh.append_table(name, piece)
                else:
                    wh.write_table(name, piece)
                counts[name] = counts.get(name, 0) + piece.num_rows
            for name in ("reject", "ingest_log"):
                wh.create_empty(name)
            claim_index.build(wh)
            held = held_out_rows(wh, params.year, params.scale)  # measured on the result
            wh.append_table("calibration", held.to_arrow())
            counts["calibration"] += len(held)
            wh.con.raw_sql("CHECKPOINT")
        os.replace(tmp, data_dir / WAREHOUSE_FILE)
    finally:
        for p in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return counts


def _established(doctors: Doctors, year: int, rng: np.random.Generator) -> pa.Array:
    """The year each owner set up in practice (an age drawn from ``ESTABLISH_AGE``, not
    after ``year``); empty for employed doctors and trainees. Its own random stream, so
    the rest of the synthetic country is unchanged."""
    lo, hi = P.ESTABLISH_AGE
    est = doctors.birth_year.astype(np.int32) + rng.integers(lo, hi, len(doctors.birth_year))
    est = np.minimum(est, year)
    owner = np.asarray(doctors.role) == "owner"
    return pa.array(np.where(owner, est, 0).astype(np.int16), pa.int16(), mask=~owner)
