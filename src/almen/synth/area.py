"""Area deprivation: how the municipality a person lives in shifts need beyond age and sex.

Almost every disease and risk factor in Denmark is more common the lower the social
position (Statens Institut for Folkesundhed, *Folkesundhedsrapporten 2007*, ch. 33; Region
Hovedstaden's health profile 2021 finds type 2 diabetes in 10 % of those with basic
schooling only against 2 % of those with a long higher education, osteoarthritis over
three times and depression over twice as common). almen has no person-level education or
income, so it uses the area: the municipality's average disposable income per person
(Statistics Denmark INDKP101, 2023), as a deprivation score

    d_m = clip(−(ln income_m − μ) / σ, −2.5, 2.5)

with μ and σ the population-weighted mean and standard deviation of ln income over the 98
municipalities. A person's factor for an outcome with gradient β is exp(β · d), divided by
the national mean of exp(β · d) among persons of the same age and sex. The division is
a one-margin raking: every national age × sex rate stays what it was, and only the spread
between areas changes. Worked example in docs/synthetic-denmark.md.

The gradients are assumptions set once from the size of the published person-level
gradients (an area average is much flatter than a person's own position); they were not
fitted to any held-out figure.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = [
    "CONDITION_GRADIENT",
    "CONTACT_GRADIENT",
    "OOH_GRADIENT",
    "deprivation_by_municipality",
    "raked_factor",
]

CONDITION_GRADIENT = 0.15  # log-prevalence per unit of d (assumption, see module docstring)
CONTACT_GRADIENT = 0.05  # log-rate of GP contacts per unit of d, beyond morbidity (assumption)
OOH_GRADIENT = 0.10  # log-rate of out-of-hours contacts per unit of d (assumption)
CLIP = 2.5


def deprivation_by_municipality(income: pl.DataFrame, population: pl.DataFrame) -> pl.DataFrame:
    """The deprivation score per municipality: columns ``code`` and ``deprivation``.

    ``income`` has ``code`` and ``disposable_income_dkk``; ``population`` has ``code`` and
    ``persons`` (the weights). A municipality without an income gets 0 (the mean).
    """
    df = population.select("code", "persons").join(
        income.select("code", "disposable_income_dkk"), on="code", how="left"
    )
    have = df.filter(pl.col("disposable_income_dkk").is_not_null())
    x = np.log(have["disposable_income_dkk"].to_numpy().astype(np.float64))
    w = have["persons"].to_numpy().astype(np.float64)
    mu = float(np.average(x, weights=w))
    sigma = float(np.sqrt(np.average((x - mu) ** 2, weights=w)))
    return df.select(
        "code",
        deprivation=(
            (-(pl.col("disposable_income_dkk").cast(pl.Float64).log() - mu) / sigma)
            .clip(-CLIP, CLIP)
            .fill_null(0.0)
        ),
    )


def raked_factor(
    deprivation: np.ndarray, age: np.ndarray, female: np.ndarray, gradient: float
) -> np.ndarray:
    """Per person exp(gradient · d) over its mean in the person's age × sex cell.

    The factors of each age × sex cell average exactly 1, so multiplying a rate by them
    keeps every national age × sex total (the one margin of the raking).
    """
    raw = np.exp(gradient * deprivation.astype(np.float64))
    cell = age.astype(np.int64) * 2 + female.astype(np.int64)
    n = np.bincount(cell)
    total = np.bincount(cell, weights=raw)
    mean = np.divide(total, n, out=np.ones_like(total), where=n > 0)
    return raw / mean[cell]
