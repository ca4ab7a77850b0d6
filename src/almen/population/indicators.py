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

import ibis
import polars as pl

__all__ = ["INDICATORS", "disclose", "funnel", "indicator_counts"]

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
    """Per clinic and indicator: p, the cluster's and region's p, the funnel limits, flag.

    ``counts`` may carry age-sex groups (``age_band``, ``sex``): then the comparison is
    indirectly standardised: expected E = Σ_g n_g p0_g and variance V = Σ_g n_g p0_g
    (1 − p0_g) from the national share p0_g of each group; z = (x − E) / √V, and the
    standardised share p_std = p0 × x / E. Without groups this is the plain funnel.
    ``clinic_area``: provider_number, cluster, region.
    """
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
    )
    national = c.group_by("indicator").agg(p0=pl.col("x").sum() / pl.col("n").sum())
    c = c.join(national, on="indicator").with_columns(
        p=pl.col("x") / pl.col("n"),
        p_std=pl.when(pl.col("e") > 0)
        .then(pl.col("p0") * pl.col("x") / pl.col("e"))
        .otherwise(None),
        cluster_p=pl.col("x").sum().over("indicator", "cluster")
        / pl.col("n").sum().over("indicator", "cluster"),
        region_p=pl.col("x").sum().over("indicator", "region")
        / pl.col("n").sum().over("indicator", "region"),
    )
    c = c.with_columns(
        z=pl.when(pl.col("v") > 0)
        .then((pl.col("x") - pl.col("e")) / pl.col("v").sqrt())
        .otherwise(0.0)
    )
    phis = {}
    for (ind,), part in c.group_by(["indicator"]):
        z = part["z"]
        lo, hi = z.quantile(0.10), z.quantile(0.90)
        zw = z.clip(lo, hi) if lo is not None and hi is not None else z
        mean = (zw**2).mean()
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
        pl.when(pl.col("p_std") > pl.col("upper998"))
        .then(pl.lit("high"))
        .when(pl.col("p_std") < pl.col("lower998"))
        .then(pl.lit("low"))
        .when((pl.col("p_std") > pl.col("upper95")) | (pl.col("p_std") < pl.col("lower95")))
        .then(pl.lit("watch"))
        .otherwise(pl.lit(""))
    )
    return c.with_columns(flag=flag).drop("z", "e", "v")


def disclose(res: pl.DataFrame, min_count: int = 5) -> pl.DataFrame:
    """``funnel``'s table as it may leave the clinic: per clinic and indicator the cells
    (met, not met) go through disclosure control (``almen.disclosure.suppress``: counts
    1 to ``min_count`` − 1 and what would reveal them); where a cell is suppressed, or
    n < ``min_count``, ``hidden`` is true and n, x, p and p_std are null."""
    from almen.disclosure import suppress

    long = pl.concat(
        [
            res.select("provider_number", "indicator", outcome=pl.lit("met"), count="x"),
            res.select(
                "provider_number",
                "indicator",
                outcome=pl.lit("not met"),
                count=pl.col("n") - pl.col("x"),
            ),
        ]
    ).with_columns(pl.col("count").cast(pl.Int64))
    safe = suppress(long, "count", [["provider_number", "indicator"], ["indicator", "outcome"]])
    hidden = safe.group_by("provider_number", "indicator").agg(
        hidden=pl.col("count_suppressed").any()
    )
    out = res.join(hidden, on=["provider_number", "indicator"], how="left").with_columns(
        hidden=pl.col("hidden").fill_null(False) | (pl.col("n") < min_count)
    )
    return out.with_columns(
        [
            pl.when(pl.col("hidden")).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("x", "p", "p_std")
            if c in out.columns
        ]
        + [pl.when(pl.col("n") < min_count).then(None).otherwise(pl.col("n")).alias("n")]
    )
