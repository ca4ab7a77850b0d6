"""The service overview as PLO's Ydelsesoverblik shows it (seed 004 §5.3: "følge med i
dit eget ydelsesmønster, hvorvidt det afviger fra gennemsnittet på forskellige ydelser
samt hvor din klinik ligger ift. om du er i risiko for at få en højestegrænse").

For one clinic and the months of the year so far, per service:

- its lines per 1,000 listed patient-years against each comparator's rate
  standardised to the clinic's age-sex mix: the region, the municipality, the quality
  cluster, and *similar clinics* (the same list-size band and the same band of the
  share of patients aged 65+, nationally);
- by age group (0-17, 18-64, 65-79, 80+): the clinic's rate and the region's;
- month by month, the clinic's year-to-date § 96 ratio and whether it is over the limit.

Formula, for comparator P (a set of clinics, the clinic itself left out) and service s:
rate_P,g = lines of s in age-sex group g at P / patient-years in g at P;
expected = Σ_g n_cg × rate_P,g; deviation = lines / expected − 1.

A comparator with fewer than ``MIN_PEERS`` other clinics is not shown (its rate would
tell a few named colleagues' activity): rate and deviation are empty and ``peers`` says
how many there were.
"""

from __future__ import annotations

import polars as pl

from almen.settlement.ceiling import person_years

__all__ = ["AGE_GROUPS", "MIN_PEERS", "by_age_group", "comparator_rates", "similar_clinics"]

MIN_PEERS = 5  # other clinics a comparator needs before its rate is shown (assumption)
AGE_GROUPS = ((0, "0-17"), (18, "18-64"), (65, "65-79"), (80, "80+"))


def _group_of_band(band: pl.Expr) -> pl.Expr:
    """Age group label of a 5-year age band (the band's lower age)."""
    out = pl.lit(AGE_GROUPS[0][1])
    for lo, label in AGE_GROUPS[1:]:
        out = pl.when(band >= lo).then(pl.lit(label)).otherwise(out)
    return out


def similar_clinics(exposure: pl.DataFrame, months: int = 12, bands: int = 4) -> pl.DataFrame:
    """provider_number → similar (a label): clinics in the same quantile band of list
    size (patient-years) and of the share of patients aged 65+ (``bands`` each)."""
    py = person_years(exposure, months)
    c = py.group_by("provider_number").agg(
        size=pl.col("py").sum(),
        old=pl.col("py").filter(pl.col("age_band") >= 65).sum(),
    )
    c = c.filter(pl.col("size") > 0).with_columns(old_share=pl.col("old") / pl.col("size"))

    def band(col: str) -> pl.Expr:
        r = pl.col(col).rank("ordinal") - 1
        return (r * bands // pl.len()).cast(pl.Int32) + 1

    return c.select(
        "provider_number",
        similar=pl.format(
            "size {} of {}, 65+ {} of {}", band("size"), bands, band("old_share"), bands
        ),
    )


def comparator_rates(
    provider_number: str,
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    groups: dict[str, pl.DataFrame],
    *,
    months: int = 12,
) -> pl.DataFrame:
    """Per service and comparator: the clinic's rate per 1,000 and the comparator's,
    standardised by age and sex. ``groups``: comparator name → a table provider_number,
    group (each clinic's group under that comparator: its region, municipality, cluster
    or similar-clinics band). Columns: service_code, comparator, group, peers, lines,
    rate_per_1000, expected_per_1000, deviation."""
    py = person_years(exposure, months)
    mine_py = py.filter(pl.col("provider_number") == provider_number)
    n = float(mine_py["py"].sum())
    per_1000 = 1000.0 / n if n > 0 else float("nan")
    mine = (
        accepted.filter(pl.col("provider_number") == provider_number)
        .group_by("service_code")
        .agg(lines=pl.col("lines").sum().cast(pl.Float64))
    )
    frames = []
    for name, table in groups.items():
        own = table.filter(pl.col("provider_number") == provider_number)
        if own.is_empty():
            continue
        group = own["group"][0]
        peers = table.filter(
            (pl.col("group") == group) & (pl.col("provider_number") != provider_number)
        )["provider_number"]
        p_py = (
            py.filter(pl.col("provider_number").is_in(peers))
            .group_by(["age_band", "sex"])
            .agg(p_py=pl.col("py").sum())
        )
        rates = (
            accepted.filter(pl.col("provider_number").is_in(peers))
            .group_by(["service_code", "age_band", "sex"])
            .agg(p_lines=pl.col("lines").sum())
            .join(p_py, on=["age_band", "sex"], how="inner")
            .with_columns(rate=pl.col("p_lines") / pl.col("p_py"))
        )
        expected = (
            rates.join(mine_py.select("age_band", "sex", "py"), on=["age_band", "sex"])
            .group_by("service_code")
            .agg(expected_lines=(pl.col("rate") * pl.col("py")).sum())
        )
        shown = len(peers) >= MIN_PEERS
        f = (
            expected.join(mine, on="service_code", how="full", coalesce=True)
            .with_columns(
                pl.col("lines").fill_null(0.0),
                pl.col("expected_lines").fill_null(0.0),
            )
            .with_columns(
                comparator=pl.lit(name),
                group=pl.lit(str(group)),
                peers=pl.lit(len(peers), pl.Int64),
                rate_per_1000=pl.col("lines") * per_1000,
                expected_per_1000=pl.when(pl.lit(shown))
                .then(pl.col("expected_lines") * per_1000)
                .otherwise(None),
                deviation=pl.when(pl.lit(shown) & (pl.col("expected_lines") > 0))
                .then(pl.col("lines") / pl.col("expected_lines") - 1.0)
                .otherwise(None),
            )
            .select(
                "service_code",
                "comparator",
                "group",
                "peers",
                "lines",
                "rate_per_1000",
                "expected_per_1000",
                "deviation",
            )
        )
        frames.append(f)
    if not frames:
        raise LookupError(f"clinic {provider_number} is in no comparator group")
    return pl.concat(frames).sort(["service_code", "comparator"])


def by_age_group(
    provider_number: str,
    exposure: pl.DataFrame,
    accepted: pl.DataFrame,
    clinic_region: pl.DataFrame,
    *,
    months: int = 12,
) -> pl.DataFrame:
    """Per service and age group: the clinic's lines per 1,000 patient-years in the
    group and the region's (the other clinics of the region), and the deviation."""
    region = clinic_region.filter(pl.col("provider_number") == provider_number)["region"]
    if region.is_empty():
        raise LookupError(f"clinic {provider_number} has no region")
    others = clinic_region.filter(
        (pl.col("region") == region[0]) & (pl.col("provider_number") != provider_number)
    )["provider_number"]
    py = person_years(exposure, months).with_columns(age_group=_group_of_band(pl.col("age_band")))
    acc = accepted.with_columns(age_group=_group_of_band(pl.col("age_band")))

    def rates(mask: pl.Expr, suffix: str) -> pl.DataFrame:
        g_py = py.filter(mask).group_by("age_group").agg(pl.col("py").sum())
        return (
            acc.filter(mask)
            .group_by(["service_code", "age_group"])
            .agg(pl.col("lines").sum())
            .join(g_py, on="age_group", how="inner")
            .select(
                "service_code",
                "age_group",
                pl.col("lines").cast(pl.Float64).alias(f"lines_{suffix}"),
                (pl.col("lines") / pl.col("py") * 1000.0).alias(f"per_1000_{suffix}"),
            )
        )

    mine = rates(pl.col("provider_number") == provider_number, "clinic")
    reg = rates(pl.col("provider_number").is_in(others), "region")
    out = mine.join(reg, on=["service_code", "age_group"], how="full", coalesce=True)
    return out.with_columns(
        deviation=pl.when(pl.col("per_1000_region") > 0)
        .then(pl.col("per_1000_clinic").fill_null(0.0) / pl.col("per_1000_region") - 1.0)
        .otherwise(None)
    ).sort(["service_code", "age_group"])
