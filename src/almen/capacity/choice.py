"""Free choice of doctor (seed 003: free choice of doctor for every citizen in 2030).

In Denmark a citizen has free choice when at least two clinics open to new patients lie
within 15 km of home (danish-facts §2.4); both numbers are parameters. Beside it: the
citizens listed with clinics run by regions or tenders rather than a GP of their own
(danish-facts §2.5; seed 002 speaks of up to 300,000 without free choice).
"""

from __future__ import annotations

import polars as pl

from almen.geo import FREE_CHOICE_KM, FREE_CHOICE_MIN_OPEN, open_within

__all__ = ["free_choice", "free_choice_sensitivity"]


def free_choice(
    persons: pl.DataFrame,
    clinics: pl.DataFrame,
    areas: pl.DataFrame,
    *,
    radius_km: float = FREE_CHOICE_KM,
    min_open: int = FREE_CHOICE_MIN_OPEN,
    count_public: bool = True,
) -> pl.DataFrame:
    """Citizens without free choice and listed with region or tender clinics, by area.

    ``persons``: patient_id, municipality, provider_number, lat, lon (people without a
    location are counted apart); ``clinics``: provider_number, form, closed_to_new, lat,
    lon; ``areas``: municipality, health_council. Returns rows for each municipality,
    each health council and Denmark (column ``level``). ``count_public``: whether an open
    region or tender clinic counts as a choice (it has no GP of its own).
    """
    located = persons.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    counted = clinics.filter(~pl.col("closed_to_new"))
    if not count_public:  # only clinics with a GP of their own count as a choice
        counted = counted.filter(~pl.col("form").is_in(["region", "tender"]))
    open_ll = counted.select("lon", "lat").to_numpy()
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


def free_choice_sensitivity(
    persons: pl.DataFrame,
    clinics: pl.DataFrame,
    *,
    radii_km: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 25.0),
    min_opens: tuple[int, ...] = (1, 2, 3),
) -> pl.DataFrame:
    """Denmark's citizens without free choice under nearby definitions: per radius,
    number of open clinics needed, and whether region and tender clinics count; beside
    each, the citizens listed with a region or tender clinic, and those in either group
    (without free choice, or without a GP of their own)."""
    located = persons.filter(pl.col("lat").is_not_null() & pl.col("lon").is_not_null())
    ll = located.select("lon", "lat").to_numpy()
    public = set(
        clinics.filter(pl.col("form").is_in(["region", "tender"]))["provider_number"].to_list()
    )
    on_public = located["provider_number"].is_in(list(public)).fill_null(False).to_numpy()
    rows = []
    for count_public in (True, False):
        counted = clinics.filter(~pl.col("closed_to_new"))
        if not count_public:
            counted = counted.filter(~pl.col("form").is_in(["region", "tender"]))
        open_ll = counted.select("lon", "lat").to_numpy()
        for r in radii_km:
            n_open = open_within(ll, open_ll, r)
            for m in min_opens:
                no = n_open < m
                rows.append({"radius_km": r, "min_open": m, "public_clinics_count": count_public,
                             "without_free_choice": int(no.sum()),
                             "listed_region_or_tender": int(on_public.sum()),
                             "either": int((no | on_public).sum()),
                             "located": len(ll)})  # fmt: skip
    return pl.DataFrame(rows)
