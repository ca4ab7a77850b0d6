"""Closing limits per clinic (danish-facts §2.4 and §2.7; seed 002 §4.4; seed 001).

Until 1 July 2025 a clinic could close to new patients at 1,600 listed patients per
doctor (the old fixed rule). The national model that replaces it sets a minimum list per
clinic from disease-weighted citizens ("sygdomsvægtede borgere"). Here:

    limit_c = norm × FTE_c / need_c × (1 − vulnerable_relief × excess vulnerable share)
              × (1 − new_gp_relief, for new GPs in underserved areas)

where need_c is the mean need index of the clinic's list (country = 1.0), the excess
vulnerable share is the clinic's share of patients in the special-effort groups above
the national share (not below 0), and the relief for new GPs applies for
``new_gp_years`` after establishment (seed 002 §4.4: lower limits for a period for newly
established GPs in underserved areas). The parameters are assumptions: the model's
weights are not public (danish-facts §2.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

__all__ = ["LimitParams", "closing_limits"]


@dataclass(frozen=True)
class LimitParams:
    norm_per_fte: float = 1600.0  # the old normtal per capacity (danish-facts §2.4)
    vulnerable_relief: float = 1.0  # limit falls 1 % per point of excess vulnerable share
    new_gp_relief: float = 0.10  # assumption: 10 % lower for new GPs in underserved areas
    new_gp_years: int = 3  # assumption


def closing_limits(clinics: pl.DataFrame, params: LimitParams = LimitParams()) -> pl.DataFrame:
    """Per clinic: the old fixed limit and the need-based one, and whether it may close.

    ``clinics``: provider_number, fte, listed, need_index (mean need of the list),
    vulnerable_share (of the list), underserved (bool), years_established (of its
    youngest owner, or None).
    """
    weighted = clinics.select(
        v=(pl.col("vulnerable_share") * pl.col("listed")).sum() / pl.col("listed").sum()
    )
    national_vul = float(weighted.item() or 0.0)
    excess = (pl.col("vulnerable_share") - national_vul).clip(lower_bound=0.0)
    new_gp = (
        pl.col("underserved")
        & pl.col("years_established").is_not_null()
        & (pl.col("years_established") < params.new_gp_years)
    )
    return clinics.with_columns(
        old_limit=params.norm_per_fte * pl.col("fte"),
        new_limit=params.norm_per_fte
        * pl.col("fte")
        / pl.col("need_index")
        * (1.0 - params.vulnerable_relief * excess)
        * pl.when(new_gp).then(1.0 - params.new_gp_relief).otherwise(1.0),
    ).with_columns(
        may_close_old=pl.col("listed") >= pl.col("old_limit"),
        may_close_new=pl.col("listed") >= pl.col("new_limit"),
    )
