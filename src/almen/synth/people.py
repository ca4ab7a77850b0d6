"""Persons from the population table: counts by cell, ages, sex, places, pseudonyms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["Persons", "generate_persons", "scaled_cell_counts"]


@dataclass(slots=True)
class Persons:
    """Column arrays of the synthetic persons (one row per person)."""

    patient_id: np.ndarray  # int64
    muni: np.ndarray  # int16 index into the municipality list
    age: np.ndarray  # int16, age on 1 January
    female: np.ndarray  # bool
    lon: np.ndarray
    lat: np.ndarray

    def __len__(self) -> int:
        return len(self.patient_id)


def scaled_cell_counts(
    population: pl.DataFrame, muni_codes: list[str], scale: float
) -> pl.DataFrame:
    """Persons per municipality × age × sex cell at ``scale``.

    At scale 1 the counts are the population table's, exactly. Otherwise each
    municipality gets round(total × scale) persons, spread over its cells (ordered by sex,
    then age) by systematic rounding: count_i = ⌊C_i + ½⌋ − ⌊C_(i−1) + ½⌋ with C the running
    sum of persons × scale. Any run of consecutive ages of one sex is then less than one
    person from its target, so age bands keep their shape even in tiny municipalities.
    """
    pop = population.sort(["municipality", "sex", "age"])
    if scale == 1.0:
        return pop.select("municipality", "age", "sex", "persons")
    parts = []
    for code in muni_codes:
        sub = pop.filter(pl.col("municipality") == code)
        total = round(int(sub["persons"].sum()) * scale)
        values = sub["persons"].to_numpy().astype(np.float64)
        running = np.cumsum(values * (total / max(values.sum(), 1.0)))
        counts = np.diff(np.floor(running + 0.5), prepend=0.0).astype(np.int64)
        parts.append(
            sub.select("municipality", "age", "sex").with_columns(pl.Series("persons", counts))
        )
    return pl.concat(parts)


def generate_persons(
    cells: pl.DataFrame, muni_codes: list[str], rng: np.random.Generator
) -> Persons:
    """One row per person from cell counts, with unique random 63-bit pseudonyms."""
    index = {c: i for i, c in enumerate(muni_codes)}
    counts = cells["persons"].to_numpy()
    muni = np.repeat(
        np.array([index[c] for c in cells["municipality"].to_list()], dtype=np.int16), counts
    )
    age = np.repeat(cells["age"].to_numpy().astype(np.int16), counts)
    female = np.repeat((cells["sex"] == "F").to_numpy(), counts)
    n = len(muni)
    ids = rng.integers(1, 2**62, size=n, dtype=np.int64)
    while len(np.unique(ids)) < n:  # vanishingly rare; keep ids unique whatever happens
        _uniq, first = np.unique(ids, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        ids[dup] = rng.integers(1, 2**62, size=len(dup), dtype=np.int64)
    return Persons(
        patient_id=ids,
        muni=muni,
        age=age,
        female=female,
        lon=np.zeros(n),
        lat=np.zeros(n),
    )
