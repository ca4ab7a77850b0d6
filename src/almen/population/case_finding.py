"""Case finding for the special efforts: who in a clinic's list qualifies, and why.

Seed 002 §2 names three vulnerable groups: psychiatric illness, intellectual disability,
and multimorbidity with polypharmacy, the last "i størrelsesordenen 3-5 % af en
praksispopulation" found from objective record data such as the number of drugs (§2.3).
Seed 003 adds the chronically ill who rarely come, and seed 002 the frail elderly for
preventive home visits. The groups, their variables and code lists are data
(``reference/data/case_definitions.toml``, in the grammar of
``almen.population.definitions``); this module applies them to the warehouse tables. A
group's size is measured: the seed's 3-5 % is checked against it
(``share_warnings``), never imposed. See docs/case-finding.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import ibis
import polars as pl

from almen.population import definitions as grammar
from almen.population.definitions import Definitions
from almen.warehouse import Warehouse

__all__ = [
    "DEFINITIONS",
    "LEVELS",
    "aggregate",
    "apply_definitions",
    "clinic_areas",
    "clinic_counts",
    "group_shares",
    "load_definitions",
    "patient_features",
    "publishable",
    "published",
    "share_warnings",
    "warehouse_features",
]


def load_definitions(path: Path | None = None) -> Definitions:
    """The case definitions (``definitions.load``): the shipped file, or ``path``."""
    return grammar.load(path)


# the shipped file's groups, in order
DEFINITIONS: tuple[str, ...] = grammar.load().group_names


def patient_features(
    patient: ibis.Table,
    condition: ibis.Table,
    medication: ibis.Table,
    claim: ibis.Table,
    *,
    as_of: dt.date,
    definitions: Definitions,
    provider_number: str | None = None,
    lab: ibis.Table | None = None,
    wanted: Iterable[str] | None = None,
    claim_months: int | None = None,
) -> pl.DataFrame:
    """One row per listed group-1 patient on ``as_of`` with age, sex and every variable
    the definitions declare (``definitions.features``)."""
    return grammar.features(
        definitions, patient, condition, medication, claim, lab, as_of=as_of,
        provider_number=provider_number, wanted=wanted, claim_months=claim_months,
    )  # fmt: skip


def warehouse_features(
    wh: Warehouse,
    *,
    as_of: dt.date,
    definitions: Definitions,
    provider_number: str | None = None,
    wanted: Iterable[str] | None = None,
    claim_months: int | None = None,
) -> pl.DataFrame:
    """``patient_features`` from the warehouse's patient, condition, medication, claim
    and (when it has one) lab_result tables."""
    return patient_features(
        wh.read_table("patient"),
        wh.read_table("condition"),
        wh.read_table("medication"),
        wh.read_table("claim"),
        as_of=as_of,
        definitions=definitions,
        provider_number=provider_number,
        lab=wh.read_table("lab_result") if wh.has_table("lab_result") else None,
        wanted=wanted,
        claim_months=claim_months,
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


def _reason(template: str) -> pl.Expr:
    """An English reason template (``{variable}`` placeholders) as a string expression;
    the frailty index is written with two decimals."""
    parts = re.split(r"\{([a-z_][a-z0-9_]*)\}", template)
    if len(parts) == 1:
        return pl.lit(template)
    fmt = "".join("{}" if i % 2 else p for i, p in enumerate(parts))
    args = [(pl.col(n).round(2) if n == "efi" else pl.col(n)).cast(pl.Utf8) for n in parts[1::2]]
    return pl.format(fmt, *args)


def apply_definitions(features: pl.DataFrame, definitions: Definitions) -> pl.DataFrame:
    """The findings: one row per patient and group met, with the reason (an English
    sentence from the group's ``reason_en``) and the values it cites (age, counts, the
    frailty index), so a page can say it in Danish from ``reason_da``.

    Every group is a condition over the patient's own data (``where``); no group is a
    share of a list, so a clinic's polypharmacy group is as large as its patients make it.
    """
    f = grammar.evaluate_groups(definitions, features)
    cites = [c for c in dict.fromkeys(c for g in definitions.groups.values() for c in g.cites)
             if c in f.columns]  # fmt: skip
    parts = []
    for g in definitions.groups.values():
        if g.name not in f.columns:
            continue
        parts.append(
            f.filter(pl.col(g.name)).select(
                "patient_id",
                "provider_number",
                *cites,
                definition=pl.lit(g.name),
                reason=_reason(g.reason_en),
            )
        )
    if not parts:
        return pl.DataFrame(schema={"patient_id": pl.Int64, "provider_number": pl.Utf8,
                                    "definition": pl.Utf8, "reason": pl.Utf8})  # fmt: skip
    return pl.concat(parts).sort(["provider_number", "definition", "patient_id"])


def clinic_counts(
    findings: pl.DataFrame, features: pl.DataFrame, groups: Sequence[str] | None = None
) -> pl.DataFrame:
    """Per clinic: list size and the count of each group (default: the shipped groups
    and any other group in ``findings``)."""
    names = list(groups) if groups is not None else list(
        dict.fromkeys([*DEFINITIONS, *findings["definition"].unique().sort().to_list()])
    )  # fmt: skip
    sizes = features.group_by("provider_number").agg(list_size=pl.len())
    counts = findings.group_by("provider_number", "definition").agg(patients=pl.len())
    out = sizes
    if not counts.is_empty():
        wide = counts.pivot(on="definition", index="provider_number", values="patients")
        out = sizes.join(wide, on="provider_number", how="left")
    for d in names:
        if d not in out.columns:
            out = out.with_columns(pl.lit(0).alias(d))
    out = out.with_columns(pl.col(names).fill_null(0).cast(pl.Int64))
    return out.select("provider_number", "list_size", *names).sort("provider_number")


def group_shares(counts: pl.DataFrame, definitions: Definitions) -> pl.DataFrame:
    """Per clinic and group with an ``expected_share`` in the definitions: the measured
    share of the list and whether it lies outside the expected range (``outside``).
    A result, not a target: the shares differ from clinic to clinic."""
    rows = []
    for g in definitions.groups.values():
        if g.expected_share is None or g.name not in counts.columns:
            continue
        lo, hi = g.expected_share
        rows.append(counts.select(
            "provider_number", "list_size", definition=pl.lit(g.name), patients=pl.col(g.name),
            share=pl.col(g.name) / pl.col("list_size"), low=pl.lit(lo), high=pl.lit(hi),
        ).with_columns(outside=(pl.col("share") < lo) | (pl.col("share") > hi)))  # fmt: skip
    if not rows:
        return pl.DataFrame(schema={"provider_number": pl.Utf8, "definition": pl.Utf8,
                                    "share": pl.Float64, "outside": pl.Boolean})  # fmt: skip
    return pl.concat(rows).sort("definition", "provider_number")


def share_warnings(shares: pl.DataFrame) -> list[str]:
    """One line per group: how many clinics lie outside the seed's expected share."""
    out = []
    for (d,), part in shares.group_by(["definition"], maintain_order=True):
        n_out = int(part["outside"].sum())
        if n_out:
            lo, hi = part["low"][0], part["high"][0]
            out.append(f"{d}: {n_out} of {len(part)} clinics outside the expected "
                       f"{lo:.0%}-{hi:.0%} of the list")  # fmt: skip
    return out


LEVELS = ("clinic", "cluster", "municipality", "health_council", "region", "national")


def _groups_of(counts: pl.DataFrame) -> list[str]:
    """The group columns of a ``clinic_counts`` frame."""
    return [c for c in counts.columns if c not in ("provider_number", "list_size")]


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
    groups = _groups_of(counts)
    out = j.group_by(key).agg(pl.col("list_size").sum(), *[pl.col(d).sum() for d in groups])
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
            index=["level", "area"], on=["list_size", *_groups_of(counts)]
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
