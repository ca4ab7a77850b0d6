"""Quality indicators for the quality clusters, with funnel-plot control limits.

Seed 002 §7 (quality clusters and their data) and §8.2 (the patient overview aggregated
to cluster level); seed 003 ("Kvalitetsudvikling": clusters reducing unwanted variation).

Each indicator is a proportion x / n per clinic. Beside it: the cluster's and the
region's pooled value. Control limits around the national proportion p0 follow the funnel
plot of Spiegelhalter (2005, Stat Med 24:1185) with a multiplicative overdispersion
factor φ: limits p0 ± z √(φ p0 (1 − p0) / n), where φ is the mean squared z-score of the
clinics after winsorising the z-scores at the 10th and 90th percentiles (φ is not allowed
below 1). A clinic outside the 99.8 % limits differs by more than chance.

The record data hold no HbA1c values or medication reviews, so proxies are used and
named in docs/case-finding.md: a blood sample (2101) for the HbA1c, the yearly control
(0120) for the medication review.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable

import ibis
import polars as pl

__all__ = ["INDICATORS", "funnel", "indicator_counts"]

# indicator: (name, denominator, numerator), evaluated by ``indicator_counts``
INDICATORS = {
    "diabetes_control": "diabetes patients with a yearly control (0120) and a blood sample (2101, for HbA1c) in 12 months",
    "copd_control": "COPD patients with a yearly control (0120) in 12 months",
    "polypharmacy_review": "patients in the polypharmacy group with a yearly control (0120, for a medication review) in 12 months",
    "preventive_visit": "frail elderly (75+, 2+ conditions or 5+ drugs) with a preventive home visit (0121) in 12 months",
}
Z95, Z998 = 1.959964, 3.090232


def indicator_counts(
    features: pl.DataFrame,
    polypharmacy_ids: pl.Series,
    condition: ibis.Table,
    *,
    as_of: dt.date,
) -> pl.DataFrame:
    """Per clinic, indicator, age band and sex: n (denominator) and x (numerator).

    ``features`` from ``case_finding.patient_features`` (listed patients, with their
    yearly controls, blood samples and preventive visits in the 12-month look-back, so
    the claims are read once); diabetes and COPD from the condition table (T89/T90, R95).
    """
    c = condition.filter(condition.onset_date <= as_of)
    cond = (
        c.group_by("patient_id")
        .aggregate(
            diabetes=c.code.isin(["T89", "T90"]).any(),
            copd=(c.code == "R95").any(),
        )
        .to_polars()
    )
    f = (
        features.select(
            "patient_id",
            "provider_number",
            "age",
            "n_conditions",
            "n_drugs",
            had_0120=pl.col("yearly_controls") > 0,
            had_2101=pl.col("blood_samples") > 0,
            had_0121=pl.col("preventive_visits") > 0,
        )
        .join(cond, on="patient_id", how="left")
        .with_columns(
            pl.col("diabetes", "copd").fill_null(False),
            poly=pl.col("patient_id").is_in(polypharmacy_ids.implode()),
        )
    )
    frail = (pl.col("age") >= 75) & ((pl.col("n_conditions") >= 2) | (pl.col("n_drugs") >= 5))
    specs = {
        "diabetes_control": (pl.col("diabetes"), pl.col("had_0120") & pl.col("had_2101")),
        "copd_control": (pl.col("copd"), pl.col("had_0120")),
        "polypharmacy_review": (pl.col("poly"), pl.col("had_0120")),
        "preventive_visit": (frail, pl.col("had_0121")),
    }
    f = f.join(features.select("patient_id", "sex"), on="patient_id", how="left").with_columns(
        age_band=(pl.col("age").clip(0, 85) // 10 * 10).cast(pl.Int16)
    )
    parts = []
    for name, (den, num) in specs.items():
        parts.append(
            f.filter(den)
            .group_by("provider_number", "age_band", "sex")
            .agg(n=pl.len(), x=num.sum())
            .with_columns(indicator=pl.lit(name))
        )
    return pl.concat(parts).select("provider_number", "indicator", "age_band", "sex", "n", "x")


def funnel(counts: pl.DataFrame, clinic_area: pl.DataFrame) -> pl.DataFrame:
    """Per clinic and indicator, as published: the counts, shares, the cluster's and
    region's pooled shares, the funnel limits and the flag, all from published counts.

    Every count goes through ``almen.disclosure`` first (0-7 hidden, the rest rounded to
    5): the clinic's denominator n and numerator x (x hidden also when n − x is 0-7), the
    cluster's, region's and country's totals (each rounded from its own true total). The
    shares are published counts divided: p = x / n, cluster_p = cluster_x / cluster_n,
    p0 = the country's x / n.

    ``counts`` may carry age-sex groups (``age_band``, ``sex``): then the comparison is
    indirectly standardised. The clinic's expected share ê = Σ_g n_g p0_g / n and its
    variance share v̂ = Σ_g n_g p0_g (1 − p0_g) / n (from the national share p0_g of each
    group; shares, not counts) are applied to the published n: E = ê n, V = v̂ n,
    z = (x − E) / √V, and p_std = p0 x / E. Without groups this is the plain funnel
    (ê = p0). ``clinic_area``: provider_number, cluster, region. ``hidden``: x is not
    published (then p, p_std and the flag are null too).
    """
    from almen.disclosure import protected_share

    if "age_band" not in counts.columns:
        counts = counts.with_columns(age_band=pl.lit(0), sex=pl.lit("all"))
    g = counts.with_columns(n=pl.col("n").cast(pl.Float64), x=pl.col("x").cast(pl.Float64))
    rates = g.group_by("indicator", "age_band", "sex").agg(
        p0g=pl.col("x").sum() / pl.col("n").sum()
    )
    g = g.join(rates, on=["indicator", "age_band", "sex"]).with_columns(
        e=pl.col("n") * pl.col("p0g"), v=pl.col("n") * pl.col("p0g") * (1 - pl.col("p0g"))
    )
    c = (
        g.group_by("provider_number", "indicator")
        .agg(pl.col("n").sum(), pl.col("x").sum(), pl.col("e").sum(), pl.col("v").sum())
        .join(clinic_area, on="provider_number", how="left")
        .with_columns(pl.col("n", "x").cast(pl.Int64), e_share=pl.col("e") / pl.col("n"),
                      v_share=pl.col("v") / pl.col("n"))
    )  # fmt: skip
    x_pub, n_pub, share = protected_share(pl.col("x"), pl.col("n"))
    pooled = [
        (by, c.group_by(by).agg(pl.col("n").sum(), pl.col("x").sum()).select(
            *by, **{f"{name}_x": x_pub, f"{name}_n": n_pub, share_name: share}))
        for name, by, share_name in (("cluster", ["indicator", "cluster"], "cluster_p"),
                                     ("region", ["indicator", "region"], "region_p"),
                                     ("country", ["indicator"], "p0"))
    ]  # fmt: skip
    c = c.with_columns(x_true=pl.col("x"), x=x_pub, n=n_pub, p=share)
    for by, t in pooled:
        c = c.join(t, on=by, how="left")
    c = _audit(c)
    c = c.with_columns(
        e=pl.col("e_share") * pl.col("n"), v=pl.col("v_share") * pl.col("n")
    ).with_columns(
        p_std=pl.when(pl.col("e") > 0)
        .then(pl.col("p0") * pl.col("x") / pl.col("e"))
        .otherwise(None),
        z=pl.when(pl.col("v") > 0).then((pl.col("x") - pl.col("e")) / pl.col("v").sqrt()),
    )
    phis = {}
    for (ind,), part in c.group_by(["indicator"]):
        z = part["z"].drop_nulls().drop_nans()
        lo, hi = z.quantile(0.10), z.quantile(0.90)
        zw = z.clip(lo, hi) if lo is not None and hi is not None else z
        mean = (zw**2).mean() if len(zw) else None
        phi = float(mean) if isinstance(mean, int | float) else 1.0
        phis[ind] = max(1.0, phi if not math.isnan(phi) else 1.0)
    c = c.with_columns(phi=pl.col("indicator").replace_strict(phis, return_dtype=pl.Float64))
    # limits on the standardised share: p0 × (1 ± z √(φ V) / E)
    sd = pl.col("p0") * (pl.col("phi") * pl.col("v")).sqrt() / pl.col("e")
    c = c.with_columns(
        lower95=(pl.col("p0") - Z95 * sd).clip(0, 1),
        upper95=(pl.col("p0") + Z95 * sd).clip(0, 1),
        lower998=(pl.col("p0") - Z998 * sd).clip(0, 1),
        upper998=(pl.col("p0") + Z998 * sd).clip(0, 1),
    )
    flag = (
        pl.when(pl.col("p_std").is_null())
        .then(None)
        .when(pl.col("p_std") > pl.col("upper998"))
        .then(pl.lit("high"))
        .when(pl.col("p_std") < pl.col("lower998"))
        .then(pl.lit("low"))
        .when((pl.col("p_std") > pl.col("upper95")) | (pl.col("p_std") < pl.col("lower95")))
        .then(pl.lit("watch"))
        .otherwise(pl.lit(""))
    )
    return c.with_columns(flag=flag, hidden=pl.col("x").is_null()).select(
        "provider_number", "indicator", "cluster", "region", "n", "x", "p", "p_std",
        "cluster_n", "cluster_x", "cluster_p", "region_n", "region_x", "region_p",
        "country_n", "country_x", "p0", "phi", "lower95", "upper95", "lower998", "upper998",
        "flag", "hidden",
    )  # fmt: skip


_POOLED = (("cluster", "cluster"), ("region", "region"), ("country", None))


def _audit(c: pl.DataFrame) -> pl.DataFrame:
    """``almen.disclosure.audit_sums`` over each indicator's published counts: the n of
    each clinic, cluster, region and the country (totals of their clinics), and the x
    likewise; a pooled total that would pin a hidden clinic count is hidden, with its
    share. A clinic's x hidden because n − x is small may be known to lie in n − 7 … n."""
    from almen.disclosure import SUPPRESS_AT_MOST, audit_sums, bounds

    c = c.with_row_index("_row")
    out = c
    for (ind,), part in c.group_by(["indicator"], maintain_order=True):
        for what in ("n", "x"):
            cells: dict[Hashable, int | None] = {}
            extra: dict[Hashable, tuple[float, float]] = {}
            sums: list[tuple[Hashable, list[Hashable]]] = []
            for r in part.iter_rows(named=True):
                cells[("clinic", r["provider_number"])] = r[what]
                if (
                    what == "x"
                    and r["x"] is None
                    and r["n"] is not None
                    and r["x_true"] > SUPPRESS_AT_MOST
                ):
                    lo, hi = bounds(r["n"])
                    extra[("clinic", r["provider_number"])] = (
                        float(lo - SUPPRESS_AT_MOST),
                        float(hi or 0),
                    )
            for level, col in _POOLED:
                groups = part.group_by(col) if col else [((None,), part)]
                for (key,), g in groups:
                    name = "country" if col is None else level
                    cells[(level, key)] = g[f"{name}_{what}"][0]
                    sums.append(((level, key), [("clinic", p) for p in g["provider_number"]]))
            safe = audit_sums(cells, sums, extra)
            for level, col in _POOLED:
                name = "country" if col is None else level
                hidden = [key[1] for key, v in safe.items()
                          if isinstance(key, tuple) and key[0] == level and v is None
                          and cells[key] is not None]  # fmt: skip
                if not hidden:
                    continue
                share = "p0" if col is None else f"{level}_p"
                mask = pl.col("indicator") == ind
                if col is not None:
                    mask = mask & pl.col(col).is_in(hidden)
                out = out.with_columns(
                    [
                        pl.when(mask).then(None).otherwise(pl.col(k)).alias(k)
                        for k in (f"{name}_{what}", share)
                    ]
                )
    return out.drop("_row", "x_true")
