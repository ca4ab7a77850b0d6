"""Chronic conditions and the drugs that follow them.

Conditions use a liability-threshold model: person i has condition c when
``rho_c · z_i + sqrt(1 - rho_c²) · e_ic > Φ⁻¹(1 - p_c(age, sex))`` with ``z`` a latent
somatic or mental factor shared by the person's conditions. Each condition keeps exactly
its age- and sex-specific prevalence ``p_c``, while the shared factor makes conditions
co-occur, so multimorbidity and polypharmacy emerge rather than being set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

__all__ = ["CONDITIONS", "Morbidity", "generate_conditions", "generate_medications"]

EPOCH = dt.date(1970, 1, 1)
AGE_KNOTS = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    group: str
    codes: tuple[tuple[str, float], ...]  # ICPC-2 code and its share within the group
    male_pct: tuple[float, ...]  # prevalence in % at AGE_KNOTS
    female_pct: tuple[float, ...]
    factor: str  # "somatic" or "mental"
    rho: float  # loading on the shared factor
    secondary_share: float  # share diagnosed in secondary care
    secondary_kind: str  # "hospital" or "psychiatry"
    drugs: tuple[tuple[str, float], ...]  # ATC code and probability given the condition


# Prevalence curves: assumptions shaped to the national figures in danish-facts.md §5
# (type 2 diabetes 4.8 %, COPD 3.7 %, hypertension 22 % of 20-89 with 72 % aware,
# intellectual disability 1-2 %, polypharmacy 6 % of adults); psychiatric shares after
# Psykiatrifonden. Where no figure was found the curve is an assumption.
CONDITIONS: tuple[ConditionSpec, ...] = (
    ConditionSpec("diabetes", (("T90", 1.0),),
        (0, 0, 0.1, 0.5, 1.8, 4.5, 9.5, 15, 19, 17, 14), (0, 0, 0.2, 0.6, 1.4, 3.2, 6.5, 10.5, 14, 13, 11),
        "somatic", 0.6, 0.2, "hospital",
        (("A10BA02", 0.80), ("A10BK01", 0.35), ("A10BJ06", 0.25), ("A10AE04", 0.12), ("C10AA05", 0.70))),
    ConditionSpec("diabetes_type1", (("T89", 1.0),),
        (0, 0.3, 0.6, 0.6, 0.6, 0.6, 0.6, 0.5, 0.4, 0.3, 0.2), (0, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.3, 0.2, 0.2),
        "somatic", 0.1, 0.9, "hospital", (("A10AB05", 1.0), ("A10AE04", 0.9))),
    ConditionSpec("copd", (("R95", 1.0),),
        (0, 0, 0, 0.1, 0.6, 2.5, 6, 10, 13, 12, 10), (0, 0, 0, 0.1, 0.7, 3.0, 7, 11, 13, 11, 9),
        "somatic", 0.65, 0.25, "hospital",
        (("R03AL03", 0.55), ("R03BB04", 0.30), ("R03AK06", 0.25), ("R03AC02", 0.50))),
    ConditionSpec("hypertension", (("K86", 0.85), ("K87", 0.15)),
        (0, 0, 0.5, 2, 6, 14, 27, 40, 47, 48, 48), (0, 0, 0.3, 1.5, 4, 11, 24, 38, 48, 52, 52),
        "somatic", 0.6, 0.05, "hospital",
        (("C09AA05", 0.35), ("C09CA01", 0.35), ("C08CA01", 0.35), ("C03AA03", 0.20))),
    ConditionSpec("ischaemic_heart_disease", (("K76", 0.6), ("K74", 0.4)),
        (0, 0, 0, 0.1, 0.8, 3, 7, 13, 18, 20, 20), (0, 0, 0, 0, 0.3, 1, 3, 6, 10, 13, 14),
        "somatic", 0.65, 0.8, "hospital",
        (("B01AC06", 0.70), ("C10AA05", 0.85), ("C07AB02", 0.50), ("C01DA14", 0.15))),
    ConditionSpec("heart_failure", (("K77", 1.0),),
        (0, 0, 0, 0, 0.2, 0.6, 1.5, 3.5, 7, 11, 13), (0, 0, 0, 0, 0.1, 0.3, 0.8, 2, 5, 9, 12),
        "somatic", 0.7, 0.7, "hospital",
        (("C03CA01", 0.60), ("C07AB07", 0.70), ("C09AA05", 0.50), ("C03DA01", 0.30))),
    # atrial fibrillation, stroke and TIA, other heart and vessel disease: with ischaemic
    # heart disease and heart failure the diseases the Danish Heart Foundation counts
    # [§5]. Age curves are assumptions, set once and not fitted (the share of those 65+
    # with one is a held-out figure; with these curves the country has about 7.7 % with
    # one, below the foundation's 672,000, i.e. 11.3 %, which counts more diseases).
    ConditionSpec("atrial_fibrillation", (("K78", 1.0),),
        (0, 0, 0, 0, 0.2, 0.8, 2.5, 6, 11, 14, 14), (0, 0, 0, 0, 0.1, 0.4, 1.3, 3.5, 8, 12, 12),
        "somatic", 0.55, 0.5, "hospital",
        (("B01AF02", 0.65), ("C07AB02", 0.55))),
    ConditionSpec("stroke", (("K90", 0.75), ("K89", 0.25)),
        (0, 0, 0, 0.1, 0.4, 1.2, 3, 6, 9, 11, 11), (0, 0, 0, 0.1, 0.3, 0.9, 2.2, 4.5, 7.5, 10, 10),
        "somatic", 0.6, 0.9, "hospital",
        (("B01AC04", 0.60), ("B01AC06", 0.30), ("C10AA05", 0.70))),
    ConditionSpec("other_heart_vessel", (("K92", 0.45), ("K79", 0.30), ("K91", 0.25)),
        (0, 0, 0, 0.1, 0.5, 1.5, 4, 8, 13, 16, 16), (0, 0, 0, 0.1, 0.3, 1, 2.5, 5.5, 10, 13, 13),
        "somatic", 0.6, 0.6, "hospital",
        (("B01AC06", 0.40), ("C10AA05", 0.40))),
    # osteoporosis and rheumatoid arthritis: with COPD, diabetes, heart failure and asthma
    # SSI's six chronic diseases [§5]. Age curves are assumptions, set once and not fitted
    # (the share of those 85+ with one is a held-out figure).
    ConditionSpec("osteoporosis", (("L95", 1.0),),
        (0, 0, 0, 0, 0.1, 0.3, 1, 2.5, 5, 8, 8), (0, 0, 0, 0, 0.3, 1.5, 5, 11, 19, 25, 25),
        "somatic", 0.4, 0.3, "hospital",
        (("M05BA04", 0.45), ("A12AX", 0.60))),
    ConditionSpec("rheumatoid_arthritis", (("L88", 1.0),),
        (0, 0, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.4, 1.3, 1.2), (0, 0, 0.2, 0.5, 1.0, 1.5, 2.2, 2.8, 3, 2.8, 2.5),
        "somatic", 0.4, 0.8, "hospital",
        (("L04AX03", 0.55), ("H02AB06", 0.25))),
    ConditionSpec("asthma", (("R96", 1.0),),
        (4, 8, 7, 5, 5, 5, 6, 6, 6, 5, 5), (3, 6, 7, 7, 7, 7, 8, 8, 7, 6, 6),
        "somatic", 0.3, 0.1, "hospital",
        (("R03BA02", 0.50), ("R03AC02", 0.70), ("R03AK06", 0.30))),
    ConditionSpec("osteoarthritis", (("L90", 0.6), ("L89", 0.25), ("L91", 0.15)),
        (0, 0, 0, 0.5, 2, 6, 12, 18, 24, 26, 26), (0, 0, 0, 0.8, 3, 9, 17, 26, 33, 35, 35),
        "somatic", 0.5, 0.2, "hospital", (("N02BE01", 0.50), ("M01AE01", 0.15))),
    ConditionSpec("depression", (("P76", 1.0),),
        (0, 0.2, 2.5, 3.5, 4, 4, 4, 4, 5, 6, 6), (0, 0.4, 5, 6.5, 7, 7, 7, 6.5, 7, 8, 8),
        "mental", 0.55, 0.25, "psychiatry", (("N06AB10", 0.45), ("N06AB06", 0.20))),
    ConditionSpec("anxiety", (("P74", 1.0),),
        (0, 0.5, 2.5, 3, 3, 2.5, 2, 1.5, 1.5, 1.5, 1.5), (0, 0.8, 5, 5.5, 5, 4.5, 3.5, 3, 3, 3, 3),
        "mental", 0.55, 0.15, "psychiatry", (("N06AB10", 0.30), ("N05BA04", 0.10))),
    ConditionSpec("schizophrenia", (("P72", 1.0),),
        (0, 0, 0.4, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3), (0, 0, 0.2, 0.5, 0.6, 0.6, 0.6, 0.5, 0.5, 0.4, 0.3),
        "mental", 0.6, 1.0, "psychiatry", (("N05AH04", 0.55), ("N05AX08", 0.35))),
    ConditionSpec("bipolar_disorder", (("P73", 1.0),),
        (0, 0, 0.3, 0.6, 0.7, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4), (0, 0, 0.4, 0.8, 0.9, 1.0, 1.0, 0.9, 0.7, 0.6, 0.5),
        "mental", 0.6, 1.0, "psychiatry", (("N05AN01", 0.40), ("N05AH04", 0.40))),
    ConditionSpec("dementia", (("P70", 1.0),),
        (0, 0, 0, 0, 0, 0.1, 0.5, 2.5, 8, 20, 30), (0, 0, 0, 0, 0, 0.1, 0.5, 2.5, 9, 24, 35),
        "somatic", 0.3, 0.6, "hospital", (("N06DA02", 0.45), ("N06DX01", 0.15))),
    ConditionSpec("intellectual_disability", (("P85", 1.0),),
        (0.7, 2.0, 2.0, 1.9, 1.8, 1.6, 1.4, 1.1, 0.7, 0.4, 0.3), (0.55, 1.5, 1.5, 1.4, 1.3, 1.1, 1.0, 0.7, 0.5, 0.3, 0.15),
        "mental", 0.2, 1.0, "hospital", ()),
)  # fmt: skip

# Drugs not tied to a tracked condition, by age (assumptions; together with the above they
# give about 6 % of adults on 5 or more drugs and about 21 % of those aged 75+ [§5]). The
# anticoagulant that stood for atrial fibrillation here follows the condition now.
BACKGROUND_DRUGS: tuple[tuple[str, float, float, float], ...] = (
    # ATC, probability at age 40, rise per year of age above 40, extra for women (×)
    ("A02BC02", 0.04, 0.0025, 1.1),  # proton pump inhibitor
    ("C10AA05", 0.02, 0.0030, 0.9),  # statin, primary prevention
    ("H03AA01", 0.02, 0.0010, 3.0),  # levothyroxine
    ("N02BE01", 0.02, 0.0030, 1.3),  # paracetamol
    ("A12AX", 0.00, 0.0025, 2.0),  # calcium and vitamin D
)


@dataclass(slots=True)
class Morbidity:
    """Per-person flags and the condition rows."""

    has: dict[str, np.ndarray]  # condition group → bool per person
    n_chronic: np.ndarray  # int8 number of condition groups per person
    frailty: np.ndarray  # latent somatic factor (drives contact rates)
    cond_person: np.ndarray  # row → person index
    cond_code: np.ndarray  # row → ICPC-2 code
    cond_onset: np.ndarray  # row → days since epoch
    cond_by: np.ndarray  # row → gp / hospital / psychiatry


def _prevalence(spec: ConditionSpec, age: np.ndarray, female: np.ndarray) -> np.ndarray:
    pm = np.interp(age, AGE_KNOTS, np.array(spec.male_pct) / 100.0)
    pf = np.interp(age, AGE_KNOTS, np.array(spec.female_pct) / 100.0)
    return np.where(female, pf, pm)


def generate_conditions(
    age: np.ndarray,
    female: np.ndarray,
    year: int,
    rng: np.random.Generator,
    area: np.ndarray | None = None,
) -> Morbidity:
    """Condition rows with onset dates and who diagnosed them (see module docstring).

    ``area`` is a per-person factor on every prevalence that averages 1 within each age
    × sex cell (``synth.area.raked_factor``): the area's deprivation, national age × sex
    prevalences kept."""
    n = len(age)
    somatic = rng.standard_normal(n).astype(np.float32)
    mental = (0.3 * somatic + np.sqrt(1 - 0.3**2) * rng.standard_normal(n)).astype(np.float32)
    start = (dt.date(year, 1, 1) - EPOCH).days
    has: dict[str, np.ndarray] = {}
    persons, codes, onsets, bys = [], [], [], []
    for spec in CONDITIONS:
        p = _prevalence(spec, age, female)
        if area is not None:
            p = np.minimum(p * area, 0.95)
        z = somatic if spec.factor == "somatic" else mental
        threshold = ndtri(np.clip(1.0 - p, 1e-12, 1 - 1e-12))
        liability = spec.rho * z + np.sqrt(1 - spec.rho**2) * rng.standard_normal(
            n, dtype=np.float32
        )
        flag = (liability > threshold) & (p > 0)
        has[spec.group] = flag
        idx = np.flatnonzero(flag)
        m = len(idx)
        code_names = np.array([c for c, _ in spec.codes], dtype=object)
        code_p = np.array([w for _, w in spec.codes])
        persons.append(idx)
        codes.append(code_names[rng.choice(len(code_names), size=m, p=code_p / code_p.sum())])
        # onset: between birth and last year, more often in recent years
        years_ago = np.minimum(rng.exponential(7.0, m), age[idx] + 0.5)
        onsets.append((start - 1 - np.floor(years_ago * 365.25)).astype(np.int32))
        secondary = rng.random(m) < spec.secondary_share
        bys.append(np.where(secondary, spec.secondary_kind, "gp").astype(object))
    groups = {s.group for s in CONDITIONS}
    n_chronic = np.zeros(n, dtype=np.int8)
    for g in groups:
        n_chronic += has[g]
    # the two diabetes types are one condition group for the rest of almen
    has["diabetes"] = has["diabetes"] | has.pop("diabetes_type1")
    return Morbidity(
        has=has,
        n_chronic=n_chronic,
        frailty=somatic,
        cond_person=np.concatenate(persons),
        cond_code=np.concatenate(codes),
        cond_onset=np.concatenate(onsets),
        cond_by=np.concatenate(bys),
    )


def generate_medications(
    morbidity: Morbidity, age: np.ndarray, female: np.ndarray, year: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drugs in use: person index, ATC code, start date (days). One row per person and drug."""
    start = (dt.date(year, 1, 1) - EPOCH).days
    atc_names: list[str] = []
    persons: list[np.ndarray] = []
    atcs: list[np.ndarray] = []

    def atc_index(code: str) -> int:
        if code not in atc_names:
            atc_names.append(code)
        return atc_names.index(code)

    has = dict(morbidity.has)
    for spec in CONDITIONS:
        group = "diabetes" if spec.group == "diabetes_type1" else spec.group
        idx = np.flatnonzero(has[group])
        if spec.group == "diabetes":  # type 2 drugs only for type 2 (T90) patients
            t90 = morbidity.cond_person[morbidity.cond_code == "T90"]
            idx = t90
        elif spec.group == "diabetes_type1":
            idx = morbidity.cond_person[morbidity.cond_code == "T89"]
        for code, prob in spec.drugs:
            take = idx[rng.random(len(idx)) < prob]
            persons.append(take)
            atcs.append(np.full(len(take), atc_index(code), dtype=np.int16))
    for code, p40, slope, female_factor in BACKGROUND_DRUGS:
        p = np.clip(p40 + slope * (age - 40.0), 0.0, 0.6) * np.where(female, female_factor, 1.0)
        p = np.where(age < 18, 0.0, np.clip(p, 0.0, 0.6))
        take = np.flatnonzero(rng.random(len(age)) < p)
        persons.append(take)
        atcs.append(np.full(len(take), atc_index(code), dtype=np.int16))
    person = np.concatenate(persons).astype(np.int64)
    atc = np.concatenate(atcs)
    key = np.unique(person * 1024 + atc)  # one row per person and drug
    person = (key // 1024).astype(np.int64)
    atc = (key % 1024).astype(np.int16)
    years_ago = np.minimum(rng.exponential(4.0, len(person)), age[person] + 0.5)
    start_days = (start - 1 - np.floor(years_ago * 365.25)).astype(np.int32)
    names = np.array(atc_names, dtype=object)
    return person, names[atc], start_days
