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
    claim: ibis.Table,
    *,
    as_of: dt.date,
    since: dt.date,
) -> pl.DataFrame:
    """Per clinic and indicator: n (denominator) and x (numerator).

    ``features`` from ``case_finding.patient_features`` (listed patients); diabetes and
    COPD from the condition table (T89/T90, R95); services from the claims dated after
    ``since`` up to ``as_of``.
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
    cl = claim.filter(
        (claim.service_date > since)
        & (claim.service_date <= as_of)
        & claim.service_code.isin(["0120", "2101", "0121"])
    )
    svc = (
        cl.group_by("patient_id")
        .aggregate(
            had_0120=(cl.service_code == "0120").any(),
            had_2101=(cl.service_code == "2101").any(),
            had_0121=(cl.service_code == "0121").any(),
        )
        .to_polars()
    )
    f = (
        features.select("patient_id", "provider_number", "age", "n_conditions", "n_drugs")
        .join(cond, on="patient_id", how="left")
        .join(svc, on="patient_id", how="left")
        .with_columns(
            pl.col("diabetes", "copd", "had_0120", "had_2101", "had_0121").fill_null(False),
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
    parts = []
    for name, (den, num) in specs.items():
        parts.append(
            f.filter(den)
            .group_by("provider_number")
            .agg(n=pl.len(), x=num.sum())
            .with_columns(indicator=pl.lit(name))
        )
    return pl.concat(parts).select("provider_number", "indicator", "n", "x")


def funnel(counts: pl.DataFrame, clinic_area: pl.DataFrame) -> pl.DataFrame:
    """Per clinic and indicator: p, the cluster's and region's p, the funnel limits, flag.

    ``clinic_area``: provider_number, cluster, region.
    """
    c = counts.join(clinic_area, on="provider_number", how="left").with_columns(
        n=pl.col("n").cast(pl.Float64), x=pl.col("x").cast(pl.Float64)
    )
    national = c.group_by("indicator").agg(p0=pl.col("x").sum() / pl.col("n").sum())
    c = c.join(national, on="indicator").with_columns(
        p=pl.col("x") / pl.col("n"),
        cluster_p=pl.col("x").sum().over("indicator", "cluster")
        / pl.col("n").sum().over("indicator", "cluster"),
        region_p=pl.col("x").sum().over("indicator", "region")
        / pl.col("n").sum().over("indicator", "region"),
    )
    se0 = (pl.col("p0") * (1 - pl.col("p0")) / pl.col("n")).sqrt()
    c = c.with_columns(z=pl.when(se0 > 0).then((pl.col("p") - pl.col("p0")) / se0).otherwise(0.0))
    phis = {}
    for (ind,), part in c.group_by(["indicator"]):
        z = part["z"]
        lo, hi = z.quantile(0.10), z.quantile(0.90)
        zw = z.clip(lo, hi) if lo is not None and hi is not None else z
        mean = (zw**2).mean()
        phi = float(mean) if isinstance(mean, int | float) else 1.0
        phis[ind] = max(1.0, phi if not math.isnan(phi) else 1.0)
    c = c.with_columns(phi=pl.col("indicator").replace_strict(phis, return_dtype=pl.Float64))
    sd = (pl.col("phi") * pl.col("p0") * (1 - pl.col("p0")) / pl.col("n")).sqrt()
    c = c.with_columns(
        lower95=(pl.col("p0") - Z95 * sd).clip(0, 1),
        upper95=(pl.col("p0") + Z95 * sd).clip(0, 1),
        lower998=(pl.col("p0") - Z998 * sd).clip(0, 1),
        upper998=(pl.col("p0") + Z998 * sd).clip(0, 1),
    )
    flag = (
        pl.when(pl.col("p") > pl.col("upper998"))
        .then(pl.lit("high"))
        .when(pl.col("p") < pl.col("lower998"))
        .then(pl.lit("low"))
        .when((pl.col("p") > pl.col("upper95")) | (pl.col("p") < pl.col("lower95")))
        .then(pl.lit("watch"))
        .otherwise(pl.lit(""))
    )
    return c.with_columns(flag=flag).drop("z")
