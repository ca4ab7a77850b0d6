"""Treatment need: a need index per person, area and clinic list (country = 1.0).

Seed 001 ("National fordeling af kapaciteter"): capacity is distributed by the citizens'
treatment need ("behandlingsbehov", "sygdomsvægt"); danish-facts §2.7: the model's exact
variables are not public, and the closest precedent (OK18's patienttyngde) weights sex,
age and morbidity. The index is estimated from the claims in the warehouse, not assumed:

1. age-sex weight w_g = contacts per person in group g (5-year band × sex) / contacts per
   person in the country;
2. morbidity factor m_k = observed / expected contacts of people with k chronic condition
   groups (k = 0, 1, 2, 3, 4+), expected from their age-sex weights;
3. vulnerability factor v = observed / expected contacts of people with psychiatric illness
   diagnosed in secondary care or intellectual disability, expected from age, sex and k;
4. need = w_g × m_k × v (v only for the vulnerable), scaled so the country's mean is 1.0.

Contacts are the daytime contact services (consultation, phone, e-mail, video, home
visit, yearly control) of the year.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from almen.reference import CONTACT_CODES

__all__ = ["need_by_area", "need_index"]

PSYCH_CODES = ("P72", "P73", "P74", "P76")
ID_CODES = ("P85",)


def need_index(
    patient: ibis.Table,
    condition: ibis.Table,
    claim: ibis.Table,
    condition_codes: pl.DataFrame,
    *,
    year: int,
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Per person: need (mean 1.0), with the weights it was built from.

    Returns (persons: patient_id, provider_number, municipality, age_band, sex, k,
    vulnerable, contacts, need) and the weight tables ``age_sex``, ``morbidity``,
    ``vulnerable`` (each with the observed and expected contacts behind it).
    """
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    p = patient.select(
        "patient_id",
        "provider_number",
        "municipality",
        "sex",
        age_band=((year - patient.birth_year - 1).clip(lower=0, upper=85) // 5 * 5).cast("int16"),
    )
    codes = ibis.memtable(
        condition_codes.select(
            pl.col("icpc2_code").alias("c_code"), pl.col("condition_group").alias("c_group")
        ).to_arrow()
    )
    c = condition.filter(condition.onset_date <= end)
    c = c.join(codes, c.code == codes.c_code)
    cond = c.group_by("patient_id").aggregate(
        k=c.c_group.nunique(),
        vulnerable=(
            (c.code.isin(PSYCH_CODES) & c.diagnosed_by.isin(["psychiatry", "hospital"]))
            | c.code.isin(ID_CODES)
        ).any(),
    )
    cl = claim.filter(
        (claim.service_date >= start)
        & (claim.service_date <= end)
        & claim.service_code.isin(list(CONTACT_CODES))
        & (claim.time_band != "ooh")
    )
    con = cl.group_by("patient_id").aggregate(contacts=cl.count())
    j = p.left_join(cond, p.patient_id == cond.patient_id).drop("patient_id_right")
    j = j.left_join(con, j.patient_id == con.patient_id).drop("patient_id_right")
    persons = j.mutate(
        k=j.k.fill_null(0).clip(upper=4).cast("int8"),
        vulnerable=j.vulnerable.fill_null(False),
        contacts=j.contacts.fill_null(0).cast("float64"),
    ).to_polars()

    national = persons["contacts"].mean() or 0.0
    national = float(national) if national else 1.0
    age_sex = (
        persons.group_by("age_band", "sex")
        .agg(persons=pl.len(), contacts=pl.col("contacts").sum())
        .with_columns(w=pl.col("contacts") / pl.col("persons") / national)
        .sort("sex", "age_band")
    )
    persons = persons.join(age_sex.select("age_band", "sex", "w"), on=["age_band", "sex"])
    morbidity = (
        persons.group_by("k")
        .agg(
            persons=pl.len(),
            observed=pl.col("contacts").sum(),
            expected=(pl.col("w") * national).sum(),
        )
        .with_columns(m=pl.col("observed") / pl.col("expected"))
        .sort("k")
    )
    persons = persons.join(morbidity.select("k", "m"), on="k")
    vul = (
        persons.group_by("vulnerable")
        .agg(
            persons=pl.len(),
            observed=pl.col("contacts").sum(),
            expected=(pl.col("w") * pl.col("m") * national).sum(),
        )
        .with_columns(v=pl.col("observed") / pl.col("expected"))
        .sort("vulnerable")
    )
    v_true = vul.filter(pl.col("vulnerable"))["v"]
    v = float(v_true[0]) if len(v_true) else 1.0
    persons = persons.with_columns(
        raw=pl.col("w") * pl.col("m") * pl.when(pl.col("vulnerable")).then(v).otherwise(1.0)
    )
    mean_raw = float(persons["raw"].mean() or 1.0)
    persons = persons.with_columns(need=pl.col("raw") / mean_raw).drop("raw")
    return persons, {"age_sex": age_sex, "morbidity": morbidity, "vulnerable": vul}


def need_by_area(persons: pl.DataFrame, key: str) -> pl.DataFrame:
    """Persons, need-weighted persons and the mean need index by ``key`` (e.g.
    municipality, or provider_number for clinic lists)."""
    return (
        persons.filter(pl.col(key).is_not_null())
        .group_by(key)
        .agg(persons=pl.len(), need_weighted=pl.col("need").sum())
        .with_columns(need_index=pl.col("need_weighted") / pl.col("persons"))
        .sort(key)
    )
