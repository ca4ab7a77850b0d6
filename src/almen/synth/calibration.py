"""What synthetic Denmark aims at: public figures, scaled to the run, beside what it made."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from almen.geo import FREE_CHOICE_KM, FREE_CHOICE_MIN_OPEN, open_within

__all__ = ["FREE_CHOICE_KM", "Measure", "calibration_table", "citizens_without_free_choice"]


@dataclass(frozen=True, slots=True)
class Measure:
    measure: str
    generated: float
    target: float | None
    unit: str
    source: str
    scales: bool = False  # target is a national count: multiply by the scale


# Targets from shared/research/danish-facts.md (section in brackets).
TARGETS: dict[str, tuple[float | None, str, str, bool]] = {
    "population": (5_992_734, "persons", "DST population 1 Jan 2025 via cancR [§3.1]", True),
    "gps": (3_499, "doctors", "KL: praktiserende læger 2023 [§2.1]", True),
    "clinics": (1_900, "clinics", "about 1,800-2,000 (SDS 2014: about 1,980) [§2.1]", True),
    "share_clinics_closed": (
        0.67,
        "share",
        "2 of 3 practices closed, autumn 2022 (TV2) [§2.4]",
        False,
    ),
    "listed_per_gp_fte": (1_690, "patients", "population / about 3,500 capacities [§2.1]", False),
    "contacts": (41_000_000, "contacts", "about 41 mio contacts a year (DST) [§1.5]", True),
    "contacts_per_person": (6.9, "per person", "41 mio / 5.96 mio (DST) [§1.5]", False),
    "share_with_contact": (0.85, "share", "85.0 % visited their GP in 2023 (DST) [§2.4]", False),
    "share_consultation": (
        0.50,
        "share of contacts",
        "about 50 % consultations, 2008 (DST) [§1.5]",
        False,
    ),
    "share_phone": (0.40, "share of contacts", "about 40 % telephone, 2008 (DST) [§1.5]", False),
    "prevalence_type2_diabetes": (0.048, "share", "4.8 % type 2 diabetes, 2017 [§5]", False),
    "prevalence_copd": (0.037, "share", "3,700 per 100,000 diagnosed KOL [§5]", False),
    "prevalence_hypertension": (
        0.13,
        "share",
        "estimate: 22.3 % of 20-89 × 72 % aware [§5]",
        False,
    ),
    "prevalence_dementia": (None, "share", "no public figure found", False),
    "prevalence_depression": (None, "share", "no public figure found [§5]", False),
    "prevalence_intellectual_disability": (0.015, "share", "1-2 % of the population [§5]", False),
    "share_psychiatric_secondary_care": (
        0.025,
        "share",
        "about 150,000 treated in psychiatry 2022 [§5]",
        False,
    ),
    "share_multimorbid": (0.20, "share", "1.2 mio multimorbid (register) / 5.9 mio [§5]", False),
    "share_polypharmacy_adults": (
        0.06,
        "share of 16+",
        "about 6 % of adults on ≥ 5 drugs, 2021 (SDS) [§5]",
        False,
    ),
    "share_polypharmacy_75plus": (
        0.21,
        "share of 75+",
        "21 % of 75+ on ≥ 5 drugs, 2021 (SDS) [§5]",
        False,
    ),
    "listed_region_or_tender": (
        200_000,
        "persons",
        "over 200,000 without a fixed GP, c. 2022-23 [§2.5]",
        True,
    ),
    "without_free_choice": (300_000, "persons", "up to 300,000 (seed 002 projection) [§2.5]", True),
    "ooh_contacts_sjaelland": (
        330_000,
        "contacts",
        "Region Sjælland 1818: 330,000 in 2023 [§4]",
        True,
    ),
    "daytime_expenditure_dkk": (
        9_600_000_000,
        "DKK",
        "estimate: budget frame ≈ 9.6 bn DKK 2023 [§1.3]",
        True,
    ),
    # not calibration: the claim errors injected so that every return rule fires
    # (params.CLAIM_ERRORS and COVER_SHARE, assumptions), to read against `almen settle`
    **{
        f"claims_injected_{kind}": (None, "lines", f"injected: {what} (assumption)", False)
        for kind, what in (
            ("cover", "acute consultations of patients listed elsewhere, paid"),
            ("not_listed", "another clinic's patient without a cover reason"),
            ("age_sex", "cervical cytology claimed for a man"),
            ("outside_period", "a line sent for the month before its date"),
            ("duplicate", "a line sent twice"),
            ("per_year", "an annual control sent twice for one condition"),
        )
    },
}


# Measures of distance to clinics: a smaller Denmark has the same area but fewer clinics,
# so these do not scale with the run and are comparable with their target at scale 1 only.
DENSITY_DEPENDENT = frozenset({"without_free_choice"})
DENSITY_NOTE = "; depends on clinic density: compare at scale 1"


def calibration_table(generated: dict[str, float], scale: float) -> pl.DataFrame:
    """The targets: one row per measure, generated value, target scaled to the run, unit
    and source (noting, below scale 1, the measures that depend on clinic density); kind
    ``target`` (``injected`` for the claim errors put in on purpose). The held-out rows
    are added from the finished warehouse (``synth.holdout``)."""
    rows = []
    for name, (target, unit, source, scales) in TARGETS.items():
        if name not in generated:
            continue
        t = None if target is None else (target * scale if scales else float(target))
        if name in DENSITY_DEPENDENT and scale < 1:
            source += DENSITY_NOTE
        kind = "injected" if name.startswith("claims_injected_") else "target"
        rows.append((name, float(generated[name]), t, unit, source, kind))
    return pl.DataFrame(
        rows,
        schema={
            "measure": pl.Utf8,
            "generated": pl.Float64,
            "target": pl.Float64,
            "unit": pl.Utf8,
            "source": pl.Utf8,
            "kind": pl.Utf8,
        },
        orient="row",
    ).with_columns(
        low=pl.lit(None, pl.Float64),
        high=pl.lit(None, pl.Float64),
        year=pl.lit(None, pl.Int32),
        inside=pl.lit(None, pl.Boolean),
    )


def citizens_without_free_choice(
    person_lonlat: np.ndarray,
    open_lonlat: np.ndarray,
    radius_km: float = FREE_CHOICE_KM,
    min_open: int = FREE_CHOICE_MIN_OPEN,
) -> np.ndarray:
    """Boolean per person: fewer than ``min_open`` open clinics within ``radius_km``."""
    return open_within(person_lonlat, open_lonlat, radius_km) < min_open
