"""Case finding for the special efforts: who in a clinic's list qualifies, and why.

Seed 002 §2 names three vulnerable groups: psychiatric illness, intellectual disability,
and multimorbidity with polypharmacy, the last 3-5 % of a practice population found from
objective record data such as the number of drugs. Seed 003 adds the chronically ill who
rarely come, and seed 002 the frail elderly for preventive home visits. The definitions
are data (``reference/data/case_definitions.toml``); this module reads them and applies
them to the warehouse tables. See docs/case-finding.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import ibis
import polars as pl

from almen.errors import InputError
from almen.reference import DATA_DIR, load_condition_codes
from almen.warehouse import Warehouse

__all__ = [
    "DEFINITIONS",
    "LEVELS",
    "aggregate",
    "apply_definitions",
    "clinic_areas",
    "clinic_counts",
    "load_definitions",
    "patient_features",
    "polypharmacy_share_check",
    "publishable",
    "published",
    "warehouse_features",
]

DEFINITIONS = (
    "psychiatric_secondary",
    "intellectual_disability",
    "polypharmacy",
    "rarely_in_contact",
    "frail_elderly",
)


@cache
def load_definitions(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The case definitions (TOML); every one of ``DEFINITIONS`` must be there."""
    p = path or DATA_DIR / "case_definitions.toml"
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read the case definitions: {exc}", source=str(p)) from None
    missing = [d for d in DEFINITIONS if d not in data]
    if missing:
        raise InputError(f"case definitions lack {missing}", source=str(p))
    return data


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (the month's last day if it is shorter)."""
    m = day.year * 12 + day.month - 1 - months
    y, mo = divmod(m, 12)
    return dt.date(y, mo + 1, min(day.day, calendar.monthrange(y, mo + 1)[1]))


def patient_features(
    patient: ibis.Table,
    condition: ibis.Table,
    medication: ibis.Table,
    claim: ibis.Table,
    condition_codes: pl.DataFrame,
    *,
    as_of: dt.date,
    definitions: dict[str, dict[str, Any]],
    provider_number: str | None = None,
) -> pl.DataFrame:
    """One row per listed group-1 patient with what the definitions need.

    Columns: patient_id, provider_number, age (on ``as_of``, from the birth year: year −
    birth year − 1), sex, psychiatric_secondary, intellectual_disability (booleans),
    n_conditions (distinct chronic condition groups), chronic_for_contact, n_drugs (in use
    on ``as_of``), risky_combinations, contacts (in the look-back), preventive_visits, and
    for the quality indicators yearly_controls (0120) and blood_samples (2101) in the
    contact look-back.
    """
    d_psy = definitions["psychiatric_secondary"]
    d_id = definitions["intellectual_disability"]
    d_pp = definitions["polypharmacy"]
    d_rc = definitions["rarely_in_contact"]
    d_fe = definitions["frail_elderly"]

    p = patient.filter(
        (patient.insurance_group == 1)
        & patient.provider_number.notnull()
        & (patient.listed_from.isnull() | (patient.listed_from <= as_of))
    )
    if provider_number is not None:
        p = p.filter(p.provider_number == provider_number)
    p = p.select("patient_id", "provider_number", "birth_year", "sex")

    codes = ibis.memtable(
        condition_codes.select(
            pl.col("icpc2_code").alias("c_code"), pl.col("condition_group").alias("c_group")
        ).to_arrow()
    )
    c = condition.filter(condition.onset_date <= as_of)
    c = c.join(codes, c.code == codes.c_code)
    cond = c.group_by("patient_id").aggregate(
        psychiatric_secondary=(
            c.c_group.isin(d_psy["condition_groups"]) & c.diagnosed_by.isin(d_psy["diagnosed_by"])
        ).any(),
        intellectual_disability=c.c_group.isin(d_id["condition_groups"]).any(),
        n_conditions=c.c_group.nunique(),
        chronic_for_contact=c.c_group.isin(d_rc["condition_groups"]).any(),
    )

    m = medication.filter(
        (medication.start_date <= as_of)
        & (medication.end_date.isnull() | (medication.end_date >= as_of))
    )
    pairs = d_pp.get("risky_combinations", [])
    has = {
        prefix: m.atc.startswith(prefix).any()
        for prefix in sorted({x for pair in pairs for x in pair})
    }
    # (patient_id, atc) is the medication key, so counting rows counts distinct drugs
    med = m.group_by("patient_id").aggregate(
        n_drugs=m.count(), **{f"has_{k}": v for k, v in has.items()}
    )
    risky: ibis.Value = ibis.literal(0)
    for a, b in pairs:
        risky = risky + (med[f"has_{a}"] & med[f"has_{b}"]).cast("int32")
    med = med.select("patient_id", "n_drugs", risky_combinations=risky)

    since_contact = _months_before(as_of, int(d_rc["lookback_months"]))
    since_visit = _months_before(as_of, int(d_fe["lookback_months"]))
    first = min(since_contact, since_visit)
    cl = claim.filter((claim.service_date > first) & (claim.service_date <= as_of))
    cl = cl.filter(
        cl.service_code.isin([*d_rc["contact_codes"], d_fe["visit_code"], *INDICATOR_CODES])
    )
    recent = cl.service_date > since_contact
    act = cl.group_by("patient_id").aggregate(
        yearly_controls=((cl.service_code == "0120") & recent).sum(),
        blood_samples=((cl.service_code == "2101") & recent).sum(),
        contacts=(
            cl.service_code.isin(d_rc["contact_codes"]) & (cl.service_date > since_contact)
        ).sum(),
        preventive_visits=(
            (cl.service_code == d_fe["visit_code"]) & (cl.service_date > since_visit)
        ).sum(),
    )

    j = p.left_join(cond, p.patient_id == cond.patient_id).drop("patient_id_right")
    j = j.left_join(med, j.patient_id == med.patient_id).drop("patient_id_right")
    j = j.left_join(act, j.patient_id == act.patient_id).drop("patient_id_right")
    j = j.select(
        "patient_id",
        "provider_number",
        "sex",
        age=(as_of.year - j.birth_year - 1).cast("int16"),
        psychiatric_secondary=j.psychiatric_secondary.fill_null(False),
        intellectual_disability=j.intellectual_disability.fill_null(False),
        n_conditions=j.n_conditions.fill_null(0).cast("int32"),
        chronic_for_contact=j.chronic_for_contact.fill_null(False),
        n_drugs=j.n_drugs.fill_null(0).cast("int32"),
        risky_combinations=j.risky_combinations.fill_null(0).cast("int32"),
        contacts=j.contacts.fill_null(0).cast("int64"),
        preventive_visits=j.preventive_visits.fill_null(0).cast("int64"),
        yearly_controls=j.yearly_controls.fill_null(0).cast("int64"),
        blood_samples=j.blood_samples.fill_null(0).cast("int64"),
    )
    return j.to_polars()


def warehouse_features(
    wh: Warehouse,
    *,
    as_of: dt.date,
    definitions: dict[str, dict[str, Any]],
    provider_number: str | None = None,
) -> pl.DataFrame:
    """``patient_features`` from the warehouse's patient, condition, medication and claim
    tables and the shipped condition codes."""
    return patient_features(
        wh.read_table("patient"),
        wh.read_table("condition"),
        wh.read_table("medication"),
        wh.read_table("claim"),
        load_condition_codes(),
        as_of=as_of,
        definitions=definitions,
        provider_number=provider_number,
    )


def clinic_areas(wh: Warehouse) -> pl.DataFrame:
    """provider_number with the cluster, municipality, health council and region of the
    clinic's address."""
    c, m = wh.read_table("clinic"), wh.read_table("municipality")
    return (
        c.join(m, c.municipality == m.code)
        .select("provider_number", "cluster", "municipality", "health_council", "region")
        .to_polars()
    )


def apply_definitions(
    features: pl.DataFrame,
    definitions: dict[str, dict[str, Any]],
    *,
    target_share: float | None = None,
) -> pl.DataFrame:
    """The findings: one row per patient and definition met, with the reason (an
    English sentence, and the age and counts it cites).

    Polypharmacy: patients with at least ``min_drugs`` drugs are scored (drugs +
    conditions + 2 per risky combination, weights in the definitions) and ranked within
    their clinic; the top ``target_share`` of the clinic's list (rounded up) are the group.
    """
    d_pp = definitions["polypharmacy"]
    d_fe = definitions["frail_elderly"]
    share = float(d_pp["target_share"] if target_share is None else target_share)
    f = features.with_columns(
        score=pl.col("n_drugs") * float(d_pp["weight_drugs"])
        + pl.col("n_conditions") * float(d_pp["weight_conditions"])
        + pl.col("risky_combinations") * float(d_pp["weight_risky_combination"]),
        list_size=pl.len().over("provider_number"),
    )
    ranked = (
        f.filter(pl.col("n_drugs") >= int(d_pp["min_drugs"]))
        .sort(["provider_number", "score", "patient_id"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(pl.len()).over("provider_number"))
        .filter(pl.col("rank") < (pl.col("list_size") * share).ceil())
    )
    parts = [
        f.filter(pl.col("psychiatric_secondary")).with_columns(
            definition=pl.lit("psychiatric_secondary"),
            reason=pl.lit("psychiatric diagnosis made in secondary care"),
        ),
        f.filter(pl.col("intellectual_disability")).with_columns(
            definition=pl.lit("intellectual_disability"),
            reason=pl.lit("intellectual disability on the diagnosis card"),
        ),
        ranked.drop("rank").with_columns(
            definition=pl.lit("polypharmacy"),
            reason=pl.format(
                "score {} ({} drugs, {} conditions, {} risky combinations); top {} of the list",
                pl.col("score"),
                pl.col("n_drugs"),
                pl.col("n_conditions"),
                pl.col("risky_combinations"),
                pl.lit(f"{share:.0%}"),
            ),
        ),
        f.filter(pl.col("chronic_for_contact") & (pl.col("contacts") == 0)).with_columns(
            definition=pl.lit("rarely_in_contact"),
            reason=pl.lit(
                f"chronic condition, no contact in {definitions['rarely_in_contact']['lookback_months']} months"
            ),
        ),
        f.filter(
            (pl.col("age") >= int(d_fe["min_age"]))
            & (
                (pl.col("n_conditions") >= int(d_fe["min_conditions"]))
                | (pl.col("n_drugs") >= int(d_fe["min_drugs"]))
            )
            & (pl.col("preventive_visits") == 0)
        ).with_columns(
            definition=pl.lit("frail_elderly"),
            reason=pl.format(
                "age {}, {} conditions, {} drugs, no preventive home visit in {} months",
                pl.col("age"),
                pl.col("n_conditions"),
                pl.col("n_drugs"),
                pl.lit(d_fe["lookback_months"]),
            ),
        ),
    ]
    # the reason's numbers beside its English sentence, so a page can say it in Danish
    cols = ["patient_id", "provider_number", "definition", "score", "reason", "age",
            "n_conditions", "n_drugs", "risky_combinations"]  # fmt: skip
    return pl.concat([x.select(cols) for x in parts]).sort(
        ["provider_number", "definition", "patient_id"]
    )


def clinic_counts(findings: pl.DataFrame, features: pl.DataFrame) -> pl.DataFrame:
    """Per clinic: list size and the count and share of each definition."""
    sizes = features.group_by("provider_number").agg(list_size=pl.len())
    counts = findings.group_by("provider_number", "definition").agg(patients=pl.len())
    wide = counts.pivot(on="definition", index="provider_number", values="patients")
    out = sizes.join(wide, on="provider_number", how="left").fill_null(0)
    for d in DEFINITIONS:
        if d not in out.columns:
            out = out.with_columns(pl.lit(0).alias(d))
    return out.select("provider_number", "list_size", *DEFINITIONS).sort("provider_number")


def polypharmacy_share_check(counts: pl.DataFrame, low: float = 0.03, high: float = 0.05) -> float:
    """Share of clinics whose polypharmacy group is within ``low``-``high`` of the list."""
    share = counts["polypharmacy"] / counts["list_size"]
    return float(((share >= low) & (share <= high)).sum()) / max(len(counts), 1)


INDICATOR_CODES = ("0120", "2101")  # counted for the quality indicators

LEVELS = ("clinic", "cluster", "municipality", "health_council", "region", "national")


def aggregate(counts: pl.DataFrame, clinic_area: pl.DataFrame, level: str) -> pl.DataFrame:
    """Counts of each special-effort group by ``level``, for capacity planning.

    ``counts`` from ``clinic_counts``; ``clinic_area``: provider_number, cluster,
    municipality, health_council, region (of the clinic's address). Returns level,
    area, list_size and one column per definition, true counts: pass it through
    ``publishable`` before it leaves the clinic. ``national``: one row, area "DK".
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    j = counts.join(clinic_area, on="provider_number", how="left")
    if level == "national":
        j = j.with_columns(national=pl.lit("DK"))
    key = "provider_number" if level == "clinic" else level
    out = j.group_by(key).agg(pl.col("list_size").sum(), *[pl.col(d).sum() for d in DEFINITIONS])
    return out.rename({key: "area"}).with_columns(level=pl.lit(level)).sort("area")


def published(counts: pl.DataFrame, clinic_area: pl.DataFrame) -> pl.DataFrame:
    """Every level's counts as they may leave the clinics, in long form: level, area,
    list_size, definition, patients.

    Each count (the list size too) goes through ``almen.disclosure.protect``: 0-7 hidden
    (null), the rest rounded to the nearest 5, every level's total from its own true
    total. Then ``almen.disclosure.audit_sums`` checks all levels together (cluster and
    municipality = Σ their clinics, health council = Σ its municipalities, region = Σ its
    councils, the country = Σ regions) and hides a total where rounding would let its
    parts pin a hidden cell. Filter the level you publish; all are audited at once, so
    any mix of levels, files and routes is covered.
    """
    from almen.disclosure import audit_sums, protect

    true = pl.concat([
        aggregate(counts, clinic_area, level).unpivot(
            index=["level", "area"], on=["list_size", *DEFINITIONS]
        ) for level in LEVELS
    ]).rename({"variable": "definition", "value": "count"})  # fmt: skip
    true = true.with_columns(pl.col("area").cast(pl.Utf8), pl.col("count").cast(pl.Int64))
    shown = true.with_columns(count=protect(pl.col("count")))
    sums = _area_sums(clinic_area)
    audited = []
    for (_definition,), part in shown.group_by(["definition"], maintain_order=True):
        cells = {(lv, a): v for lv, a, v in part.select("level", "area", "count").iter_rows()}
        safe = audit_sums(cells, sums)  # type: ignore[arg-type]
        audited.append(part.with_columns(
            count=pl.Series([safe[(lv, a)] for lv, a in part.select("level", "area").iter_rows()],
                            dtype=pl.Int64)
        ))  # fmt: skip
    long = pl.concat(audited)
    sizes = long.filter(pl.col("definition") == "list_size").select(
        "level", "area", list_size="count"
    )
    return (
        long.filter(pl.col("definition") != "list_size")
        .join(sizes, on=["level", "area"], how="left")
        .select("level", "area", "list_size", "definition", patients="count")
    )


def _area_sums(clinic_area: pl.DataFrame) -> list[tuple[tuple[str, str], list[tuple[str, str]]]]:
    """The published relations total = Σ parts between the levels of ``aggregate``."""
    a = clinic_area.with_columns(pl.col("*").cast(pl.Utf8))
    sums: list[tuple[tuple[str, str], list[tuple[str, str]]]] = []

    def add(parent: str, child: str, frame: pl.DataFrame) -> None:
        for key, part in frame.group_by(parent, maintain_order=True):
            sums.append(((parent, str(key[0])),
                         [(child, str(v)) for v in part[child].unique().sort().to_list()]))  # fmt: skip

    clinics = a.rename({"provider_number": "clinic"})
    add("cluster", "clinic", clinics)
    add("municipality", "clinic", clinics)
    add("health_council", "municipality", a)
    add("region", "health_council", a)
    add("national", "region", a.with_columns(national=pl.lit("DK")))
    return sums


def publishable(counts: pl.DataFrame, clinic_area: pl.DataFrame, level: str) -> pl.DataFrame:
    """The counts of one ``level`` as published (``published``, audited over all levels)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    return published(counts, clinic_area).filter(pl.col("level") == level).sort("area")
