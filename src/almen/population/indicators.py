"""Quality indicators for the quality clusters, with funnel-plot control limits.

Seed 002 §7 (quality clusters and their data) and §8.2 (the patient overview aggregated
to cluster level); seed 003 ("Kvalitetsudvikling": clusters reducing unwanted variation).

Each indicator is a proportion x / n per clinic, defined in the case definitions file
(``[indicators.NAME]``: a denominator and a numerator over the same variables and groups
as case finding). Beside it: the cluster's and the region's pooled value. Control limits
around the national proportion p0 are those of a funnel plot (Spiegelhalter 2005, Stat Med
24:1185) on the arcsine square-root scale, with an additive random-effects
overdispersion τ² estimated by DerSimonian and Laird's method of moments as in
Spiegelhalter's "Handling over-dispersion of performance indicators" (Qual Saf Health Care
2005;14:347) and FunnelPlotR: z-scores winsorised at the 10th and 90th percentiles,
φ = mean z², τ² = max(0, (I φ − (I − 1)) / (Σ w − Σ w² / Σ w)), w = 1 / s². A clinic
outside the 99.8 % limits differs by more than chance and by more than the spread
between clinics.

Where the record data hold no HbA1c values or medication reviews, proxies are used and
named in the definitions: a blood sample (2101) for the HbA1c, the yearly control (0120)
for the medication review.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np
import polars as pl

from almen.population import definitions as grammar
from almen.population.definitions import Definitions

__all__ = [
    "deciles",
    "dl_tau2",
    "funnel",
    "indicator_counts",
    "indicator_series",
    "missing_patients",
]  # fmt: skip

Z95, Z998 = 1.959964, 3.090232


def _flags(features: pl.DataFrame, definitions: Definitions) -> pl.DataFrame:
    """``features`` with the groups and, per indicator, ``<name>__den`` and ``<name>__num``."""
    f = grammar.evaluate_groups(definitions, features)
    cols = []
    for ind in definitions.indicators.values():
        den = grammar.compile_expression(ind.denominator, definitions.names).fill_null(False)
        num = grammar.compile_expression(ind.numerator, definitions.names).fill_null(False)
        if not {*den.meta.root_names(), *num.meta.root_names()} <= set(f.columns):
            continue  # an indicator whose variables were not computed
        cols += [den.alias(f"{ind.name}__den"), (den & num).alias(f"{ind.name}__num")]
    return f.with_columns(cols)


def indicator_counts(features: pl.DataFrame, definitions: Definitions) -> pl.DataFrame:
    """Per clinic, indicator, age band and sex: n (denominator) and x (numerator), from
    the definitions' indicators over ``features`` (``case_finding.patient_features``)."""
    f = _flags(features, definitions).with_columns(
        age_band=(pl.col("age").clip(0, 85) // 10 * 10).cast(pl.Int16)
    )
    parts = []
    for name in definitions.indicators:
        if f"{name}__den" not in f.columns:
            continue
        part = (
            f.filter(pl.col(f"{name}__den"))
            .group_by("provider_number", "age_band", "sex")
            .agg(n=pl.len(), x=pl.col(f"{name}__num").sum())
            .with_columns(indicator=pl.lit(name))
        )
        parts.append(part)
    if not parts:
        return pl.DataFrame(schema={"provider_number": pl.Utf8, "indicator": pl.Utf8,
                                    "age_band": pl.Int16, "sex": pl.Utf8, "n": pl.UInt32,
                                    "x": pl.UInt32})  # fmt: skip
    return pl.concat(parts).select("provider_number", "indicator", "age_band", "sex", "n", "x")


def missing_patients(
    features: pl.DataFrame, definitions: Definitions, indicator: str
) -> pl.DataFrame:
    """The patients in an indicator's denominator who miss its numerator (for the
    clinic's own drill-down: patient_id, provider_number, age, sex)."""
    if indicator not in definitions.indicators:
        raise KeyError(indicator)
    f = _flags(features, definitions)
    if f"{indicator}__den" not in f.columns:
        return f.head(0).select("patient_id", "provider_number", "age", "sex")
    return (
        f.filter(pl.col(f"{indicator}__den") & ~pl.col(f"{indicator}__num"))
        .select("patient_id", "provider_number", "age", "sex")
        .sort("provider_number", "patient_id")
    )


def dl_tau2(z: np.ndarray, s: np.ndarray, *, winsorise: float | None = 0.1) -> tuple[float, float]:
    """(φ, τ²): the overdispersion ratio and the additive between-unit variance from
    z-scores ``z`` and standard errors ``s`` (Spiegelhalter 2005; DerSimonian-Laird).

    φ = mean of the z-scores squared, after winsorising them at ``winsorise`` and 1 −
    ``winsorise`` (None: not winsorised); τ² = 0 when I φ ≤ I − 1, else
    (I φ − (I − 1)) / (Σ w − Σ w² / Σ w) with w = 1 / s². With z the deviations from the
    fixed-effect mean and no winsorising, I φ is Cochran's Q and τ² DerSimonian and
    Laird's estimate."""
    ok = np.isfinite(z) & np.isfinite(s) & (s > 0)
    z, s = z[ok], s[ok]
    n = len(z)
    if n < 2:
        return 1.0, 0.0
    if winsorise:
        lo, hi = np.quantile(z, [winsorise, 1 - winsorise])
        z = np.clip(z, lo, hi)
    phi = float(np.mean(z**2))
    if n * phi <= n - 1:
        return phi, 0.0
    w = 1 / s**2
    return phi, max(0.0, (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum()))


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
    )
    # the arcsine square-root scale: y = asin √p, target asin √p0, and the standard error
    # by the delta method at p0, s² = Var(p_std) / (4 p0 (1 − p0)) with Var(p_std) =
    # p0² V / E² (without age-sex groups s² = 1 / (4 n), FunnelPlotR's for proportions)
    p0 = pl.col("p0")
    c = c.with_columns(
        s=pl.when((pl.col("e") > 0) & (p0 > 0) & (p0 < 1)).then(
            (p0**2 * pl.col("v") / pl.col("e") ** 2 / (4 * p0 * (1 - p0))).sqrt()
        ),
        target=p0.sqrt().arcsin(),
        y=pl.col("p_std").clip(0, 1).sqrt().arcsin(),
    ).with_columns(z=(pl.col("y") - pl.col("target")) / pl.col("s"))
    phis, taus = {}, {}
    for (ind,), part in c.group_by(["indicator"]):
        known = part.filter(pl.col("z").is_not_null() & pl.col("z").is_finite())
        phi, tau2 = dl_tau2(known["z"].to_numpy(), known["s"].to_numpy())
        phis[ind], taus[ind] = (phi if not math.isnan(phi) else 1.0), tau2
    c = c.with_columns(
        phi=pl.col("indicator").replace_strict(phis, return_dtype=pl.Float64),
        tau2=pl.col("indicator").replace_strict(taus, return_dtype=pl.Float64),
    )
    sd = (pl.col("s") ** 2 + pl.col("tau2")).sqrt()

    def limit(zq: float) -> pl.Expr:
        return (pl.col("target") + zq * sd).clip(0, math.pi / 2).sin() ** 2

    c = c.with_columns(
        lower95=limit(-Z95), upper95=limit(Z95), lower998=limit(-Z998), upper998=limit(Z998)
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
        "country_n", "country_x", "p0", "phi", "tau2", "z", "lower95", "upper95", "lower998", "upper998",
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


def month_ends(last: dt.date, months: int) -> list[dt.date]:
    """The last day of each of the ``months`` months up to and including ``last``'s
    (``last`` itself for its own month)."""
    out = [last]
    y, m = last.year, last.month
    for _ in range(months - 1):
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        out.append(dt.date(y, m, calendar.monthrange(y, m)[1]))
    return sorted(out)


def indicator_series(
    features_at: Callable[[dt.date], pl.DataFrame],
    definitions: Definitions,
    days: Sequence[dt.date],
    clinic_area: pl.DataFrame,
) -> pl.DataFrame:
    """The indicators per clinic on each of ``days`` (a measure over time), as published
    (``funnel`` on each day): as_of beside ``funnel``'s columns. ``features_at(day)``
    gives the features on a day, with the claim look-back of the measure (12 months for
    a rolling-year measure, 1 for a monthly one)."""
    parts = []
    for day in days:
        counts = indicator_counts(features_at(day), definitions)
        if counts.is_empty():
            continue
        parts.append(funnel(counts, clinic_area).with_columns(as_of=pl.lit(day, dtype=pl.Date)))
    if not parts:
        return pl.DataFrame(schema={"as_of": pl.Date, "indicator": pl.Utf8})
    return pl.concat(parts, how="diagonal_relaxed")


def deciles(published: pl.DataFrame) -> pl.DataFrame:
    """Per indicator (and as_of, when given): the deciles of the clinics' published shares
    (10th … 90th percentile, as OpenPrescribing shows them), the number of clinics with a
    published share, and the country's share. From published clinic shares only."""
    keys = ["as_of", "indicator"] if "as_of" in published.columns else ["indicator"]
    known = published.filter(pl.col("p").is_not_null())
    return (
        known.group_by(keys)
        .agg(
            clinics=pl.len(),
            p0=pl.col("p0").first(),
            **{f"p{q}": pl.col("p").quantile(q / 100, "linear") for q in range(10, 100, 10)},
        )
        .sort(keys)
    )
