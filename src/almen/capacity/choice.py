"""Free choice of doctor (seed 003: free choice of doctor for every citizen in 2030).

In Denmark a citizen has free choice when at least two clinics open to new patients lie
within 15 km of home (danish-facts §2.4); both numbers are parameters. Beside it: the
citizens listed with clinics run by regions or tenders rather than a GP of their own
(danish-facts §2.5; seed 002 speaks of up to 300,000 without free choice).
"""

from __future__ import annotations

import polars as pl

from almen.geo import FREE_CHOICE_KM, FREE_CHOICE_MIN_OPEN, open_within

__all__ = ["free_choice"]


def free_choice(
    persons: pl.DataFrame,
    clinics: pl.DataFrame,
    areas: pl.DataFrame,
    *,
    radius_km: float = FREE_CHOICE_KM,
    min_open: int = FREE_CHOICE_MIN_OPEN,
) -> pl.DataFrame:
    """Citizens without free choice and listed with region or tender clinics, by area.

    ``persons``: patient_id, municipality, provider_number, lat, lon (people without a
    location are counted apart); ``clinics``: provider_number, form, closed_to_new, lat,
    lon; ``areas``: municipality, health_council. Returns rows for each municipality,
    each health council and Denmark (column ``level``).
    """
    located = persons.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    open_ll = clinics.filter(~pl.col("closed_to_new")).select("lon", "lat").to_numpy()
    n_open = open_within(located.select("lon", "lat").to_numpy(), open_ll, radius_km)
    public = set(
        clinics.filter(pl.col("form").is_in(["region", "tender"]))["provider_number"].to_list()
    )
    p = (
        persons.join(
            located.select("patient_id").with_columns(
                no_choice=pl.Series(n_open < min_open, dtype=pl.Boolean)
            ),
            on="patient_id",
            how="left",
        )
        .with_columns(
            located=pl.col("no_choice").is_not_null(),
            public_clinic=pl.col("provider_number").is_in(list(public)),
        )
        .join(areas, on="municipality", how="left")
    )
    agg = [
        pl.len().alias("citizens"),
        pl.col("located").sum().alias("located"),
        pl.col("no_choice").fill_null(False).sum().alias("without_free_choice"),
        pl.col("public_clinic").sum().alias("listed_region_or_tender"),
    ]
    out = []
    for level in ("municipality", "health_council"):
        out.append(
            p.group_by(level).agg(agg).rename({level: "area"}).with_columns(level=pl.lit(level))
        )
    out.append(p.select(agg).with_columns(area=pl.lit("Danmark"), level=pl.lit("national")))
    res = pl.concat([o.select("level", "area", "citizens", "located", "without_free_choice",
                              "listed_region_or_tender") for o in out])  # fmt: skip
    return res.with_columns(
        share_without=pl.col("without_free_choice") / pl.col("located").cast(pl.Float64)
    ).sort("level", "area")
